"""Data-driven sends against the sandbox: SQL sources, bad rows, guards, shards, faults, unknown outcomes, resuming."""

from __future__ import annotations

import json
import sqlite3
import time
from types import SimpleNamespace

import pytest

from airflow_provider_braze.engine.batch_sender import BrazeBatchError, BrazeUnknownOutcomeBatchesError
from airflow_provider_braze.engine.resume_ledger import (
    BrazeResumeMismatchError,
    PathResumeStore,
    ResumeLedger,
    resume_key,
)
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import BrazeSendMessageOperator, BrazeTriggerCampaignOperator
from airflow_provider_braze.testing.sandbox import Fault
from tests.conftest import run_operator

FAST_EXTRAS = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 2}


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (external_user_id TEXT, email TEXT, score REAL, plan TEXT, attributes TEXT)")
    db.executemany(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
        [(f"user-{i:04d}", None, i / 4, "pro" if i % 3 else "free", json.dumps({"n": i})) for i in range(1, 131)],
    )
    db.commit()
    yield db
    db.close()


def _fast(sandbox, monkeypatch, **extra):
    for name, value in sandbox.airflow_env(extra={**FAST_EXTRAS, **extra}).items():
        monkeypatch.setenv(name, value)


def test_sql_rows_are_streamed_batched_and_sent_once_each(sandbox, warehouse):
    op = BrazeTriggerCampaignOperator(
        task_id="t",
        campaign_id="c",
        sql_conn_id="warehouse",
        sql="SELECT external_user_id, score, plan, attributes FROM users ORDER BY external_user_id",
    )
    result = run_operator(op)
    assert result["recipients"] == 130
    assert result["batches"] == 3
    counts = sandbox.delivery_counts()
    assert len(counts) == 130
    assert set(counts.values()) == {1}
    first = min((r for r in sandbox.requests), key=lambda r: r.body["recipients"][0]["external_user_id"])
    assert first.body["recipients"][0] == {
        "external_user_id": "user-0001",
        "attributes": {"n": 1},
        "trigger_properties": {"score": 0.25, "plan": "pro"},
    }


def test_sql_rows_feed_messages_send_users(sandbox, warehouse):
    op = BrazeSendMessageOperator(
        task_id="t",
        sql_conn_id="warehouse",
        sql="SELECT external_user_id FROM users WHERE plan = 'free' ORDER BY 1",
        messages={"apple_push": {"alert": "Upgrade?"}},
    )
    result = run_operator(op)
    assert result["recipients"] == 43
    assert all(len(r.body["external_user_ids"]) <= 50 for r in sandbox.requests)


def test_bad_rows_fail_before_any_request_naming_rows_and_rules_without_pii(sandbox, warehouse):
    warehouse.execute(
        "UPDATE users SET email = 'secret@example.com' WHERE external_user_id IN ('user-0003', 'user-0007')"
    )
    warehouse.commit()
    op = BrazeTriggerCampaignOperator(
        task_id="t",
        campaign_id="c",
        sql_conn_id="warehouse",
        sql="SELECT external_user_id, email FROM users ORDER BY external_user_id",
    )
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    message = str(err.value)
    assert err.value.field == "row 3"
    assert "row 7" in message
    assert "exactly one of" in message
    assert "2 invalid rows" in message
    assert "secret@" not in message
    assert "user-0003" not in message
    assert sandbox.requests == []


def test_on_invalid_skip_sends_valid_rows_and_reports_rejected_ones(sandbox):
    recipients = [{"external_user_id": f"u{i}"} for i in range(60)]
    recipients[10] = {"external_user_id": "u10", "braze_id": "b10"}
    recipients[55] = {"email": "x@example.com"}
    result = run_operator(
        BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients, on_invalid="skip")
    )
    assert result["recipients"] == 58
    assert result["rejected_count"] == 2
    assert [r["row"] for r in result["rejected_rows"]] == [11, 56]
    assert "prioritization" in result["rejected_rows"][1]["reason"]
    assert "x@example.com" not in json.dumps(result)
    assert len(sandbox.delivery_counts()) == 58


