"""The sandbox's Cloud Data Ingestion endpoints: integrations, runs that go ``running`` → a scripted
terminal status after a delay, the 202, 400/404, the "Another job is in progress" 429, and 10-per-page
``Link`` pagination with opaque cursors.

Braze does not document the order of ``job_sync_status``; :attr:`CDIAPI.run_order` serves it
newest-first (the default) or oldest-first, so clients can be tested against both. An integration's
``busy_until`` makes Braze answer "Another job is in progress" while no listed run is running (a job
not shown in ``job_sync_status`` yet)."""

from __future__ import annotations

import base64
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_braze.testing.sandbox import rules
from airflow_provider_braze.testing.sandbox.validation import Rejection

PAGE_SIZE = 10
_VALID_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class RunScript:
    """How the next triggered run of an integration ends.

    :param status: ``success``, ``partial``, ``error`` or ``config_error``.
    :param seconds: how long it stays ``running``.
    :param rows_synced: rows reported synced.
    :param rows_failed_with_errors: rows reported failed.
    """

    status: str = "success"
    seconds: float = 1.0
    rows_synced: int = 100
    rows_failed_with_errors: int = 0


@dataclass
class CDIIntegration:
    """A CDI integration of the sandbox."""

    integration_id: str
    name: str
    runs: list[dict[str, Any]] = field(default_factory=list)  # newest first
    scripts: list[RunScript] = field(default_factory=list)
    default_script: RunScript = field(default_factory=RunScript)
    watermark: str | None = None
    busy_until: datetime | None = None


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cursor(skip: int) -> str:
    return base64.urlsafe_b64encode(f"skip:{skip}".encode()).decode()


