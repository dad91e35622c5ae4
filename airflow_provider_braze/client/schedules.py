"""Turning what a DAG author gives as ``schedule`` into Braze's schedule object.

:meth:`BrazeHook.schedule_object <airflow_provider_braze.hooks.braze.BrazeHook.schedule_object>` applies
it to every schedule create and update body (operators and direct hook calls alike).

Accepted: Braze's own dict (``{"time": ..., "in_local_time": ...}``), a datetime (stdlib or
pendulum) or an ISO 8601 string.

* An aware time (or a string with an offset or ``Z``) is sent in UTC (``2026-12-01T09:00:00Z``).
* A time *string* without an offset (in the dict or alone) means UTC, as it does to Braze (its
  schedule object: "time to send the message in UTC"; its update pages: a time without
  ``in_local_time`` "will now be sent at the provided time in UTC"). It is sent with ``Z``.
* A naive ``datetime`` *object* without the flags is **refused**: in Python it usually means the
  worker's local time (``datetime.now()``). Give an aware datetime, or set ``in_local_time``.
* With ``in_local_time`` or ``at_optimal_time`` the *wall-clock* time is sent without an offset
  (``2026-12-01T09:00:00``): Braze delivers at that clock time in each user's time zone. An aware
  time, object or string (a rendered ``{{ data_interval_end }}``), contributes its own wall-clock
  time (09:00+02:00 is sent as 09:00).
* ``at_optimal_time`` is judged by its date only (Braze ignores the clock part).
* A time in the past or more than 90 days ahead is refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_braze.client.payload_validation import PayloadRuleError, check_schedule_time, parse_time

LOCAL_FLAGS = ("in_local_time", "at_optimal_time")


def _as_datetime(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return parse_time(value, field)


def build_schedule(
    value: Any,
    *,
    in_local_time: bool | None = None,
    at_optimal_time: bool | None = None,
    now: datetime | None = None,
    field: str = "schedule",
) -> dict[str, Any]:
    """Return Braze's schedule object for ``value``, or raise :class:`PayloadRuleError`.

    :param value: a schedule dict, a datetime or an ISO 8601 string.
    :param in_local_time: deliver at the wall-clock time in each user's time zone.
    :param at_optimal_time: deliver on that date at each user's optimal time (Intelligent Timing).
    :param now: the current time (aware); defaults to now.
    :param field: the field name used in errors.
    """
    now = now or datetime.now(timezone.utc)
    flags: dict[str, bool] = {}
    if isinstance(value, Mapping):
        unknown = set(value) - {"time", *LOCAL_FLAGS}
        if unknown:
            raise PayloadRuleError(
                field, f"unknown key(s) {', '.join(sorted(unknown))}; allowed: time, {', '.join(LOCAL_FLAGS)}"
            )
        for flag in LOCAL_FLAGS:
            if value.get(flag) is not None:
                flags[flag] = value[flag]
        raw_time = value.get("time")
        if raw_time is None:
            raise PayloadRuleError(f"{field}.time", "is required")
        time_field = f"{field}.time"
    else:
        raw_time, time_field = value, field
    if in_local_time is not None:
        flags["in_local_time"] = in_local_time
    if at_optimal_time is not None:
        flags["at_optimal_time"] = at_optimal_time
    for flag, flag_value in flags.items():
        if not isinstance(flag_value, bool):
            raise PayloadRuleError(f"{field}.{flag}", "must be true or false")
    if flags.get("in_local_time") and flags.get("at_optimal_time"):
        raise PayloadRuleError(field, "in_local_time and at_optimal_time are alternatives: set only one")
    if raw_time is None or raw_time == "":
        raise PayloadRuleError(time_field, "is required")
    when = _as_datetime(raw_time, time_field)
    local = bool(flags.get("in_local_time") or flags.get("at_optimal_time"))
    if local:
        when = when.replace(tzinfo=None, microsecond=0)
        text = when.isoformat()
    elif when.tzinfo is None and not isinstance(raw_time, str):
        raise PayloadRuleError(
            time_field,
            "is a datetime without a time zone, which is ambiguous in Python (the worker's local time?): give a "
            "timezone-aware datetime (sent in UTC), an ISO string (without an offset it means UTC, as for Braze), "
            "or set in_local_time=True for each user's local wall-clock time",
        )
    else:
        aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
        try:
            utc = aware.astimezone(timezone.utc)
        except OverflowError:
            raise PayloadRuleError(time_field, f"is out of range ({raw_time!r})") from None
        when = utc.replace(microsecond=0)
        text = when.replace(tzinfo=None).isoformat() + "Z"
    # The time is parsed once, above: the rules are checked on it, not on a re-parse of ``text``.
    check_schedule_time(
        when,
        in_local_time=bool(flags.get("in_local_time")),
        at_optimal_time=bool(flags.get("at_optimal_time")),
        now=now,
        field=field,
    )
    schedule: dict[str, Any] = {"time": text}
    schedule.update({flag: True for flag, on in flags.items() if on})
    return schedule
