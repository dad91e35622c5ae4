"""BrazeCDISyncOperator and its trigger against the sandbox's Cloud Data Ingestion model."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_braze.exceptions import BrazeCDISyncError
from airflow_provider_braze.operators import BrazeCDISyncOperator
from airflow_provider_braze.operators.cdi_sync import SyncStart
from airflow_provider_braze.testing.sandbox import RunScript
from airflow_provider_braze.triggers.cdi_sync import BrazeCDISyncTrigger
from tests.conftest import run_operator

CDI_FAST = {
    "backoff_base": 0.01,
    "backoff_max": 0.05,
    "cdi_sync_requests_per_minute": 6000,
    "cdi_status_requests_per_minute": 6000,
    "cdi_list_requests_per_minute": 6000,
}


@pytest.fixture
def cdi(braze_sandbox, monkeypatch):
    for name, value in braze_sandbox.airflow_env(extra=CDI_FAST).items():
        monkeypatch.setenv(name, value)
    return braze_sandbox


def _op(**kwargs):
    return BrazeCDISyncOperator(**{"task_id": "sync", "poll_interval": 0.1, "timeout": 20, **kwargs})


def _posts(sandbox):
    return [r.status for r in sandbox.requests if r.method == "POST"]


def test_a_sync_that_succeeds_returns_the_matched_run(cdi, logs):
    integration = cdi.add_cdi_integration(name="users", runs=[RunScript("success", 0.4, rows_synced=1234)])
    cdi.add_cdi_run(integration, status="success", started=datetime.now(timezone.utc) - timedelta(hours=1))
    result = run_operator(_op(integration_id=integration))
    assert result["status"] == "success"
    assert result["rows_synced"] == 1234
    assert result["rows_failed_with_errors"] == 0
    assert result["sync_finish_time"]
    assert result["last_timestamp_synced"]
    newest = cdi.cdi_runs(integration)[0]
    assert result["sync_start_time"] == newest["sync_start_time"]
    assert "first run started after" in result["matched"]
    assert "Matched CDI run" in logs()
    assert _posts(cdi) == [202]


@pytest.mark.parametrize("policy", ["fail", "warn"])
def test_a_partial_sync_follows_on_partial(cdi, policy, logs):
    integration = cdi.add_cdi_integration(runs=[RunScript("partial", 0.3, rows_synced=90, rows_failed_with_errors=10)])
    if policy == "fail":
        with pytest.raises(BrazeCDISyncError, match=r"ended partial .*rows_failed_with_errors=10"):
            run_operator(_op(integration_id=integration, on_partial="fail"))
    else:
        result = run_operator(_op(integration_id=integration, on_partial="warn"))
        assert (result["status"], result["rows_failed_with_errors"]) == ("partial", 10)
        assert "ended partial" in logs()


@pytest.mark.parametrize(("status", "advice"), [("error", "sync log"), ("config_error", "misconfigured")])
def test_error_and_config_error_fail_with_counts_and_advice(cdi, status, advice):
    integration = cdi.add_cdi_integration(runs=[RunScript(status, 0.2, rows_synced=0)])
    with pytest.raises(BrazeCDISyncError, match=f"ended {status} .*rows_synced=0.*{advice}"):
        run_operator(_op(integration_id=integration))


def test_already_running_fail(cdi):
    integration = cdi.add_cdi_integration()
    cdi.add_cdi_run(integration, status="running", seconds=5)
    with pytest.raises(BrazeCDISyncError, match="already running"):
        run_operator(_op(integration_id=integration, if_running="fail"))
    assert _posts(cdi) == [429]


def test_already_running_attach_reports_the_running_run(cdi):
    integration = cdi.add_cdi_integration()
    running = cdi.add_cdi_run(integration, status="running", seconds=0.8, rows_synced=7)
    result = run_operator(_op(integration_id=integration, if_running="attach"))
    assert result["sync_start_time"] == running["sync_start_time"]
    assert result["rows_synced"] == 7
    assert "already in progress" in result["matched"]
    assert _posts(cdi) == [429]


def test_already_running_wait_then_trigger_starts_a_new_run_after_it(cdi):
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 0.3, rows_synced=55)])
    running = cdi.add_cdi_run(integration, status="running", seconds=0.8, rows_synced=7)
    result = run_operator(_op(integration_id=integration))
    assert _posts(cdi) == [429, 202]
    assert result["rows_synced"] == 55
    assert result["sync_start_time"] > running["sync_start_time"]


def test_a_generic_429_is_waited_out_and_told_apart_by_its_body(cdi):
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 0.2)])
    cdi.rate_limit_burst(1, reset_in=0.3)
    result = run_operator(_op(integration_id=integration))
    assert result["status"] == "success"
    rate_limited = [r for r in cdi.requests if r.status == 429]
    assert [r.response["message"] for r in rate_limited] == ["Rate Limited"]


def test_earlier_runs_newer_in_the_list_are_not_mistaken_for_ours(cdi):
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 0.4, rows_synced=321)])
    now = datetime.now(timezone.utc)
    cdi.add_cdi_run(integration, status="success", started=now - timedelta(hours=2))
    cdi.add_cdi_run(integration, status="error", started=now - timedelta(minutes=15))  # a scheduled run, failed
    result = run_operator(_op(integration_id=integration))
    assert (result["status"], result["rows_synced"]) == ("success", 321)


@pytest.mark.parametrize("skew", [-900, 900])
def test_clock_skew_between_the_worker_and_braze_does_not_matter(cdi, skew):
    cdi.set_clock_skew(skew)
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 0.3, rows_synced=11)])
    cdi.add_cdi_run(integration, status="success", started=cdi.cdi.now() - timedelta(minutes=30), rows_synced=99)
    result = run_operator(_op(integration_id=integration))
    assert result["rows_synced"] == 11


def test_integration_name_is_resolved_across_pages(cdi):
    ids = [cdi.add_cdi_integration(name=f"integration-{i:02d}", runs=[RunScript("success", 0.1)]) for i in range(25)]
    result = run_operator(_op(integration_name="integration-23"))
    assert result["integration_id"] == ids[23]
    cursors = [r.query.get("cursor") for r in cdi.requests if r.path == "/cdi/integrations"]
    assert len(cursors) == 3
    assert cursors[0] is None


def test_integration_name_with_no_or_several_matches_fails(cdi):
    cdi.add_cdi_integration(name="twin")
    cdi.add_cdi_integration(name="twin")
    with pytest.raises(BrazeCDISyncError, match="2 integrations named 'twin'"):
        run_operator(_op(integration_name="twin"))
    with pytest.raises(BrazeCDISyncError, match="no integration named 'missing'"):
        run_operator(_op(integration_name="missing"))
    assert _posts(cdi) == []


def test_job_status_pages_follow_link_cursors(cdi):
    from airflow_provider_braze.hooks.braze import BrazeHook

    integration = cdi.add_cdi_integration()
    start = datetime.now(timezone.utc) - timedelta(days=2)
    for i in range(23):
        cdi.add_cdi_run(integration, status="success", started=start + timedelta(minutes=15 * i))
    hook = BrazeHook(settings=CDI_FAST)
    first = hook.get_cdi_job_sync_status(integration_id=integration)
    assert len(first["results"]) == 10
    assert "prev" not in first.links
    cursor = first.links["next"].split("cursor=")[1]
    second = hook.get_cdi_job_sync_status(integration_id=integration, cursor=cursor)
    third = hook.get_cdi_job_sync_status(integration_id=integration, cursor=second.links["next"].split("cursor=")[1])
    assert len(second["results"]) == 10
    assert len(third["results"]) == 3
    assert "next" not in third.links
    seen = [r["sync_start_time"] for page in (first, second, third) for r in page["results"]]
    assert len(set(seen)) == 23


def test_wait_for_completion_false_returns_once_triggered(cdi):
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 30)])
    result = run_operator(_op(integration_id=integration, wait_for_completion=False))
    assert result["status"] == SyncStart.TRIGGERED
    assert type(result["status"]) is str  # XCom holds the plain string
    assert datetime.fromisoformat(result["triggered_at"]).utcoffset() == timedelta(0)  # Braze's Date, in UTC


def test_deferrable_defers_and_the_trigger_finds_the_run(cdi):
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 0.5, rows_synced=42)])
    op = _op(integration_id=integration, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        run_operator(op)
    trigger = deferred.value.trigger
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_braze.triggers.cdi_sync.BrazeCDISyncTrigger"
    assert all(isinstance(v, (str, float, int, type(None))) for v in kwargs.values())
    rebuilt = BrazeCDISyncTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    event = asyncio.run(asyncio.wait_for(rebuilt.run().__anext__(), timeout=15))
    assert event.payload["status"] == "success"
    result = op.execute_complete({}, event.payload, **deferred.value.kwargs)
    assert (result["status"], result["rows_synced"]) == ("success", 42)


def test_the_trigger_times_out_with_an_event(cdi):
    import time

    integration = cdi.add_cdi_integration()
    trigger = BrazeCDISyncTrigger(
        braze_conn_id="braze_default",
        integration_id=integration,
        triggered_at=datetime.now(timezone.utc).isoformat(),
        poll_interval=0.1,
        timeout_at=time.time() + 0.4,
    )
    event = asyncio.run(asyncio.wait_for(trigger.run().__anext__(), timeout=10))
    assert event.payload["status"] == "timeout"
    with pytest.raises(BrazeCDISyncError, match="timeout"):
        _op(integration_id=integration).execute_complete({}, event.payload, integration_id=integration)


def test_sandbox_cdi_errors(cdi):
    import requests

    headers = {"Authorization": f"Bearer {cdi.api_key}", "Content-Type": "application/json"}
    assert requests.post(f"{cdi.url}/cdi/integrations/not$valid/sync", headers=headers).json() == {
        "message": "Invalid integration ID"
    }
    missing = requests.post(f"{cdi.url}/cdi/integrations/0000-missing/sync", headers=headers)
    assert (missing.status_code, missing.json()["message"]) == (404, "Integration not found")
    bad_cursor = requests.get(f"{cdi.url}/cdi/integrations?cursor=%%%", headers=headers)
    assert (bad_cursor.status_code, bad_cursor.json()["message"]) == (400, "Invalid cursor")


# -- issue 15 items 8 and 9; issue 8 item 6 ------------------------------------------------------


def _earlier_runs(cdi, integration, count):
    start = datetime.now(timezone.utc) - timedelta(days=3)
    for i in range(count):
        cdi.add_cdi_run(integration, status="success", started=start + timedelta(minutes=20 * i), rows_synced=i)


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_the_run_is_found_across_status_pages_in_either_order(cdi, order):
    cdi.cdi.run_order = order
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 0.3, rows_synced=777)])
    _earlier_runs(cdi, integration, 25)
    result = run_operator(_op(integration_id=integration, timeout=8))
    assert (result["status"], result["rows_synced"]) == ("success", 777)
    status_reads = [r for r in cdi.requests if r.path.endswith("/job_sync_status")]
    if order == "newest_first":  # the first page reaches back past the baseline: no further page read
        assert all("cursor" not in r.query for r in status_reads)
    else:
        assert any("cursor" in r.query for r in status_reads)


def test_the_sandbox_serves_job_sync_status_oldest_first_on_request(cdi):
    integration = cdi.add_cdi_integration()
    _earlier_runs(cdi, integration, 3)
    cdi.cdi.run_order = "oldest_first"
    from airflow_provider_braze.hooks.braze import BrazeHook

    runs = BrazeHook(settings=CDI_FAST).get_cdi_job_sync_status(integration_id=integration)["results"]
    starts = [r["sync_start_time"] for r in runs]
    assert starts == sorted(starts)


def test_a_slow_202_still_matches_our_run(cdi):
    # The run starts when the request arrives; Braze's Date is stamped ~3 s later. A fixed 2 s
    # tolerance excluded our own run; the measured round trip does not.
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 0.2, rows_synced=5)])
    cdi.configure(latency=3.0)
    result = run_operator(_op(integration_id=integration, poll_interval=0.2, timeout=25))
    assert (result["status"], result["rows_synced"], result["triggered"]) == ("success", 5, True)


def test_attach_without_waiting_says_attached_not_triggered(cdi):
    integration = cdi.add_cdi_integration()
    running = cdi.add_cdi_run(integration, status="running", seconds=5)
    result = run_operator(_op(integration_id=integration, if_running="attach", wait_for_completion=False))
    assert result["status"] == SyncStart.ATTACHED
    assert type(result["status"]) is str
    assert result["triggered"] is False
    assert result["attach_start"] == running["sync_start_time"]


def test_attach_and_wait_reports_triggered_false(cdi):
    integration = cdi.add_cdi_integration()
    cdi.add_cdi_run(integration, status="running", seconds=0.5, rows_synced=3)
    result = run_operator(_op(integration_id=integration, if_running="attach"))
    assert (result["status"], result["triggered"]) == ("success", False)


def test_an_unknown_job_status_fails_naming_it(cdi):
    integration = cdi.add_cdi_integration(runs=[RunScript("paused_by_braze", 0.1)])
    with pytest.raises(BrazeCDISyncError, match="job_status 'paused_by_braze'"):
        run_operator(_op(integration_id=integration, timeout=10))


def test_the_trigger_names_an_unknown_job_status(cdi):
    integration = cdi.add_cdi_integration(runs=[RunScript("paused_by_braze", 0.1)])
    with pytest.raises(TaskDeferred) as deferred:
        run_operator(_op(integration_id=integration, deferrable=True))
    event = asyncio.run(asyncio.wait_for(deferred.value.trigger.run().__anext__(), timeout=10))
    assert event.payload["status"] == "error"
    assert "job_status 'paused_by_braze'" in event.payload["message"]


def test_wait_then_trigger_does_not_spin_past_its_deadline_when_no_run_shows(cdi):
    import time

    integration = cdi.add_cdi_integration()
    cdi.cdi.integrations[integration].busy_until = cdi.cdi.now() + timedelta(seconds=30)
    started = time.monotonic()
    with pytest.raises(BrazeCDISyncError, match="Timed out"):
        run_operator(_op(integration_id=integration, poll_interval=0.2, timeout=1.0))
    assert time.monotonic() - started < 3
    assert 1 <= len([s for s in _posts(cdi) if s == 429]) <= 7


def test_the_wait_survives_transient_status_errors(cdi, monkeypatch):
    import time

    from airflow_provider_braze.testing.sandbox import Fault

    for name, value in cdi.airflow_env(extra={**CDI_FAST, "max_retries": 0}).items():
        monkeypatch.setenv(name, value)
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 0.3, rows_synced=8)])
    op = _op(integration_id=integration)
    keys = op.trigger(integration, deadline=time.monotonic() + 20)
    cdi.inject(Fault(status=503), Fault(kind="html", status=502), Fault(kind="rate_limit", status=429, seconds=0.2))
    found = op.wait(integration, keys, deadline=time.monotonic() + 20)
    assert found.run["rows_synced"] == 8
    statuses = [r.status for r in cdi.requests if r.method == "GET"]
    assert statuses[statuses.index(503) : statuses.index(503) + 4] == [503, 502, 429, 200]


def test_the_cdi_trigger_survives_transient_errors_and_honours_its_deadline(cdi):
    import time

    from airflow_provider_braze.testing.sandbox import Fault

    integration = cdi.add_cdi_integration()
    cdi.inject(*[Fault(status=503)] * 500)
    trigger = BrazeCDISyncTrigger(
        braze_conn_id="braze_default",
        integration_id=integration,
        triggered_at=datetime.now(timezone.utc).isoformat(),
        poll_interval=0.1,
        timeout_at=time.time() + 1.0,
    )
    started = time.monotonic()
    event = asyncio.run(asyncio.wait_for(trigger.run().__anext__(), timeout=20))
    assert event.payload["status"] == "timeout"
    assert "503" in event.payload["message"]
    assert time.monotonic() - started < 2.5


def test_a_cdi_202_is_logged_as_success_not_as_queued(cdi, logs):
    integration = cdi.add_cdi_integration(runs=[RunScript("success", 0.1)])
    run_operator(_op(integration_id=integration))
    text = logs()
    assert "Braze started a sync" in text
    assert "queued" not in text