def test_max_recipients_refuses_before_any_request(sandbox, warehouse):
    op = BrazeTriggerCampaignOperator(
        task_id="t",
        campaign_id="c",
        sql_conn_id="warehouse",
        sql="SELECT external_user_id FROM users",
        max_recipients=100,
    )
    with pytest.raises(BrazeValidationError, match="130 recipients, more than the 100 allowed"):
        run_operator(op)
    assert sandbox.requests == []


def test_an_empty_source_sends_nothing(sandbox, warehouse):
    op = BrazeTriggerCampaignOperator(
        task_id="t", campaign_id="c", sql_conn_id="warehouse", sql="SELECT external_user_id FROM users WHERE 1 = 0"
    )
    assert run_operator(op)["recipients"] == 0
    assert sandbox.requests == []


def test_shards_cover_every_recipient_exactly_once(sandbox):
    recipients = [f"user-{i}" for i in range(1000)]
    sizes = []
    for index in range(4):
        result = run_operator(
            BrazeTriggerCampaignOperator(
                task_id=f"s{index}", campaign_id="c", recipients=recipients, shard_count=4, shard_index="{{ params.i }}"
            ),
            {"params": {"i": index}},
        )
        sizes.append(result["recipients"])
    counts = sandbox.delivery_counts()
    assert len(counts) == 1000
    assert set(counts.values()) == {1}
    assert sum(sizes) == 1000
    assert min(sizes) > 150  # a roughly even split


@pytest.mark.parametrize("operator", ["trigger", "transactional"])
def test_each_shard_task_paces_at_its_share_of_the_rate_limits(sandbox, operator):
    """The hook is built with the shard's share (1/N of the rendered shard_count); it is never changed later."""
    from airflow_provider_braze.operators import BrazeSendTransactionalEmailOperator

    common = {"task_id": "s", "campaign_id": "c", "recipients": ["u-1", "u-2", "u-3"], "shard_index": 1}
    if operator == "trigger":
        op = BrazeTriggerCampaignOperator(shard_count="{{ params.n }}", **common)
    else:
        op = BrazeSendTransactionalEmailOperator(shard_count="{{ params.n }}", business_key="k", **common)
    run_operator(op, {"params": {"n": 4}})
    assert op.hook.rate_share == 0.25
    assert op.hook.rate_limiter._share == 0.25  # the limiter the batches were paced by
    unsharded = BrazeTriggerCampaignOperator(task_id="u", campaign_id="c", recipients=["u-1"])
    run_operator(unsharded)
    assert unsharded.hook.rate_share == 1.0


def test_exactly_once_under_503s_and_429_bursts(sandbox, monkeypatch):
    _fast(sandbox, monkeypatch, max_retries=8)
    sandbox.configure(fail_probability=0.05, seed=7)
    sandbox.rate_limit_burst(3, reset_in=0.2)
    recipients = [f"user-{i}" for i in range(2000)]
    result = run_operator(BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients))
    statuses = [r.status for r in sandbox.requests]
    assert statuses.count(503) >= 1
    assert statuses.count(429) >= 3
    counts = sandbox.delivery_counts()
    assert len(counts) == 2000
    assert set(counts.values()) == {1}
    assert result["recipients"] == 2000
    assert result["retried_attempts"] >= 4


