"""BrazeTrigger: the serialisation every Braze trigger shares, and patient waits.

A deferred wait may last days; one failed read (a 5xx, a 429 past the hook's own retries, a
dropped connection, a proxy's HTML page) must not end it. :class:`PatientWait` retries such
transient errors with backoff until the trigger's own deadline, and ends the wait only on errors a
retry cannot fix (a bad key, a missing permission, an unknown integration).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

from airflow.triggers.base import BaseTrigger

from airflow_provider_braze.exceptions import (
    BrazeInvalidResponseError,
    BrazeRateLimitError,
    BrazeServerError,
    BrazeTransportError,
)

#: Errors of a read that another try may not meet.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    BrazeTransportError,
    BrazeServerError,
    BrazeRateLimitError,
    BrazeInvalidResponseError,
    asyncio.TimeoutError,
    ConnectionError,
)
#: The longest pause between retries of a failing read.
MAX_BACKOFF_SECONDS = 600.0


def is_transient(error: BaseException) -> bool:
    """Whether a failed read is worth retrying (a transport error, 5xx, 429 or unparsable answer)."""
    if isinstance(error, TRANSIENT_ERRORS):
        return True
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - aiohttp is a dependency
        return False
    return isinstance(error, aiohttp.ClientError)


class PatientWait:
    """Backoff between retries of transient errors, bounded by a deadline.

    :param poll_interval: the normal pause between polls; the first retry waits this long (at most
        30 s), each further one twice as long, up to :data:`MAX_BACKOFF_SECONDS`.
    :param deadline: when the wait ends, on ``clock`` (None: no deadline).
    :param clock: the clock of ``deadline`` (default: epoch seconds, as triggers keep it).
    """

    def __init__(self, poll_interval: float, deadline: float | None, clock: Callable[[], float] = time.time) -> None:
        self.poll_interval = max(0.0, float(poll_interval))
        self.deadline = deadline
        self.clock = clock
        self.failures = 0
        self.last_error: str | None = None

    def time_left(self) -> float | None:
        """Seconds until the deadline (None without one)."""
        return None if self.deadline is None else self.deadline - self.clock()

    def succeeded(self) -> None:
        """A read worked: the next failure starts the backoff afresh."""
        self.failures = 0

    def backoff(self, error: BaseException) -> float | None:
        """The pause before the next try after ``error``, or None when the error is not transient or
        the deadline leaves no time for another try."""
        if not is_transient(error):
            return None
        self.failures += 1
        self.last_error = f"{type(error).__name__}: {error}"
        first = min(self.poll_interval, 30.0) or 0.01
        delay = min(first * 2 ** (self.failures - 1), max(MAX_BACKOFF_SECONDS, first))
        left = self.time_left()
        if left is not None and left <= 0:
            return None
        return delay if left is None else min(delay, left)

    def sleep_for(self) -> float | None:
        """The pause before the next poll (the poll interval, cut at the deadline); None once it passed."""
        left = self.time_left()
        if left is None:
            return self.poll_interval
        if left <= 0:
            return None
        return min(self.poll_interval, left)


class BrazeTrigger(BaseTrigger):
    """A trigger whose keyword-only ``__init__`` arguments are all primitives kept as attributes of the
    same name; :meth:`serialize` returns exactly those, so the triggerer rebuilds an equal trigger."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and the ``__init__`` keyword arguments, read back from the attributes."""
        names = [name for name in inspect.signature(type(self).__init__).parameters if name != "self"]
        return f"{type(self).__module__}.{type(self).__qualname__}", {name: getattr(self, name) for name in names}
