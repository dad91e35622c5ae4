"""Braze's ``X-RateLimit-*`` and ``Date`` response headers, read defensively (``rate_limiter`` paces by them).

Braze sends ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` on every
response; under HTTP/2 they arrive lower-cased: the headers are read from the case-insensitive mapping
requests (``CaseInsensitiveDict``) or aiohttp (``CIMultiDictProxy``) gives. ``Reset`` is an
absolute UTC epoch time in seconds on Braze's clock, not a delta; the ``Date`` header gives that clock.

A value the client cannot trust (not a number, infinite, NaN, negative, a millisecond epoch, a reset
more than a day away) is ignored with a warning, as if the header were absent: a bad header must
neither crash a send nor pause it for years.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

log = logging.getLogger(__name__)

#: The furthest ahead a ``Reset`` may lie (Braze's longest window is a day: ``/sends/id/create``).
MAX_RESET_AHEAD_SECONDS = 26 * 3600.0
#: The furthest behind a ``Reset`` may lie before it is taken for garbage rather than a late answer.
MAX_RESET_BEHIND_SECONDS = 3600.0

_warned: set[tuple[str, str]] = set()


def _ignore(name: str, value: str, rule: str) -> None:
    """Warn once per header and rule (a misbehaving proxy would otherwise flood the log)."""
    if (name, rule) in _warned:
        return
    _warned.add((name, rule))
    log.warning("Ignoring Braze response header %s=%r: %s", name, value[:40], rule)


def _finite(headers: Mapping[str, str], name: str) -> float | None:
    """The header as a finite number; None (with a warning) when it is absent or not one."""
    text = headers.get(name)
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        _ignore(name, text, "not a number")
        return None
    if not math.isfinite(value):
        _ignore(name, text, "not a finite number")
        return None
    return value


def _count(headers: Mapping[str, str], name: str) -> int | None:
    value = _finite(headers, name)
    if value is None:
        return None
    if value < 0:
        _ignore(name, headers[name], "must be a count of 0 or more")
        return None
    return int(value)


def _reset(headers: Mapping[str, str], now: float) -> float | None:
    name = "X-RateLimit-Reset"
    value = _finite(headers, name)
    if value is None:
        return None
    text = headers[name]
    if value <= 0:
        _ignore(name, text, "must be a positive epoch time in seconds")
        return None
    if value > now + MAX_RESET_AHEAD_SECONDS:
        _ignore(name, text, "more than a day ahead (a millisecond epoch?)")
        return None
    if value < now - MAX_RESET_BEHIND_SECONDS:
        _ignore(name, text, "more than an hour in the past (a relative delay, not an epoch time?)")
        return None
    return value


_last_date: tuple[str, float | None] = ("", None)


def parse_http_date(text: str | None) -> float | None:
    """An HTTP ``Date`` header as UTC epoch seconds, or None when absent or unparsable: the package's one
    reader of HTTP dates (the rate limiter's clock and the CDI operator's trigger time).

    An HTTP-date is always GMT (RFC 9110, section 5.6.7), so a form without a zone (the obsolete
    asctime form, ``Sun Nov  6 08:49:37 1994``) or with ``-0000`` is read as UTC, never as the
    worker's local time; an explicit offset (``+0100``) is honoured.

    :param text: the header's value.
    """
    global _last_date
    if not text:
        return None
    cached_text, cached_value = _last_date
    if text == cached_text:  # one Date per second: most responses repeat the previous one
        return cached_value
    try:
        parsed = parsedate_to_datetime(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        value: float | None = parsed.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        value = None
    _last_date = (text, value)
    return value


@dataclass(frozen=True)
class RateLimitInfo:
    """The rate-limit state Braze reported on one response.

    :param limit: requests allowed in the current window.
    :param remaining: requests left in the current window.
    :param reset_at: when the window resets, as UTC epoch seconds on Braze's clock.
    :param server_date: Braze's clock when it answered (the ``Date`` header, whole seconds).
    """

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    server_date: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], *, now: float | None = None) -> RateLimitInfo:
        """Parse the headers of a response; untrustworthy values become None.

        :param headers: the response's headers, as requests or aiohttp give them (case-insensitive).
        :param now: the local epoch time, to judge ``Reset`` (default: ``time.time()``).
        """
        server_date = parse_http_date(headers.get("Date"))
        # Judge Reset against Braze's clock when the answer says what it is.
        reference = server_date if server_date is not None else (time.time() if now is None else now)
        return cls(
            limit=_count(headers, "X-RateLimit-Limit"),
            remaining=_count(headers, "X-RateLimit-Remaining"),
            reset_at=_reset(headers, reference),
            server_date=server_date,
        )
