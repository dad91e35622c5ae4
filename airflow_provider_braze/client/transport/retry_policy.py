"""When a Braze request may be retried, and how long to wait before the next attempt.

Braze's messaging endpoints have no idempotency key, so the rule is about what Braze may already
have done with the request:

* not sent (connection refused, DNS failure, connect timeout, a TLS certificate refused during the
  handshake): safe to retry (the certificate case is fatal: retrying will not change it);
* 429: nothing was processed; wait until ``X-RateLimit-Reset`` (absolute epoch seconds) + jitter;
* 502 / 503: the gateway failed before Braze processed the request; retry with exponential backoff;
* anything else that happened after the request was written is "maybe sent": a read timeout, a
  dropped connection, a TLS error while reading the answer, and **every other 5xx** (500, 501, 504,
  507, 520-524, ...). It is **not** retried unless the caller allows it;
* any 2xx is accepted, even when its body cannot be parsed (see ``responses.parse_success``);
* GET requests are idempotent, so unknown outcomes of a GET are retried.

:class:`RetryPolicy` states these rules once, as tenacity's ``retry``, ``wait`` and ``stop``; the sync
hook runs it with ``Retrying``, the async hook with ``AsyncRetrying``.
"""

from __future__ import annotations

import asyncio
import enum
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import tenacity

