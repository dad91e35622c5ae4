"""BrazeCDISyncTrigger: wait in the triggerer for the CDI run a sync started to finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from airflow.triggers.base import TriggerEvent

from airflow_provider_braze.cdi_runs import find_run
from airflow_provider_braze.hooks.braze_async import BrazeAsyncHook
from airflow_provider_braze.triggers.base import BrazeTrigger


class BrazeCDISyncTrigger(BrazeTrigger):
    """Poll ``job_sync_status`` until the matched run is terminal. Every argument is a primitive.

    :param braze_conn_id: the Braze connection.
    :param integration_id: the integration.
    :param baseline: ISO ``sync_start_time`` of the newest run seen before triggering (or None).
    :param triggered_at: ISO time of Braze's 202 answer (its ``Date`` header), or None.
    :param attach_start: ISO ``sync_start_time`` of a running run to wait for instead (``if_running="attach"``).
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
        poll_interval: float = 30.0,
        timeout_at: float | None = None,
    ) -> None:
        super().__init__()
        self.braze_conn_id = braze_conn_id
        self.integration_id = integration_id
        self.baseline = baseline
        self.triggered_at = triggered_at
        self.attach_start = attach_start
        self.poll_interval = poll_interval
        self.timeout_at = timeout_at

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll without blocking the event loop; yield one success, timeout or error event."""
        hook = BrazeAsyncHook(self.braze_conn_id)
        try:
            while True:
                response = await hook.get_cdi_job_sync_status(integration_id=self.integration_id)
                found = find_run(
                    response.get("results") or [],
                    baseline=self.baseline,
                    triggered_at=self.triggered_at,
                    attach_start=self.attach_start,
                )
                if found is not None and found.finished:
                    yield TriggerEvent({"status": "success", "run": found.run, "reason": found.reason})
                    return
                if self.timeout_at is not None and time.time() + self.poll_interval > self.timeout_at:
                    seen = found.reason if found else "the triggered run is not visible yet"
                    yield TriggerEvent({"status": "timeout", "message": seen})
                    return
                await asyncio.sleep(self.poll_interval)
        except Exception as err:
            yield TriggerEvent({"status": "error", "message": f"{type(err).__name__}: {err}"})
