"""BrazeCDISyncTrigger: wait in the triggerer for the CDI run a sync started to finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_braze.client.cdi_runs import (
    MAX_STATUS_PAGES,
    find_run,
    next_cursor,
    pages_suffice,
    unknown_status_message,
)
from airflow_provider_braze.hooks.braze_async import BrazeAsyncHook
from airflow_provider_braze.triggers.base import BrazeTrigger, PatientWait, is_transient
from airflow_provider_braze.triggers.wait_status import WaitStatus


class BrazeCDISyncTrigger(BrazeTrigger):
    """Poll ``job_sync_status`` (every page) until the matched run is terminal. Every argument is a
    primitive. A failed read (5xx, 429, dropped connection) is retried with backoff until
    ``timeout_at``; a ``job_status`` Braze does not document ends the wait with an error naming it.

    :param braze_conn_id: the Braze connection.
    :param integration_id: the integration.
    :param baseline: ISO ``sync_start_time`` of the newest run seen before triggering (or None).
    :param triggered_at: ISO time of Braze's 202 answer (its ``Date`` header), or None.
    :param attach_start: ISO ``sync_start_time`` of a running run to wait for instead (``if_running="attach"``).
    :param round_trip_seconds: the measured round trip of the trigger request (widens the match
        window before ``triggered_at``); None: a fixed 2 s.
    :param poll_interval: seconds between polls.
    :param timeout_at: epoch seconds after which the trigger gives up with a ``timeout`` event.
    """

    def __init__(
        self,
        *,
        braze_conn_id: str,
        integration_id: str,
        baseline: str | None = None,
        triggered_at: str | None = None,
        attach_start: str | None = None,
        round_trip_seconds: float | None = None,
        poll_interval: float = 30.0,
        timeout_at: float | None = None,
    ) -> None:
        super().__init__()
        self.braze_conn_id = braze_conn_id
        self.integration_id = integration_id
        self.baseline = baseline
        self.triggered_at = triggered_at
        self.attach_start = attach_start
        self.round_trip_seconds = round_trip_seconds
        self.poll_interval = poll_interval
        self.timeout_at = timeout_at

    async def _runs(self, hook: BrazeAsyncHook) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_STATUS_PAGES):
            response = await hook.get_cdi_job_sync_status(integration_id=self.integration_id, cursor=cursor)
            runs.extend(response.get("results") or [])
            cursor = next_cursor(response.links)
            if cursor is None or pages_suffice(runs, self.attach_start or self.baseline):
                break
        return runs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll without blocking the event loop; yield one success, timeout or error event."""
        async with BrazeAsyncHook(self.braze_conn_id) as hook:  # one HTTP session for the whole wait
            event = await self._wait(hook)
        yield event

    async def _wait(self, hook: BrazeAsyncHook) -> TriggerEvent:
        """Poll until the wait ends; return its one event."""
        patience = PatientWait(self.poll_interval, self.timeout_at)
        seen = "the triggered run is not visible yet"
        while True:
            try:
                runs = await self._runs(hook)
            except Exception as err:
                delay = patience.backoff(err)
                if delay is None:
                    status = WaitStatus.TIMEOUT.value if is_transient(err) else WaitStatus.ERROR.value
                    return TriggerEvent(
                        {"status": status, "message": f"{seen}; last error: {type(err).__name__}: {err}"}
                    )
                self.log.warning("Reading the CDI runs failed (%s); retrying in %.1f s", patience.last_error, delay)
                await asyncio.sleep(delay)
                continue
            patience.succeeded()
            found = find_run(
                runs,
                baseline=self.baseline,
                triggered_at=self.triggered_at,
                attach_start=self.attach_start,
                round_trip_seconds=self.round_trip_seconds,
            )
            if found is not None and found.finished:
                return TriggerEvent({"status": WaitStatus.SUCCESS.value, "run": found.run, "reason": found.reason})
            if found is not None:
                unknown = unknown_status_message(found.run)
                if unknown:
                    return TriggerEvent({"status": WaitStatus.ERROR.value, "message": unknown, "run": found.run})
                seen = found.reason
            if self.timeout_at is not None and time.time() + self.poll_interval > self.timeout_at:
                return TriggerEvent({"status": WaitStatus.TIMEOUT.value, "message": seen})
            await asyncio.sleep(self.poll_interval)
