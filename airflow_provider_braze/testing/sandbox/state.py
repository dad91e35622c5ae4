"""What the sandbox remembers: every request, per-recipient deliveries, schedules, send ids,
scheduled broadcasts and rate-limit windows. All access goes through one lock."""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_braze.testing.sandbox.rules import broadcast_window


@dataclass
class RecordedRequest:
    """One request that reached the sandbox (the key itself is never recorded).

    :param seq: arrival order, from 1.
    :param at: epoch seconds of arrival.
    :param method: HTTP method.
    :param path: path without the query.
    :param query: query parameters (first value of each).
    :param status: the status answered.
    :param body: the parsed JSON body (None if absent, unparseable or not recorded).
    :param response: the JSON answered (None for HTML faults).
    :param headers: request headers, with ``Authorization`` replaced by ``<redacted>``.
    :param processed: whether the request took effect (messages "sent", schedule stored).
    """

    seq: int
    at: float
    method: str
    path: str
    query: dict[str, str]
    status: int = 0
    body: Any = None
    response: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    processed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return dict(self.__dict__)


@dataclass
class StoredSchedule:
    """A schedule created through the API.

    :param schedule_id: the id returned on creation.
    :param kind: ``messages``, ``campaign`` or ``canvas``.
    :param owner_id: the campaign or Canvas id (None for messages).
    :param body: the create request, with ``schedule``/``messages`` replaced by later updates.
    """

    schedule_id: str
    kind: str
    owner_id: str | None
    body: dict[str, Any]
    dispatch_id: str
    updates: int = 0


@dataclass
class RateWindow:
    """A fixed rate-limit window of ``limit`` requests per ``seconds``, aligned to the epoch."""

    limit: int
    seconds: int
    start: float = 0.0
    used: int = 0

    def take(self, now: float) -> tuple[bool, int, int]:
        """Count one request; returns ``(allowed, remaining, reset_epoch)``."""
        start = math.floor(now / self.seconds) * self.seconds
        if start != self.start:
            self.start, self.used = start, 0
        reset = int(start + self.seconds)
        if self.used >= self.limit:
            return False, 0, reset
        self.used += 1
        return True, self.limit - self.used, reset

    def peek(self, now: float) -> tuple[int, int]:
        """``(remaining, reset_epoch)`` without counting."""
        start = math.floor(now / self.seconds) * self.seconds
        used = self.used if start == self.start else 0
        return max(0, self.limit - used), int(start + self.seconds)


class SandboxState:
    """The sandbox's memory. Methods are thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.deliveries: Counter[str] = Counter()
        self.deliveries_by_endpoint: Counter[tuple[str, str]] = Counter()
        self.schedules: dict[str, StoredSchedule] = {}
        self.deleted_schedules: dict[str, StoredSchedule] = {}
        self.send_ids: dict[tuple[str, str], str] = {}
        self.broadcasts: list[dict[str, Any]] = []
        self.cancelled_broadcasts: list[dict[str, Any]] = []
        self.windows: dict[str, RateWindow] = {}
        self.forced_429: list[float] = []
        self.api_request_count = 0
        self.processed_counts: Counter[str] = Counter()
        #: Memory of endpoint models kept in their own modules (transactional, analytics), by name.
        self.extensions: dict[str, Any] = {}

    def reset(self) -> None:
        """Forget everything (requests, deliveries, schedules, send ids, broadcasts, windows)."""
        with self.lock:
            self.__init__()  # type: ignore[misc]

    def window(self, name: str, limit: int, seconds: int) -> RateWindow:
        """The named window, re-made when its limit or length changed."""
        current = self.windows.get(name)
        if current is None or current.limit != limit or current.seconds != seconds:
            current = self.windows[name] = RateWindow(limit=limit, seconds=seconds)
        return current

    def record_delivery(self, path: str, identifiers: list[str]) -> None:
        """Count one delivery per identifier (deduplicated within the request, as Braze does)."""
        for identifier in dict.fromkeys(identifiers):
            self.deliveries[identifier] += 1
            self.deliveries_by_endpoint[(path, identifier)] += 1

    def due_broadcasts(self, now: datetime, cutoff: datetime) -> list[dict[str, Any]]:
        """Seeded broadcasts whose next send has not started by ``now`` and starts before ``cutoff``.

        A broadcast leaves the list when its send starts: at ``next_send_time`` when it has a zone;
        for a zone-less local-time one (``local_time_zones``/``intelligent_delivery``, as Braze lists
        them) when the first time zone (UTC+14) reaches it.
        """
        due = []
        with self.lock:
            for broadcast in self.broadcasts:
                window = broadcast_window(broadcast)
                if window is not None and now < window[0] <= cutoff:
                    due.append(dict(broadcast))
        return sorted(due, key=lambda b: broadcast_window(b) or (cutoff, cutoff))

    def cancel_broadcast(self, broadcast_id: str) -> dict[str, Any]:
        """Unschedule (cancel) a seeded broadcast: it leaves the list before its time. Returns it."""
        with self.lock:
            for index, broadcast in enumerate(self.broadcasts):
                if broadcast["id"] == broadcast_id:
                    removed = self.broadcasts.pop(index)
                    self.cancelled_broadcasts.append(removed)
                    return removed
        raise KeyError(broadcast_id)

    def reschedule_broadcast(self, broadcast_id: str, next_send_time: str) -> None:
        """Move a seeded broadcast's ``next_send_time`` (a recurring one's next occurrence, or a new time)."""
        with self.lock:
            for broadcast in self.broadcasts:
                if broadcast["id"] == broadcast_id:
                    broadcast["next_send_time"] = next_send_time
                    return
        raise KeyError(broadcast_id)
