"""BrazeScheduledBroadcastSensor and its trigger against the sandbox."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_braze.exceptions import BrazeBroadcastWaitError
from airflow_provider_braze.sensors import BrazeScheduledBroadcastSensor
from airflow_provider_braze.triggers.scheduled_broadcast import BrazeScheduledBroadcastTrigger


def _soon(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def test_scheduled_condition_matches_by_tag_and_returns_the_broadcast(sandbox):
    sandbox.add_broadcast(broadcast_id="other", name="Other", next_send_time=_soon(600), tags=["misc"])
    sandbox.add_broadcast(broadcast_id="digest-1", name="Weekly digest", next_send_time=_soon(3600), tags=["digest"])
    sensor = BrazeScheduledBroadcastSensor(task_id="s", tag="digest", poke_interval=0.1, timeout=5)
    result = sensor.execute({})
    assert result["id"] == "digest-1"
    assert result["name"] == "Weekly digest"
    [request] = sandbox.requests
    assert request.path == "/messages/scheduled_broadcasts"
    assert "end_time" in request.query


def test_not_scheduled_yet_pokes_again(sandbox):
    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="b1")
    assert sensor.poke({}) is False
    sandbox.add_broadcast(broadcast_id="b1", name="B", next_send_time=_soon(3600))
    assert sensor.poke({}).is_done


def test_send_before_requires_an_earlier_send(sandbox):
    sandbox.add_broadcast(broadcast_id="b1", name="B", next_send_time=_soon(7200))
    late = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="b1", send_before=_soon(3600))
    early = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="b1", send_before=_soon(10800).isoformat())
    assert late.poke({}) is False
    assert early.poke({}).is_done


def test_sent_condition_waits_until_the_broadcast_left_the_list(sandbox):
    sandbox.add_broadcast(broadcast_id="b1", name="Flash sale", next_send_time=_soon(1.5))
    sensor = BrazeScheduledBroadcastSensor(
        task_id="s", broadcast_name="Flash sale", condition="sent", poke_interval=0.3, timeout=10
    )
    result = sensor.execute({})
    assert result["sent_at"]
    assert len(sandbox.requests) >= 3  # seen, still due, gone


def test_sent_condition_is_refused_in_reschedule_mode():
    with pytest.raises(ValueError, match="reschedule"):
        BrazeScheduledBroadcastSensor(task_id="s", tag="t", condition="sent", mode="reschedule")


def test_a_criterion_and_a_known_condition_are_required():
    with pytest.raises(ValueError, match="at least one of"):
        BrazeScheduledBroadcastSensor(task_id="s")
    with pytest.raises(ValueError, match="condition"):
        BrazeScheduledBroadcastSensor(task_id="s", tag="t", condition="delivered")


def test_times_out_when_never_scheduled(sandbox):
    from airflow.providers.common.compat.sdk import AirflowException

    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="nope", poke_interval=0.1, timeout=0.5)
    with pytest.raises(AirflowException):
        sensor.execute({})


def test_deferrable_defers_with_a_serialisable_trigger(sandbox):
    sandbox.add_broadcast(broadcast_id="b1", name="B", next_send_time=_soon(3600))
    sensor = BrazeScheduledBroadcastSensor(
        task_id="s", broadcast_id="b1", condition="sent", deferrable=True, poke_interval=7, timeout=60
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, BrazeScheduledBroadcastTrigger)
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_braze.triggers.scheduled_broadcast.BrazeScheduledBroadcastTrigger"
    assert json.loads(kwargs["followed"])["id"] == "b1"  # the first poke's sighting travels with the trigger
    assert kwargs["poll_interval"] == 7.0
    assert all(isinstance(v, (str, float, int, type(None))) for v in kwargs.values())
    rebuilt = BrazeScheduledBroadcastTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_deferrable_returns_at_once_when_already_satisfied(sandbox):
    sandbox.add_broadcast(broadcast_id="b1", name="B", next_send_time=_soon(3600))
    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="b1", deferrable=True)
    assert sensor.execute({})["id"] == "b1"


def test_trigger_runs_against_the_sandbox_until_sent(sandbox):
    sandbox.add_broadcast(broadcast_id="b1", name="B", next_send_time=_soon(1.0))
    trigger = BrazeScheduledBroadcastTrigger(
        braze_conn_id="braze_default", condition="sent", broadcast_id="b1", poll_interval=0.3
    )

    async def first_event():
        return await asyncio.wait_for(trigger.run().__anext__(), timeout=15)

    event = asyncio.run(first_event())
    assert event.payload["status"] == "success"
    assert event.payload["broadcast"]["id"] == "b1"
    assert len(sandbox.requests) >= 2


def test_trigger_reports_errors_as_events(braze_sandbox, monkeypatch):
    for name, value in braze_sandbox.airflow_env(api_key="wrong").items():
        monkeypatch.setenv(name, value)
    trigger = BrazeScheduledBroadcastTrigger(braze_conn_id="braze_default", condition="scheduled", tag="t")
    event = asyncio.run(trigger.run().__anext__())
    assert event.payload["status"] == "error"
    assert "401" in event.payload["message"]


def test_execute_complete(sandbox):
    from airflow.providers.common.compat.sdk import AirflowException

    sensor = BrazeScheduledBroadcastSensor(task_id="s", tag="t")
    assert sensor.execute_complete({}, {"status": "success", "broadcast": {"id": "x"}}) == {"id": "x"}
    with pytest.raises(AirflowException, match="401"):
        sensor.execute_complete({}, {"status": "error", "message": "HTTP 401"})


def test_trigger_gives_up_at_its_timeout(sandbox):
    import time

    trigger = BrazeScheduledBroadcastTrigger(
        braze_conn_id="braze_default",
        condition="scheduled",
        tag="never",
        poll_interval=0.2,
        timeout_at=time.time() + 0.5,
    )
    event = asyncio.run(asyncio.wait_for(trigger.run().__anext__(), timeout=10))
    assert event.payload["status"] == "timeout"
    assert 2 <= len(sandbox.requests) <= 4


def test_execute_complete_timeout_fails_or_skips_with_soft_fail():
    from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException

    event = {"status": "timeout", "message": "timed out: not scheduled"}
    with pytest.raises(AirflowSensorTimeout):
        BrazeScheduledBroadcastSensor(task_id="s", tag="t").execute_complete({}, event)
    with pytest.raises(AirflowSkipException):
        BrazeScheduledBroadcastSensor(task_id="s", tag="t", soft_fail=True).execute_complete({}, event)


# -- issue 15 items 6 and 7: "sent" means sent -------------------------------------------------


def _naive(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat()


def test_a_broadcast_cancelled_before_its_time_fails_instead_of_reporting_sent(sandbox):

    sandbox.add_broadcast(broadcast_id="b1", name="Flash sale", next_send_time=_soon(3600))
    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="b1", condition="sent")
    assert sensor.poke({}) is False
    sandbox.state.cancel_broadcast("b1")
    with pytest.raises(BrazeBroadcastWaitError, match="left the list before its time"):
        sensor.poke({})


def test_sent_follows_the_first_matched_broadcast_by_id(sandbox):

    sandbox.add_broadcast(broadcast_id="a", name="Promo", next_send_time=_soon(1800), tags=["promo"])
    sandbox.add_broadcast(broadcast_id="b", name="Promo", next_send_time=_soon(3600), tags=["promo"])
    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_name="Promo", condition="sent")
    assert sensor.poke({}) is False
    sandbox.state.cancel_broadcast("a")
    with pytest.raises(BrazeBroadcastWaitError, match=r"a \(Promo\) left the list before its time"):
        sensor.poke({})


def test_sent_by_tag_returns_the_whole_broadcast(sandbox):
    sandbox.add_broadcast(
        broadcast_id="d1", name="Digest", next_send_time=_soon(1.0), tags=["digest"], broadcast_type="Canvas"
    )
    sensor = BrazeScheduledBroadcastSensor(task_id="s", tag="digest", condition="sent", poke_interval=0.3, timeout=10)
    result = sensor.execute({})
    assert {k: result[k] for k in ("id", "name", "type", "tags", "schedule_type")} == {
        "id": "d1",
        "name": "Digest",
        "type": "Canvas",
        "tags": ["digest"],
        "schedule_type": "UTC",
    }
    assert result["sent_at"] == result["next_send_time"]


def test_a_local_time_broadcast_is_not_sent_before_the_last_time_zone(sandbox):
    # Wall-clock time that UTC+14 reaches in ~1 s; UTC-12 reaches it 26 h later.
    wall = datetime.now(timezone.utc) + timedelta(hours=14, seconds=1)
    sandbox.add_broadcast(
        broadcast_id="l1", name="Local", next_send_time=_naive(wall), schedule_type="local_time_zones"
    )
    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="l1", condition="sent")
    assert sensor.poke({}) is False
    import time

    time.sleep(1.5)
    assert sensor.poke({}) is False  # it left the list when the first zone started: still going out
    assert sandbox.state.due_broadcasts(datetime.now(timezone.utc), _soon(86400 * 3)) == []


def test_evaluate_reports_a_local_time_broadcast_sent_once_every_zone_passed():
    from airflow_provider_braze.client.broadcast_matching import BroadcastCriteria, evaluate

    wall = datetime(2030, 1, 10, 9, 0)
    listing = {
        "id": "l1",
        "name": "Local",
        "type": "Campaign",
        "tags": [],
        "next_send_time": wall.isoformat(),
        "schedule_type": "local_time_zones",
    }
    criteria = BroadcastCriteria("l1")
    seen = evaluate("sent", [listing], criteria, now=datetime(2030, 1, 9, tzinfo=timezone.utc))
    at_utc = wall.replace(tzinfo=timezone.utc)
    # Past 09:00 UTC, still listed: UTC-12 has not reached 09:00 yet.
    early = evaluate("sent", [listing], criteria, now=at_utc + timedelta(hours=1), followed=seen.followed)
    assert not early.done
    assert not early.failed
    late = evaluate("sent", [], criteria, now=at_utc + timedelta(hours=12, minutes=1), followed=seen.followed)
    assert late.done
    assert late.broadcast["sent_until"] == (at_utc + timedelta(hours=12)).isoformat()
    assert late.broadcast["schedule_type"] == "local_time_zones"


def test_a_broadcast_rescheduled_before_its_time_is_followed_to_its_new_time(sandbox):
    sandbox.add_broadcast(broadcast_id="b1", name="B", next_send_time=_soon(3600))
    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="b1", condition="sent")
    assert sensor.poke({}) is False
    later = _soon(7200).isoformat()
    sandbox.state.reschedule_broadcast("b1", later)
    assert sensor.poke({}) is False
    assert sensor._followed["next_send_time"] == later


def test_a_recurring_broadcast_that_moved_on_after_its_time_is_sent(sandbox):
    first = _soon(1.0)
    sandbox.add_broadcast(broadcast_id="r1", name="Daily", next_send_time=first)
    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="r1", condition="sent")
    assert sensor.poke({}) is False
    import time

    time.sleep(1.2)
    sandbox.state.reschedule_broadcast("r1", (first + timedelta(days=1)).isoformat())
    done = sensor.poke({})
    assert done.is_done
    assert done.xcom_value["sent_at"] == first.isoformat()
    assert done.xcom_value["next_send_time_after"] == (first + timedelta(days=1)).isoformat()


def test_the_deferred_wait_fails_when_the_broadcast_is_cancelled(sandbox):
    sandbox.add_broadcast(broadcast_id="b1", name="B", next_send_time=_soon(3600))
    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="b1", condition="sent", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    sandbox.state.cancel_broadcast("b1")
    event = asyncio.run(asyncio.wait_for(deferred.value.trigger.run().__anext__(), timeout=10))
    assert event.payload["status"] == "failed"
    assert "left the list before its time" in event.payload["message"]

    with pytest.raises(BrazeBroadcastWaitError, match="left the list before its time"):
        sensor.execute_complete({}, event.payload)


# -- issue 8 item 6: patient waits -------------------------------------------------------------


def test_the_trigger_retries_transient_errors_until_it_succeeds(braze_sandbox, monkeypatch):
    from airflow_provider_braze.testing.sandbox import Fault

    for name, value in braze_sandbox.airflow_env(extra={"max_retries": 0}).items():
        monkeypatch.setenv(name, value)
    braze_sandbox.add_broadcast(broadcast_id="b1", name="B", next_send_time=_soon(3600))
    braze_sandbox.inject(Fault(status=503), Fault(status=502), Fault(kind="html", status=504))
    trigger = BrazeScheduledBroadcastTrigger(
        braze_conn_id="braze_default", condition="scheduled", broadcast_id="b1", poll_interval=0.05
    )
    event = asyncio.run(asyncio.wait_for(trigger.run().__anext__(), timeout=20))
    assert event.payload["status"] == "success"
    assert len(braze_sandbox.requests) == 4


def test_the_trigger_honours_its_deadline_while_errors_persist(braze_sandbox, monkeypatch):
    import time

    from airflow_provider_braze.testing.sandbox import Fault

    for name, value in braze_sandbox.airflow_env(extra={"max_retries": 0}).items():
        monkeypatch.setenv(name, value)
    braze_sandbox.inject(*[Fault(status=503)] * 200)
    trigger = BrazeScheduledBroadcastTrigger(
        braze_conn_id="braze_default", condition="scheduled", tag="t", poll_interval=0.2, timeout_at=time.time() + 1
    )
    started = time.monotonic()
    event = asyncio.run(asyncio.wait_for(trigger.run().__anext__(), timeout=20))
    assert event.payload["status"] == "timeout"
    assert "503" in event.payload["message"]
    assert time.monotonic() - started < 2.5


def test_a_poke_that_meets_a_transient_error_pokes_again(braze_sandbox, monkeypatch):
    from airflow_provider_braze.testing.sandbox import Fault

    for name, value in braze_sandbox.airflow_env(extra={"max_retries": 0}).items():
        monkeypatch.setenv(name, value)
    braze_sandbox.add_broadcast(broadcast_id="b1", name="B", next_send_time=_soon(3600))
    braze_sandbox.inject(Fault(status=503))
    sensor = BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="b1")
    assert sensor.poke({}) is False
    assert sensor.poke({}).is_done


def test_a_poke_with_a_bad_key_fails_at_once(braze_sandbox, monkeypatch):
    from airflow_provider_braze.exceptions import BrazeAuthenticationError

    for name, value in braze_sandbox.airflow_env(api_key="wrong").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(BrazeAuthenticationError):
        BrazeScheduledBroadcastSensor(task_id="s", broadcast_id="b1").poke({})
