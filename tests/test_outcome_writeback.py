"""Send outcomes written back to the warehouse: rows equal what reached the sandbox, across retries."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from types import SimpleNamespace

import pytest

from airflow_provider_braze.engine.batch_sender import BrazeBatchError, BrazeUnknownOutcomeBatchesError
from airflow_provider_braze.operators import BrazeTriggerCampaignOperator
from airflow_provider_braze.testing.sandbox import Fault
from tests.conftest import run_operator

FAST_EXTRAS = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 1, "max_retries": 0}


@pytest.fixture
def warehouse(tmp_path, monkeypatch, braze_sandbox):
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    for name, value in braze_sandbox.airflow_env(extra=FAST_EXTRAS).items():
        monkeypatch.setenv(name, value)
    return path


def _context(try_number: int) -> dict:
    ti = SimpleNamespace(dag_id="dag", task_id="send", map_index=-1, try_number=try_number)
    return {"ti": ti, "run_id": "run-1"}


def _op(recipients, tmp_path, outcome_conn_id="warehouse", **kwargs):
    return BrazeTriggerCampaignOperator(
        task_id="send",
        campaign_id="c",
        recipients=recipients,
        max_concurrency=1,
        outcome_table="braze_outcomes",
        outcome_conn_id=outcome_conn_id,
        resume_store=str(tmp_path / "resume"),
        **kwargs,
    )


def _rows(path) -> list[dict]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM braze_outcomes ORDER BY batch_number, recipient_id")]
    db.close()
    return rows


def _sent_by_sandbox(sandbox) -> dict[str, str]:
    """recipient -> dispatch id of the accepted request that listed it."""
    sent = {}
    for request in sandbox.requests:
        if request.status == 201:
            for recipient in request.body["recipients"]:
                sent[recipient["external_user_id"]] = request.response["dispatch_id"]
    return sent


def test_rows_equal_the_sandbox_record_for_a_multi_batch_send(braze_sandbox, warehouse, tmp_path):
    recipients = [f"user-{i:03d}" for i in range(130)]
    run_operator(_op(recipients, tmp_path), _context(1))
    rows = _rows(warehouse)
    assert len(rows) == 130
    assert {r["status"] for r in rows} == {"accepted"}
    assert {r["recipient_id"]: r["dispatch_id"] for r in rows} == _sent_by_sandbox(braze_sandbox)
    assert {r["batch_number"] for r in rows} == {1, 2, 3}
    assert rows[0]["recipient_id_type"] == "external_user_id"
    assert (rows[0]["run_id"], rows[0]["dag_id"], rows[0]["task_id"], rows[0]["map_index"]) == (
        "run-1",
        "dag",
        "send",
        -1,
    )
    assert braze_sandbox.api_key not in json.dumps(rows)


def test_a_failed_try_then_a_retry_leaves_one_accurate_row_per_recipient(braze_sandbox, warehouse, tmp_path):
    recipients = [f"user-{i:03d}" for i in range(230)]  # 5 batches
    braze_sandbox.configure(fail_on_requests=frozenset({3}), fail_status=503)
    with pytest.raises(BrazeBatchError):
        run_operator(_op(recipients, tmp_path), _context(1))
    first = _rows(warehouse)
    assert Counter(r["status"] for r in first) == {"accepted": 100, "failed": 50}
    assert {r["batch_number"] for r in first if r["status"] == "failed"} == {3}
    braze_sandbox.configure(fail_on_requests=frozenset())
    run_operator(_op(recipients, tmp_path), _context(2))
    rows = _rows(warehouse)
    assert len(rows) == 230
    assert Counter(r["recipient_id"] for r in rows).most_common(1)[0][1] == 1  # no duplicates
    assert {r["status"] for r in rows} == {"accepted"}
    assert {r["recipient_id"]: r["dispatch_id"] for r in rows} == _sent_by_sandbox(braze_sandbox)
    assert {r["try_number"] for r in rows if r["batch_number"] <= 2} == {1}  # not re-sent, not re-written
    assert {r["try_number"] for r in rows if r["batch_number"] >= 3} == {2}


def test_rejected_unknown_and_minor_errors_are_recorded(braze_sandbox, warehouse, tmp_path):
    braze_sandbox.configure(minor_errors=["1 user not found"])
    braze_sandbox.inject(Fault(kind="slow", seconds=1.5))  # batch 1: processed, answer lost
    recipients = [f"user-{i:03d}" for i in range(100)] + [{"external_user_id": "x", "braze_id": "y"}]
    with pytest.raises(BrazeUnknownOutcomeBatchesError) as caught:  # the default: loud, after sending the rest
        run_operator(_op(recipients, tmp_path, on_invalid="skip"), _context(1))
    rows = _rows(warehouse)
    by_status = Counter(r["status"] for r in rows)
    assert by_status == {"unknown-outcome": 50, "accepted": 50, "rejected-invalid": 1}
    [rejected] = [r for r in rows if r["status"] == "rejected-invalid"]
    assert rejected["error"].startswith("row 101: ")
    assert rejected["batch_number"] is None
    assert all(r["error"] == "1 user not found" for r in rows if r["status"] == "accepted")
    assert "may have been sent" in next(r["error"] for r in rows if r["status"] == "unknown-outcome")
    assert caught.value.outcome.unknown_outcome_batches == [1]


@pytest.mark.e2e
def test_rows_equal_the_sandbox_record_on_postgres(braze_sandbox, postgres_server, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_PG", postgres_server)
    for name, value in braze_sandbox.airflow_env(extra=FAST_EXTRAS).items():
        monkeypatch.setenv(name, value)
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    pg = PostgresHook(postgres_conn_id="pg")
    pg.run("DROP TABLE IF EXISTS braze_outcomes")
    recipients = [f"user-{i:03d}" for i in range(180)]
    braze_sandbox.configure(fail_on_requests=frozenset({2}), fail_status=503)
    with pytest.raises(BrazeBatchError):
        run_operator(_op(recipients, tmp_path, outcome_conn_id="pg"), _context(1))
    braze_sandbox.configure(fail_on_requests=frozenset())
    run_operator(_op(recipients, tmp_path, outcome_conn_id="pg"), _context(2))
    rows = pg.get_records("SELECT recipient_id, dispatch_id, status FROM braze_outcomes")
    assert len(rows) == 180
    assert {status for _, _, status in rows} == {"accepted"}
    assert {rid: dispatch for rid, dispatch, _ in rows} == _sent_by_sandbox(braze_sandbox)
