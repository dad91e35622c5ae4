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
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

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


def plan_retry(
    outcome: Outcome,
    *,
    method: str,
    retry_number: int,
    max_retries: int,
    retry_unknown_outcome: bool,
    time_left: float,
    reset_at: float | None,
    now: float,
    backoff_base: float,
    backoff_max: float,
) -> float | None:
    """Decide whether to retry a failed attempt: the delay in seconds, or None to give up.

    :param retry_number: the number this retry would have (1 for the first retry).
    :param time_left: seconds left before the request's total deadline.
    :param reset_at: ``X-RateLimit-Reset`` of a 429 (epoch seconds), if any.
    :param now: the current epoch time, for ``reset_at``.
    """
    if retry_number > max_retries or not may_retry(outcome, method, retry_unknown_outcome=retry_unknown_outcome):
        return None
    delay = backoff_delay(retry_number, base=backoff_base, cap=backoff_max)
    if outcome is Outcome.RATE_LIMITED:
        delay = rate_limit_delay(reset_at, now, fallback=delay)
    if delay >= time_left:
        return None
    return delay


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
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return Outcome.UNKNOWN
    return Outcome.FATAL


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
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Outcome.UNKNOWN
    return Outcome.FATAL
