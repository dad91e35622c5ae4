"""Braze's documented error cases: the sandbox answers Braze's status and message, and the client
refuses the same input before sending, naming the same field, or splits it so that Braze would not
refuse it.

The table comes from Braze's error reference and endpoint pages (``braze-inc/braze-docs``, as
summarised in the project's ``braze-api.md`` §3.2, §5 and §6). The sandbox judges with its own rule
table (``testing/sandbox/rules.py``) and the client with ``payload_validation``: two readings of
the docs, compared here and on Braze's published examples (``tests/braze_docs_corpus``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.payload_rules import REQUEST_BYTES_BUDGET
from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.operators import (
    BrazeScheduleCampaignOperator,
    BrazeSendMessageOperator,
    BrazeTriggerCampaignOperator,
    BrazeTriggerCanvasOperator,
)
from airflow_provider_braze.testing.sandbox import BrazeSandbox

PUSH = {"apple_push": {"alert": "Hello"}}
_PASSED_LOCAL = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
_BIG = {"trigger_properties": {"blob": "x" * 45_000}, "attributes": {"bio": "y" * 40_000}}

#: (case id, endpoint, operator, body, Braze's status, Braze's message, what the client does:
#: "refuse" with that message, or "split" into requests Braze accepts).
DOCUMENTED: list[tuple[str, ep.Endpoint, type, dict[str, Any], int, str, str]] = [
    ("no recipients", ep.SEND_MESSAGE, BrazeSendMessageOperator, {"messages": PUSH}, 400, "No Recipients", "refuse"),
    (
        "invalid campaign id",
        ep.TRIGGER_CAMPAIGN,
        BrazeTriggerCampaignOperator,
        {"campaign_id": " ", "broadcast": True},
        400,
        "Invalid Campaign ID",
        "refuse",
    ),
    (
        "message variant unspecified",
        ep.SEND_MESSAGE,
        BrazeSendMessageOperator,
        {"campaign_id": "c", "external_user_ids": ["u"], "messages": PUSH},
        400,
        "Message Variant Unspecified",
        "refuse",
    ),
    (
        "invalid extra push payload",
        ep.SEND_MESSAGE,
        BrazeSendMessageOperator,
        {"external_user_ids": ["u"], "messages": {"apple_push": {"alert": "a", "extra": ["not", "an", "object"]}}},
        400,
        "Invalid Extra Push Payload",
        "refuse",
    ),
    (
        "no message to send",
        ep.SEND_MESSAGE,
        BrazeSendMessageOperator,
        {"external_user_ids": ["u"], "messages": {}},
        400,
        "No message to send",
        "refuse",
    ),
    (
        "apple push length exceeded",
        ep.SEND_MESSAGE,
        BrazeSendMessageOperator,
        {"external_user_ids": ["u"], "messages": {"apple_push": {"alert": "a" * 2000}}},
        400,
        "Apple Push Length Exceeded",
        "refuse",
    ),
    (
        "android push length exceeded",
        ep.SEND_MESSAGE,
        BrazeSendMessageOperator,
        {"external_user_ids": ["u"], "messages": {"android_push": {"alert": "a" * 4100, "title": "t"}}},
        400,
        "Android Push Length Exceeded",
        "refuse",
    ),
    (
        "more than 50 external ids and aliases",
        ep.SEND_MESSAGE,
        BrazeSendMessageOperator,
        {"external_user_ids": [f"u{i}" for i in range(51)], "messages": PUSH},
        400,
        "The max number of external_ids and aliases per request was exceeded",
        "split",
    ),
    (
        "more than 50 recipients",
        ep.TRIGGER_CAMPAIGN,
        BrazeTriggerCampaignOperator,
        {"campaign_id": "c", "recipients": [{"external_user_id": f"u{i}"} for i in range(51)]},
        400,
        "The max number of ids per request was exceeded",
        "split",
    ),
    (
        "body over 4 MB",
        ep.TRIGGER_CAMPAIGN,
        BrazeTriggerCampaignOperator,
        {"campaign_id": "c", "recipients": [{"external_user_id": f"u{i}", **_BIG} for i in range(50)]},
        413,
        "",
        "split",
    ),
    (
        "unparseable send time",
        ep.CREATE_CAMPAIGN_SCHEDULE,
        BrazeScheduleCampaignOperator,
        {"campaign_id": "c", "broadcast": True, "schedule": {"time": "next tuesday"}},
        400,
        "Bad Request",
        "refuse",
    ),
    (
        "in_local_time already passed in every zone",
        ep.CREATE_CAMPAIGN_SCHEDULE,
        BrazeScheduleCampaignOperator,
        {"campaign_id": "c", "broadcast": True, "schedule": {"time": _PASSED_LOCAL, "in_local_time": True}},
        400,
        "Bad Request",
        "refuse",
    ),
    (
        "broadcast with recipients",
        ep.TRIGGER_CAMPAIGN,
        BrazeTriggerCampaignOperator,
        {"campaign_id": "c", "broadcast": True, "recipients": [{"external_user_id": "u"}]},
        400,
        "Bad Request",
        "refuse",
    ),
    (
        "two identifiers in a recipient",
        ep.TRIGGER_CANVAS,
        BrazeTriggerCanvasOperator,
        {"canvas_id": "v", "recipients": [{"external_user_id": "u", "braze_id": "b"}]},
        400,
        "Bad Request",
        "refuse",
    ),
    (
        "email without prioritization",
        ep.TRIGGER_CAMPAIGN,
        BrazeTriggerCampaignOperator,
        {"campaign_id": "c", "recipients": [{"email": "a@example.com"}]},
        400,
        "Bad Request",
        "refuse",
    ),
    (
        "send_to_existing_only false with an alias",
        ep.TRIGGER_CAMPAIGN,
        BrazeTriggerCampaignOperator,
        {
            "campaign_id": "c",
            "recipients": [
                {
                    "user_alias": {"alias_name": "n", "alias_label": "l"},
                    "send_to_existing_only": False,
                    "attributes": {},
                }
            ],
        },
        400,
        "Bad Request",
        "refuse",
    ),
    (
        "a non-finite number (not JSON)",
        ep.TRIGGER_CAMPAIGN,
        BrazeTriggerCampaignOperator,
        {"campaign_id": "c", "recipients": [{"external_user_id": "u", "trigger_properties": {"x": float("nan")}}]},
        400,
        "Bad Request",
        "refuse",
    ),
]


@pytest.fixture(scope="module")
def judge() -> Iterator[BrazeSandbox]:
    with BrazeSandbox() as sandbox:
        yield sandbox


@pytest.mark.parametrize(
    ("endpoint", "operator", "body", "status", "message", "client"),
    [case[1:] for case in DOCUMENTED],
    ids=[case[0] for case in DOCUMENTED],
)
def test_documented_error(judge, endpoint, operator, body, status, message, client):
    data = json.dumps(body).encode()  # Python's JSON writes NaN, as a careless client would
    answer = requests.post(
        judge.url + endpoint.path,
        data=data,
        headers={"Authorization": f"Bearer {judge.api_key}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == status
    if message:
        assert answer.json()["message"] == message

    if client == "refuse":
        with pytest.raises(PayloadRuleError) as err:
            operator(task_id="t", **body).build_plan()
        # The client's error names the field the sandbox's refusal names (Braze's message is the
        # sandbox's business: the client's error carries its own words).
        refused = answer.json().get("errors") or []
        if refused:
            assert err.value.field == refused[0].split(": ", 1)[0], (err.value, refused)
        return
    plan = operator(task_id="t", **body).build_plan()
    try:
        bodies = [request.body for request in plan.requests()]
        assert len(bodies) > 1
        for request_body in bodies:
            assert len(json.dumps(request_body)) <= REQUEST_BYTES_BUDGET
            accepted = requests.post(
                judge.url + endpoint.path,
                json=request_body,
                headers={"Authorization": f"Bearer {judge.api_key}"},
                timeout=10,
            )
            assert accepted.status_code == 201, accepted.text
    finally:
        plan.close()
