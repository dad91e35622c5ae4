"""Braze's published examples, judged by the sandbox and by the client, against Braze's documented verdict.

``examples.json`` holds every example request of the messaging endpoint pages of ``braze-inc/braze-docs``
(and the objects pages' and errors page's examples), with the verdict Braze's docs give it and the
page and commit it was read from. Each body is

* sent to the sandbox over HTTP (its own rule table, ``testing/sandbox/rules.py``), and
* planned by the operator that sends that endpoint (the client's ``payload_validation``).

The agreement figure is printed. A disagreement — of either side with the documented verdict — fails
the test unless ``docs/sandbox.md`` ("Where Braze's examples and our rules differ") lists it with the
decision taken; a listed disagreement that no longer happens fails it too, so the table stays true.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import (
    BrazeCreateSendIdOperator,
    BrazeDeleteScheduleOperator,
    BrazeScheduleCampaignOperator,
    BrazeScheduleCanvasOperator,
    BrazeScheduleMessageOperator,
    BrazeSendMessageOperator,
    BrazeTriggerCampaignOperator,
    BrazeTriggerCanvasOperator,
    BrazeUpdateScheduleOperator,
)
from airflow_provider_braze.testing.sandbox import BrazeSandbox
from airflow_provider_braze.testing.sandbox.config import SandboxConfig

HERE = Path(__file__).parent
CORPUS = json.loads((HERE / "examples.json").read_text())
DECISIONS_DOC = HERE.parents[1] / "docs" / "sandbox.md"
DECISIONS_HEADING = "## Where Braze's examples and our rules differ"

#: The operator that sends each endpoint; update/delete/send-id operators take the ids as arguments.
OPERATORS: dict[str, type] = {
    "/messages/send": BrazeSendMessageOperator,
    "/messages/schedule/create": BrazeScheduleMessageOperator,
    "/campaigns/trigger/send": BrazeTriggerCampaignOperator,
    "/campaigns/trigger/schedule/create": BrazeScheduleCampaignOperator,
    "/canvas/trigger/send": BrazeTriggerCanvasOperator,
    "/canvas/trigger/schedule/create": BrazeScheduleCanvasOperator,
    "/sends/id/create": BrazeCreateSendIdOperator,
}
SCHEDULE_KIND = {"messages": "messages", "campaigns": "campaign", "canvas": "canvas"}
#: The body a ``{{schedule_id}}`` is created with, per create endpoint (owner ids from the entry).
SETUP_BODY: dict[str, dict[str, Any]] = {
    "/messages/schedule/create": {"broadcast": True, "segment_id": "segment_identifier"},
    "/campaigns/trigger/schedule/create": {"broadcast": True},
    "/canvas/trigger/schedule/create": {"broadcast": True},
}


def decision_table(text: str) -> dict[tuple[str, str], str]:
    """``{(example id, side): decision}`` from the markdown table under :data:`DECISIONS_HEADING`.

    Rows look like ``| `messages_send/published` | client | what differs | decision | source |``.
    """
    section = text.split(DECISIONS_HEADING, 1)[1].split("\n## ", 1)[0] if DECISIONS_HEADING in text else ""
    rows: dict[tuple[str, str], str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([^`]+)`", cells[0]) if len(cells) >= 4 else None
        if match:
            for side in re.split(r"\s*,\s*|\s+and\s+", cells[1]):
                rows[(match.group(1), side)] = cells[3]
    return rows


def filled(value: Any, today: datetime, schedule_id: str | None) -> Any:
    """The entry's body with ``{{date±N}}`` and ``{{schedule_id}}`` filled (fill rules F3, F4)."""
    if isinstance(value, dict):
        return {key: filled(item, today, schedule_id) for key, item in value.items()}
    if isinstance(value, list):
        return [filled(item, today, schedule_id) for item in value]
    if isinstance(value, str):
        value = re.sub(
            r"\{\{date([+-]\d+)\}\}", lambda m: (today + timedelta(days=int(m.group(1)))).date().isoformat(), value
        )
        if value == "{{schedule_id}}":
            assert schedule_id, "an entry uses {{schedule_id}} without a setup"
            return schedule_id
    return value


@dataclass
class Verdict:
    """One side's judgement: accepted, or refused (status, message, field)."""

    accepted: bool
    status: int | None = None
    message: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        if self.accepted:
            return "accepted"
        return f"refused {self.status or ''} {self.message or ''} ({self.field})".replace("  ", " ")


def agrees(verdict: Verdict, documented: dict[str, Any], *, compare_message: bool) -> bool:
    """Whether a side's verdict is the documented one (status class, Braze's message, a documented field)."""
    if documented["status"] < 300:
        return verdict.accepted
    if verdict.accepted:
        return False
    if compare_message and (verdict.status, verdict.message) != (documented["status"], documented["message"]):
        return False
    fields = documented.get("fields")
    return not fields or verdict.field in fields


def sandbox_verdict(session: requests.Session, url: str, entry: dict[str, Any], body: dict[str, Any]) -> Verdict:
    answer = session.post(url + entry["endpoint"], json=body, timeout=10)
    if answer.status_code < 300:
        return Verdict(True, answer.status_code)
    payload = answer.json()
    errors = payload.get("errors") or []
    field = errors[0].split(": ", 1)[0] if errors else None
    return Verdict(False, answer.status_code, payload.get("message"), field)


