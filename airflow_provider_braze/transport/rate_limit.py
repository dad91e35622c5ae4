"""Braze's ``X-RateLimit-*`` response headers.

Braze sends ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` on every
response; under HTTP/2 they arrive lower-cased, so they are read case-insensitively. ``Reset`` is an
absolute UTC epoch time in seconds, not a delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimitInfo:
    """The rate-limit state Braze reported on one response.

    :param limit: requests allowed in the current window.
    :param remaining: requests left in the current window.
    :param reset_at: when the window resets, as UTC epoch seconds.
    """

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        """Parse the headers of a response (any capitalisation)."""
        limit = _number(_header(headers, "X-RateLimit-Limit"))
        remaining = _number(_header(headers, "X-RateLimit-Remaining"))
        return cls(
            limit=int(limit) if limit is not None else None,
            remaining=int(remaining) if remaining is not None else None,
            reset_at=_number(_header(headers, "X-RateLimit-Reset")),
        )
