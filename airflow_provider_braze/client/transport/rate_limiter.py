"""Pacing requests to Braze's rate limits, shared by every thread of one hook.

Each budget (``shared``: the workspace's hourly pool; ``broadcast``: segment/audience sends per
minute) spaces requests evenly at its configured rate, so that 429s stay rare instead of being the
signal. Every response's ``X-RateLimit-*`` headers are fed back:

* **In-flight aware windows.** ``Remaining`` is what was left when Braze counted *that* request;
  every request dispatched after it (in flight or answered since) has used the window too. The
  limiter numbers its dispatches, so it knows how many of the window's ``Remaining`` are still free,
  and holds further requests until ``Reset`` once they are used up: never more requests in flight
  than the window allows.
* **Checked when sent.** A request's pacing slot is checked again when its time comes: an answer
  that arrived while it slept may have used up the window, and then it waits for the reset.
* **Learned windows.** ``Limit`` and the window's length (the shortest gap between two reported
  resets) are learned from every answer, late ones included. The budget is then paced at ``Limit``
  per window (this limiter's share of it) when that is slower than the configured rate, and a window
  that has just reset is foreseen with ``Limit`` requests until Braze's first answer in it reports
  ``Remaining``: with answers taking a good part of a window, the requests sent before that answer
  would otherwise go out unchecked.
* **Pauses.** When a window is exhausted or a 429 arrives, the whole budget pauses until ``Reset``.
  A request whose pause would outlast its own deadline is refused at once (:class:`RateLimitWaitTooLongError`)
  instead of sleeping past it.
* **Braze's clock.** ``Reset`` is an epoch time on Braze's clock; :class:`ClockSkew` estimates the
  offset of that clock from the ``Date`` header, so a skewed local clock neither hammers a closed
  window nor idles through an open one.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_braze.client.transport.rate_limit_headers import RateLimitInfo

#: Margin after a window's ``Reset`` before the next request (Braze's clock has whole seconds).
RESET_MARGIN_SECONDS = 0.02
#: A request sent this long before a window opened may still be counted in it by Braze.
BOUNDARY_SECONDS = 0.1


class RateLimitWaitCancelledError(Exception):
    """The wait for a slot was cancelled (the task is stopping): the request was not sent.

    :param budget: the rate-limit budget.
    """

    def __init__(self, budget: str) -> None:
        super().__init__(f"the wait for a slot of the '{budget}' rate-limit budget was cancelled; not sent")
        self.budget = budget


class RateLimitWaitTooLongError(Exception):
    """The budget is paused for longer than the request may wait.

    :param budget: the rate-limit budget.
    :param seconds: how long the pause still lasts.
    """

    def __init__(self, budget: str, seconds: float) -> None:
        super().__init__(f"the '{budget}' rate-limit budget is paused for {seconds:.1f} s more")
        self.budget = budget
        self.seconds = seconds


@dataclass
class RateLimitStats:
    """What pacing cost: seconds spent waiting for budget, and 429s seen."""

    paced_seconds: float = 0.0
    blocked_seconds: float = 0.0
    throttled_responses: int = 0


@dataclass(frozen=True)
class Ticket:
    """One request's place in its budget: ``number`` counts the budget's dispatches from 1.

    :param budget: the rate-limit budget.
    :param number: the dispatch number.
    :param waited: seconds waited for the slot.
    """

    budget: str
    number: int
    waited: float


@dataclass(frozen=True)
class _Window:
    reset_at: float  # Braze's clock
    remaining: int  # as counted for dispatch ``number``
    number: int
    limit: int | None = None
    predicted: bool = False  # foreseen from the previous window, not yet reported by Braze


class ClockSkew:
    """The offset of Braze's clock from the local one, from ``Date`` headers.

    ``Date`` has whole seconds: a response sent between local times ``sent`` and ``received`` with
    ``Date: D`` means ``D - received <= offset < D + 1 - sent``. The bounds are intersected over all
    answers; the estimate is the offset closest to 0 within them (no skew unless proven).
    """

    def __init__(self) -> None:
        self.low = float("-inf")
        self.high = float("inf")
        self._lock = threading.Lock()

    def observe(self, server_date: float, sent: float, received: float) -> None:
        """Narrow the bounds with one answer (all epoch seconds)."""
        low, high = server_date - received, server_date + 1.0 - sent
        with self._lock:
            if low > self.high or high < self.low:  # Braze's clock (or ours) jumped: start over
                self.low, self.high = low, high
            else:
                self.low, self.high = max(self.low, low), min(self.high, high)

    @property
    def offset(self) -> float:
        """Seconds to add to local time to get Braze's time."""
        return min(max(0.0, self.low), self.high)


