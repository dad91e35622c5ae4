from __future__ import annotations

import time

import pytest

from airflow_provider_braze.transport.rate_limit import RateLimitInfo
from airflow_provider_braze.transport.rate_limiter import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_requests_are_spaced_evenly_at_the_budget_rate():
    clock = FakeClock()
    limiter = RateLimiter({"shared": 10.0}, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire("shared")
    assert clock.now - 100.0 == pytest.approx(0.4)  # 5 requests at 10/s: 0, .1, .2, .3, .4
    assert limiter.stats.paced_seconds > 0


def test_unpaced_budgets_do_not_wait():
    clock = FakeClock()
    limiter = RateLimiter({"shared": 10.0}, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire("send_id") for _ in range(3)] == [0.0, 0.0, 0.0]


def test_an_exhausted_window_or_a_429_pauses_the_budget_until_reset():
    clock = FakeClock()
    limiter = RateLimiter({"shared": 1000.0}, clock=clock, sleep=clock.sleep)
    limiter.observe("shared", RateLimitInfo(limit=70, remaining=0, reset_at=time.time() + 2.0), rate_limited=False)
    waited = limiter.acquire("shared")
    assert 1.9 <= waited <= 2.1
    limiter.observe("broadcast", RateLimitInfo(limit=250, remaining=0, reset_at=time.time() + 1.0), rate_limited=True)
    assert limiter.stats.throttled_responses == 1
    assert limiter.acquire("broadcast") >= 0.9
    assert limiter.acquire("shared") < 0.01  # budgets are separate


def test_remaining_budget_does_not_pause():
    clock = FakeClock()
    limiter = RateLimiter({}, clock=clock, sleep=clock.sleep)
    limiter.observe("shared", RateLimitInfo(limit=70, remaining=5, reset_at=time.time() + 30), rate_limited=False)
    assert limiter.acquire("shared") == 0.0
