"""BrazeSendMessageOperator against the sandbox."""

from __future__ import annotations

import pytest

from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import BrazeSendMessageOperator
from tests.conftest import run_operator

EMAIL = {"email": {"app_id": "app", "from": "Shop <shop@example.com>", "subject": "Hi", "body": "<p>Hi</p>"}}


def test_ids_and_aliases_are_batched_together_by_50(sandbox):
    ids = [f"u{i}" for i in range(70)]
    aliases = [{"alias_name": f"n{i}", "alias_label": "crm"} for i in range(40)]
    result = run_operator(
        BrazeSendMessageOperator(task_id="t", messages=EMAIL, external_user_ids=ids, user_aliases=aliases)
    )
    # Batches go out concurrently and may reach the sandbox in any order: put them in source order
    # (the ids first, then the aliases) by the first user each lists.
    source_order = {("id", u): i for i, u in enumerate(ids)}
    source_order.update({("alias", a["alias_name"]): len(ids) + i for i, a in enumerate(aliases)})

    def first_user(body: dict) -> int:
        if body.get("external_user_ids"):
            return source_order[("id", body["external_user_ids"][0])]
        return source_order[("alias", body["user_aliases"][0]["alias_name"])]

    bodies = sorted((r.body for r in sandbox.requests), key=first_user)
    sizes = [len(b.get("external_user_ids", [])) + len(b.get("user_aliases", [])) for b in bodies]
    assert sizes == [50, 50, 10]
    assert bodies[1]["external_user_ids"] == ids[50:]
    assert bodies[1]["user_aliases"] == aliases[:30]
    assert all(b["messages"] == EMAIL for b in bodies)
    assert result["recipients"] == 110
    counts = sandbox.delivery_counts()
    assert len(counts) == 110
    assert set(counts.values()) == {1}


def test_segment_broadcast(sandbox):
    result = run_operator(
        BrazeSendMessageOperator(
            task_id="t",
            messages=EMAIL,
            segment_id="seg-1",
            broadcast=True,
            recipient_subscription_state="opted_in",
            override_frequency_capping=True,
        )
    )
    [request] = sandbox.requests
    assert request.body == {
        "broadcast": True,
        "segment_id": "seg-1",
        "recipient_subscription_state": "opted_in",
        "messages": EMAIL,
        "override_frequency_capping": True,
    }
    assert len(result["dispatch_ids"]) == 1


def test_messages_from_a_json_string(sandbox):
    run_operator(
        BrazeSendMessageOperator(
            task_id="t",
            messages='{"webhook": {"url": "https://example.com/hook", "request_method": "POST"}}',
            external_user_ids='["u1"]',
        )
    )
    assert sandbox.requests[0].body["messages"]["webhook"]["request_method"] == "POST"


BAD = [
    ({"external_user_ids": ["u"], "broadcast": True}, "broadcast", "cannot be true"),
    ({"broadcast": True}, "broadcast", "needs segment_id or audience"),
    ({"segment_id": "s"}, "recipients", "no target"),
    (
        {"external_user_ids": ["u"], "campaign_id": "c"},
        "messages.email.message_variation_id",
        "required when campaign_id",
    ),
    ({"external_user_ids": ["u"], "messages": {"fax": {}}}, "messages.fax", "unknown message type"),
    (
        {"external_user_ids": ["u"], "messages": {"email": {"app_id": "a", "body": "b"}}},
        "messages.email.from",
        "is required",
    ),
    ({"external_user_ids": ["u"], "messages": {}}, "messages", "non-empty"),
    (
        {"external_user_ids": ["u"], "messages": {"apple_push": {"alert": "hi", "interruption_level": "loud"}}},
        "messages.apple_push.interruption_level",
        "must be one of",
    ),
    (
        {"external_user_ids": ["u"], "recipient_subscription_state": "everyone"},
        "recipient_subscription_state",
        "must be one of",
    ),
    ({"external_user_ids": ["u", ""]}, "external_user_ids[1]", "non-empty string"),
    ({"user_aliases": [{"alias_label": "l"}]}, "user_aliases[0].alias_name", "is required"),
    (
        {"external_user_ids": ["u"], "messages": {"android_push": {"alert": "a", "title": "t", "extra": "x"}}},
        "messages.android_push.extra",
        "must be an object",
    ),
]


@pytest.mark.parametrize(("kwargs", "field", "rule"), BAD)
def test_invalid_input_fails_before_any_request(sandbox, kwargs, field, rule):
    op = BrazeSendMessageOperator(task_id="t", **{"messages": EMAIL, **kwargs})
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert (err.value.field, rule in err.value.rule) == (field, True), str(err.value)
    assert sandbox.requests == []


def test_campaign_with_variation_ids_is_sent(sandbox):
    messages = {"email": {**EMAIL["email"], "message_variation_id": "var-1"}}
    run_operator(BrazeSendMessageOperator(task_id="t", messages=messages, external_user_ids=["u"], campaign_id="c"))
    assert sandbox.requests[0].status == 201
