"""Statuses and option values are str-Enums that stay their plain strings everywhere they go.

A member must be written to JSON, SQL rows, f-strings and messages exactly as the plain string was;
records written before the enums existed must still load; an operator given a value outside the set
is refused, naming the argument and the allowed values, before any request.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time

import pytest

from airflow_provider_braze.client.broadcast_matching import BroadcastCondition
from airflow_provider_braze.client.cdi_runs import CdiRunStatus, unknown_status_message
from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.client.str_enum import StrEnum
from airflow_provider_braze.engine import batch_sender, resume_ledger, send_options
from airflow_provider_braze.engine.batch_sender import OnUnknownOutcome
from airflow_provider_braze.engine.outcome_writer import OutcomeStatus, OutcomeWriter
from airflow_provider_braze.engine.resume_ledger import BatchState, PathResumeStore, ResumeLedger
from airflow_provider_braze.engine.send_options import OnEmpty, OnInvalid
from airflow_provider_braze.engine.send_plan import OnDuplicate
from airflow_provider_braze.engine.unknown_outcome_reconciliation import ReconciliationVerdict, describe
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import (
    BrazeCDISyncOperator,
    BrazeDeleteScheduleOperator,
    BrazeTriggerCampaignOperator,
)
from airflow_provider_braze.operators.batch_send import BrazeBatchSendOperator
from airflow_provider_braze.operators.cdi_sync import IfRunning, OnPartial, SyncStart
from airflow_provider_braze.operators.schedule_changes import ScheduleKind
from airflow_provider_braze.sensors import BrazeScheduledBroadcastSensor
from airflow_provider_braze.triggers.scheduled_broadcast import BrazeScheduledBroadcastTrigger
from airflow_provider_braze.triggers.wait_status import WaitStatus
from tests.conftest import run_operator

ALL = (
    OutcomeStatus,
    BatchState,
    OnDuplicate,
    OnInvalid,
    OnEmpty,
    OnUnknownOutcome,
    send_options.OnUnknownOutcome,
    CdiRunStatus,
    OnPartial,
    IfRunning,
    SyncStart,
    ReconciliationVerdict,
    ScheduleKind,
    BroadcastCondition,
    WaitStatus,
)


@pytest.mark.parametrize("member", [m for enum_class in ALL for m in enum_class], ids=repr)
def test_a_member_is_written_everywhere_as_its_plain_string(member: StrEnum) -> None:
    plain = member.value
    assert type(plain) is str
    assert member == plain
    assert hash(member) == hash(plain)
    assert {plain: 1}[member] == 1
    assert str(member) == f"{member}" == format(member, "") == plain
    assert "%s" % member == plain  # noqa: UP031 (how lazy logging formats it)
    assert type(str(member)) is str
    assert f"{member:>20}" == f"{plain:>20}"
    assert json.dumps({"status": member}) == json.dumps({"status": plain})
    assert json.loads(json.dumps([member])) == [plain]
    assert ", ".join([member]) == plain


def test_parse_takes_a_plain_string_or_a_member_and_names_the_argument_otherwise() -> None:
    assert OnDuplicate.parse("first", "on_duplicate") is OnDuplicate.FIRST
    assert OnDuplicate.parse(OnDuplicate.FAIL, "on_duplicate") is OnDuplicate.FAIL
    for bad in ("bogus", "FIRST", None, 1, ["fail"]):
        with pytest.raises(PayloadRuleError) as err:
            OnDuplicate.parse(bad, "on_duplicate")
        assert err.value.field == "on_duplicate"
        assert err.value.rule == f"must be one of fail, first (got {bad!r})"


def test_a_resume_record_written_before_the_enums_loads(tmp_path) -> None:
    """A version-2 record as the earlier code wrote it: plain JSON, byte for byte."""
    now = time.time()
    written = (
        '{"version":2,"fingerprint":"fp","owner":1,"tries":1,"accepted":[[1,3]],"unknown":[4],'
        f'"in_flight":[5],"failed":[6],"schedule_ids":{{}},"created":{now},"updated":{now},'
        f'"expires":{now + 86400}}}'
    )
    (tmp_path / "k.json").write_text(written)
    ledger = ResumeLedger(PathResumeStore(str(tmp_path)), "k", "fp", owner=2)
    ledger.open(8)
    states = [ledger.state_of(n) for n in range(1, 9)]
    assert states == ["accepted", "accepted", None, "unknown", "unknown", None, None, None]  # [1, 3) half-open
    assert states[0] is BatchState.ACCEPTED
    assert states[4] is BatchState.UNKNOWN
    ledger.close()
    again = json.loads((tmp_path / "k.json").read_text())
    assert again["accepted"] == [[1, 3]]
    assert again["unknown"] == [4, 5]


class _CapturingDb:
    """Stands in for the warehouse's DbApiHook: the rows as the driver would receive them."""

    placeholder = "%s"

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def run(self, sql: str, parameters: object = None) -> None:
        pass

    def insert_rows(self, table: str, rows: list[tuple], **kwargs: object) -> None:
        self.rows += rows