@pytest.mark.parametrize("policy", ["fail", "skip", "resend"])
def test_unknown_outcome_batches_follow_the_policy(sandbox, monkeypatch, policy):
    _fast(sandbox, monkeypatch, timeout=0.5)
    sandbox.inject(Fault(kind="slow", seconds=1.2))  # batch 1: processed, answered after the client gave up
    recipients = [f"user-{i}" for i in range(100)]
    op = BrazeTriggerCampaignOperator(
        task_id="t", campaign_id="c", recipients=recipients, max_concurrency=1, on_unknown_outcome=policy
    )
    if policy == "fail":  # the default: everything else is sent, then the task fails naming the batch
        with pytest.raises(BrazeUnknownOutcomeBatchesError, match=r"batches 1\. ") as caught:
            run_operator(op)
        assert caught.value.outcome.unknown_outcome_batches == [1]
        assert caught.value.outcome.recipients == 50
        assert set(sandbox.delivery_counts().values()) == {1}
        return
    result = run_operator(op)
    counts = sandbox.delivery_counts()
    if policy == "skip":
        assert result["unknown_outcome_batches"] == [1]
        assert result["recipients"] == 50
        assert set(counts.values()) == {1}  # batch 1 was processed by Braze, and not sent again
    else:
        assert result["unknown_outcome_batches"] == []
        assert result["recipients"] == 100
        assert counts["external_user_id:user-0"] == 2  # the documented risk of "resend"


def _task_context(run_id: str = "run-1", try_number: int = 1) -> dict:
    ti = SimpleNamespace(dag_id="dag", task_id="send", map_index=-1, try_number=try_number)
    return {"ti": ti, "run_id": run_id}


def _resumable(recipients, tmp_path, **kwargs):
    return BrazeTriggerCampaignOperator(
        task_id="send",
        campaign_id="c",
        recipients=recipients,
        max_concurrency=1,
        resume_store=str(tmp_path / "resume"),
        **kwargs,
    )


def test_a_retry_resumes_without_resending_accepted_batches(sandbox, monkeypatch, tmp_path):
    _fast(sandbox, monkeypatch, max_retries=0)
    recipients = [f"user-{i}" for i in range(230)]  # 5 batches
    sandbox.configure(fail_on_requests=frozenset({3}))
    with pytest.raises(BrazeBatchError, match="Batch 3 of 5"):
        run_operator(_resumable(recipients, tmp_path), _task_context())
    assert len(sandbox.delivery_counts()) == 100
    sandbox.configure(fail_on_requests=frozenset())
    result = run_operator(_resumable(recipients, tmp_path), _task_context())
    assert result["resumed_batches"] == 2
    assert result["resumed_recipients"] == 100
    assert result["recipients"] == 130
    counts = sandbox.delivery_counts()
    assert len(counts) == 230
    assert set(counts.values()) == {1}
    second_try = [r for r in sandbox.requests if r.seq > 3]
    assert all(r.body["recipients"][0]["external_user_id"] not in ("user-0", "user-50") for r in second_try)


def test_a_changed_source_on_retry_is_refused(sandbox, monkeypatch, tmp_path):
    _fast(sandbox, monkeypatch, max_retries=0)
    sandbox.configure(fail_on_requests=frozenset({2}))
    with pytest.raises(BrazeBatchError):
        run_operator(_resumable([f"u{i}" for i in range(120)], tmp_path), _task_context())
    before = len(sandbox.requests)
    sandbox.configure(fail_on_requests=frozenset())
    reordered = [f"u{i}" for i in reversed(range(120))]
    with pytest.raises(BrazeResumeMismatchError, match="ORDER BY"):
        run_operator(_resumable(reordered, tmp_path), _task_context())
    assert len(sandbox.requests) == before


