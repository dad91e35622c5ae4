"""The reconciliation aid for unknown-outcome batches: the user export (hook and sandbox) and the
operator's lookup after a try that ends with batches that may have been sent. Real HTTP round trips."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.engine.batch_sender import BrazeUnknownOutcomeBatchesError
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import BrazeSendMessageOperator, BrazeTriggerCampaignOperator
from airflow_provider_braze.testing.sandbox import Fault
from tests.conftest import run_operator

FAST_EXTRAS = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 0.5}


def _fast(sandbox, monkeypatch):
    for name, value in sandbox.airflow_env(extra=FAST_EXTRAS).items():
        monkeypatch.setenv(name, value)


def _context(tmp_path, pushed: dict) -> dict:
    ti = SimpleNamespace(
        dag_id="dag",
        task_id="send",
        map_index=-1,
        try_number=1,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    return {"ti": ti, "run_id": "run-1"}


def _exports(sandbox) -> list:
    return sandbox.requests_to(ep.USERS_EXPORT_IDS.path)


# -- the hook and the sandbox ---------------------------------------------------------------------


def test_the_export_shows_what_the_sandbox_delivered(hook, sandbox):
    before = datetime.now(timezone.utc)
    hook.trigger_campaign(campaign_id="camp-1", recipients=[{"external_user_id": "u1"}, {"external_user_id": "u2"}])
    hook.trigger_canvas(canvas_id="canvas-1", recipients=[{"external_user_id": "u2"}])
    answer = hook.export_users_by_ids(
        external_ids=["u1", "u2", "stranger"],
        fields_to_export=["external_id", "campaigns_received", "canvases_received"],
    )
    assert answer["message"] == "success"
    assert answer["invalid_user_ids"] == ["stranger"]
    users = {u["external_id"]: u for u in answer["users"]}
    assert set(users) == {"u1", "u2"}
    [received] = users["u1"]["campaigns_received"]
    assert received["api_campaign_id"] == "camp-1"
    assert datetime.fromisoformat(received["last_received"].replace("Z", "+00:00")) >= before.replace(microsecond=0)
    assert "canvases_received" not in users["u1"]  # nothing received: left out, as Braze does
    [canvas] = users["u2"]["canvases_received"]
    assert canvas["api_canvas_id"] == "canvas-1"
    assert canvas["last_entered"].endswith("Z")
    only_ids = hook.export_users_by_ids(external_ids=["u1"], fields_to_export=["external_id"])
    assert only_ids["users"] == [{"external_id": "u1"}]
    [request] = _exports(sandbox)[-1:]
    assert request.body == {"external_ids": ["u1"], "fields_to_export": ["external_id"]}


def test_a_request_refused_before_processing_leaves_no_trace_in_the_export(hook, sandbox):
    sandbox.inject(Fault(status=400, match={"campaign_id": "camp-2"}))  # refused before processing
    hook.trigger_campaign(campaign_id="camp-1", recipients=[{"external_user_id": "u1"}])
    with pytest.raises(Exception, match="400"):
        hook.trigger_campaign(campaign_id="camp-2", recipients=[{"external_user_id": "u1"}])
    [user] = hook.export_users_by_ids(external_ids=["u1"])["users"]
    assert [c["api_campaign_id"] for c in user["campaigns_received"]] == ["camp-1"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"external_ids": [f"u{i}" for i in range(51)]}, "external_ids"),
        ({"external_ids": []}, "external_ids"),
        ({"external_ids": ["u1", ""]}, "external_ids[1]"),
        ({"external_ids": ["u1"], "fields_to_export": ["campaigns_received", "favourite_colour"]}, "fields_to_export"),
    ],
)
def test_a_bad_export_request_is_refused_before_sending(hook, sandbox, kwargs, field):
    with pytest.raises(BrazeValidationError) as caught:
        hook.export_users_by_ids(**kwargs)
    assert caught.value.field == field
    assert sandbox.requests == []


# -- the operator's reconciliation ----------------------------------------------------------------


def _two_unknown_batches(sandbox) -> None:
    """Batch 1 is processed, then its answer comes too late; batch 2 is held until the client gives
    up and is then dropped unprocessed. Both are unknown outcomes to the client."""
    sandbox.inject(
        Fault(kind="slow", seconds=1.2, match={"campaign_id": "c"}, on_request=1),
        Fault(kind="stall", seconds=1.2, abandon_if_client_left=True, match={"campaign_id": "c"}, on_request=2),
    )


def test_unknown_batches_are_classified_from_the_export_and_the_task_still_fails(sandbox, monkeypatch, tmp_path, logs):
    _fast(sandbox, monkeypatch)
    _two_unknown_batches(sandbox)
    recipients = [f"secret-user-{i}" for i in range(150)]
    pushed: dict = {}
    op = BrazeTriggerCampaignOperator(
        task_id="send", campaign_id="c", recipients=recipients, max_concurrency=1, resume_store=str(tmp_path)
    )
    with pytest.raises(BrazeUnknownOutcomeBatchesError) as caught:
        run_operator(op, _context(tmp_path, pushed))
    assert sorted(caught.value.outcome.unknown_outcome_batches) == [1, 2]
    assert "1 of those batch(es) show as received" in str(caught.value)
    assert "1 show no trace" in str(caught.value)
    summary = pushed["return_value"]["unknown_outcome_reconciliation"]
    assert summary["received_batches"] == [1]
    assert summary["no_trace_batches"] == [2]
    assert summary["partly_received_count"] == 0
    assert summary["recipients_looked_up"] == 100
    assert summary["recipients_with_trace"] == 50
    assert pushed["return_value"]["unknown_outcome_batches"] == [1, 2]  # the outcome is unchanged
    assert len(_exports(sandbox)) == 2  # 100 recipients, 50 per request
    counts = sandbox.delivery_counts()
    assert set(counts.values()) == {1}  # nothing was sent again
    assert len(counts) == 100  # batches 1 and 3
    text = logs()
    assert "1 received, 0 partly received, 1 no trace, 0 not checkable (2 export request(s))" in text
    assert "secret-user" not in text


def test_accepted_unknown_batches_keep_the_reconciliation_in_the_result(sandbox, monkeypatch, tmp_path, logs):
    _fast(sandbox, monkeypatch)
    _two_unknown_batches(sandbox)
    op = BrazeTriggerCampaignOperator(
        task_id="send",
        campaign_id="c",
        recipients=[f"user-{i}" for i in range(150)],
        max_concurrency=1,
        resume_store=str(tmp_path),
        on_unknown_outcome="skip",
    )
    result = run_operator(op, _context(tmp_path, {}))
    assert result["unknown_outcome_batches"] == [1, 2]
    assert result["unknown_outcome_reconciliation"]["received_batches"] == [1]
    assert "show no trace" in logs()


def test_reconciliation_can_be_turned_off(sandbox, monkeypatch, tmp_path):
    _fast(sandbox, monkeypatch)
    _two_unknown_batches(sandbox)
    op = BrazeTriggerCampaignOperator(
        task_id="send",
        campaign_id="c",
        recipients=[f"user-{i}" for i in range(150)],
        max_concurrency=1,
        resume_store=str(tmp_path),
        on_unknown_outcome="skip",
        reconcile_unknown_outcomes=False,
    )
    result = run_operator(op, _context(tmp_path, {}))
    assert "unknown_outcome_reconciliation" not in result
    assert _exports(sandbox) == []


def test_a_broadcast_without_campaign_id_cannot_be_checked(sandbox, monkeypatch, tmp_path):
    _fast(sandbox, monkeypatch)
    sandbox.inject(Fault(kind="slow", seconds=1.2))
    op = BrazeSendMessageOperator(
        task_id="send",
        external_user_ids=[f"user-{i}" for i in range(60)],
        messages={"email": {"app_id": "a", "subject": "s", "body": "b", "from": "A <a@example.com>"}},
        max_concurrency=1,
        resume_store=str(tmp_path),
        on_unknown_outcome="skip",
    )
    result = run_operator(op, _context(tmp_path, {}))
    summary = result["unknown_outcome_reconciliation"]
    assert summary["not_checkable_batches"] == [1]
    assert _exports(sandbox) == []


def test_a_key_without_the_export_permission_reports_it_and_changes_nothing(sandbox, monkeypatch, tmp_path):
    from airflow_provider_braze.testing.sandbox.config import DEFAULT_API_KEY

    permissions = frozenset(e.permission for e in ep.MESSAGING_ENDPOINTS)
    sandbox.configure(api_keys={DEFAULT_API_KEY: permissions})
    _fast(sandbox, monkeypatch)
    _two_unknown_batches(sandbox)
    op = BrazeTriggerCampaignOperator(
        task_id="send",
        campaign_id="c",
        recipients=[f"user-{i}" for i in range(150)],
        max_concurrency=1,
        resume_store=str(tmp_path),
    )
    pushed: dict = {}
    with pytest.raises(BrazeUnknownOutcomeBatchesError, match="cannot be checked"):
        run_operator(op, _context(tmp_path, pushed))
    summary = pushed["return_value"]["unknown_outcome_reconciliation"]
    assert summary["not_checkable_batches"] == [1, 2]
    assert "403" in summary["error"] or "Access" in summary["error"]
    assert json.dumps(summary)  # JSON-serialisable for XCom


def test_a_bad_reconcile_flag_is_refused_before_sending(sandbox, tmp_path):
    op = BrazeTriggerCampaignOperator(
        task_id="send",
        campaign_id="c",
        recipients=["u1"],
        resume_store=str(tmp_path),
        reconcile_unknown_outcomes="maybe",
    )
    with pytest.raises(ValueError, match="reconcile_unknown_outcomes"):
        run_operator(op, _context(tmp_path, {}))
    assert sandbox.requests == []


def test_the_look_ups_stop_at_their_time_budget(sandbox):
    import time

    from airflow_provider_braze.engine.send_plan import list_source, plan_trigger
    from airflow_provider_braze.engine.unknown_outcome_reconciliation import reconcile_unknown_batches
    from airflow_provider_braze.hooks.braze import BrazeHook

    plan = plan_trigger(
        endpoint=ep.TRIGGER_CAMPAIGN,
        id_field="campaign_id",
        id_value="c",
        properties_field="trigger_properties",
        properties=None,
        source=list_source([f"u{i}" for i in range(200)]),
        broadcast=None,
        audience=None,
    )
    sandbox.inject(*[Fault(status=503) for _ in range(20)])  # Braze unavailable: every attempt is retried
    hook = BrazeHook(settings={"backoff_base": 3, "backoff_max": 3, "max_retries": 5})  # 15 s of retries
    started = time.monotonic()
    try:
        summary = reconcile_unknown_batches(hook, plan, [1, 2, 3, 4], since=time.time(), time_budget=0.5)
    finally:
        plan.close()
        hook.close()
    assert time.monotonic() - started < 3
    assert summary["not_checkable_batches"] == [1, 2, 3, 4]
    assert "503" in summary["error"] or "Unavailable" in summary["error"]
    assert len(_exports(sandbox)) == 1  # one attempt, then the budget stopped the retries