class RateLimiter:
    """Spaces requests per budget and pauses a budget until its window resets.

    :param rates: requests per second for each budget; a budget not listed is not paced.
    :param clock: a monotonic clock (tests may pass a fake).
    :param sleep: the sleep function (tests may pass a fake).
    :param wall: the local epoch clock (tests may pass a fake).
    :param share: this limiter's share of the workspace's limits (1/N for each of N shard tasks): the
        others are assumed to use the window as fast, so each own dispatch counts for ``1/share``.
    """

    def __init__(
        self,
        rates: dict[str, float],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
        share: float = 1.0,
    ) -> None:
        self._share = min(1.0, max(share, 1e-6))
        self._intervals = {name: 1.0 / rate for name, rate in rates.items() if rate > 0}
        self._next_slot: dict[str, float] = {}
        self._blocked_until: dict[str, float] = {}
        self._windows: dict[str, _Window] = {}
        self._window_lengths: dict[str, float] = {}  # seconds between resets, once two were seen
        self._last_reported_reset: dict[str, float] = {}
        self._window_limits: dict[str, int] = {}
        self._recent: dict[str, deque[tuple[float, int]]] = {}  # (Braze time, number) of recent dispatches
        self._last_answered: dict[str, int] = {}  # highest dispatch Braze answered in the current window
        self._dispatched: dict[str, int] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        self.skew = ClockSkew()
        self.stats = RateLimitStats()

    def rate(self, budget: str) -> float | None:
        """The pacing rate of ``budget`` in requests per second (None: not paced)."""
        interval = self._intervals.get(budget)
        return 1.0 / interval if interval else None

    def _interval(self, budget: str) -> float | None:
        """Seconds between two requests of ``budget``: the configured rate, or slower when Braze's
        reported windows (``Limit`` per window length, this limiter's share of it) say so."""
        interval = self._intervals.get(budget)
        length, limit = self._window_lengths.get(budget), self._window_limits.get(budget)
        if length is None or not limit:
            return interval
        reported = length / (limit * self._share)
        return reported if interval is None else max(interval, reported)

    def _braze_now(self) -> float:
        return self._wall() + self.skew.offset

    def _free_in_window(self, budget: str, braze_now: float) -> tuple[int | None, float]:
        """Requests the current window still admits (None: unknown) and seconds until it resets."""
        window = self._windows.get(budget)
        if window is not None and braze_now >= window.reset_at:
            window = self._next_window(budget, window, braze_now)
        if window is None:
            return None, 0.0
        used_since = (self._dispatched.get(budget, 0) - window.number) / self._share
        return math.floor(window.remaining - used_since), window.reset_at - braze_now

    def _next_window(self, budget: str, closed: _Window, braze_now: float) -> _Window | None:
        """Foresee the window after ``closed``: fixed windows of a known length reopen with ``Limit``.

        Until Braze's first answer in the new window arrives (one latency later), the requests sent
        into it are counted against its ``Limit``: at hundreds of milliseconds of latency that is a
        whole window's worth of requests that would otherwise go out unchecked. Every dispatch after
        the last one Braze answered in the closed window is counted as the new window's (a request
        in flight at the reset may land in either; counting it in the new one errs on the safe side).
        """
        length = self._window_lengths.get(budget)
        if length is None or closed.limit is None or braze_now >= closed.reset_at + length:
            return None  # unknown length, or a whole window went by unused: nothing is known
        # Count the requests sent since shortly before the window opened, and any Braze has not yet
        # placed in the closed window.
        opened = closed.reset_at
        sent_before = 0
        for sent_at, number in reversed(self._recent.get(budget, ())):
            if sent_at < opened - BOUNDARY_SECONDS:
                sent_before = number
                break
        counted_from = sent_before if closed.predicted else max(sent_before, self._last_answered.get(budget, 0))
        foreseen = _Window(closed.reset_at + length, closed.limit, counted_from, closed.limit, predicted=True)
        self._windows[budget] = foreseen
        return foreseen

    def window_allowance(self, budget: str) -> int | None:
        """How many more requests the current window admits, counting those in flight (None: unknown)."""
        with self._lock:
            free, _ = self._free_in_window(budget, self._braze_now())
        return None if free is None else max(0, free)

    def acquire(self, budget: str, *, deadline: float | None = None, cancel: threading.Event | None = None) -> Ticket:
        """Wait for this request's slot in ``budget``.

        The slot is checked again when its time comes: an answer that arrived meanwhile may have
        used up the window or paused the budget, and then the request waits for the reset instead
        of being sent into a certain 429. The dispatch number is given when the slot is granted.

        :param deadline: the latest monotonic time the request may be sent.
        :param cancel: once set, the wait ends (a stopping task does not sleep until a window resets).
        :raises RateLimitWaitTooLongError: when the budget stays paused past ``deadline`` (nothing is reserved).
        :raises RateLimitWaitCancelledError: when ``cancel`` is set before the slot is granted.
        """
        waited = 0.0
        reserved: float | None = None  # the pacing slot this request holds while it sleeps
        while True:
            if cancel is not None and cancel.is_set():
                raise RateLimitWaitCancelledError(budget)
            with self._lock:
                interval = self._interval(budget)
                now = self._clock()
                allowed_from = max(now, self._blocked_until.get(budget, 0.0))
                free, resets_in = self._free_in_window(budget, self._braze_now())
                if free is not None and free <= 0:
                    allowed_from = max(allowed_from, now + resets_in + RESET_MARGIN_SECONDS)
                if reserved is not None and allowed_from <= max(now, reserved):
                    start = max(now, reserved)  # the slot still stands
                else:
                    start = allowed_from
                    if interval is not None:
                        start = max(start, self._next_slot.get(budget, 0.0))
                    if deadline is not None and start > deadline:
                        raise RateLimitWaitTooLongError(budget, start - now)
                    if interval is not None:
                        self._next_slot[budget] = start + interval
                    reserved = start
                wait = start - now
                if wait <= 0:
                    number = self._dispatched.get(budget, 0) + 1
                    self._dispatched[budget] = number
                    self._recent.setdefault(budget, deque(maxlen=4096)).append((self._braze_now(), number))
                    if waited > 0:
                        self.stats.paced_seconds += waited
                    return Ticket(budget, number, waited)
            if cancel is None:
                self._sleep(wait)
            else:
                cancel.wait(wait)
            waited += wait

    def observe(
        self,
        budget: str,
        info: RateLimitInfo,
        *,
        rate_limited: bool,
        ticket: Ticket | None = None,
        sent: float | None = None,
        received: float | None = None,
    ) -> None:
        """Feed back one response: track its window, pause ``budget`` until reset when it is exhausted.

        :param rate_limited: the response was a rate-limit 429.
        :param ticket: the request's ticket from :meth:`acquire` (which dispatch the headers describe).
        :param sent: local epoch time the request was sent (with ``received``: for the clock skew).
        :param received: local epoch time the answer arrived.
        """
        if info.server_date is not None and sent is not None and received is not None:
            self.skew.observe(info.server_date, sent, received)
        with self._lock:
            if rate_limited:
                self.stats.throttled_responses += 1
            if info.reset_at is None:
                return
            self._learn_window(budget, info)
            braze_now = self._braze_now()
            if info.remaining is not None and info.reset_at > braze_now:
                number = ticket.number if ticket is not None else self._dispatched.get(budget, 0)
                self._track_window(budget, _Window(info.reset_at, info.remaining, number, info.limit))
            exhausted = rate_limited or (info.remaining is not None and info.remaining <= 0)
            if not exhausted:
                return
            seconds = max(0.0, info.reset_at - braze_now) + RESET_MARGIN_SECONDS + random.uniform(0.0, 0.03)
            until = self._clock() + seconds
            if until > self._blocked_until.get(budget, 0.0):
                self._blocked_until[budget] = until
                self.stats.blocked_seconds += seconds

    def _learn_window(self, budget: str, info: RateLimitInfo) -> None:
        """Learn the window's length (the shortest gap between two reported resets) and ``Limit``,
        from every answer: with latency close to the window's length, answers arrive after their
        window has closed, and only pacing at ``Limit`` per window keeps the next one from overflowing."""
        assert info.reset_at is not None
        last_reset = self._last_reported_reset.get(budget)
        if last_reset is not None and info.reset_at > last_reset:
            length = info.reset_at - last_reset
            self._window_lengths[budget] = min(length, self._window_lengths.get(budget, length))
        if last_reset is None or info.reset_at > last_reset:
            self._last_reported_reset[budget] = info.reset_at
            if info.limit:
                self._window_limits[budget] = info.limit

    def _track_window(self, budget: str, seen: _Window) -> None:
        current = self._windows.get(budget)
        if (
            current is None
            or seen.reset_at > current.reset_at
            or (current.predicted and seen.reset_at == current.reset_at)
        ):
            self._windows[budget] = seen
            self._last_answered[budget] = seen.number
            return
        if seen.reset_at < current.reset_at:
            return  # a late answer from a window that has closed
        self._last_answered[budget] = max(seen.number, self._last_answered.get(budget, 0))
        # Same window: keep whichever says less is left (answers arrive out of order).
        dispatched = self._dispatched.get(budget, 0)
        if (
            seen.remaining - (dispatched - seen.number) / self._share
            < current.remaining - (dispatched - current.number) / self._share
        ):
            self._windows[budget] = seen
