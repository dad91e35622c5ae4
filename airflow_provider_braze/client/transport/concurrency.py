"""How many requests a batched send keeps in flight: enough to meet the rate budget, no more.

By Little's law a send paced at ``rate`` requests per second, each answered after ``latency``
seconds, needs ``rate x latency`` requests in flight. :class:`ConcurrencyController` measures the
latency as the send goes (:class:`LatencyMeter`, fed by the hook) and keeps that many in flight, with
headroom, bounded by a cap and by what the current rate-limit window still admits. It backs off
when 429s appear and shrinks again when Braze gets faster.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_braze.client.transport.rate_limiter import RateLimiter

#: The latency assumed before the first answer: the cap is sized for it. Pacing still spaces the
#: requests, so starting high costs nothing but lets a slow Braze reach the rate at once.
INITIAL_LATENCY = 1.0
#: In flight = rate x latency x HEADROOM (+1): covers latency jitter and the answer's hand-off.
HEADROOM = 1.5


class LatencyMeter:
    """A moving average of answer latencies, quick to follow both rises and drops.

    :param weight: the weight of the newest sample (0 < weight <= 1).
    """

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self._value: float | None = None
        self._lock = threading.Lock()
        self.samples = 0

    def observe(self, seconds: float) -> None:
        """Record the latency of one answer (from sending the request to reading the answer)."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        with self._lock:
            self.samples += 1
            self._value = seconds if self._value is None else self._value + self.weight * (seconds - self._value)

    @property
    def seconds(self) -> float | None:
        """The average latency, or None before the first answer."""
        return self._value


class ConcurrencyController:
    """The number of requests one send may have in flight.

    :param limiter: the hook's rate limiter (the budget's rate, its window's ``Remaining`` and 429s).
    :param latency: the hook's latency meter.
    :param budget: the rate-limit budget the send draws on.
    :param cap: never more in flight than this (connection extra ``concurrency_cap``).
    :param fixed: an explicit ``max_concurrency``: always this many (still bounded by the window).
    :param clock: a monotonic clock (tests may pass a fake).
    """

    def __init__(
        self,
        limiter: RateLimiter,
        latency: LatencyMeter,
        *,
        budget: str = "shared",
        cap: int = 96,
        fixed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = limiter
        self.latency = latency
        self.budget = budget
        self.cap = max(1, cap)
        self.fixed = fixed
        self._clock = clock
        self._throttle = 1.0
        self._seen_429 = limiter.stats.throttled_responses
        self._last_change = clock()

    def _backoff(self) -> float:
        """Shrink by a fifth per new 429 (to half at most); recover by a quarter per quiet second.

        Pacing, not the number in flight, sets the rate; a 429 means the window filled sooner than
        paced, so fewer requests should wait in it, but halving would starve a slow Braze.
        """
        now = self._clock()
        throttled = self.limiter.stats.throttled_responses
        if throttled > self._seen_429:
            self._seen_429 = throttled
            self._throttle = max(0.5, self._throttle * 0.8)
            self._last_change = now
        elif self._throttle < 1.0 and now - self._last_change >= 1.0:
            self._throttle = min(1.0, self._throttle * 1.25)
            self._last_change = now
        return self._throttle

    def target(self) -> int:
        """In flight wanted for the budget's rate at the measured latency (before the window bound)."""
        if self.fixed is not None:
            return self.fixed
        rate = self.limiter.rate(self.budget)
        latency = self.latency.seconds
        if latency is None:
            latency = INITIAL_LATENCY
        wanted = self.cap if rate is None else math.ceil(rate * latency * HEADROOM) + 1
        wanted = math.floor(wanted * self._backoff())
        return max(1, min(self.cap, wanted))

    def limit(self, in_flight: int) -> int:
        """How many may be in flight now, given ``in_flight`` already are (at least 1)."""
        wanted = self.target()
        free = self.limiter.window_allowance(self.budget)
        if free is not None:
            wanted = min(wanted, in_flight + free)
        return max(1, wanted)