from airflow_provider_braze.exceptions import BrazeAPIError, BrazeError

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from airflow_provider_braze.client.transport.settings import BrazeClientSettings

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 502, 503})
#: 5xx statuses known to mean "not processed": only these may be sent again.
NOT_PROCESSED_SERVER_STATUSES = frozenset({502, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Outcome(enum.Enum):
    """What a failed attempt means for the request."""

    NOT_SENT = "not_sent"  # certainly not processed by Braze: safe to retry
    RATE_LIMITED = "rate_limited"  # 429: not processed, wait for the window to reset
    UNKNOWN = "unknown"  # may have been processed: retry only if idempotent or allowed
    FATAL = "fatal"  # a definite answer that retrying will not change


def classify_status(status: int) -> Outcome:
    """Classify an HTTP status of a finished attempt (2xx is handled by the caller)."""
    if status == 429:
        return Outcome.RATE_LIMITED
    if status in RETRYABLE_STATUSES:
        return Outcome.NOT_SENT
    if status >= 500:  # not known to mean "not processed": Braze may have sent the messages
        return Outcome.UNKNOWN
    return Outcome.FATAL


#: Words of a TLS error raised while the connection is set up (before the request is written).
_HANDSHAKE_FAILURES = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "WRONG_VERSION_NUMBER", "hostname")


def _handshake_failure(exc: BaseException) -> bool:
    return any(word in str(exc) for word in _HANDSHAKE_FAILURES)


def may_retry(outcome: Outcome, method: str, *, retry_unknown_outcome: bool) -> bool:
    """Return True when an attempt with this outcome may be tried again."""
    if outcome in (Outcome.NOT_SENT, Outcome.RATE_LIMITED):
        return True
    if outcome is Outcome.UNKNOWN:
        return method.upper() in IDEMPOTENT_METHODS or retry_unknown_outcome
    return False


def backoff_delay(retry_number: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in ``[base/2, min(cap, base * 2**(n-1))]``.

    :param retry_number: 1 for the first retry.
    """
    ceiling = min(cap, base * (2 ** max(0, retry_number - 1)))
    floor = min(ceiling, base / 2)
    return floor + (ceiling - floor) * rand()


def rate_limit_delay(
    reset_at: float | None,
    now: float,
    *,
    fallback: float,
    jitter: float = 1.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after a 429: until ``reset_at`` (epoch seconds) plus up to ``jitter`` seconds.

    A missing or already-passed reset falls back to ``fallback`` (the backoff delay); a small
    jitter keeps concurrent workers from hitting the new window at the same instant.
    """
    if reset_at is None or reset_at <= now:
        return fallback
    return (reset_at - now) + jitter * rand()


@dataclass(frozen=True)
class FailedAttempt:
    """An attempt that got no usable answer: the error to raise if it is the last, and what it means.

    :param error: the error the request raises if no further attempt is made.
    :param outcome: what Braze may have done with the request.
    :param reset_at: ``X-RateLimit-Reset`` of a 429 (epoch seconds on Braze's clock), if any.
    """

    error: BrazeError
    outcome: Outcome
    reset_at: float | None = None


class RetryCancelledError(Exception):
    """The task is stopping: no further attempt is made (raised by the sleep between attempts)."""


def _failed(state: RetryCallState) -> FailedAttempt | None:
    """The failed attempt ``state`` ended with (None: an answer, or an exception, which is never retried)."""
    future = state.outcome
    if future is None or future.failed:
        return None
    result = future.result()
    return result if isinstance(result, FailedAttempt) else None


@dataclass(frozen=True)
class RetryPolicy:
    """The retry rules of one request, as tenacity's ``retry``, ``wait`` and ``stop``.

    An attempt returns the answer or a :class:`FailedAttempt`; an exception it raises (a refused
    rate-limit wait, a ``before_send`` failure) ends the request at once.

    * retry: only an outcome :func:`may_retry` allows (never an unknown outcome of a POST, unless allowed);
    * wait: exponential backoff with jitter; after a 429, until ``X-RateLimit-Reset`` plus jitter;
    * stop: after ``max_retries`` retries, or when the wait would end at or past ``deadline``.

    :param method: the request's HTTP method.
    :param max_retries: attempts allowed after the first.
    :param retry_unknown_outcome: retry attempts whose outcome is unknown.
    :param deadline: the request's total deadline, on ``clock``.
    :param backoff_base: the first backoff delay in seconds.
    :param backoff_max: the longest backoff delay in seconds.
    :param braze_now: the current epoch time on Braze's clock (``X-RateLimit-Reset`` is on it).
    :param clock: the monotonic clock of ``deadline``.
    """

    method: str
    max_retries: int
    retry_unknown_outcome: bool
    deadline: float
    backoff_base: float
    backoff_max: float
    braze_now: Callable[[], float] = time.time
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_settings(
        cls,
        settings: BrazeClientSettings,
        *,
        method: str,
        retry_unknown_outcome: bool | None = None,
        braze_now: Callable[[], float] = time.time,
    ) -> RetryPolicy:
        """The policy of one request starting now, from the connection's client settings.

        :param settings: the connection's client settings (``max_retries``, ``retry_deadline``, backoff).
        :param method: the request's HTTP method.
        :param retry_unknown_outcome: override the settings' ``retry_unknown_outcome``.
        :param braze_now: the current epoch time on Braze's clock.
        """
        return cls(
            method=method,
            max_retries=settings.max_retries,
            retry_unknown_outcome=settings.retry_unknown_outcome
            if retry_unknown_outcome is None
            else retry_unknown_outcome,
            deadline=time.monotonic() + settings.retry_deadline,
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
            braze_now=braze_now,
        )

    def retry(self, state: RetryCallState) -> bool:
        """tenacity ``retry``: whether the attempt's outcome may be tried again."""
        failed = _failed(state)
        return failed is not None and may_retry(
            failed.outcome, self.method, retry_unknown_outcome=self.retry_unknown_outcome
        )

    def wait(self, state: RetryCallState) -> float:
        """tenacity ``wait``: the backoff, or the time until ``X-RateLimit-Reset`` after a 429."""
        delay = backoff_delay(state.attempt_number, base=self.backoff_base, cap=self.backoff_max)
        failed = _failed(state)
        if failed is not None and failed.outcome is Outcome.RATE_LIMITED:
            delay = rate_limit_delay(failed.reset_at, self.braze_now(), fallback=delay)
        return delay

    def stop(self, state: RetryCallState) -> bool:
        """tenacity ``stop`` (evaluated after ``wait``): out of retries, or the wait outlasts the deadline."""
        return state.attempt_number > self.max_retries or state.upcoming_sleep >= self.deadline - self.clock()

    def tenacity_args(self) -> dict[str, Any]:
        """``retry``, ``wait``, ``stop`` and a ``retry_error_callback`` returning the last :class:`FailedAttempt`."""
        return {"retry": self.retry, "wait": self.wait, "stop": self.stop, "retry_error_callback": _last_result}

    def run(
        self,
        attempt: Callable[[], T | FailedAttempt],
        *,
        before_sleep: Callable[[RetryCallState], None],
        cancel: threading.Event | None = None,
    ) -> T:
        """Make attempts until one answers or the policy gives up; raise the last attempt's error.

        :param attempt: sends the request once.
        :param before_sleep: called before each wait (logging, counting).
        :param cancel: once set, the wait ends and no further attempt is made.
        """
        last: list[FailedAttempt] = []

        def recorded() -> T | FailedAttempt:
            result = attempt()
            if isinstance(result, FailedAttempt):
                last[:] = [result]
            return result

        def sleep(seconds: float) -> None:
            if cancel is None:
                time.sleep(seconds)
            elif cancel.wait(seconds):
                raise RetryCancelledError

        try:
            result = tenacity.Retrying(sleep=sleep, before_sleep=before_sleep, **self.tenacity_args())(recorded)
        except RetryCancelledError:
            result = last[0]
        if isinstance(result, FailedAttempt):
            raise result.error
        return result

    async def run_async(
        self,
        attempt: Callable[[], Awaitable[T | FailedAttempt]],
        *,
        before_sleep: Callable[[RetryCallState], None],
    ) -> T:
        """:meth:`run` for coroutines: the waits are ``asyncio.sleep``."""
        retrying = tenacity.AsyncRetrying(sleep=asyncio.sleep, before_sleep=before_sleep, **self.tenacity_args())
        result: T | FailedAttempt = await retrying(attempt)
        if isinstance(result, FailedAttempt):
            raise result.error
        return result


def retry_logger(
    log: Any, method: str, endpoint: str, on_retry: Callable[[], None] | None = None
) -> Callable[[RetryCallState], None]:
    """A tenacity ``before_sleep`` that logs why an attempt failed (never the request's data) and counts it.

    :param log: the hook's logger (``self.log``).
    :param method: the request's method.
    :param endpoint: the request's path.
    :param on_retry: called once per retry (the hook's retry counter).
    """

    def log_retry(state: RetryCallState) -> None:
        failed = _failed(state)
        if on_retry is not None:
            on_retry()
        log.warning(
            "Braze %s %s attempt %d failed (%s); retrying in %.1f s",
            method,
            endpoint,
            state.attempt_number,
            _short_reason(failed.error) if failed is not None else "error",
            state.upcoming_sleep,
        )

    return log_retry


def _short_reason(error: BaseException) -> str:
    if isinstance(error, BrazeAPIError):
        return f"HTTP {error.status} {error.message}"[:160]
    return type(error).__name__


def _last_result(state: RetryCallState) -> Any:
    """tenacity ``retry_error_callback``: give the last attempt's result back instead of a ``RetryError``."""
    return state.outcome.result() if state.outcome is not None else None


def classify_requests_exception(exc: BaseException) -> Outcome:
    """Classify an exception raised by ``requests`` while sending one request."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

    if isinstance(exc, requests.exceptions.SSLError):  # a refused certificate, or cut while answering
        return Outcome.FATAL if _handshake_failure(exc) else Outcome.UNKNOWN
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ProxyError)):
        return Outcome.NOT_SENT
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return Outcome.UNKNOWN
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
            return Outcome.NOT_SENT
        return Outcome.UNKNOWN  # dropped after the request may have been written
    e = requests.exceptions
    before_write = (e.InvalidURL, e.MissingSchema, e.InvalidSchema, e.InvalidHeader, e.InvalidJSONError, e.URLRequired)
    if isinstance(exc, before_write) and not isinstance(exc, e.JSONDecodeError):
        return Outcome.FATAL  # refused while the request was prepared: nothing was written
    return Outcome.UNKNOWN  # anything else (an answer that could not be read or decoded...) may follow a write


def classify_aiohttp_exception(exc: BaseException) -> Outcome:
    """Classify an exception raised by ``aiohttp`` while sending one request."""
    import asyncio

    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return Outcome.FATAL
    if isinstance(exc, aiohttp.ClientSSLError):
        return Outcome.FATAL if _handshake_failure(exc) else Outcome.UNKNOWN
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)
    if connect_timeout is not None and isinstance(exc, connect_timeout):
        return Outcome.NOT_SENT
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Outcome.NOT_SENT
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        return Outcome.UNKNOWN
    if isinstance(exc, aiohttp.InvalidURL):
        return Outcome.FATAL  # refused while preparing the request: nothing was written
    return Outcome.UNKNOWN  # anything else (a payload error, a bad answer...) may follow a write
