"""The record of which batches Braze accepted, so that a task retry resumes instead of re-sending.

The record is compact: ranges of accepted batch numbers, the batches whose outcome is unknown, the
batches that certainly failed, and a high-water mark of batches that may have been dispatched. It is
written while the send runs (the high-water mark *before* batches are dispatched, acceptances within
half a second), so a worker killed mid-send loses nothing: on the next try, a batch below the mark
that was neither accepted nor failed is treated as an unknown outcome ("may have been sent").

A fingerprint of the planned requests (endpoint, shared fields, every recipient in order) is kept:
if the source no longer yields the same batches in the same order, the retry refuses to guess.

Stores are pluggable: an Airflow Variable (default; survives a retry on another worker) or an
object-storage path (``ObjectStoragePath``, e.g. ``s3://bucket/braze-resume/``).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from airflow_provider_braze.exceptions import BrazeError

STATE_VERSION = 1


class BrazeResumeMismatchError(BrazeError):
    """The source changed since the earlier try; resuming would be a guess."""


class ResumeStore(Protocol):
    """Where resume records live."""

    def load(self, key: str) -> dict[str, Any] | None:
        """The record under ``key``, or None."""

    def save(self, key: str, record: dict[str, Any]) -> None:
        """Replace the record under ``key``."""


class VariableResumeStore:
    """Records as Airflow Variables (JSON), visible to every worker."""

    def load(self, key: str) -> dict[str, Any] | None:
        """Read the Variable, if any."""
        from airflow.providers.common.compat.sdk import Variable

        value = Variable.get(key, None)  # positional: "default" (Airflow 3) is "default_var" on Airflow 2
        return json.loads(value) if value else None

    def save(self, key: str, record: dict[str, Any]) -> None:
        """Write the Variable."""
        from airflow.providers.common.compat.sdk import Variable

        Variable.set(key, json.dumps(record, separators=(",", ":")))


class PathResumeStore:
    """Records as JSON files under a directory or object-storage path.

    :param base: a local directory, or an object-storage URL (``s3://bucket/prefix``) read through
        Airflow's ``ObjectStoragePath``. A local directory is only safe when every worker shares it.
    """

    def __init__(self, base: str) -> None:
        self.base = base

    def _path(self, key: str) -> Any:
        if "://" in self.base:
            try:
                from airflow.sdk import ObjectStoragePath
            except ImportError:  # Airflow 2
                from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
            return ObjectStoragePath(self.base) / f"{key}.json"
        from pathlib import Path

        return Path(self.base) / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """Read the file, if any."""
        path = self._path(key)
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def save(self, key: str, record: dict[str, Any]) -> None:
        """Write the file (parent directories are created)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, separators=(",", ":")))


def resume_key(dag_id: str, task_id: str, run_id: str, map_index: int) -> str:
    """The record key of one task instance (all its tries share it)."""
    raw = f"{dag_id}.{task_id}.{run_id}.{map_index}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in raw)
    if len(safe) > 200:
        safe = safe[:150] + "." + hashlib.sha256(raw.encode()).hexdigest()[:16]
    return f"braze_resume.{safe}"


def _add(ranges: list[list[int]], number: int) -> None:
    """Insert ``number`` into sorted, merged half-open ``[start, end)`` ranges."""
    starts = [r[0] for r in ranges]
    i = bisect.bisect_right(starts, number)
    if i and ranges[i - 1][0] <= number < ranges[i - 1][1]:
        return
    if i and ranges[i - 1][1] == number:
        ranges[i - 1][1] = number + 1
        if i < len(ranges) and ranges[i][0] == number + 1:
            ranges[i - 1][1] = ranges[i][1]
            del ranges[i]
    elif i < len(ranges) and ranges[i][0] == number + 1:
        ranges[i][0] = number
    else:
        ranges.insert(i, [number, number + 1])