def test_outcome_rows_carry_plain_strings_for_the_driver() -> None:
    db = _CapturingDb()
    writer = OutcomeWriter(db, "outcomes", run_id="r", dag_id="d", task_id="t", map_index=-1, try_number=1)
    body = {"recipients": [{"external_user_id": "u1"}]}
    writer.batch(1, body, OutcomeStatus.ACCEPTED)
    writer.batch(2, body, "unknown-outcome")  # a caller holding the plain string
    writer.rejected(3, "bad")
    writer.flush()
    statuses = [row[10] for row in db.rows]
    assert statuses == ["accepted", "unknown-outcome", "rejected-invalid"]
    assert all(type(s) is str for s in statuses)  # not a subclass: any DB driver adapts it


def test_an_outcome_status_outside_the_set_is_refused() -> None:
    writer = OutcomeWriter(_CapturingDb(), "o", run_id="r", dag_id="d", task_id="t", map_index=-1, try_number=1)
    with pytest.raises(PayloadRuleError, match="status: must be one of accepted, rejected-invalid"):
        writer.batch(1, {"external_user_ids": ["u"]}, "sent")


def test_messages_name_the_statuses_as_before() -> None:
    message = unknown_status_message({"job_status": "Queued", "sync_start_time": "2026-01-01T00:00:00Z"})
    assert message is not None
    assert "(known: running, success, partial, error, config_error)" in message
    assert unknown_status_message({"job_status": "Success"}) is None
    summary = {f"{v}_count": 0 for v in ReconciliationVerdict} | {"since": "2026-01-01T00:00:00+00:00"}
    assert set(summary) == {"received_count", "partly_received_count", "no_trace_count", "not_checkable_count", "since"}
    assert "0 show no trace" in describe(summary)


@pytest.mark.parametrize(
    ("argument", "value", "allowed"),
    [
        ("on_duplicate", "bogus", "fail, first"),
        ("on_duplicate", None, "fail, first"),  # was taken as "not fail" (keep the first) before
        ("on_invalid", "Skip", "fail, skip"),
        ("on_empty", "", "warn, fail"),
        ("on_unknown_outcome", "retry", "fail, skip, resend"),
    ],
)
def test_an_option_outside_its_set_fails_naming_the_argument_before_any_request(sandbox, argument, value, allowed):
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=["a", "b"], **{argument: value})
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert err.value.field == argument
    assert err.value.rule == f"must be one of {allowed} (got {value!r})"
    assert sandbox.requests == []


def test_an_option_may_be_a_member_a_plain_string_or_a_template(sandbox):
    for task_id, value in (("member", OnDuplicate.FIRST), ("plain", "first"), ("templated", "{{ params.dup }}")):
        op = BrazeTriggerCampaignOperator(
            task_id=task_id, campaign_id="c", recipients=["a", "a", "b"], on_duplicate=value
        )
        result = run_operator(op, {"params": {"dup": "first"}})
        assert result["recipients"] == 2, task_id
    assert [r.body["recipients"] for r in sandbox.requests] == [
        [{"external_user_id": "a"}, {"external_user_id": "b"}]
    ] * 3


