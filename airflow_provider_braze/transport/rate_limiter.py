"""Pacing requests to Braze's rate limits, shared by every thread of one hook.

Each budget (``shared``: the workspace's hourly pool; ``broadcast``: segment/audience sends per
minute) spaces requests evenly at its configured rate, so that 429s stay rare instead of being the
signal. Every response's ``X-RateLimit-*`` headers are fed back: when a window is exhausted
(``Remaining: 0``) or a 429 arrives, the whole budget pauses until ``X-RateLimit-Reset``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_braze.transport.rate_limit import RateLimitInfo


@dataclass
class RateLimitStats:
    """What pacing cost: seconds spent waiting for budget, and 429s seen."""

    paced_seconds: float = 0.0
    blocked_seconds: float = 0.0
    throttled_responses: int = 0


class RateLimiter:
    """Spaces requests per budget and pauses a budget until its window resets.

    :param rates: requests per second for each budget; a budget not listed is not paced.
    :param clock: a monotonic clock (tests may pass a fake).
    :param sleep: the sleep function (tests may pass a fake).
    """

    def __init__(
        self,
        rates: dict[str, float],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._intervals = {name: 1.0 / rate for name, rate in rates.items() if rate > 0}
        self._next_slot: dict[str, float] = {}
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.stats = RateLimitStats()

    def acquire(self, budget: str) -> float:
        """Wait for this request's slot in ``budget``; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._blocked_until.get(budget, 0.0))
            interval = self._intervals.get(budget)
            if interval is not None:
                start = max(start, self._next_slot.get(budget, 0.0))
                self._next_slot[budget] = start + interval
            wait = start - now
        if wait > 0:
            self._sleep(wait)
            with self._lock:
                self.stats.paced_seconds += wait
        return max(0.0, wait)

    def observe(self, budget: str, info: RateLimitInfo, *, rate_limited: bool) -> None:
        """Feed back one response: pause ``budget`` until reset when its window is exhausted.

        :param rate_limited: the response was a rate-limit 429.
        """
        exhausted = rate_limited or (info.remaining is not None and info.remaining <= 0)
        if not exhausted or info.reset_at is None:
            if rate_limited:
                with self._lock:
                    self.stats.throttled_responses += 1
            return
        seconds = max(0.0, info.reset_at - time.time()) + random.uniform(0.0, 0.05)
        with self._lock:
            if rate_limited:
                self.stats.throttled_responses += 1
            until = self._clock() + seconds
            if until > self._blocked_until.get(budget, 0.0):
                self._blocked_until[budget] = until
                self.stats.blocked_seconds += seconds
