"""The one parser of ISO 8601 times: schedule times, broadcast send times, CDI run times, export receipts.

Only the extended calendar form is accepted: ``YYYY-MM-DD``, optionally followed by ``T`` (or a
space) and ``HH[:MM[:SS[.fraction]]]`` and a zone (``Z``, ``z``, ``+HH:MM``, ``+HHMM`` or ``+HH``);
surrounding whitespace is ignored, a fraction of more than 6 digits is cut to microseconds. What
pendulum would also read (week and ordinal dates, the basic form ``20260101T100000``, a bare time,
a duration) is refused, as are impossible dates and times (``2026-13-01``, ``24:00``).

Callers choose what a time without a zone means (``naive=``): ``"keep"`` returns it naive (a
schedule with ``in_local_time``, a broadcast's zone-less ``next_send_time``: the caller decides),
``"utc"`` reads it as UTC (CDI run times, export receipts). The result is always a standard
:class:`datetime.datetime` with a :class:`datetime.timezone` (never a pendulum object). pendulum is
imported on the first call, so importing this module costs nothing at DAG parse time.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

#: The extended calendar form (the fields' ranges are pendulum's to check).
_ISO_FORM = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)


class IsoTimeError(ValueError):
    """A value that is not an ISO 8601 time of the accepted form (the message says why)."""


def parse_iso_time(value: Any, *, naive: Literal["keep", "utc"]) -> datetime:
    """``value`` (an ISO 8601 string or a ``datetime``) as a ``datetime``.

    :param value: the text (or an already parsed ``datetime``, returned with ``naive`` applied).
    :param naive: a time without a zone stays naive (``"keep"``) or is read as UTC (``"utc"``).
    :raises IsoTimeError: not a string or ``datetime``, not the extended calendar form, or an
        impossible date or time.
    """
    if isinstance(value, datetime):
        return _apply_naive(value, naive)
    if not isinstance(value, str):
        raise IsoTimeError(f"must be an ISO 8601 time string (got {type(value).__name__})")
    text = value.strip()
    if not _ISO_FORM.fullmatch(text):
        raise IsoTimeError(f"is not an ISO 8601 time of the form YYYY-MM-DDTHH:MM:SS[+HH:MM]: {value!r}")
    if text.endswith("z"):
        text = text[:-1] + "Z"
    if text[10:11] == "t":  # RFC 3339 allows a lowercase separator; pendulum reads only "T"
        text = text[:10] + "T" + text[11:]
    import pendulum  # here, not at import: DAG files import the operators that import this module

    try:
        parsed = pendulum.parse(text, exact=True, tz=None)
    except (ValueError, OverflowError):  # pendulum's ParserError is a ValueError
        raise IsoTimeError(f"is not a valid date and time: {value!r}") from None
    if isinstance(parsed, datetime):
        offset = parsed.utcoffset()
        plain = datetime(
            parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second, parsed.microsecond
        )
        return _apply_naive(plain if offset is None else plain.replace(tzinfo=_zone(offset)), naive)
    if isinstance(parsed, date):  # a date alone: its midnight
        return _apply_naive(datetime(parsed.year, parsed.month, parsed.day), naive)
    raise IsoTimeError(f"is not a date and time: {value!r}")  # pragma: no cover - the form admits no other


def _zone(offset: timedelta) -> timezone:
    return timezone.utc if not offset else timezone(offset)


def _apply_naive(moment: datetime, naive: Literal["keep", "utc"]) -> datetime:
    if moment.tzinfo is None and naive == "utc":
        return moment.replace(tzinfo=timezone.utc)
    return moment
