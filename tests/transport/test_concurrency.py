from __future__ import annotations

from airflow_provider_braze.client.transport.concurrency import ConcurrencyController, LatencyMeter
from airflow_provider_braze.client.transport.rate_limit_headers import RateLimitInfo
from airflow_provider_braze.client.transport.rate_limiter import RateLimiter

WALL = 1_795_867_200.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def controller(rate: float = 70.0, cap: int = 96, fixed: int | None = None):
    clock = FakeClock()
    limiter = RateLimiter({"shared": rate}, clock=clock, sleep=clock.sleep, wall=clock.wall)
    meter = LatencyMeter()
    return ConcurrencyController(limiter, meter, cap=cap, fixed=fixed, clock=clock), limiter, meter, clock


def settle(meter: LatencyMeter, seconds: float, n: int = 40) -> None:
    for _ in range(n):
        meter.observe(seconds)


def test_starts_sized_for_one_second_until_a_latency_is_known():
    control, _, meter, _ = controller(rate=70.0)
    assert 70 <= control.limit(0) <= 96
    settle(meter, 0.05)
    assert control.limit(0) <= 8


def test_grows_with_latency_to_rate_times_latency_with_headroom():
    control, _, meter, _ = controller(rate=70.0)
    limits = []
    for latency in (0.05, 0.25, 0.6, 1.0):
        settle(meter, latency)
        limits.append(control.limit(0))
    assert limits == sorted(limits)
    assert len(set(limits)) == 4
    assert 70 * 0.6 <= limits[2] <= 70 * 0.6 * 1.5 + 2  # Little's law: 42 needed at 600 ms
    assert limits[0] <= 8


def test_never_more_than_the_cap():
    control, _, meter, _ = controller(rate=300.0, cap=40)
    settle(meter, 2.0)
    assert control.limit(0) == 40


def test_shrinks_when_latency_drops():
    control, _, meter, _ = controller(rate=70.0)
    settle(meter, 1.0)
    high = control.limit(0)
    settle(meter, 0.05, n=30)
    assert control.limit(0) < high / 4


def test_shrinks_on_429_and_recovers_when_they_stop():
    control, limiter, meter, clock = controller(rate=70.0)
    settle(meter, 0.6)
    before = control.limit(0)
    limiter.observe("shared", RateLimitInfo(), rate_limited=True)
    after = control.limit(0)
    assert after < before
    limiter.observe("shared", RateLimitInfo(), rate_limited=True)
    assert control.limit(0) < after
    for _ in range(10):
        limiter.observe("shared", RateLimitInfo(), rate_limited=True)
    assert control.limit(0) >= before // 2  # pacing sets the rate: never starve a slow Braze
    clock.now += 30  # a quiet while
    for _ in range(30):
        clock.now += 1
        control.limit(0)
    assert control.limit(0) == before


def test_never_exceeds_what_the_window_remaining_admits():
    control, limiter, meter, clock = controller(rate=70.0)
    settle(meter, 1.0)
    assert control.limit(0) > 20
    first = limiter.acquire("shared")
    for _ in range(4):
        limiter.acquire("shared")
    # Braze counted the first request with 9 left; 4 more have gone since: 5 left.
    info = RateLimitInfo(limit=70, remaining=9, reset_at=clock.wall() + 5)
    limiter.observe("shared", info, rate_limited=False, ticket=first)
    assert control.limit(4) == 4 + 5  # the 4 in flight plus the 5 the window still admits
    for _ in range(5):
        limiter.acquire("shared")
    assert control.limit(0) == 1  # window used up: one waits for the reset, no more


def test_a_fixed_max_concurrency_is_kept_but_still_bounded_by_the_window():
    control, limiter, meter, clock = controller(fixed=8)
    settle(meter, 1.0)
    assert control.limit(0) == 8
    first = limiter.acquire("shared")
    limiter.observe(
        "shared", RateLimitInfo(limit=70, remaining=3, reset_at=clock.wall() + 5), rate_limited=False, ticket=first
    )
    assert control.limit(0) == 3


def test_latency_meter_ignores_nonsense_and_follows_the_recent_past():
    meter = LatencyMeter()
    assert meter.seconds is None
    meter.observe(float("nan"))
    meter.observe(-1.0)
    assert meter.seconds is None
    settle(meter, 0.2)
    assert abs(meter.seconds - 0.2) < 1e-9