def client_operator(entry: dict[str, Any], body: dict[str, Any]) -> Any:
    """The operator that would send ``body``, built from it as its arguments."""
    endpoint = entry["endpoint"]
    kwargs = copy.deepcopy(body)
    if endpoint.endswith(("/update", "/delete")):
        kwargs["kind"] = SCHEDULE_KIND[endpoint.strip("/").split("/")[0]]
        operator = BrazeUpdateScheduleOperator if endpoint.endswith("/update") else BrazeDeleteScheduleOperator
        return operator(task_id="corpus", **kwargs)
    return OPERATORS[endpoint](task_id="corpus", **kwargs)


def client_verdict(entry: dict[str, Any], body: dict[str, Any]) -> Verdict:
    """The client's verdict: its plan (accepted) or its validation error (refused, naming the field).

    An argument the operator does not take is a refusal too (Airflow refuses it when the DAG is parsed).
    """
    try:
        operator = client_operator(entry, body)
    except Exception as error:  # TypeError (Airflow 3) or AirflowException (Airflow 2) for arguments
        text = str(error)
        if not isinstance(error, TypeError) and "argument" not in text.lower():
            raise
        missing = re.search(r"(?:keyword-only argument: |keyword argument |Argument \[)'(\w+)'", text)
        return Verdict(False, field=missing.group(1) if missing else "argument")
    try:
        plan = operator.plan_or_fail()
    except BrazeValidationError as error:
        return Verdict(False, field=error.field)
    plan.close()
    return Verdict(True)


@pytest.fixture(scope="module")
def judge() -> Iterator[BrazeSandbox]:
    with BrazeSandbox(config=SandboxConfig(broadcast_rate_limit=10**6, rate_limit=10**6)) as sandbox:
        yield sandbox


def _schedule_for(session: requests.Session, url: str, entry: dict[str, Any], today: datetime) -> str | None:
    setup = entry.get("setup")
    if not setup:
        return None
    create = setup["create"]
    body = {**SETUP_BODY[create], "schedule": {"time": (today + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    for owner in ("campaign_id", "canvas_id"):
        if owner in entry["body"]:
            body[owner] = entry["body"][owner]
    if create == "/messages/schedule/create":
        body["messages"] = {"apple_push": {"alert": "Hello"}}
    answer = session.post(url + create, json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["schedule_id"])


def test_the_corpus_covers_every_messaging_endpoint() -> None:
    endpoints = {entry["endpoint"] for entry in CORPUS["examples"]}
    assert endpoints >= {
        *OPERATORS,
        *(
            f"/{p}/{a}"
            for p in ("messages/schedule", "campaigns/trigger/schedule", "canvas/trigger/schedule")
            for a in ("update", "delete")
        ),
    }
    for entry in CORPUS["examples"]:
        source = entry["source"]
        assert source["repo"] == "braze-inc/braze-docs", entry["id"]
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), entry["id"]
        assert entry["verdict"]["status"] in (201, 400), entry["id"]


def test_decision_table_parses() -> None:
    rows = decision_table(
        "## Where Braze's examples and our rules differ\n\n| Example | Side | a | b | c |\n"
        "|---|---|---|---|---|\n| `x/y` | sandbox and client | d | kept | s |\n## Next\n| `z` | c | . | . |"
    )
    assert rows == {("x/y", "sandbox"): "kept", ("x/y", "client"): "kept"}


def test_braze_published_examples(judge: BrazeSandbox, capsys: pytest.CaptureFixture[str]) -> None:
    decisions = decision_table(DECISIONS_DOC.read_text())
    today = datetime.now(timezone.utc)
    examples = CORPUS["examples"]
    agree = {"sandbox": 0, "client": 0}
    disagreements: dict[tuple[str, str], str] = {}
    lines = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {judge.api_key}"
        for entry in examples:
            schedule_id = _schedule_for(session, judge.url, entry, today)
            body = filled(entry["body"], today, schedule_id)
            verdicts = {
                "sandbox": sandbox_verdict(session, judge.url, entry, body),
                "client": client_verdict(entry, body),
            }
            marks = []
            for side, verdict in verdicts.items():
                if agrees(verdict, entry["verdict"], compare_message=side == "sandbox"):
                    agree[side] += 1
                    marks.append(" ")
                else:
                    disagreements[(entry["id"], side)] = str(verdict)
                    marks.append(side[0])
            documented = "accepted" if entry["verdict"]["status"] < 300 else f"400 {entry['verdict']['message']}"
            lines.append(f"  [{''.join(marks)}] {entry['id']:52} documented: {documented}")
    total = len(examples)
    with capsys.disabled():
        print(f"\nBraze's published examples ({total}; marks: s/c = the sandbox/client disagrees):")
        print("\n".join(lines))
        print(
            f"corpus: {agree['sandbox']}/{total} agree with Braze's documented verdict (sandbox), "
            f"{agree['client']}/{total} (client)"
        )
    unlisted = {key: got for key, got in disagreements.items() if key not in decisions}
    stale = sorted(key for key in decisions if key not in disagreements)
    assert not unlisted, f"disagreements without a decision in docs/sandbox.md: {unlisted}"
    assert not stale, f"decisions in docs/sandbox.md for disagreements that no longer happen: {stale}"
