from __future__ import annotations

import math

import pytest

from airflow_provider_braze.client.transport.rate_limit_headers import RateLimitInfo
from airflow_provider_braze.client.transport.rate_limiter import ClockSkew, RateLimiter, RateLimitWaitTooLongError

WALL = 1_795_867_200.0


class FakeClock:
    """Monotonic and wall clocks that move together, and only when slept."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL + self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter_with(rates: dict[str, float]) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rates, clock=clock, sleep=clock.sleep, wall=clock.wall), clock


def test_requests_are_spaced_evenly_at_the_budget_rate():
    limiter, clock = limiter_with({"shared": 10.0})
    for _ in range(5):
        limiter.acquire("shared")
    assert clock.now - 100.0 == pytest.approx(0.4)  # 5 requests at 10/s: 0, .1, .2, .3, .4
    assert limiter.stats.paced_seconds > 0


def test_unpaced_budgets_do_not_wait():
    limiter, _ = limiter_with({"shared": 10.0})
    assert [limiter.acquire("send_id").waited for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [limiter.acquire("send_id").number for _ in range(2)] == [4, 5]


def test_an_exhausted_window_or_a_429_pauses_the_budget_until_reset():
    limiter, clock = limiter_with({"shared": 1000.0})
    limiter.observe("shared", RateLimitInfo(limit=70, remaining=0, reset_at=clock.wall() + 2.0), rate_limited=False)
    assert 1.9 <= limiter.acquire("shared").waited <= 2.1
    limiter.observe("broadcast", RateLimitInfo(limit=250, remaining=0, reset_at=clock.wall() + 1.0), rate_limited=True)
    assert limiter.stats.throttled_responses == 1
    assert limiter.acquire("broadcast").waited >= 0.9
    assert limiter.acquire("shared").waited < 0.01  # budgets are separate


def test_remaining_budget_does_not_pause():
    limiter, clock = limiter_with({})
    limiter.observe("shared", RateLimitInfo(limit=70, remaining=5, reset_at=clock.wall() + 30), rate_limited=False)
    assert limiter.acquire("shared").waited == 0.0


def test_requests_in_flight_count_against_the_window_remaining():
    limiter, clock = limiter_with({})
    first = limiter.acquire("shared")
    for _ in range(3):  # dispatched while the first was in flight
        limiter.acquire("shared")
    # The first request's answer: 5 were left when Braze counted it, so 2 are left now.
    limiter.observe(
        "shared", RateLimitInfo(limit=70, remaining=5, reset_at=clock.wall() + 10), rate_limited=False, ticket=first
    )
    assert limiter.window_allowance("shared") == 2
    assert limiter.acquire("shared").waited == 0.0
    assert limiter.acquire("shared").waited == 0.0
    assert limiter.window_allowance("shared") == 0
    waited = limiter.acquire("shared").waited  # the window is used up: wait for its reset
    assert 10.0 <= waited <= 10.1
    assert limiter.window_allowance("shared") is None  # a new window: nothing known yet


def test_a_shard_counts_the_other_shards_requests_against_the_window():
    clock = FakeClock()
    limiter = RateLimiter({}, clock=clock, sleep=clock.sleep, wall=clock.wall, share=0.25)  # 1 of 4 shards
    first = limiter.acquire("shared")
    limiter.acquire("shared")
    info = RateLimitInfo(limit=70, remaining=9, reset_at=clock.wall() + 10)
    limiter.observe("shared", info, rate_limited=False, ticket=first)
    assert limiter.window_allowance("shared") == 5  # 9 left, minus ours and the 3 the others sent meanwhile


def test_a_late_answer_does_not_reopen_a_window():
    limiter, clock = limiter_with({})
    tickets = [limiter.acquire("shared") for _ in range(4)]
    reset = clock.wall() + 10
    limiter.observe(
        "shared", RateLimitInfo(limit=9, remaining=3, reset_at=reset), rate_limited=False, ticket=tickets[3]
    )
    # An older answer arriving later says more was left: the newer count stands.
    limiter.observe(
        "shared", RateLimitInfo(limit=9, remaining=6, reset_at=reset), rate_limited=False, ticket=tickets[0]
    )
    assert limiter.window_allowance("shared") == 3


def test_a_pause_beyond_the_request_deadline_is_refused_without_sleeping():
    limiter, clock = limiter_with({"shared": 1000.0})
    limiter.observe("shared", RateLimitInfo(limit=70, remaining=0, reset_at=clock.wall() + 3000), rate_limited=True)
    with pytest.raises(RateLimitWaitTooLongError, match="paused for 30"):
        limiter.acquire("shared", deadline=clock.now + 300)
    assert clock.slept == []
    assert limiter.acquire("broadcast", deadline=clock.now + 300).waited == 0.0


def test_the_pause_until_reset_uses_braze_clock_from_the_date_header():
    limiter, clock = limiter_with({})
    braze_now = clock.wall() + 30.0  # Braze's clock runs 30 s ahead of ours
    info = RateLimitInfo(limit=70, remaining=0, reset_at=braze_now + 2.0, server_date=braze_now)
    limiter.observe("shared", info, rate_limited=True, sent=clock.wall() - 0.05, received=clock.wall())
    waited = limiter.acquire("shared").waited
    assert 2.0 <= waited <= 3.1  # not 32 s: Reset is read on Braze's clock


def test_clock_skew_bounds_narrow_and_default_to_no_skew():
    skew = ClockSkew()
    assert skew.offset == 0.0
    skew.observe(server_date=1000.0, sent=999.6, received=999.9)  # offset in [0.1, 1.4)
    assert skew.offset == pytest.approx(0.1)
    skew.observe(server_date=1000.0, sent=1000.2, received=1000.3)  # offset in [-0.3, 0.8)
    assert skew.offset == pytest.approx(0.1)
    unskewed = ClockSkew()
    unskewed.observe(server_date=1000.0, sent=1000.2, received=1000.3)
    assert unskewed.offset == 0.0
    behind = ClockSkew()
    behind.observe(server_date=940.0, sent=1000.0, received=1000.1)  # Braze a minute behind
    assert -60.1 <= behind.offset <= -59.0


def test_a_paced_slot_is_checked_again_when_its_time_comes():
    """An answer arriving while a request sleeps for its pacing slot may use up the window: the
    request then waits for the reset instead of going out into a certain 429."""
    clock = FakeClock()
    reset_at = clock.wall() + 1.0
    answers = [RateLimitInfo(limit=30, remaining=0, reset_at=reset_at)]

    def sleep_while_an_answer_arrives(seconds: float) -> None:
        clock.sleep(seconds)
        if answers:
            limiter.observe("shared", answers.pop(), rate_limited=False)

    limiter = RateLimiter({"shared": 10.0}, clock=clock, sleep=sleep_while_an_answer_arrives, wall=clock.wall)
    first = limiter.acquire("shared")
    second = limiter.acquire("shared")  # sleeps 0.1 s for its slot; the window closes meanwhile
    assert clock.wall() >= reset_at  # sent only once the window has reset
    assert second.waited == pytest.approx(clock.now - 100.0)
    assert (first.number, second.number) == (1, 2)


def test_dispatch_numbers_are_given_in_the_order_requests_are_sent():
    limiter, clock = limiter_with({"shared": 10.0})
    tickets = [limiter.acquire("shared") for _ in range(3)]
    assert [t.number for t in tickets] == [1, 2, 3]
    assert limiter.window_allowance("shared") is None  # nothing known yet
    limiter.observe(
        "shared",
        RateLimitInfo(limit=30, remaining=5, reset_at=clock.wall() + 10),
        rate_limited=False,
        ticket=tickets[0],
    )
    assert limiter.window_allowance("shared") == 3  # 5 left after #1, and #2, #3 have gone out since


def test_the_budget_is_paced_at_the_reported_limit_per_window_once_two_resets_were_seen():
    limiter, clock = limiter_with({"shared": 1000.0})  # configured far above what Braze reports
    for reset_in in (1.0, 2.0):
        info = RateLimitInfo(limit=30, remaining=29, reset_at=clock.wall() + reset_in)
        limiter.observe("shared", info, rate_limited=False)
    clock.sleep(2.5)  # both windows have closed: nothing is known of the current one
    start = clock.now
    for _ in range(10):
        limiter.acquire("shared")
    assert clock.now - start == pytest.approx(9 / 30)  # 30 per 1 s window, not 1,000/s


def test_late_answers_teach_the_window_too_and_each_shard_takes_its_share():
    clock = FakeClock()
    limiter = RateLimiter({"shared": 1000.0}, clock=clock, sleep=clock.sleep, wall=clock.wall, share=0.5)
    for reset_ago in (2.0, 1.0):  # answers that arrive after their 1 s window has closed (latency >= window)
        info = RateLimitInfo(limit=30, remaining=10, reset_at=clock.wall() - reset_ago)
        limiter.observe("shared", info, rate_limited=False)
    start = clock.now
    for _ in range(4):
        limiter.acquire("shared")
    assert clock.now - start == pytest.approx(3 / 15)  # half of 30 per window


def test_a_reset_window_is_foreseen_with_its_limit_until_braze_reports_it():
    clock = FakeClock()
    limiter = RateLimiter({}, clock=clock, sleep=clock.sleep, wall=clock.wall)  # no pacing: only the window counts
    first_reset = math.ceil(clock.wall()) + 1.0
    for window in range(2):
        ticket = limiter.acquire("shared")
        info = RateLimitInfo(limit=5, remaining=4, reset_at=first_reset + window)
        limiter.observe("shared", info, rate_limited=False, ticket=ticket)
        clock.sleep(first_reset + window - clock.wall() + 0.001)  # into the next window
    # Braze has not answered in this window yet: it is foreseen with 5 requests, its reset one window on.
    assert limiter.window_allowance("shared") == 5
    for _ in range(5):
        limiter.acquire("shared")
    assert limiter.window_allowance("shared") == 0
    before = clock.wall()
    limiter.acquire("shared")  # the sixth waits for the foreseen reset
    assert clock.wall() >= first_reset + 2.0 > before


def test_a_cancelled_wait_for_a_slot_ends_at_once_and_grants_nothing():
    import threading

    from airflow_provider_braze.client.transport.rate_limiter import RateLimitWaitCancelledError

    limiter, clock = limiter_with({"b": 10.0})
    limiter.observe("b", RateLimitInfo(limit=10, remaining=0, reset_at=clock.wall() + 30), rate_limited=True)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RateLimitWaitCancelledError, match="cancelled; not sent"):
        limiter.acquire("b", deadline=clock() + 120, cancel=cancel)
    assert clock.slept == []  # no sleep until the reset


def test_a_wait_for_a_slot_cancelled_while_it_sleeps_ends_when_cancelled():
    import threading
    import time

    from airflow_provider_braze.client.transport.rate_limiter import RateLimitWaitCancelledError

    limiter, clock = limiter_with({"b": 10.0})
    limiter.observe("b", RateLimitInfo(limit=10, remaining=0, reset_at=clock.wall() + 30), rate_limited=True)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(RateLimitWaitCancelledError):
        limiter.acquire("b", deadline=clock() + 120, cancel=cancel)
    assert time.monotonic() - started < 5  # not the 30 s until the reset
