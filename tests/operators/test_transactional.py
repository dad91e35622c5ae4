"""Transactional email: one request per recipient, an external_send_id Braze de-duplicates for 24 h.

The proofs run against the sandbox's model of Braze's de-duplication: a retry after a failure
mid-send and a second DAG run with the same business key deliver each email once, even with the
resume record deleted.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.client.transactional import (
    EXTERNAL_SEND_ID_PATTERN,
    check_external_send_id,
)
from airflow_provider_braze.engine.batch_sender import BrazeBatchError, BrazeUnknownOutcomeBatchesError
from airflow_provider_braze.engine.transactional_plan import derive_external_send_id
from airflow_provider_braze.exceptions import BrazeAPIError, BrazeValidationError
from airflow_provider_braze.operators import BrazeSendTransactionalEmailOperator
from airflow_provider_braze.testing.sandbox import Fault
from tests.conftest import run_operator

FAST_EXTRAS = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 1, "max_retries": 0}
PATH = "/transactional/v1/campaigns/tx-campaign/send"
USERS = [f"user-{i}" for i in range(6)]


@pytest.fixture
def fast(sandbox, monkeypatch):
    for name, value in sandbox.airflow_env(extra=FAST_EXTRAS).items():
        monkeypatch.setenv(name, value)
    return sandbox


def _context(run_id: str = "scheduled__2026-11-30", try_number: int = 1, logical_date: datetime | None = None):
    ti = SimpleNamespace(dag_id="dag", task_id="confirm", map_index=-1, try_number=try_number)
    started = datetime.now(timezone.utc) - timedelta(minutes=5)
    return {
        "ti": ti,
        "run_id": run_id,
        "logical_date": logical_date or datetime(2026, 11, 30, tzinfo=timezone.utc),
        "dag_run": SimpleNamespace(start_date=started),
    }


def _op(tmp_path, recipients=USERS, **kwargs):
    kwargs.setdefault("resume_store", str(tmp_path / "resume"))
    return BrazeSendTransactionalEmailOperator(
        task_id="confirm", campaign_id="tx-campaign", recipients=recipients, max_concurrency=1, **kwargs
    )


def _emailed(sandbox) -> dict[str, int]:
    return dict(sandbox.delivery_counts(PATH))


# -- the external_send_id ----------------------------------------------------------------------


def test_external_send_id_is_deterministic_and_fits_brazes_format_rule():
    first = derive_external_send_id("c", {"external_user_id": "u1"}, "2026-11-30T00:00:00+00:00")
    assert first == derive_external_send_id("c", {"external_user_id": "u1"}, "2026-11-30T00:00:00+00:00")
    assert len(first) == 64
    assert EXTERNAL_SEND_ID_PATTERN.match(first)
    others = {
        derive_external_send_id("c2", {"external_user_id": "u1"}, "2026-11-30T00:00:00+00:00"),
        derive_external_send_id("c", {"external_user_id": "u2"}, "2026-11-30T00:00:00+00:00"),
        derive_external_send_id("c", {"external_user_id": "u1"}, "2026-12-01T00:00:00+00:00"),
        derive_external_send_id("c", {"user_alias": {"alias_label": "l", "alias_name": "u1"}}, "x"),
    }
    assert first not in others
    assert len(others) == 4


@pytest.mark.parametrize(
    ("value", "rule"),
    [("has space", "only letters"), ("é", "only letters"), ("a" * 65, "at most 64"), ("", "non-empty")],
)
def test_external_send_id_format_rule_is_checked_before_sending(value, rule):
    with pytest.raises(PayloadRuleError, match=rule):
        check_external_send_id(value)


def test_the_body_does_not_depend_on_the_try_number(fast, tmp_path):
    bodies = []
    for try_number in (1, 2):
        op = _op(tmp_path, dry_run=True)
        op.execute(_context(try_number=try_number))
        plan = op.plan_or_fail()
        bodies.append([r.body for r in plan.requests()])
        plan.close()
    assert bodies[0] == bodies[1]
    assert [b["recipient"] for b in bodies[0]] == [{"external_user_id": u} for u in USERS]
    assert fast.requests == []


# -- the proofs --------------------------------------------------------------------------------


def test_retry_after_a_failure_midway_with_the_resume_record_deleted_emails_each_user_once(fast, tmp_path):
    fast.configure(fail_on_requests=frozenset({4}))  # emails 1-3 sent, then Braze is down (503)
    with pytest.raises(BrazeBatchError, match="Batch 4 of 6"):
        run_operator(_op(tmp_path), _context(try_number=1))
    assert len(_emailed(fast)) == 3
    shutil.rmtree(tmp_path / "resume")  # the record is gone: the retry sends every email again
    fast.configure(fail_on_requests=frozenset())
    result = run_operator(_op(tmp_path), _context(try_number=2))
    assert _emailed(fast) == {f"external_user_id:{u}": 1 for u in USERS}
    assert result["deduplicated"] == 3  # Braze's "already queued" answer for emails 1-3
    assert result["recipients"] == 6
    assert result["queued_batches"] == 3
    retried = [r for r in fast.requests_to(PATH) if r.seq > 4]
    assert [r.status for r in retried] == [400, 400, 400, 201, 201, 201]


def test_retry_without_any_resume_store_is_also_deduplicated_by_braze(fast, tmp_path):
    fast.configure(fail_on_requests=frozenset({2}))
    with pytest.raises(BrazeBatchError):
        run_operator(_op(tmp_path, resume_store=None), _context(try_number=1))
    fast.configure(fail_on_requests=frozenset())
    run_operator(_op(tmp_path, resume_store=None), _context(try_number=2))
    assert _emailed(fast) == {f"external_user_id:{u}": 1 for u in USERS}


def test_a_second_dag_run_with_the_same_business_key_within_24_hours_sends_nothing_new(fast, tmp_path):
    run_operator(_op(tmp_path, business_key="invoice-batch-17"), _context(run_id="manual__1"))
    result = run_operator(_op(tmp_path, business_key="invoice-batch-17"), _context(run_id="manual__2"))
    assert result["deduplicated"] == 6
    assert _emailed(fast) == {f"external_user_id:{u}": 1 for u in USERS}
    # Braze forgets the id after 24 hours: the same key then sends again (the documented limit).
    fast.transactional.advance(hours=25)
    run_operator(_op(tmp_path, business_key="invoice-batch-17"), _context(run_id="manual__3"))
    assert set(_emailed(fast).values()) == {2}


def test_an_unknown_outcome_is_resent_and_braze_deduplicates_it(fast, tmp_path):
    fast.inject(Fault(status=500))  # the first email is processed, then the answer is a 500
    result = run_operator(_op(tmp_path), _context())
    assert result["unknown_outcome_count"] == 0
    assert result["deduplicated"] == 1
    assert _emailed(fast) == {f"external_user_id:{u}": 1 for u in USERS}
    assert [r.status for r in fast.requests_to(PATH)][:2] == [500, 400]


def test_resending_unknown_outcomes_stops_once_the_run_is_older_than_the_dedup_window(fast, tmp_path):
    fast.inject(Fault(status=500))
    context = _context()
    context["dag_run"] = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(hours=30))
    with pytest.raises(BrazeUnknownOutcomeBatchesError, match="batches 1"):
        run_operator(_op(tmp_path), context)
    assert len(fast.requests_to(PATH)) == 6  # the unknown one was not sent again


def test_the_default_business_key_is_the_logical_date_and_a_manual_run_without_one_uses_its_run_id(fast, tmp_path):
    for day in (29, 30):
        when = datetime(2026, 11, day, tzinfo=timezone.utc)
        run_operator(_op(tmp_path, recipients=["u1"]), _context(run_id=f"scheduled__{day}", logical_date=when))
    no_date = {**_context(run_id="manual__2026-11-30T10:00:00"), "logical_date": None}
    result = run_operator(_op(tmp_path, recipients=["u1"]), no_date)
    assert result["business_key"] == "run:manual__2026-11-30T10:00:00"
    again = run_operator(_op(tmp_path, recipients=["u1"], resume_store=None), dict(no_date))  # a retry, no record
    assert again["deduplicated"] == 1
    assert _emailed(fast) == {"external_user_id:u1": 3}  # one per logical date, one for the manual run
    keys = {r.body["external_send_id"] for r in fast.requests_to(PATH)}
    assert len(keys) == 3


def test_business_key_field_sends_one_email_per_order(fast, tmp_path):
    rows = [
        {"external_user_id": "u1", "order_id": 1, "total": 10},
        {"external_user_id": "u1", "order_id": 2, "total": 20},
        {"external_user_id": "u2", "order_id": 3, "total": 30},
    ]
    run_operator(_op(tmp_path, recipients=rows, business_key_field="order_id"), _context())
    run_operator(_op(tmp_path, recipients=rows, business_key_field="order_id"), _context(run_id="r2"))
    assert _emailed(fast) == {"external_user_id:u1": 2, "external_user_id:u2": 1}
    first = fast.requests_to(PATH)[0].body
    assert first["trigger_properties"] == {"order_id": 1, "total": 10}
    assert first["recipient"] == {"external_user_id": "u1"}


# -- validation before sending -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"recipients": ["u1", {"braze_id": "b"}]}, "recipients[1].braze_id"),
        ({"recipients": ["u1", "u1"]}, "recipients"),
        ({"recipients": [{"external_user_id": "u1"}], "business_key_field": "order_id"}, "order_id"),
        ({"recipients": ["u1"], "trigger_properties": {"x": "y" * 60_000}}, "trigger_properties"),
    ],
)
def test_bad_input_is_refused_before_any_request(fast, tmp_path, kwargs, field):
    with pytest.raises(BrazeValidationError) as info:
        run_operator(_op(tmp_path, **kwargs), _context())
    assert field in info.value.field or field in str(info.value)
    assert fast.requests == []


def test_campaign_id_with_a_slash_is_refused(fast, tmp_path):
    op = BrazeSendTransactionalEmailOperator(task_id="t", campaign_id="a/b", recipients=["u1"])
    with pytest.raises(BrazeValidationError, match="campaign_id"):
        run_operator(op, _context())


# -- outcome write-back, dry run, hook, sandbox ---------------------------------------------------


def test_outcome_rows_name_each_recipient_once_with_the_dedup_note(fast, tmp_path, monkeypatch):
    db_path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db_path)}))
    fast.configure(fail_on_requests=frozenset({3}))
    kwargs = {"outcome_table": "braze_outcomes", "outcome_conn_id": "warehouse", "resume_store": None}
    with pytest.raises(BrazeBatchError):
        run_operator(_op(tmp_path, **kwargs), _context(try_number=1))
    fast.configure(fail_on_requests=frozenset())
    run_operator(_op(tmp_path, **kwargs), _context(try_number=2))
    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT recipient_id, status, error FROM braze_outcomes ORDER BY batch_number").fetchall()
    db.close()
    assert [r[0] for r in rows] == USERS
    assert {r[1] for r in rows} == {"accepted"}
    assert [bool(r[2] and "de-duplicated" in r[2]) for r in rows] == [True, True, False, False, False, False]


def test_dry_run_logs_redacted_emails_and_sends_nothing(fast, tmp_path, logs):
    rows = [{"external_user_id": "secret-user", "order_id": 1, "email_body": "private"}]
    result = run_operator(_op(tmp_path, recipients=rows, dry_run=True), _context())
    assert result["dry_run"] is True
    assert result["requests"] == 1
    text = logs()
    assert "secret-user" not in text
    assert "private" not in text
    assert fast.requests == []


def test_hook_send_transactional_email_returns_the_dedup_answer_as_accepted(hook, sandbox):
    first = hook.send_transactional_email(
        campaign_id="tx-campaign", recipient={"external_user_id": "u1"}, external_send_id="order-1"
    )
    assert first.dispatch_id
    assert not first.queued
    again = hook.send_transactional_email(
        campaign_id="tx-campaign", recipient={"external_user_id": "u1"}, external_send_id="order-1"
    )
    assert again.queued
    assert again.get("deduplicated") is True
    assert _emailed(sandbox) == {"external_user_id:u1": 1}
    assert "Transactional email: 1 email(s) sent in 1 campaign(s), 1 repeat(s) de-duplicated" in sandbox.summary()
    sandbox.reset()  # forgets the de-duplication keys too
    assert "Transactional" not in sandbox.summary()
    again = hook.send_transactional_email(
        campaign_id="tx-campaign", recipient={"external_user_id": "u1"}, external_send_id="order-1"
    )
    assert again.dispatch_id
    with pytest.raises(BrazeValidationError, match="external_send_id"):
        hook.send_transactional_email(campaign_id="c", recipient={"external_user_id": "u1"}, external_send_id="a b")


def test_sandbox_refuses_what_braze_refuses(hook, sandbox):
    with pytest.raises(BrazeAPIError, match="external_send_id"):
        hook.request("POST", PATH, json={"external_send_id": "not valid!", "recipient": {"external_user_id": "u"}})
    with pytest.raises(BrazeAPIError, match="one recipient"):
        hook.request("POST", PATH, json={"recipients": [{"external_user_id": "u"}]})
    sandbox.transactional.transactional_campaigns = {"other"}
    with pytest.raises(BrazeAPIError, match="not a transactional campaign"):
        hook.request("POST", PATH, json={"recipient": {"external_user_id": "u"}})
    assert _emailed(sandbox) == {}


def test_sandbox_postbacks_have_brazes_shape(hook, sandbox):
    hook.send_transactional_email(campaign_id="c", recipient={"external_user_id": "u1"}, external_send_id="k1")
    hook.send_transactional_email(campaign_id="c", recipient={"external_user_id": "bounce-me"})
    events = sandbox.transactional.postbacks()
    assert [e["status"] for e in events] == ["sent", "processed", "delivered", "sent", "processed", "bounced"]
    assert events[0]["metadata"]["external_send_id"] == "k1"
    assert "external_send_id" not in events[3]["metadata"]
    assert events[5]["metadata"]["reason"].startswith("550")
    assert all(len(e["dispatch_id"]) == 32 and e["metadata"]["campaign_api_id"] == "c" for e in events)


def test_a_key_without_transactional_send_gets_advice_naming_the_permission(hook, sandbox):
    sandbox.configure(api_keys={sandbox.api_key: frozenset({"campaigns.trigger.send"})})
    with pytest.raises(BrazeAPIError, match=r"HTTP 403.*'transactional\.send' permission"):
        hook.send_transactional_email(campaign_id="tx-campaign", recipient={"external_user_id": "u1"})
    assert _emailed(sandbox) == {}