def test_batches_in_flight_when_a_worker_died_are_unknown_then_named_then_resent_on_request(sandbox, tmp_path):
    store = PathResumeStore(str(tmp_path / "resume"))
    recipients = [f"user-{i}" for i in range(400)]  # 8 batches
    op = _resumable(recipients, tmp_path)
    plan = op.plan_or_fail()
    # A first try that died: batches 1-2 accepted, batches 3-4 in flight (written ahead of their requests).
    dead = ResumeLedger(store, resume_key("dag", "send", "run-1", -1), plan.fingerprint, flush_interval=0)
    dead.open(plan.total_requests)
    for n in (1, 2, 3, 4):
        dead.reserve(n)
    dead.accept(1)
    dead.accept(2)
    time.sleep(0.05)
    plan.close()
    # Default policy: every other batch is sent, then the task fails naming the two unknown batches.
    with pytest.raises(BrazeUnknownOutcomeBatchesError, match=r"2 batch\(es\) \(100 recipients\).*batches 3, 4"):
        run_operator(_resumable(recipients, tmp_path), _task_context(try_number=2))
    assert len(sandbox.delivery_counts()) == 200  # batches 5-8: not a look-ahead window of "unknown"
    # The same again: nothing more is sent, the task fails again (loud until someone decides).
    with pytest.raises(BrazeUnknownOutcomeBatchesError):
        run_operator(_resumable(recipients, tmp_path), _task_context(try_number=3))
    sends = sandbox.requests_to("/campaigns/trigger/send")  # (the user-export look-ups are read-only)
    assert len(sends) == 4
    # The documented follow-up: a retry with on_unknown_outcome="resend" sends exactly those.
    result = run_operator(_resumable(recipients, tmp_path, on_unknown_outcome="resend"), _task_context(try_number=4))
    assert result["recipients"] == 100
    assert result["resumed_batches"] == 6
    sends = sandbox.requests_to("/campaigns/trigger/send")
    sent_again = sorted(r.body["recipients"][0]["external_user_id"] for r in sends[4:])
    assert sent_again == ["user-100", "user-150"]


def test_mapped_instances_keep_separate_resume_records(sandbox, monkeypatch, tmp_path):
    _fast(sandbox, monkeypatch, max_retries=0)
    recipients = [f"user-{i}" for i in range(120)]
    for index in (0, 1):
        ti = SimpleNamespace(dag_id="dag", task_id="send", map_index=index)
        run_operator(_resumable(recipients, tmp_path, shard_count=2, shard_index=index), {"ti": ti, "run_id": "r"})
    records = sorted(p.name for p in (tmp_path / "resume").iterdir())
    assert records == sorted(f"{resume_key('dag', 'send', 'r', index)}.json" for index in (0, 1))
    assert len(sandbox.delivery_counts()) == 120


def test_a_broadcast_accepted_before_a_crash_is_not_sent_again_on_retry(sandbox, tmp_path):
    op = BrazeTriggerCampaignOperator(
        task_id="send", campaign_id="c", broadcast=True, resume_store=str(tmp_path / "resume")
    )
    run_operator(op, _task_context())
    again = BrazeTriggerCampaignOperator(
        task_id="send", campaign_id="c", broadcast=True, resume_store=str(tmp_path / "resume")
    )
    result = run_operator(again, _task_context())
    assert result["resumed_batches"] == 1
    assert len(sandbox.requests) == 1  # one segment-wide send, not two


def test_a_retried_schedule_create_returns_the_ids_of_every_batch_and_lists_them_all(sandbox, monkeypatch, tmp_path):
    from datetime import datetime, timedelta, timezone

    from airflow_provider_braze.operators import BrazeScheduleCampaignOperator

    _fast(sandbox, monkeypatch, max_retries=0)
    when = datetime.now(timezone.utc) + timedelta(days=2)
    recipients = [f"user-{i}" for i in range(5200)]  # 104 batches: more than the 100 listed before

    def create():
        return BrazeScheduleCampaignOperator(
            task_id="send",
            campaign_id="c",
            schedule=when,
            recipients=recipients,
            max_concurrency=1,
            resume_store=str(tmp_path / "resume"),
        )

    sandbox.configure(fail_on_requests=frozenset({3}))
    with pytest.raises(BrazeBatchError):
        run_operator(create(), _task_context(try_number=1))
    sandbox.configure(fail_on_requests=frozenset())
    result = run_operator(create(), _task_context(try_number=2))
    live = set(sandbox.schedules)
    assert len(live) == 104
    assert result["schedule_id_count"] == 104
    assert set(result["schedule_ids"]) == live  # the two ids of the first try included
