"""The record of which batches Braze accepted, so that a task retry resumes instead of re-sending.

The record is compact: ranges of accepted batch numbers, the batches whose outcome is unknown, the
batches that certainly failed, and the batches **in flight**. A batch enters ``in_flight`` in the
record *before* its request may leave the process (a write-ahead entry: the sending thread waits for
the write), and leaves it once its answer is recorded. A worker killed mid-send therefore loses
nothing and over-reports nothing: on the next try, exactly the batches that were in flight are
treated as unknown outcomes ("may have been sent") — at most the in-flight window, never a
look-ahead. Writes are group-committed by one writer thread (dispatches within ``group_commit_wait``
of each other share one write) and acceptances are flushed on a timer, so the documented interval
holds during stalls too.

Each record has one owner: the try that opened it last. A try re-reads the record before writing it
(an ownership check) when it opens it, before its final write (also when it stops early), at least every
``owner_check_every`` writes, and before any write ``owner_check_interval`` seconds after its last
check; in between, a group commit is one store round trip (a write, no read). A try that finds a
newer owner (a zombie still sending while its retry started) stops sending and writes nothing more.

The bound: an older try stops at its first ownership check after the newer try's latest write —
within ``owner_check_every - 1`` further writes (each lets through at most its in-flight limit of
batches) and ``owner_check_interval`` seconds; by default at most 24 group commits and 1 s. There is
no compare-and-swap, so one of those unchecked writes may overwrite the newer try's claim. A try
that resumed an earlier record (or ever found a write it did not make) therefore re-reads before
every write, merges what the older try recorded (nothing it may have sent is lost) and writes its
claim back at its next group commit — or, when idle, within ``owner_check_interval`` seconds.
``owner_check_every=1`` is the strict behaviour: a read before every write, so the older try sends
nothing once it could have seen the claim.

A fingerprint of the planned requests (endpoint, shared fields, every recipient in order, where the
batches are cut) is kept: if the source no longer yields the same batches in the same order, the retry
refuses to guess.

Records expire after a retention (default 30 days; see :func:`prune_records` for clean-up). Within
it, a cleared successful task finds its record and sends nothing again.

Stores are pluggable: an Airflow Variable (default; survives a retry on another worker) or an
object-storage path (``ObjectStoragePath``, e.g. ``s3://bucket/braze-resume/``).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from airflow_provider_braze.client.str_enum import StrEnum
from airflow_provider_braze.engine.send_options import DEFAULT_RETENTION_DAYS
from airflow_provider_braze.exceptions import BrazeError

STATE_VERSION = 2
KEY_PREFIX = "braze_resume."
#: An ownership check (a store read) at least every this many writes ...
DEFAULT_OWNER_CHECK_EVERY = 25
#: ... and before any write this many seconds after the last check.
DEFAULT_OWNER_CHECK_INTERVAL = 1.0
#: Seconds a write-ahead entry waits for others to share its write (fewer store round trips).
DEFAULT_GROUP_COMMIT_WAIT = 0.015

log = logging.getLogger(__name__)


class BatchState(StrEnum):
    """What an earlier try settled about a batch (:meth:`ResumeLedger.state_of`)."""

    ACCEPTED = "accepted"
    UNKNOWN = "unknown"


class BrazeResumeMismatchError(BrazeError):
    """The source changed since the earlier try; resuming would be a guess."""


class BrazeResumeSupersededError(BrazeError):
    """A newer try of the same task instance owns the resume record: this try must stop sending."""


class BrazeResumeStoreError(BrazeError):
    """The resume record could not be written, so no further batch may be sent."""


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

    def _root(self) -> Any:
        if "://" in self.base:
            try:
                from airflow.sdk import ObjectStoragePath
            except ImportError:  # Airflow 2
                from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
            return ObjectStoragePath(self.base)
        from pathlib import Path

        return Path(self.base)

    def _path(self, key: str) -> Any:
        return self._root() / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """Read the file, if any."""
        path = self._path(key)
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def save(self, key: str, record: dict[str, Any]) -> None:
        """Write the file (parent directories are created; replaced atomically on a local disk)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, separators=(",", ":"))
        if "://" in self.base:
            path.write_text(text)
            return
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        partial.replace(path)

    def keys(self) -> list[str]:
        """Keys of every record under the base path."""
        root = self._root()
        if not root.exists():
            return []
        return sorted(p.name[: -len(".json")] for p in root.iterdir() if p.name.endswith(".json"))

    def delete(self, key: str) -> None:
        """Remove one record."""
        path = self._path(key)
        if path.exists():
            path.unlink()


