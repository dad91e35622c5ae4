"""Adaptive concurrency and in-flight-aware pacing, end to end against the sandbox."""

from __future__ import annotations

import logging
import time

import pytest

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.engine.batch_sender import BrazeBatchError, send_plan
from airflow_provider_braze.engine.send_plan import list_source, plan_trigger
from airflow_provider_braze.exceptions import BrazeRateLimitError
from airflow_provider_braze.hooks.braze import BrazeHook
from tests.conftest import FAST


def _plan(n: int):
    return plan_trigger(
        endpoint=ep.TRIGGER_CAMPAIGN,
        id_field="campaign_id",
        id_value="c",
        properties_field="trigger_properties",
        properties=None,
        source=list_source([f"user-{i}" for i in range(n)]),
        broadcast=None,
        audience=None,
    )


def _most_in_flight(sandbox, latency: float) -> int:
    arrivals = sorted(r.at for r in sandbox.requests)
    return max(sum(1 for b in arrivals if a <= b < a + latency) for a in arrivals)


def test_a_slow_braze_gets_rate_times_latency_in_flight_without_tuning(braze_connection, logs):
    braze_connection.configure(latency=0.5)
    hook = BrazeHook(settings={**FAST, "requests_per_hour": 30 * 3600})
    plan = _plan(50 * 36)
    try:
        outcome = send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=None, progress_every=0.2)
    finally:
        plan.close()
        hook.close()
    assert outcome.batches == 36
    # 30 requests/s x 0.5 s = 15 needed in flight; the former fixed 8 would take 36 / 8 x 0.5 = 2.25 s.
    assert _most_in_flight(braze_connection, 0.5) >= 12
    assert outcome.seconds < 2.0
    progress = [line for line in logs().splitlines() if "recipients/s" in line]
    assert "in flight" in progress[-1]
    assert "latency 5" in progress[-1]  # ~500 ms measured


def test_never_more_requests_than_the_window_has_left(braze_connection):
    braze_connection.configure(rate_limit=6, rate_limit_window=3600, latency=0.1)
    hook = BrazeHook(settings={**FAST, "retry_deadline": 1})
    hook.trigger_campaign(campaign_id="c", recipients=[{"external_user_id": "first"}])  # 5 left this hour
    plan = _plan(50 * 12)
    try:
        with pytest.raises(BrazeBatchError) as err:
            send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=8)
    finally:
        plan.close()
        hook.close()
    assert err.value.accepted_batches == 5
    statuses = [r.status for r in braze_connection.requests]
    assert statuses == [201] * 6  # the window's 6, and not one 429: the rest were held back, not sent
    assert "not sent" in str(err.value.__cause__)


def test_a_pause_longer_than_the_retry_deadline_fails_at_once_unsent(braze_connection):
    hook = BrazeHook(settings={**FAST, "retry_deadline": 1})
    braze_connection.rate_limit_burst(1, reset_in=30)
    with pytest.raises(BrazeRateLimitError):
        hook.trigger_campaign(campaign_id="camp", broadcast=True)
    started = time.monotonic()
    with pytest.raises(BrazeRateLimitError, match="not sent"):
        hook.trigger_campaign(campaign_id="camp", broadcast=True)  # the budget is paused 30 s
    assert time.monotonic() - started < 0.5  # it did not sleep towards the reset
    assert len(braze_connection.requests) == 1
    hook.close()
