"""BrazeCDISyncOperator: trigger a Cloud Data Ingestion sync and wait for the run it started."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_braze.client.cdi_runs import (
    FAILED_STATUSES,
    MAX_STATUS_PAGES,
    CdiRunStatus,
    FoundRun,
    find_run,
    newest_run,
    next_cursor,
    pages_suffice,
    status_of,
    unknown_status_message,
)
from airflow_provider_braze.client.instances import dashboard_link
from airflow_provider_braze.client.str_enum import StrEnum
from airflow_provider_braze.client.transport.rate_limit_headers import parse_http_date
from airflow_provider_braze.exceptions import BrazeCDIJobInProgressError, BrazeCDISyncError
from airflow_provider_braze.links import DASHBOARD_URL_XCOM_KEY, BrazeCDIIntegrationLink
from airflow_provider_braze.triggers.wait_status import WaitStatus

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_braze.hooks.braze import BrazeHook
    from airflow_provider_braze.triggers.base import PatientWait


class OnPartial(StrEnum):
    """``on_partial``: what a ``partial`` run (some rows failed) does to the task."""

    FAIL = "fail"
    WARN = "warn"


class IfRunning(StrEnum):
    """``if_running``: what the operator does when a sync of the integration is already running."""

    WAIT_THEN_TRIGGER = "wait_then_trigger"
    FAIL = "fail"
    ATTACH = "attach"


class SyncStart(StrEnum):
    """The result's ``status`` with ``wait_for_completion=False``: how the run waited for began."""

    TRIGGERED = "triggered"
    ATTACHED = "attached"


ON_PARTIAL = OnPartial.values()
IF_RUNNING = IfRunning.values()
_ADVICE: dict[str, str] = {
    CdiRunStatus.ERROR: "nothing was synced; the integration's sync log in the dashboard says why",
    CdiRunStatus.CONFIG_ERROR: "the integration is misconfigured (credentials, table or permissions): fix its "
    "setup in the dashboard, then run again",
    CdiRunStatus.PARTIAL: "some rows failed; the sync log in the dashboard lists them",
}