def resume_key(dag_id: str, task_id: str, run_id: str, map_index: int) -> str:
    """The record key of one task instance (all its tries share it).

    A readable prefix and a hash of the unambiguous tuple: ``("crm.daily", "notify")`` and
    ``("crm", "daily.notify")`` get different keys.
    """
    raw = json.dumps([dag_id, task_id, run_id, map_index], separators=(",", ":"))
    digest = hashlib.sha256(raw.encode()).hexdigest()[:20]
    readable = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{dag_id}.{task_id}")[:120]
    return f"{KEY_PREFIX}{readable}.{map_index}.{digest}"


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


def _count(ranges: Iterable[list[int]]) -> int:
    return sum(end - start for start, end in ranges)


class ResumeLedger:
    """The accepted/unknown/failed/in-flight record of one task instance's send.

    Call :meth:`open` once, :meth:`reserve` from the thread about to send a batch (it returns once
    the batch is durably listed as in flight), one of :meth:`accept`, :meth:`mark_unknown` or
    :meth:`mark_failed` when the batch settles, and :meth:`close` at the end (also on failure).

    :param store: where the record lives.
    :param key: the record key (see :func:`resume_key`).
    :param fingerprint: identifies the planned requests.
    :param owner: the try number of this try (the newest try owns the record).
    :param flush_interval: longest delay before a settled batch is written.
    :param retention_days: how long the record is kept (after that, a clear sends everything again).
    :param owner_check_every: re-read the record (ownership check) at least every this many writes.
    :param owner_check_interval: and before any write this many seconds after the last check.
    :param group_commit_wait: seconds the first write-ahead entry of a write waits for more dispatches
        to share it (each adds at most this to its request's start; fewer store round trips).
    """

    def __init__(
        self,
        store: ResumeStore,
        key: str,
        fingerprint: str,
        *,
        owner: int = 1,
        flush_interval: float = 0.5,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        owner_check_every: int = DEFAULT_OWNER_CHECK_EVERY,
        owner_check_interval: float = DEFAULT_OWNER_CHECK_INTERVAL,
        group_commit_wait: float = DEFAULT_GROUP_COMMIT_WAIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if owner_check_every < 1:
            raise ValueError("owner_check_every must be at least 1")
        self.store = store
        self.key = key
        self.fingerprint = fingerprint
        self.owner = owner
        self.flush_interval = flush_interval
        self.retention_days = retention_days
        self._clock = clock
        self.accepted: list[list[int]] = []
        self.unknown: set[int] = set()
        self.failed: set[int] = set()
        self.in_flight: set[int] = set()
        self.schedule_ids: dict[int, str] = {}
        self.tries = 0
        self.created = 0.0
        self.previous: dict[str, Any] | None = None
        self.superseded = False
        self.writes = 0
        self._error: BaseException | None = None
        self._lock = threading.Condition()
        self._version = 0  # bumped by every change
        self._written = 0  # the version the store holds
        self._dirty_since: float | None = None
        self._reserved_pending = False
        self._reserved_since = 0.0
        self.group_commit_wait = group_commit_wait
        self._writer: threading.Thread | None = None
        self._closing = False
        self._last_stamp: Any = None
        self.owner_check_every = owner_check_every
        self.owner_check_interval = owner_check_interval
        self.owner_checks = 0  # store reads made by the writer (tests, the benchmark)
        self._writes_since_check = 0
        self._checked_at = float("-inf")  # monotonic time of the last ownership check
        self._check_every_write = False  # resumed a record, or saw a write this try did not make

    # -- lifecycle --------------------------------------------------------------------------

    def open(self, total_batches: int) -> None:
        """Load the earlier try's record (refusing a changed source or an older try) and claim it.

        :param total_batches: batches in the plan (numbered from 1).
        """
        record = self.store.load(self.key)
        now = self._clock()
        if record is not None and float(record.get("expires", now + 1)) <= now:
            log.warning("Resume record '%s' expired (retention %s days): a new send", self.key, self.retention_days)
            record = None
        if record is not None:
            if record.get("fingerprint") != self.fingerprint:
                raise BrazeResumeMismatchError(
                    "The recipients or request fields differ from the earlier try of this task "
                    f"(resume record '{self.key}'), so the batches Braze already accepted cannot be told apart "
                    "from new ones. Make the query deterministic (ORDER BY a unique key) and the data stable "
                    "for the run; to send anyway, delete the resume record."
                )
            if int(record.get("owner", 0)) > self.owner:
                raise BrazeResumeSupersededError(
                    f"Try {record.get('owner')} of this task instance owns resume record '{self.key}'; this try "
                    f"({self.owner}) is older and sends nothing."
                )
            self.previous = record
            self.accepted = [list(r) for r in record.get("accepted", [])]
            self.unknown = set(record.get("unknown", []))
            self.unknown |= set(record.get("in_flight", []))  # in flight when the earlier try ended
            if record.get("version", 1) == 1 and not record.get("clean", False):
                self.unknown |= {  # a version-1 record: a high-water mark ahead of dispatch
                    n
                    for n in range(1, min(int(record.get("high", 0)), total_batches + 1))
                    if not _contains(self.accepted, n) and n not in set(record.get("failed", []))
                }
            self.unknown -= {n for n in self.unknown if _contains(self.accepted, n)}
            self.schedule_ids = {int(n): str(v) for n, v in (record.get("schedule_ids") or {}).items()}
            self.tries = int(record.get("tries", 0))
            self.created = float(record.get("created", now))
            self._check_every_write = True  # an earlier try may still be writing: merge, never overwrite
        self.failed = set()  # certainly not sent: this try sends them
        self.tries += 1
        self.created = self.created or now
        record = self._record()
        self.store.save(self.key, record)
        self._last_stamp = record["updated"]
        self._checked_at = time.monotonic()
        self.writes += 1
        self._writer = threading.Thread(target=self._write_loop, name="braze-resume-writer", daemon=True)
        self._writer.start()

    def close(self, *, timeout: float = 10.0) -> None:
        """Write the final record (batches still in flight stay listed as such) and stop the writer.

        :param timeout: longest wait for the final write.
        :raises BrazeResumeStoreError: when the final state could not be written (the record still
            lists every batch that may have been sent as in flight or unknown).
        """
        with self._lock:
            self._closing = True
            self._version += 1
            self._lock.notify_all()
        if self._writer is not None:
            self._writer.join(timeout)
        log.info("Resume record '%s': %d write(s), %d ownership check(s)", self.key, self.writes, self.owner_checks + 1)
        if self._error is not None and not self.superseded:
            raise BrazeResumeStoreError(
                f"The resume record '{self.key}' could not be written ({type(self._error).__name__}); the last "
                "written state lists every batch that may have been sent."
            ) from self._error

    # -- what an earlier try settled --------------------------------------------------------

    def state_of(self, number: int) -> BatchState | None:
        """``accepted`` or ``unknown`` for a batch settled by an earlier try, else None."""
        if _contains(self.accepted, number):
            return BatchState.ACCEPTED
        if number in self.unknown:
            return BatchState.UNKNOWN
        return None

    @property
    def accepted_count(self) -> int:
        """Batches recorded as accepted."""
        return _count(self.accepted)

    # -- this try ---------------------------------------------------------------------------

    def reserve(self, number: int) -> None:
        """Record batch ``number`` as in flight; return once the store holds it (call before sending).

        :raises BrazeResumeSupersededError: a newer try owns the record.
        :raises BrazeResumeStoreError: the record cannot be written.
        """
        with self._lock:
            self._raise_if_stopped()
            if self._closing:  # a straggler of an interrupted send: the final write has been made
                raise BrazeResumeStoreError(f"The resume record '{self.key}' is closed: batch {number} is not sent.")
            self.in_flight.add(number)
            self._version += 1
            wanted = self._version
            if not self._reserved_pending:
                self._reserved_since = time.monotonic()
            self._reserved_pending = True
            self._lock.notify_all()
            while self._written < wanted:
                self._raise_if_stopped()
                if self._closing and not self._writer_alive():
                    # closed while waiting: the final write lists this batch as in flight (it may be
                    # taken for sent), but the request is not sent
                    raise BrazeResumeStoreError(
                        f"The resume record '{self.key}' is closed: batch {number} is not sent."
                    )
                self._lock.wait(0.5)

    def _writer_alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    def release(self, number: int) -> None:
        """Batch ``number`` was reserved but its request was never started (certainly not sent)."""
        with self._lock:
            self.in_flight.discard(number)
            self._changed()

    def accept(self, number: int, *, schedule_id: str | None = None) -> None:
        """Batch ``number`` was accepted by Braze (``schedule_id``: the id of a created schedule)."""
        with self._lock:
            _add(self.accepted, number)
            self.unknown.discard(number)
            self.in_flight.discard(number)
            if schedule_id:
                self.schedule_ids[number] = schedule_id
            self._changed()

    def mark_unknown(self, number: int) -> None:
        """Batch ``number`` may have been sent."""
        with self._lock:
            self.unknown.add(number)
            self.in_flight.discard(number)
            self._changed()

    def mark_failed(self, number: int) -> None:
        """Batch ``number`` certainly was not sent."""
        with self._lock:
            self.failed.add(number)
            self.in_flight.discard(number)
            self._changed()

    # -- the writer -------------------------------------------------------------------------

    def _changed(self) -> None:
        self._version += 1
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()
        self._lock.notify_all()

    def _raise_if_stopped(self) -> None:
        if self.superseded:
            raise BrazeResumeSupersededError(
                f"A newer try of this task instance owns resume record '{self.key}': this try stops sending."
            )
        if self._error is not None:
            raise BrazeResumeStoreError(
                f"The resume record '{self.key}' could not be written ({type(self._error).__name__}): no further "
                "batch is sent, since a crash could not be told apart from a send."
            ) from self._error

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                poll = False  # an idle ownership check (a try that checks before every write)
                while True:
                    if self._error is not None or self.superseded:
                        return
                    due = self._written < self._version and (
                        self._closing
                        or self._reserved_pending
                        or (
                            self._dirty_since is not None
                            and time.monotonic() - self._dirty_since >= self.flush_interval
                        )
                    )
                    if due:
                        break
                    if self._closing:
                        return
                    since_check = time.monotonic() - self._checked_at
                    if self._check_every_write and since_check >= self.owner_check_interval:
                        poll = True  # an older try may have overwritten the claim: look, restore it
                        break
                    timeout = 1.0
                    if self._dirty_since is not None:
                        timeout = max(0.0, self.flush_interval - (time.monotonic() - self._dirty_since))
                    if self._check_every_write:
                        timeout = min(timeout, max(0.0, self.owner_check_interval - since_check))
                    self._lock.wait(timeout)
                gather_until = self._reserved_since + self.group_commit_wait
                while self._reserved_pending and not self._closing and time.monotonic() < gather_until:
                    self._lock.wait(gather_until - time.monotonic())  # let more dispatches share the write
                version = self._version
                record = self._record()
                self._reserved_pending = False
                self._dirty_since = None
            try:
                current = self.store.load(self.key) if self._owner_check_due() else None
                if current is not None and current.get("updated") != self._last_stamp:
                    self._check_every_write = True  # someone else writes this record: check every time
                    self._merge_foreign(current)  # an older try wrote since: keep what it may have sent
                    with self._lock:
                        record = self._record()
                elif poll and self._written >= version:
                    continue  # nothing changed, nobody else wrote: no write
                if current is not None and int(current.get("owner", 0)) > self.owner:
                    with self._lock:
                        self.superseded = True
                        self._lock.notify_all()
                    log.error(
                        "Resume record '%s' is owned by try %s: this try (%d) stops sending",
                        self.key,
                        current.get("owner"),
                        self.owner,
                    )
                    return
                self.store.save(self.key, record)
            except Exception as error:  # the store failed: stop every send that waits for it
                with self._lock:
                    self._error = error
                    self._lock.notify_all()
                log.error("Could not write resume record '%s': %s", self.key, type(error).__name__)
                return
            with self._lock:
                self.writes += 1
                self._last_stamp = record["updated"]
                self._written = max(self._written, version)
                self._lock.notify_all()

    def _owner_check_due(self) -> bool:
        """Whether this write re-reads the record first (see the module docstring for the bound)."""
        now = time.monotonic()
        due = (
            self._check_every_write
            or self._closing
            or self._writes_since_check + 1 >= self.owner_check_every
            or now - self._checked_at >= self.owner_check_interval
        )
        if due:
            self.owner_checks += 1
            self._writes_since_check = 0
            self._checked_at = now
        else:
            self._writes_since_check += 1
        return due

    def _merge_foreign(self, current: dict[str, Any]) -> None:
        """Fold in a record written by an older try after this one claimed it (no store has CAS)."""
        if int(current.get("owner", 0)) > self.owner:
            return
        with self._lock:
            for start, end in current.get("accepted", []):
                for number in range(int(start), int(end)):
                    _add(self.accepted, number)
            foreign = set(current.get("unknown", [])) | set(current.get("in_flight", []))
            self.unknown |= {n for n in foreign if not _contains(self.accepted, n) and n not in self.in_flight}
            self.unknown -= {n for n in self.unknown if _contains(self.accepted, n)}

    def _record(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint,
            "owner": self.owner,
            "tries": self.tries,
            "accepted": [list(r) for r in self.accepted],
            "unknown": sorted(self.unknown),
            "in_flight": sorted(self.in_flight),
            "failed": sorted(self.failed),
            "schedule_ids": {str(n): v for n, v in sorted(self.schedule_ids.items())},
            "created": self.created or now,
            "updated": now,
            "expires": now + self.retention_days * 86400.0,
        }


def unknown_batches(record: dict[str, Any]) -> list[int]:
    """The batches a record names as "may have been sent" (unknown, or in flight when its try ended)."""
    return sorted(set(record.get("unknown", [])) | set(record.get("in_flight", [])))


def prune_records(store: Any, *, now: float | None = None, dry_run: bool = False) -> list[str]:
    """Delete expired resume records; return their keys.

    :param store: a store that can list and delete (:class:`PathResumeStore`), or ``"variable"`` for
        Airflow Variables (needs the metadata database: run it where the ``airflow`` CLI runs).
    :param now: the current epoch time (tests).
    :param dry_run: only list what would be deleted.
    """
    moment = time.time() if now is None else now
    if store == "variable":
        return _prune_variables(moment, dry_run)
    expired = []
    for key in store.keys():  # noqa: SIM118 - a store, not a dict
        if not key.startswith(KEY_PREFIX):
            continue
        record = store.load(key) or {}
        if float(record.get("expires", 0)) <= moment:
            expired.append(key)
            if not dry_run:
                store.delete(key)
    return expired


def _prune_variables(moment: float, dry_run: bool) -> list[str]:  # pragma: no cover - needs a metadata DB
    from airflow.models import Variable
    from airflow.utils.session import create_session

    expired = []
    with create_session() as session:
        for variable in session.query(Variable).filter(Variable.key.like(f"{KEY_PREFIX}%")):
            try:
                record = json.loads(variable.val or "{}")
            except ValueError:
                continue
            if float(record.get("expires", 0)) <= moment:
                expired.append(variable.key)
                if not dry_run:
                    session.delete(variable)
    return expired


def main(argv: list[str] | None = None) -> int:
    """``python -m airflow_provider_braze.engine.resume_ledger prune [--store PATH] [--dry-run]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m airflow_provider_braze.engine.resume_ledger")
    sub = parser.add_subparsers(dest="command", required=True)
    prune = sub.add_parser("prune", help="delete resume records past their retention")
    prune.add_argument("--store", default="variable", help="'variable' (default) or the resume_store path")
    prune.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    store: Any = args.store if args.store == "variable" else PathResumeStore(args.store)
    keys = prune_records(store, dry_run=args.dry_run)
    print(f"{'Would delete' if args.dry_run else 'Deleted'} {len(keys)} expired resume record(s)")  # noqa: T201
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
