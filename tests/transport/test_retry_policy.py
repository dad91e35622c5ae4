from __future__ import annotations

import threading
import time

import pytest
import tenacity

from airflow_provider_braze.client.transport.retry_policy import (
    FailedAttempt,
    Outcome,
    RetryPolicy,
    backoff_delay,
    classify_status,
    rate_limit_delay,
)
from airflow_provider_braze.exceptions import BrazeTransportError


class FakeClock:
    """Monotonic and Braze time that only move when the policy sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _policy(fake: FakeClock, *, method: str = "POST", deadline: float = 100.0, **overrides) -> RetryPolicy:
    fields = {
        "method": method,
        "max_retries": 3,
        "retry_unknown_outcome": False,
        "deadline": deadline,
        "backoff_base": 1.0,
        "backoff_max": 30.0,
        "braze_now": lambda: 1_000.0 + fake.now,
        "clock": lambda: fake.now,
    }
    return RetryPolicy(**{**fields, **overrides})


def _run(policy: RetryPolicy, clock: FakeClock, outcomes: list) -> tuple[object, int]:
    """Drive ``policy`` through tenacity with attempts that end in ``outcomes`` (then succeed)."""
    attempts = 0

    def attempt():
        nonlocal attempts
        attempts += 1
        if outcomes:
            outcome, reset_at = outcomes.pop(0)
            return FailedAttempt(BrazeTransportError(f"attempt {attempts}"), outcome, reset_at)
        return "answer"

    result = tenacity.Retrying(sleep=clock.sleep, **policy.tenacity_args())(attempt)
    return result, attempts


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
    clock = FakeClock()
    result, attempts = _run(_policy(clock), clock, [(Outcome.UNKNOWN, None)])
    assert isinstance(result, FailedAttempt)
    assert attempts == 1
    assert _run(_policy(clock, retry_unknown_outcome=True), clock, [(Outcome.UNKNOWN, None)]) == ("answer", 2)
    assert _run(_policy(clock, method="GET"), clock, [(Outcome.UNKNOWN, None)]) == ("answer", 2)


def test_429_waits_until_the_absolute_reset_time():
    clock = FakeClock()
    assert _run(_policy(clock), clock, [(Outcome.RATE_LIMITED, 1_030.0)]) == ("answer", 2)
    [delay] = clock.sleeps
    assert 30.0 <= delay <= 31.0


def test_a_wait_past_the_deadline_gives_up():
    clock = FakeClock()
    result, attempts = _run(_policy(clock), clock, [(Outcome.RATE_LIMITED, 1_300.0)])
    assert isinstance(result, FailedAttempt)
    assert (attempts, clock.sleeps) == (1, [])


def test_retries_stop_after_max_retries():
    clock = FakeClock()
    result, attempts = _run(_policy(clock), clock, [(Outcome.NOT_SENT, None)] * 5)
    assert isinstance(result, FailedAttempt)
    assert attempts == 4  # the first and max_retries=3 more
    result, attempts = _run(_policy(clock), clock, [(Outcome.FATAL, None)])
    assert (isinstance(result, FailedAttempt), attempts) == (True, 1)


def test_an_exception_from_an_attempt_is_never_retried():
    clock = FakeClock()

    def attempt():
        raise ValueError("before_send failed")

    with pytest.raises(ValueError, match="before_send"):
        _policy(clock).run(attempt, before_sleep=lambda state: None)
    assert clock.sleeps == []


def test_a_cancel_during_the_wait_raises_the_last_error_without_another_attempt():
    cancel = threading.Event()
    cancel.set()
    calls = []

    def attempt():
        calls.append(1)
        return FailedAttempt(BrazeTransportError("refused"), Outcome.NOT_SENT)

    with pytest.raises(BrazeTransportError, match="refused"):
        _policy(FakeClock(), clock=time.monotonic, deadline=time.monotonic() + 100).run(
            attempt, before_sleep=lambda state: None, cancel=cancel
        )
    assert calls == [1]


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

    from airflow_provider_braze.client.transport.retry_policy import classify_requests_exception

    cut = requests.exceptions.SSLError("[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol")
    refused = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert classify_requests_exception(cut) is Outcome.UNKNOWN
    assert classify_requests_exception(refused) is Outcome.FATAL


def test_request_errors_err_toward_maybe_sent_unless_raised_before_the_request_was_written():
    import requests
    from urllib3.exceptions import NewConnectionError

    from airflow_provider_braze.client.transport.retry_policy import classify_requests_exception

    e = requests.exceptions
    after_writes = (e.ContentDecodingError("bad gzip"), e.TooManyRedirects(), e.ChunkedEncodingError(), e.RetryError())
    for after_write in after_writes:
        assert classify_requests_exception(after_write) is Outcome.UNKNOWN, after_write
    for before_write in (e.InvalidURL(), e.MissingSchema(), e.InvalidHeader(), e.InvalidJSONError()):
        assert classify_requests_exception(before_write) is Outcome.FATAL, before_write
    refused = e.ConnectionError(NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    assert classify_requests_exception(refused) is Outcome.NOT_SENT


def test_aiohttp_errors_err_toward_maybe_sent_unless_the_url_is_invalid():
    import aiohttp

    from airflow_provider_braze.client.transport.retry_policy import classify_aiohttp_exception

    assert classify_aiohttp_exception(aiohttp.ContentTypeError(None, ())) is Outcome.UNKNOWN  # type: ignore[arg-type]
    assert classify_aiohttp_exception(aiohttp.InvalidURL("x")) is Outcome.FATAL
