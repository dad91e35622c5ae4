from __future__ import annotations

import pytest

from airflow_provider_braze.transport.retry_policy import (
    Outcome,
    backoff_delay,
    classify_status,
    plan_retry,
    rate_limit_delay,
)

BASE = {
    "retry_number": 1,
    "max_retries": 3,
    "retry_unknown_outcome": False,
    "time_left": 100.0,
    "reset_at": None,
    "now": 1_000.0,
    "backoff_base": 1.0,
    "backoff_max": 30.0,
}


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (429, Outcome.RATE_LIMITED),
        (502, Outcome.NOT_SENT),
        (503, Outcome.NOT_SENT),
        (500, Outcome.UNKNOWN),
        (501, Outcome.UNKNOWN),
        (504, Outcome.UNKNOWN),
        (507, Outcome.UNKNOWN),
        (520, Outcome.UNKNOWN),
        (524, Outcome.UNKNOWN),
        (599, Outcome.UNKNOWN),
        (400, Outcome.FATAL),
        (401, Outcome.FATAL),
        (404, Outcome.FATAL),
    ],
)
def test_statuses_are_classified(status, outcome):
    assert classify_status(status) is outcome


def test_unknown_outcome_of_a_post_is_not_retried_by_default():
    assert plan_retry(Outcome.UNKNOWN, method="POST", **BASE) is None
    assert plan_retry(Outcome.UNKNOWN, method="POST", **{**BASE, "retry_unknown_outcome": True}) is not None
    assert plan_retry(Outcome.UNKNOWN, method="GET", **BASE) is not None


def test_429_waits_until_the_absolute_reset_time():
    delay = plan_retry(Outcome.RATE_LIMITED, method="POST", **{**BASE, "reset_at": 1_030.0})
    assert delay is not None
    assert 30.0 <= delay <= 31.0


def test_a_wait_past_the_deadline_gives_up():
    assert plan_retry(Outcome.RATE_LIMITED, method="POST", **{**BASE, "reset_at": 1_300.0}) is None


def test_retries_stop_after_max_retries():
    assert plan_retry(Outcome.NOT_SENT, method="POST", **{**BASE, "retry_number": 4}) is None
    assert plan_retry(Outcome.FATAL, method="POST", **BASE) is None


def test_backoff_grows_exponentially_and_is_capped():
    assert backoff_delay(1, base=1, cap=30, rand=lambda: 1.0) == 1.0
    assert backoff_delay(4, base=1, cap=30, rand=lambda: 1.0) == 8.0
    assert backoff_delay(10, base=1, cap=30, rand=lambda: 1.0) == 30.0
    assert backoff_delay(3, base=1, cap=30, rand=lambda: 0.0) == 0.5


def test_rate_limit_delay_without_reset_falls_back():
    assert rate_limit_delay(None, 10.0, fallback=2.5) == 2.5
    assert rate_limit_delay(5.0, 10.0, fallback=2.5) == 2.5


def test_tls_errors_are_maybe_sent_unless_the_handshake_refused_the_certificate():
    import requests

    from airflow_provider_braze.transport.retry_policy import classify_requests_exception

    cut = requests.exceptions.SSLError("[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol")
    refused = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert classify_requests_exception(cut) is Outcome.UNKNOWN
    assert classify_requests_exception(refused) is Outcome.FATAL