def _skip(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "skip":
            raise ValueError(kind)
        return max(0, int(number))
    except (ValueError, UnicodeDecodeError):
        raise Rejection(400, "Invalid cursor") from None


class CDIAPI:
    """CDI state and handlers of one sandbox.

    :param clock_skew: seconds Braze's clock is ahead of this machine's (negative: behind).
    :param run_order: ``newest_first`` or ``oldest_first``: the order ``job_sync_status`` lists runs in.
    """

    RUN_ORDERS = ("newest_first", "oldest_first")

    def __init__(self) -> None:
        self.integrations: dict[str, CDIIntegration] = {}
        self.clock_skew = 0.0
        self.run_order = "newest_first"
        self.lock = threading.RLock()

    def now(self) -> datetime:
        """Braze's clock."""
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_skew)

    # -- seeding --------------------------------------------------------------------------------

    def add_integration(self, integration_id: str | None = None, name: str = "integration") -> CDIIntegration:
        """Create an integration (id: a new UUID unless given)."""
        with self.lock:
            integration = CDIIntegration(integration_id or str(uuid.uuid4()), name)
            self.integrations[integration.integration_id] = integration
            return integration

    def add_run(
        self,
        integration_id: str,
        *,
        status: str = "success",
        started: datetime | None = None,
        seconds: float = 60.0,
        rows_synced: int = 10,
        rows_failed_with_errors: int = 0,
    ) -> dict[str, Any]:
        """Record a run (a scheduled one, say); ``running`` runs finish ``seconds`` after ``started``."""
        with self.lock:
            integration = self.integrations[integration_id]
            start = started or self.now()
            script = RunScript(
                status if status != "running" else "success", seconds, rows_synced, rows_failed_with_errors
            )
            run = self._new_run(start, script if status == "running" else None, script)
            if status != "running":
                run.update(self._finished_fields(start + timedelta(seconds=seconds), script))
            integration.runs.insert(0, run)
            integration.runs.sort(key=lambda r: r["sync_start_time"], reverse=True)
            return run

    def _new_run(self, start: datetime, pending: RunScript | None, script: RunScript) -> dict[str, Any]:
        run: dict[str, Any] = {
            "job_status": "running",
            "sync_start_time": _iso(start),
            "sync_finish_time": None,
            "last_timestamp_synced": None,
            "rows_synced": 0,
            "rows_failed_with_errors": 0,
        }
        if pending is not None:
            run["_finish_at"] = start + timedelta(seconds=pending.seconds)
            run["_script"] = script
        return run

    @staticmethod
    def _finished_fields(finish: datetime, script: RunScript) -> dict[str, Any]:
        synced = script.rows_synced if script.status in ("success", "partial") else 0
        return {
            "job_status": script.status,
            "sync_finish_time": _iso(finish),
            "last_timestamp_synced": _iso(finish - timedelta(minutes=1)) if synced else None,
            "rows_synced": synced,
            "rows_failed_with_errors": script.rows_failed_with_errors,
        }

    def _advance(self, integration: CDIIntegration) -> None:
        now = self.now()
        for run in integration.runs:
            finish_at = run.get("_finish_at")
            if finish_at is not None and finish_at <= now:
                run.update(self._finished_fields(finish_at, run["_script"]))
                del run["_finish_at"], run["_script"]
                if run["last_timestamp_synced"]:
                    integration.watermark = run["last_timestamp_synced"]

    @staticmethod
    def _public(run: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run.items() if not k.startswith("_")}

    # -- handlers -------------------------------------------------------------------------------

    def handle(
        self, endpoint: rules.Route, path: str, query: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one CDI request: ``(status, body, extra headers)``."""
        with self.lock:
            if endpoint is rules.CDI_INTEGRATIONS:
                return self._list_integrations(query)
            integration_id = path.strip("/").split("/")[2]
            if not _VALID_ID.match(integration_id):
                raise Rejection(400, "Invalid integration ID")
            integration = self.integrations.get(integration_id)
            if integration is None:
                raise Rejection(404, "Integration not found")
            self._advance(integration)
            if endpoint is rules.CDI_SYNC:
                return self._sync(integration)
            if self.run_order not in self.RUN_ORDERS:
                raise ValueError(f"run_order must be one of {self.RUN_ORDERS}")
            runs = [self._public(r) for r in integration.runs]
            return self._page(
                runs if self.run_order == "newest_first" else runs[::-1],
                query,
                f"/cdi/integrations/{integration_id}/job_sync_status",
            )

    def _list_integrations(self, query: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        items = []
        for integration in self.integrations.values():
            self._advance(integration)
            last = integration.runs[0] if integration.runs else None
            items.append(
                {
                    "integration_id": integration.integration_id,
                    "app_group_id": "sandbox-workspace",
                    "integration_name": integration.name,
                    "integration_type": "snowflake",
                    "integration_status": "active",
                    "contact_emails": "data@example.com",
                    "last_updated_at": integration.watermark,
                    "warehouse_type": "snowflake",
                    "last_job_start_time": last["sync_start_time"] if last else None,
                    "last_job_status": last["job_status"] if last else None,
                    "next_scheduled_run": None,
                }
            )
        return self._page(items, query, "/cdi/integrations")

    def _sync(self, integration: CDIIntegration) -> tuple[int, dict[str, Any], dict[str, str]]:
        busy = integration.busy_until is not None and self.now() < integration.busy_until
        if busy or any(run["job_status"] == "running" for run in integration.runs):
            raise Rejection(429, "Another job is in progress")
        script = integration.scripts.pop(0) if integration.scripts else integration.default_script
        integration.runs.insert(0, self._new_run(self.now(), script, script))
        return 202, {"message": "success"}, {}

    @staticmethod
    def _page(
        items: list[dict[str, Any]], query: dict[str, str], base: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        skip = _skip(query.get("cursor"))
        page = items[skip : skip + PAGE_SIZE]
        links = []
        if skip > 0:
            links.append(f'<{base}?cursor={_cursor(max(0, skip - PAGE_SIZE))}>; rel="prev"')
        if skip + PAGE_SIZE < len(items):
            links.append(f'<{base}?cursor={_cursor(skip + PAGE_SIZE)}>; rel="next"')
        headers = {"Link": ",".join(links)} if links else {}
        return 200, {"results": page, "message": "success"}, headers
