"""BrazeScheduledBroadcastTrigger: watch ``/messages/scheduled_broadcasts`` from the triggerer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

from airflow.triggers.base import TriggerEvent

from airflow_provider_braze.broadcast_matching import BroadcastCriteria, evaluate, parse_send_time
from airflow_provider_braze.hooks.braze_async import BrazeAsyncHook
from airflow_provider_braze.triggers.base import BrazeTrigger


class BrazeScheduledBroadcastTrigger(BrazeTrigger):
    """Poll the scheduled-broadcasts list until a broadcast's condition holds.

    Every argument is a primitive, so the trigger serialises on Airflow 2 and 3.

    :param braze_conn_id: the Braze connection.
    :param condition: ``scheduled`` or ``sent``.
    :param broadcast_id: match this campaign or Canvas id.
    :param broadcast_name: match this exact name.
    :param tag: match this tag.
    :param end_time: ISO time to look ahead to; None means 7 days from each poll.
    :param send_before: ISO time the broadcast must be due before (``scheduled``).
    :param first_seen: the ``next_send_time`` the sensor saw first (``sent``).
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
        self.first_seen = first_seen
        self.poll_interval = poll_interval
        self.timeout_at = timeout_at

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll without blocking the event loop; yield one success or error event."""
        hook = BrazeAsyncHook(self.braze_conn_id)
        criteria = BroadcastCriteria(self.broadcast_id, self.broadcast_name, self.tag)
        send_before = parse_send_time(self.send_before)
        first_seen = self.first_seen
        try:
            while True:
                now = datetime.now(timezone.utc)
                end_time = self.end_time or (now + timedelta(days=7)).isoformat()
                response = await hook.get_scheduled_broadcasts(end_time=end_time)
                result = evaluate(
                    self.condition,
                    response.get("scheduled_broadcasts") or [],
                    criteria,
                    now=now,
                    send_before=send_before,
                    first_seen=first_seen,
                )
                first_seen = result.first_seen
                self.log.info("Braze broadcast %s: %s", criteria.describe(), result.reason)
                if result.done:
                    yield TriggerEvent({"status": "success", "broadcast": result.broadcast, "reason": result.reason})
                    return
                if self.timeout_at is not None and time.time() + self.poll_interval > self.timeout_at:
                    yield TriggerEvent({"status": "timeout", "message": f"timed out: {result.reason}"})
                    return
                await asyncio.sleep(self.poll_interval)
        except Exception as err:
            yield TriggerEvent({"status": "error", "message": f"{type(err).__name__}: {err}"})
