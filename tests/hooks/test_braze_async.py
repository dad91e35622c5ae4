"""BrazeAsyncHook against the sandbox: same answers and error model as the sync hook."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_braze.exceptions import (
    BrazeAuthenticationError,
    BrazeRateLimitError,
    BrazeUnknownOutcomeError,
)
from airflow_provider_braze.hooks.braze_async import BrazeAsyncHook
from airflow_provider_braze.testing.sandbox import Fault
from tests.conftest import FAST


def _week() -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=7)


def test_scheduled_broadcasts(sandbox):
    sandbox.add_broadcast(
        broadcast_id="b1", name="Digest", next_send_time=datetime.now(timezone.utc) + timedelta(hours=2)
    )
    response = asyncio.run(BrazeAsyncHook(settings=FAST).get_scheduled_broadcasts(end_time=_week()))
    assert [b["id"] for b in response["scheduled_broadcasts"]] == ["b1"]
    [request] = sandbox.requests
    assert request.headers["Authorization"] == "<redacted>"


def test_503_is_retried_like_the_sync_hook(sandbox):
    sandbox.inject(Fault(status=503))
    response = asyncio.run(BrazeAsyncHook(settings=FAST).get_scheduled_broadcasts(end_time=_week()))
    assert response.attempts == 2
    assert [r.status for r in sandbox.requests] == [503, 200]


def test_429_waits_for_reset(sandbox):
    sandbox.rate_limit_burst(1, reset_in=0.5)
    response = asyncio.run(BrazeAsyncHook(settings=FAST).get_scheduled_broadcasts(end_time=_week()))
    assert response.attempts == 2
    assert sandbox.requests[1].at >= int(sandbox.requests[0].at + 0.5) + 1 - 0.05


def test_429_past_the_deadline_raises(sandbox):
    sandbox.rate_limit_burst(1, reset_in=60)
    with pytest.raises(BrazeRateLimitError):
        asyncio.run(BrazeAsyncHook(settings={**FAST, "retry_deadline": 1}).get_scheduled_broadcasts(end_time=_week()))


def test_401_carries_the_same_advice(braze_sandbox, monkeypatch):
    for name, value in braze_sandbox.airflow_env(api_key="wrong").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(BrazeAuthenticationError, match="another Braze instance"):
        asyncio.run(BrazeAsyncHook(settings=FAST).get_scheduled_broadcasts(end_time=_week()))


def test_post_read_timeout_is_an_unknown_outcome(sandbox):
    sandbox.inject(Fault(kind="slow", seconds=1.5))
    hook = BrazeAsyncHook(settings={**FAST, "timeout": 0.5})
    with pytest.raises(BrazeUnknownOutcomeError):
        asyncio.run(hook.request("POST", "/campaigns/trigger/send", json={"campaign_id": "c", "broadcast": True}))
    assert len(sandbox.requests) == 1


def test_a_trigger_run_opens_one_session_for_all_its_requests(sandbox, monkeypatch):
    import aiohttp

    opened = []
    real_init = aiohttp.ClientSession.__init__

    def counting_init(self, *args, **kwargs):
        opened.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", counting_init)

    async def run() -> None:
        async with BrazeAsyncHook(settings=FAST) as hook:
            for _ in range(3):
                await hook.get_scheduled_broadcasts(end_time=_week())

    asyncio.run(run())
    assert len(sandbox.requests) == 3
    assert len(opened) == 1
    assert opened[0].closed


def test_async_requests_are_paced_by_the_same_rate_limiter(sandbox):
    async def run() -> None:
        async with BrazeAsyncHook(settings={**FAST, "requests_per_hour": 4 * 3600}) as hook:  # one per 0.25 s
            for _ in range(3):
                await hook.get_scheduled_broadcasts(end_time=_week())

    asyncio.run(run())
    first, _, third = sandbox.requests
    assert third.at - first.at >= 0.45


def test_a_500_after_a_post_is_not_retried_by_the_async_hook(sandbox):
    sandbox.inject(Fault(status=500))
    with pytest.raises(BrazeUnknownOutcomeError):
        asyncio.run(
            BrazeAsyncHook(settings=FAST).request(
                "POST", "/campaigns/trigger/send", json={"campaign_id": "c", "broadcast": True}
            )
        )
    assert [r.status for r in sandbox.requests] == [500]
