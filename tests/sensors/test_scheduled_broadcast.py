"""BrazeScheduledBroadcastSensor and its trigger against the sandbox."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

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
    assert kwargs["first_seen"]  # the first poke's sighting travels with the trigger
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