@pytest.mark.parametrize(("argument", "allowed"), [("on_partial", "fail, warn"), ("if_running", "wait_then_trigger")])
def test_the_cdi_operator_refuses_an_unknown_option_at_construction(argument, allowed):
    with pytest.raises(ValueError, match=f"^{argument}: must be one of {allowed}.*got 'bogus'"):
        BrazeCDISyncOperator(task_id="t", integration_id="i", **{argument: "bogus"})
    op = BrazeCDISyncOperator(task_id="t", integration_id="i", **{argument: "fail"})
    assert type(getattr(op, argument)) is str
    assert getattr(op, argument) == "fail"


def test_a_schedule_kind_outside_its_set_fails_naming_kind_before_any_request(sandbox):
    op = BrazeDeleteScheduleOperator(task_id="d", campaign_id="camp", schedule_id="s-1", kind="campaigns")
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert err.value.field == "kind"
    assert err.value.rule == "must be one of messages, campaign, canvas (got 'campaigns')"
    assert sandbox.requests == []


def test_a_schedule_kind_given_as_a_member_routes_like_its_string(sandbox):
    dry_runs = [
        run_operator(
            BrazeDeleteScheduleOperator(task_id="d", canvas_id="v", schedule_id="s-1", kind=kind, dry_run=True)
        )
        for kind in (ScheduleKind.CANVAS, "canvas")
    ]
    assert dry_runs[0] == dry_runs[1]
    assert dry_runs[0]["endpoint"] == "/canvas/trigger/schedule/delete"
    assert json.dumps(dry_runs[0]) == json.dumps(dry_runs[1])
    assert sandbox.requests == []


def test_the_sensor_refuses_an_unknown_condition_and_keeps_the_plain_string():
    with pytest.raises(ValueError, match=r"^condition: must be one of scheduled, sent \(got 'done'\)"):
        BrazeScheduledBroadcastSensor(task_id="s", tag="t", condition="done")
    sensor = BrazeScheduledBroadcastSensor(task_id="s", tag="t", condition=BroadcastCondition.SENT)
    assert type(sensor.condition) is str
    assert sensor.condition == "sent"


def test_a_trigger_event_carries_the_plain_status_string(braze_sandbox, monkeypatch):
    """The triggerer stores the event: it holds the plain string, as events of earlier versions did."""
    for name, value in braze_sandbox.airflow_env(api_key="wrong").items():
        monkeypatch.setenv(name, value)
    trigger = BrazeScheduledBroadcastTrigger(braze_conn_id="braze_default", condition="scheduled", tag="t")
    event = asyncio.run(trigger.run().__anext__())
    assert type(event.payload["status"]) is str
    assert event.payload["status"] == WaitStatus.ERROR
    sensor = BrazeScheduledBroadcastSensor(task_id="s", tag="t")
    assert sensor.execute_complete({}, {"status": "success", "broadcast": {"id": "x"}}) == {"id": "x"}


@pytest.mark.parametrize(
    ("argument", "enum_class", "default"),
    [
        ("on_invalid", OnInvalid, OnInvalid.FAIL),
        ("on_duplicate", OnDuplicate, OnDuplicate.FAIL),
        ("on_empty", OnEmpty, OnEmpty.WARN),
        ("on_unknown_outcome", send_options.OnUnknownOutcome, send_options.OnUnknownOutcome.FAIL),
    ],
)
def test_a_send_option_is_typed_as_its_enum_or_a_string_with_the_member_as_default(argument, enum_class, default):
    """The signature says which values exist (an IDE completes them); a plain string is still accepted."""
    parameter = inspect.signature(BrazeBatchSendOperator.__init__).parameters[argument]
    assert parameter.default is default
    assert parameter.annotation == f"{enum_class.__name__} | str"
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=["a"])
    assert getattr(op, argument) is default


def test_the_parse_time_option_values_agree_with_the_sender_and_the_resume_record():
    """The operators take their defaults from engine/send_options.py (cheap to import at parse time);
    the sender and the resume record must mean the same values."""
    assert send_options.OnUnknownOutcome is batch_sender.OnUnknownOutcome
    assert send_options.DEFAULT_RETENTION_DAYS is resume_ledger.DEFAULT_RETENTION_DAYS
    assert OnDuplicate is send_options.OnDuplicate
