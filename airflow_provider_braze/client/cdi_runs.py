"""Cloud Data Ingestion runs: statuses, tolerant timestamps, and matching the run a trigger started.

Braze returns no run id when a sync is triggered, so the run is matched by time, on Braze's own
clock: the operator notes the newest run visible before triggering (its ``sync_start_time``) and the
``Date`` of Braze's 202 answer, then waits for a run that started after the first and not before the
second minus the measured round trip of the trigger request (the run starts while the request is
in flight; ``Date`` has whole seconds). The worker's clock is never compared with Braze's, so clock
skew cannot match a stale run.

``job_sync_status`` answers 10 runs a page in an undocumented order, so the runs are read across its
``Link`` pages (:func:`next_cursor`); :func:`pages_suffice` stops early once the pages are seen to be
newest-first and reach back past the runs of interest. No Airflow imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_braze.client.iso_time import IsoTimeError, parse_iso_time
from airflow_provider_braze.client.str_enum import StrEnum


class CdiRunStatus(StrEnum):
    """A CDI run's ``job_status`` as Braze documents it (lower-cased: :func:`status_of`)."""

    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    ERROR = "error"
    CONFIG_ERROR = "config_error"


TERMINAL_STATUSES = (CdiRunStatus.SUCCESS, CdiRunStatus.PARTIAL, CdiRunStatus.ERROR, CdiRunStatus.CONFIG_ERROR)
FAILED_STATUSES = (CdiRunStatus.ERROR, CdiRunStatus.CONFIG_ERROR)
KNOWN_STATUSES = tuple(CdiRunStatus)
#: The ``Date`` header has whole seconds: the tolerance is the measured round trip plus this.
DATE_GRANULARITY = timedelta(seconds=1)
#: The tolerance when no round trip was measured (a trigger deferred by an earlier version).
DATE_TOLERANCE = timedelta(seconds=2)
#: At most this many ``job_sync_status`` pages (10 runs each) are read per look.
MAX_STATUS_PAGES = 20


def next_cursor(links: Mapping[str, str]) -> str | None:
    """The ``cursor`` of a ``Link: rel="next"`` URL (relative or absolute), or None on the last page."""
    url = links.get("next")
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("cursor")
    return values[0] if values else None


def pages_suffice(runs: Sequence[Mapping[str, Any]], newer_than: datetime | str | None) -> bool:
    """Whether the pages read so far (``runs``, in list order) hold every run that matters, so no
    further page need be read: the list is seen to be newest-first (two or more dated runs, start
    times not increasing) and its oldest run so far is not newer than ``newer_than`` (with
    ``newer_than`` None: the first page of a newest-first list holds the newest runs)."""
    starts = [t for t in (parse_time(r.get("sync_start_time")) for r in runs) if t is not None]
    if len(starts) < 2 or any(later > earlier for earlier, later in pairwise(starts)):
        return False
    bound = parse_time(newer_than)
    return bound is None or starts[-1] <= bound


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (:func:`~airflow_provider_braze.client.iso_time.parse_iso_time`; naive read as
    UTC), or None when missing or unparsable."""
    try:
        return parse_iso_time(value, naive="utc")
    except IsoTimeError:
        return None


def status_of(run: Mapping[str, Any]) -> str:
    """The run's ``job_status``, lower-cased (older docs used Title case)."""
    return str(run.get("job_status") or "").strip().lower()


def unknown_status_message(run: Mapping[str, Any]) -> str | None:
    """A clear error when the run's ``job_status`` is none Braze documents; None when it is known."""
    status = status_of(run)
    if status in KNOWN_STATUSES:
        return None
    return (
        f"the CDI run started {run.get('sync_start_time')} has job_status {run.get('job_status')!r}, which Braze "
        f"does not document (known: {', '.join(KNOWN_STATUSES)}); look at the integration's sync log in the dashboard"
    )


def is_terminal(run: Mapping[str, Any]) -> bool:
    """Whether the run finished (success, partial, error, config_error)."""
    return status_of(run) in TERMINAL_STATUSES


def newest_run(runs: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The run with the latest ``sync_start_time`` (the list's order is not documented)."""
    dated: list[tuple[datetime, dict[str, Any]]] = []
    for run in runs:
        started = parse_time(run.get("sync_start_time"))
        if started is not None:
            dated.append((started, dict(run)))
    return max(dated, key=lambda tr: tr[0])[1] if dated else None


@dataclass(frozen=True)
class RunMatch:
    """The run a trigger started, once visible.

    :param run: the run.
    :param reason: why it was chosen (for the log and the result).
    """

    run: dict[str, Any]
    reason: str


def match_new_run(
    runs: Iterable[Mapping[str, Any]],
    *,
    baseline: datetime | None,
    triggered_at: datetime | None,
    tolerance: timedelta = DATE_TOLERANCE,
) -> RunMatch | None:
    """The earliest run that started after the newest run seen before the trigger and not before
    Braze's 202 minus ``tolerance``; None while it is not visible yet.

    :param baseline: ``sync_start_time`` of the newest run visible before triggering.
    :param triggered_at: the ``Date`` of Braze's 202 answer (Braze's clock).
    :param tolerance: how long before the ``Date`` the run may have started (the trigger request's
        measured round trip plus the header's one-second granularity).
    """
    candidates = []
    for run in runs:
        started = parse_time(run.get("sync_start_time"))
        if started is None:
            continue
        if baseline is not None and started <= baseline:
            continue
        if triggered_at is not None and started < triggered_at - tolerance:
            continue
        candidates.append((started, dict(run)))
    if not candidates:
        return None
    started, run = min(candidates, key=lambda sr: sr[0])
    before = baseline.isoformat() if baseline else "none"
    after = triggered_at.isoformat() if triggered_at else "unknown"
    return RunMatch(
        run,
        f"first run started after the newest earlier run ({before}) and the trigger's answer ({after}): "
        f"started {started.isoformat()}",
    )


@dataclass(frozen=True)
class FoundRun:
    """The run being waited for, as last seen.

    :param run: the run.
    :param reason: why it is the one (for the log and the result).
    :param finished: it reached a terminal status.
    """

    run: dict[str, Any]
    reason: str
    finished: bool


def find_run(
    runs: Iterable[Mapping[str, Any]],
    *,
    baseline: datetime | str | None,
    triggered_at: datetime | str | None,
    attach_start: datetime | str | None = None,
    round_trip_seconds: float | None = None,
) -> FoundRun | None:
    """The run to wait for: the one started at ``attach_start`` if given, else :func:`match_new_run`
    (with a tolerance of ``round_trip_seconds`` plus the ``Date`` header's granularity, when measured)."""
    runs = list(runs)
    if attach_start is not None:
        wanted = parse_time(attach_start)
        for run in runs:
            if parse_time(run.get("sync_start_time")) == wanted:
                reason = f"the run already in progress when the sync was requested (started {run['sync_start_time']})"
                return FoundRun(dict(run), reason, is_terminal(run))
        return None
    tolerance = (
        DATE_TOLERANCE if round_trip_seconds is None else timedelta(seconds=round_trip_seconds) + DATE_GRANULARITY
    )
    match = match_new_run(
        runs, baseline=parse_time(baseline), triggered_at=parse_time(triggered_at), tolerance=tolerance
    )
    if match is None:
        return None
    return FoundRun(match.run, match.reason, is_terminal(match.run))