def _contains(ranges: list[list[int]], number: int) -> bool:
    starts = [r[0] for r in ranges]
    i = bisect.bisect_right(starts, number)
    return bool(i) and ranges[i - 1][0] <= number < ranges[i - 1][1]


class ResumeLedger:
    """The accepted/unknown/failed record of one task instance's send.

    :param store: where the record lives.
    :param key: the record key (see :func:`resume_key`).
    :param fingerprint: identifies the planned requests.
    :param window: how many batches the high-water mark runs ahead of dispatch (fewer writes).
    :param flush_interval: longest delay before an acceptance is written.
    """

    def __init__(
        self,
        store: ResumeStore,
        key: str,
        fingerprint: str,
        *,
        window: int = 32,
        flush_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.key = key
        self.fingerprint = fingerprint
        self.window = window
        self.flush_interval = flush_interval
        self._clock = clock
        self.accepted: list[list[int]] = []
        self.unknown: set[int] = set()
        self.failed: set[int] = set()
        self.high = 0
        self.tries = 0
        self.previous: dict[str, Any] | None = None
        self._dirty = False
        self._last_flush = 0.0

    def open(self, total_batches: int) -> None:
        """Load the earlier try's record (refusing a changed source) and mark this try as running.

        :param total_batches: batches in the plan (numbered from 1).
        """
        record = self.store.load(self.key)
        if record is not None:
            if record.get("fingerprint") != self.fingerprint:
                raise BrazeResumeMismatchError(
                    "The recipients or request fields differ from the earlier try of this task "
                    f"(resume record '{self.key}'), so the batches Braze already accepted cannot be told apart "
                    "from new ones. Make the query deterministic (ORDER BY a unique key) and the data stable "
                    "for the run; to send anyway, delete the resume record."
                )
            self.previous = record
            self.accepted = [list(r) for r in record.get("accepted", [])]
            self.failed = set(record.get("failed", []))
            self.unknown = set(record.get("unknown", []))
            if not record.get("clean", False):  # the earlier try died mid-send
                crashed = {
                    n
                    for n in range(1, min(record.get("high", 0), total_batches + 1))
                    if not _contains(self.accepted, n) and n not in self.failed
                }
                self.unknown |= crashed
            self.failed = set()  # certainly not sent: this try sends them
            self.tries = int(record.get("tries", 0))
        self.tries += 1
        self.high = 0
        self._write(clean=False)

    def state_of(self, number: int) -> str | None:
        """``accepted`` or ``unknown`` for a batch settled by an earlier try, else None."""
        if _contains(self.accepted, number):
            return "accepted"
        if number in self.unknown:
            return "unknown"
        return None

    def dispatching(self, number: int) -> None:
        """Call before sending batch ``number``: extends the high-water mark (written at once)."""
        if number >= self.high:
            self.high = number + self.window
            self._write(clean=False)

    def accept(self, number: int) -> None:
        """Batch ``number`` was accepted by Braze."""
        _add(self.accepted, number)
        self.unknown.discard(number)
        self._dirty = True
        self._maybe_flush()

    def mark_unknown(self, number: int) -> None:
        """Batch ``number`` may have been sent."""
        self.unknown.add(number)
        self._dirty = True
        self._maybe_flush()

    def mark_failed(self, number: int) -> None:
        """Batch ``number`` certainly was not sent."""
        self.failed.add(number)
        self._dirty = True

    def close(self) -> None:
        """Write the final, exact record (every dispatched batch is settled)."""
        self._write(clean=True)

    def _maybe_flush(self) -> None:
        if self._dirty and self._clock() - self._last_flush >= self.flush_interval:
            self._write(clean=False)

    def _write(self, *, clean: bool) -> None:
        self.store.save(
            self.key,
            {
                "version": STATE_VERSION,
                "fingerprint": self.fingerprint,
                "accepted": self.accepted,
                "unknown": sorted(self.unknown),
                "failed": sorted(self.failed),
                "high": self.high,
                "clean": clean,
                "tries": self.tries,
            },
        )
        self._dirty = False
        self._last_flush = self._clock()