class BrazeCDISyncOperator(BaseOperator):
    """Trigger a Braze Cloud Data Ingestion sync and wait for the run it started.

    Braze returns no run id, so the run is matched on Braze's own clock: the newest run visible before
    triggering is noted, and the operator waits for the first run that started after it and not
    before Braze's 202 answer (its ``Date`` header) minus the trigger request's measured round trip.
    Runs are read across every ``job_sync_status`` page (10 a page, order undocumented). Which run
    was matched, and why, is logged and returned. The worker's clock is never compared with Braze's,
    so clock skew cannot match a stale run. A failed status read (5xx, 429, dropped connection) is
    retried with backoff until ``timeout``; a ``job_status`` Braze does not document fails the task
    naming it.

    The result says ``"triggered": true`` when this task started the run and ``false`` when it
    attached to a run already in progress (``if_running="attach"``); with
    ``wait_for_completion=False`` its ``status`` is ``"triggered"`` or ``"attached"``.

    Braze offers no way to cancel a CDI run: killing the task stops the wait, not the sync.

    Example:

    .. code-block:: python

        BrazeCDISyncOperator(task_id="sync_users", integration_name="users-from-snowflake", deferrable=True)

    :param integration_id: the integration (templated).
    :param integration_name: or its exact name, resolved through ``GET /cdi/integrations`` (templated);
        none or several matches fail the task.
    :param wait_for_completion: wait for the run to finish (default); otherwise return once triggered.
    :param poll_interval: seconds between status polls (the status endpoint allows 100 a minute per workspace).
    :param timeout: seconds to wait for the run, waiting for an earlier run included.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param on_partial: a ``partial`` run (some rows failed): ``"fail"`` (default) or ``"warn"``.
    :param if_running: when Braze answers "Another job is in progress": ``"wait_then_trigger"``
        (default: wait for that run, then trigger, because its query may predate the data just
        loaded), ``"fail"``, or ``"attach"`` (wait for the running run and report it).
    :param braze_conn_id: the Braze connection (templated).
    """

    template_fields: Sequence[str] = ("integration_id", "integration_name", "braze_conn_id")
    operator_extra_links = (BrazeCDIIntegrationLink(),)
    ui_color = "#f7e4ff"

    def __init__(
        self,
        *,
        integration_id: str | None = None,
        integration_name: str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        timeout: float = 3600.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        on_partial: OnPartial | str = OnPartial.FAIL,
        if_running: IfRunning | str = IfRunning.WAIT_THEN_TRIGGER,
        braze_conn_id: str = "braze_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        on_partial = OnPartial.parse(on_partial, "on_partial").value
        if_running = IfRunning.parse(if_running, "if_running").value
        if not integration_id and not integration_name:
            raise ValueError("Give integration_id or integration_name")
        self.integration_id = integration_id
        self.integration_name = integration_name
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deferrable = deferrable
        self.on_partial = on_partial
        self.if_running = if_running
        self.braze_conn_id = braze_conn_id

    @cached_property
    def hook(self) -> BrazeHook:
        """The Braze hook."""
        from airflow_provider_braze.hooks.braze import BrazeHook  # a task-time import: DAG files parse fast

        return BrazeHook(braze_conn_id=self.braze_conn_id)

    # -- steps ------------------------------------------------------------------------------------

    def resolve_integration_id(self) -> str:
        """``integration_id``, or the id of the one integration named ``integration_name``."""
        if self.integration_id:
            return str(self.integration_id)
        matches = [i for i in self.hook.list_cdi_integrations() if i.get("integration_name") == self.integration_name]
        if len(matches) != 1:
            found = "no integration" if not matches else f"{len(matches)} integrations"
            raise BrazeCDISyncError(
                f"integration_name: {found} named {self.integration_name!r}; give integration_id instead"
            )
        integration_id = str(matches[0]["integration_id"])
        self.log.info("Integration %r is %s", self.integration_name, integration_id)
        return integration_id

    def _runs(self, integration_id: str, newer_than: str | None = None) -> list[dict[str, Any]]:
        """The integration's runs across ``job_sync_status`` pages (their order is not documented):
        every page, unless the pages are seen to be newest-first and reach back to ``newer_than``."""
        runs: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_STATUS_PAGES):
            response = self.hook.get_cdi_job_sync_status(integration_id=integration_id, cursor=cursor)
            runs.extend(response.get("results") or [])
            cursor = next_cursor(response.links)
            if cursor is None or pages_suffice(runs, newer_than):
                return runs
        self.log.warning(
            "Read %d pages of runs of integration %s and stopped; the run waited for may be further on",
            MAX_STATUS_PAGES,
            integration_id,
        )
        return runs

    def _read_runs(
        self, integration_id: str, patience: PatientWait, newer_than: str | None = None
    ) -> list[dict[str, Any]]:
        """:meth:`_runs`, retrying transient errors (5xx, 429, dropped connections) with backoff until
        the deadline: one failed read does not end a long wait."""
        while True:
            try:
                runs = self._runs(integration_id, newer_than)
            except Exception as err:
                delay = patience.backoff(err)
                if delay is None:
                    raise
                self.log.warning("Reading the CDI runs failed (%s); retrying in %.1f s", patience.last_error, delay)
                time.sleep(delay)
                continue
            patience.succeeded()
            return runs

    def _pause(self, patience: PatientWait, what: str) -> None:
        """Sleep one poll interval, cut at the deadline; fail once the deadline has passed."""
        pause = patience.sleep_for()
        if pause is None:
            raise BrazeCDISyncError(f"Timed out after {self.timeout:.0f} s {what}")
        time.sleep(pause)

    def trigger(self, integration_id: str, deadline: float) -> dict[str, Any]:
        """Trigger the sync (handling a run in progress by ``if_running``); returns the matching keys."""
        from airflow_provider_braze.triggers.base import PatientWait

        patience = PatientWait(self.poll_interval, deadline, clock=time.monotonic)
        while True:
            if time.monotonic() >= deadline:
                raise BrazeCDISyncError(
                    f"Timed out after {self.timeout:.0f} s before a sync of integration {integration_id} could start"
                )
            baseline_run = newest_run(self._read_runs(integration_id, patience))
            baseline = baseline_run.get("sync_start_time") if baseline_run else None
            sent_at = time.monotonic()
            try:
                response = self.hook.trigger_cdi_sync(integration_id=integration_id)
            except BrazeCDIJobInProgressError:
                runs = self._read_runs(integration_id, patience)
                running = newest_run(r for r in runs if status_of(r) == CdiRunStatus.RUNNING)
                started = running.get("sync_start_time") if running else None
                if self.if_running == IfRunning.FAIL:
                    raise BrazeCDISyncError(
                        f"A sync of integration {integration_id} is already running (started {started}); "
                        "if_running='fail'"
                    ) from None
                if self.if_running == IfRunning.ATTACH and started:
                    self.log.info("A sync is already running (started %s): attaching to it", started)
                    return {"baseline": None, "triggered_at": None, "attach_start": started, "round_trip_seconds": None}
                self.log.info("A sync is already running (started %s): waiting for it, then triggering", started)
                self._wait_until_idle(integration_id, patience)
                continue
            round_trip = time.monotonic() - sent_at
            date = parse_http_date(response.date)
            triggered = None if date is None else datetime.fromtimestamp(date, timezone.utc)
            self.log.info(
                "Braze started a sync of integration %s (HTTP %d at %s, %.3f s round trip); newest earlier run "
                "started %s",
                integration_id,
                response.status,
                response.date,
                round_trip,
                baseline,
            )
            return {
                "baseline": baseline,
                "triggered_at": triggered.isoformat() if triggered else None,
                "attach_start": None,
                "round_trip_seconds": round(round_trip, 3),
            }

    def _wait_until_idle(self, integration_id: str, patience: PatientWait) -> None:
        """Wait at least one poll interval, then until no run shows as running (never spinning: Braze
        said a job is in progress even when no page shows it yet)."""
        while True:
            self._pause(patience, f"waiting for the running sync of integration {integration_id}")
            if not any(status_of(r) == CdiRunStatus.RUNNING for r in self._read_runs(integration_id, patience)):
                return

    def wait(self, integration_id: str, keys: dict[str, Any], deadline: float) -> FoundRun:
        """Poll until the matched run is terminal (synchronously)."""
        from airflow_provider_braze.triggers.base import PatientWait

        patience = PatientWait(self.poll_interval, deadline, clock=time.monotonic)
        newer_than = keys.get("attach_start") or keys.get("baseline")
        while True:
            found = find_run(self._read_runs(integration_id, patience, newer_than), **keys)
            if found is not None and found.finished:
                return found
            if found is not None:
                unknown = unknown_status_message(found.run)
                if unknown:
                    raise BrazeCDISyncError(f"CDI sync of {integration_id}: {unknown}")
            if time.monotonic() + self.poll_interval > deadline:
                seen = found.reason if found else "the triggered run never became visible"
                raise BrazeCDISyncError(f"Timed out after {self.timeout:.0f} s waiting for the CDI run: {seen}")
            time.sleep(self.poll_interval)

    def finish(
        self, integration_id: str, run: dict[str, Any], reason: str, *, attached: bool = False
    ) -> dict[str, Any]:
        """Apply the status policy; return the result (XCom)."""
        status = status_of(run)
        result = {
            "integration_id": integration_id,
            "status": status,
            "triggered": not attached,
            "sync_start_time": run.get("sync_start_time"),
            "sync_finish_time": run.get("sync_finish_time"),
            "rows_synced": run.get("rows_synced"),
            "rows_failed_with_errors": run.get("rows_failed_with_errors"),
            "last_timestamp_synced": run.get("last_timestamp_synced"),
            "matched": reason,
        }
        self.log.info("Matched CDI run: %s", reason)
        counts = f"rows_synced={run.get('rows_synced')}, rows_failed_with_errors={run.get('rows_failed_with_errors')}"
        if status in FAILED_STATUSES or (status == CdiRunStatus.PARTIAL and self.on_partial == OnPartial.FAIL):
            raise BrazeCDISyncError(f"CDI sync of {integration_id} ended {status} ({counts}): {_ADVICE[status]}")
        if status == CdiRunStatus.PARTIAL:
            self.log.warning(
                "CDI sync of %s ended partial (%s): %s", integration_id, counts, _ADVICE[CdiRunStatus.PARTIAL]
            )
        elif status != CdiRunStatus.SUCCESS:
            raise BrazeCDISyncError(f"CDI sync of {integration_id}: {unknown_status_message(run)} ({counts})")
        return result

    # -- execution --------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any] | None:
        """Resolve, trigger, then wait (synchronously or deferred)."""
        deadline = time.monotonic() + float(self.timeout)
        integration_id = self.resolve_integration_id()
        self._push_link(context, integration_id)
        keys = self.trigger(integration_id, deadline)
        attached = keys["attach_start"] is not None
        if not self.wait_for_completion:
            # Attaching triggers nothing: say so, rather than "triggered".
            return {
                "integration_id": integration_id,
                "status": (SyncStart.ATTACHED if attached else SyncStart.TRIGGERED).value,  # XCom: the plain string
                "triggered": not attached,
                **keys,
            }
        if self.deferrable:
            from airflow_provider_braze.triggers.cdi_sync import BrazeCDISyncTrigger

            self.defer(
                trigger=BrazeCDISyncTrigger(
                    braze_conn_id=self.braze_conn_id,
                    integration_id=integration_id,
                    poll_interval=float(self.poll_interval),
                    timeout_at=time.time() + max(0.0, deadline - time.monotonic()),
                    **keys,
                ),
                method_name="execute_complete",
                kwargs={"integration_id": integration_id, "attached": attached},
                timeout=timedelta(seconds=float(self.timeout)),
            )
        found = self.wait(integration_id, keys, deadline)
        return self.finish(integration_id, found.run, found.reason, attached=attached)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, integration_id: str = "", attached: bool = False
    ) -> dict[str, Any]:
        """Resume after the trigger: apply the status policy to the matched run."""
        payload = event or {}
        if payload.get("status") != WaitStatus.SUCCESS:
            raise BrazeCDISyncError(
                f"Waiting for the CDI run failed ({payload.get('status')}): {payload.get('message')}"
            )
        return self.finish(integration_id, payload["run"], payload.get("reason", ""), attached=attached)

    def _push_link(self, context: Context, integration_id: str) -> None:
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is None:
            return
        try:
            ti.xcom_push(
                key=DASHBOARD_URL_XCOM_KEY,
                value=dashboard_link(self.hook.params.base_url, "cdi_integration", integration_id),
            )
        except Exception as err:
            self.log.debug("No dashboard link: %s", type(err).__name__)

    def on_kill(self) -> None:
        """Braze offers no way to cancel a CDI run: only the wait stops."""
        self.log.warning("Braze cannot cancel a CDI sync: the run continues in Braze; only this task's wait stopped")
