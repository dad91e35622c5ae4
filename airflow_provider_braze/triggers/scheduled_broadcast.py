"""BrazeScheduledBroadcastTrigger: watch ``/messages/scheduled_broadcasts`` from the triggerer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_braze.client.broadcast_matching import BroadcastCriteria, evaluate, parse_send_time
from airflow_provider_braze.hooks.braze_async import BrazeAsyncHook
from airflow_provider_braze.triggers.base import BrazeTrigger, PatientWait, is_transient
from airflow_provider_braze.triggers.wait_status import WaitStatus


class BrazeScheduledBroadcastTrigger(BrazeTrigger):
    """Poll the scheduled-broadcasts list until a broadcast's condition holds.

    Every argument is a primitive (``followed`` is JSON text), so the trigger serialises on Airflow
    2 and 3. A failed read (5xx, 429, dropped connection) is retried with backoff until
    ``timeout_at``; only an error a retry cannot fix (a bad key, a missing permission) ends the wait
    early.

    :param braze_conn_id: the Braze connection.
    :param condition: ``scheduled`` or ``sent``.
    :param broadcast_id: match this campaign or Canvas id.
    :param broadcast_name: match this exact name.
    :param tag: match this tag.
    :param end_time: ISO time to look ahead to; None means 7 days from each poll.
    :param send_before: ISO time the broadcast must be due before (``scheduled``).
    :param followed: the broadcast the sensor follows (``sent``), as listed when first seen (JSON text).
    :param first_seen: the ``next_send_time`` first seen, from triggers deferred by earlier versions
        (used only when ``followed`` is not given).
    :param poll_interval: seconds between polls.
    :param timeout_at: epoch seconds after which the trigger gives up with a ``timeout`` event
        (the sensor's ``timeout``), so the wait ends even where the runner enforces no deadline.
    """

    def __init__(
        self,
        *,
        braze_conn_id: str,
        condition: str,
        broadcast_id: str | None = None,
        broadcast_name: str | None = None,
        tag: str | None = None,
        end_time: str | None = None,
        send_before: str | None = None,
        followed: str | None = None,
        first_seen: str | None = None,
        poll_interval: float = 300.0,
        timeout_at: float | None = None,
    ) -> None:
        super().__init__()
        self.braze_conn_id = braze_conn_id
        self.condition = condition
        self.broadcast_id = broadcast_id
        self.broadcast_name = broadcast_name
        self.tag = tag
        self.end_time = end_time
        self.send_before = send_before
        self.followed = followed
        self.first_seen = first_seen
        self.poll_interval = poll_interval
        self.timeout_at = timeout_at

    def _initial_followed(self) -> dict[str, Any] | None:
        if self.followed:
            loaded = json.loads(self.followed)
            return dict(loaded) if isinstance(loaded, dict) else None
        if self.first_seen is not None:
            return {"id": self.broadcast_id, "name": self.broadcast_name, "next_send_time": self.first_seen}
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll without blocking the event loop; yield one success, failed, timeout or error event."""
        async with BrazeAsyncHook(self.braze_conn_id) as hook:  # one HTTP session for the whole wait
            event = await self._wait(hook)
        yield event

    async def _wait(self, hook: BrazeAsyncHook) -> TriggerEvent:
        """Poll until the wait ends; return its one event."""
        criteria = BroadcastCriteria(self.broadcast_id, self.broadcast_name, self.tag)
        send_before = parse_send_time(self.send_before)
        followed = self._initial_followed()
        patience = PatientWait(self.poll_interval, self.timeout_at)
        reason = "not looked yet"
        while True:
            now = datetime.now(timezone.utc)
            end_time = self.end_time or (now + timedelta(days=7)).isoformat()
            try:
                response = await hook.get_scheduled_broadcasts(end_time=end_time)
            except Exception as err:
                delay = patience.backoff(err)
                if delay is None:
                    if is_transient(err):  # only the deadline stops retrying a transient error
                        return TriggerEvent(
                            {
                                "status": WaitStatus.TIMEOUT.value,
                                "message": f"timed out: {reason}; last error: {type(err).__name__}: {err}",
                            }
                        )
                    return TriggerEvent({"status": WaitStatus.ERROR.value, "message": f"{type(err).__name__}: {err}"})
                self.log.warning(
                    "Reading Braze's scheduled broadcasts failed (%s); retrying in %.1f s", patience.last_error, delay
                )
                await asyncio.sleep(delay)
                continue
            patience.succeeded()
            result = evaluate(
                self.condition,
                response.get("scheduled_broadcasts") or [],
                criteria,
                now=now,
                send_before=send_before,
                followed=followed,
            )
            followed = result.followed
            reason = result.reason
            self.log.info("Braze broadcast %s: %s", criteria.describe(), reason)
            if result.failed:
                return TriggerEvent(
                    {"status": WaitStatus.FAILED.value, "message": reason, "broadcast": result.broadcast}
                )
            if result.done:
                return TriggerEvent(
                    {"status": WaitStatus.SUCCESS.value, "broadcast": result.broadcast, "reason": reason}
                )
            if self.timeout_at is not None and time.time() + self.poll_interval > self.timeout_at:
                return TriggerEvent({"status": WaitStatus.TIMEOUT.value, "message": f"timed out: {reason}"})
            await asyncio.sleep(self.poll_interval)
