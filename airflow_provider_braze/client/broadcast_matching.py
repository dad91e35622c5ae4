"""Finding a dashboard broadcast in ``/messages/scheduled_broadcasts`` and deciding whether a
sensor's condition holds. Pure functions shared by the sensor and its trigger.

Braze lists each broadcast as ``{"name", "id", "type", "tags", "next_send_time", "schedule_type"}``.
``next_send_time`` carries a time zone except for ``local_time_zones`` and ``intelligent_delivery``
broadcasts (braze-docs ``get_messages_scheduled.md``): those go out at a wall-clock time in every
user's own zone, so their send spans from that time at UTC+14 to that time at UTC-12 (a whole
local day for Intelligent Timing). :func:`send_window` turns each form into ``(first, last)`` in UTC.

``sent`` follows **one** broadcast: the first matched, by its id. It is sent when its send time
(every zone's, for local delivery) has passed, or when it left the list at (or after) its time, or
when a recurring broadcast's ``next_send_time`` moved on after its time. A broadcast that leaves
the list, or moves, well *before* its time was unscheduled, cancelled or rescheduled, not sent:
leaving fails the wait with that reason; moving is followed to the new time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_braze.client.iso_time import IsoTimeError, parse_iso_time
from airflow_provider_braze.client.str_enum import StrEnum


class BroadcastCondition(StrEnum):
    """What the sensor waits for: the broadcast is in the list, or its send time has passed."""

    SCHEDULED = "scheduled"
    SENT = "sent"


CONDITIONS = BroadcastCondition.values()
#: Local delivery reaches a wall-clock time first at UTC+14 and last at UTC-12.
FIRST_ZONE_OFFSET = timedelta(hours=14)
LAST_ZONE_OFFSET = timedelta(hours=12)
#: A broadcast that leaves the list this close before its time is taken to be starting its send
#: (Braze's clock and the worker's may differ a little), not to be cancelled.
EARLY_TOLERANCE = timedelta(minutes=2)
LOCAL_SCHEDULE_TYPES = ("local_time_zones", "intelligent_delivery")
#: Braze's documented fields of a listed broadcast (all returned by the sensor).
DOCUMENTED_FIELDS = ("id", "name", "type", "tags", "next_send_time", "schedule_type")


def _parse(value: Any) -> datetime | None:
    try:
        return parse_iso_time(value, naive="keep")
    except IsoTimeError:
        return None


def parse_send_time(value: Any) -> datetime | None:
    """An ISO time as an aware datetime (a time without a zone read as UTC); None if unparsable.

    For a broadcast's ``next_send_time`` use :func:`send_window`, which reads zone-less local times right.
    """
    parsed = _parse(value)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def send_window(broadcast: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    """``(first, last)``: when the broadcast's next send starts and when its last recipient's zone
    has reached it, in UTC. None if ``next_send_time`` is missing or unparsable.

    * with a zone: that instant (both ends);
    * without a zone and ``schedule_type`` a time-zone name (the company's zone): that zone;
    * ``intelligent_delivery``: the whole local day of the date, across every zone;
    * otherwise (``local_time_zones``): the wall-clock time from UTC+14 to UTC-12.
    """
    parsed = _parse(broadcast.get("next_send_time"))
    if parsed is None:
        return None
    if parsed.tzinfo is not None:
        moment = parsed.astimezone(timezone.utc)
        return moment, moment
    schedule_type = str(broadcast.get("schedule_type") or "")
    if schedule_type == "intelligent_delivery":
        day = parsed.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=timezone.utc)
        return day - FIRST_ZONE_OFFSET, day + timedelta(days=1) + LAST_ZONE_OFFSET
    if schedule_type and schedule_type not in LOCAL_SCHEDULE_TYPES:
        try:
            moment = parsed.replace(tzinfo=ZoneInfo(schedule_type)).astimezone(timezone.utc)
            return moment, moment
        except (ZoneInfoNotFoundError, ValueError):
            pass
    wall = parsed.replace(tzinfo=timezone.utc)
    return wall - FIRST_ZONE_OFFSET, wall + LAST_ZONE_OFFSET


@dataclass(frozen=True)
class BroadcastCriteria:
    """What identifies the broadcast to watch; every given criterion must match.

    :param broadcast_id: the campaign or Canvas id.
    :param broadcast_name: its exact name.
    :param tag: one of its tags.
    """

    broadcast_id: str | None = None
    broadcast_name: str | None = None
    tag: str | None = None

    def matches(self, broadcast: Mapping[str, Any]) -> bool:
        """Whether ``broadcast`` satisfies every given criterion."""
        if self.broadcast_id and broadcast.get("id") != self.broadcast_id:
            return False
        if self.broadcast_name and broadcast.get("name") != self.broadcast_name:
            return False
        return not (self.tag and self.tag not in (broadcast.get("tags") or []))

    def describe(self) -> str:
        """E.g. ``id=abc, tag=weekly``."""
        parts = [
            f"{k}={v}" for k, v in (("id", self.broadcast_id), ("name", self.broadcast_name), ("tag", self.tag)) if v
        ]
        return ", ".join(parts)


def _start(broadcast: Mapping[str, Any]) -> datetime:
    window = send_window(broadcast)
    return window[0] if window else datetime.max.replace(tzinfo=timezone.utc)


def find_broadcast(broadcasts: Iterable[Mapping[str, Any]], criteria: BroadcastCriteria) -> dict[str, Any] | None:
    """The matching broadcast due soonest, or None."""
    matches = [dict(b) for b in broadcasts if criteria.matches(b)]
    matches.sort(key=_start)
    return matches[0] if matches else None


@dataclass(frozen=True)
class Evaluation:
    """One look at the list.

    :param done: the condition holds.
    :param broadcast: the broadcast to return as the result (when done), or the one that failed.
    :param followed: the broadcast followed for ``sent`` (its whole listing as first seen, or as
        rescheduled); the state to carry to the next look.
    :param reason: what was seen, for the log.
    :param failed: the condition can no longer hold (the broadcast left the list before its time).
    """

    done: bool
    broadcast: dict[str, Any] | None
    followed: dict[str, Any] | None
    reason: str
    failed: bool = False


def _window_text(window: tuple[datetime, datetime]) -> str:
    first, last = window
    if first == last:
        return first.isoformat()
    return f"{first.isoformat()} to {last.isoformat()} (every time zone)"


def evaluate(
    condition: str,
    broadcasts: Iterable[Mapping[str, Any]],
    criteria: BroadcastCriteria,
    *,
    now: datetime,
    send_before: datetime | None = None,
    followed: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Decide ``condition`` on one answer of ``/messages/scheduled_broadcasts``.

    ``scheduled``: a matching broadcast is listed (and its send starts before ``send_before``, if given).
    ``sent``: see the module docstring; ``followed`` is the state returned by the previous look.
    """
    listed = [dict(b) for b in broadcasts]
    if condition == BroadcastCondition.SCHEDULED:
        match = find_broadcast(listed, criteria)
        if match is None:
            return Evaluation(False, None, None, f"no broadcast matching {criteria.describe()} is scheduled")
        window = send_window(match)
        if send_before is not None and (window is None or window[0] > send_before):
            return Evaluation(False, None, None, f"next send {match.get('next_send_time')} is after {send_before}")
        return Evaluation(True, match, None, f"scheduled for {match.get('next_send_time')}")
    if followed is None:
        match = find_broadcast(listed, criteria)
        if match is None:
            return Evaluation(False, None, None, f"no broadcast matching {criteria.describe()} is scheduled yet")
        return Evaluation(
            False, None, match, f"following {match.get('id')} ({match.get('name')}), due {match.get('next_send_time')}"
        )
    return _follow(dict(followed), listed, now)


def _follow(followed: dict[str, Any], listed: list[dict[str, Any]], now: datetime) -> Evaluation:
    """One look at the followed broadcast (found by id)."""
    label = f"{followed.get('id')} ({followed.get('name')})"
    window = send_window(followed)
    current = next((b for b in listed if b.get("id") == followed.get("id")), None)
    sent = {**followed, "sent_at": followed.get("next_send_time")}
    if window is None:  # no usable time: only leaving the list can be told
        if current is None:
            return Evaluation(True, sent, followed, f"{label} left the list: sent")
        return Evaluation(False, None, followed, f"{label} still listed")
    first, last = window
    if last != first:
        sent["sent_until"] = last.isoformat()
    if current is None:
        if now < first - EARLY_TOLERANCE:
            return Evaluation(
                False,
                followed,
                followed,
                f"{label} left the list before its time ({followed.get('next_send_time')}): it was unscheduled, "
                "cancelled or moved past end_time, not sent",
                failed=True,
            )
        if now < last:
            return Evaluation(False, None, followed, f"{label} is going out across time zones until {last.isoformat()}")
        return Evaluation(True, sent, followed, f"{label} left the list at its time: sent")
    current_window = send_window(current)
    if current_window is not None and current_window[0] > first:
        if now >= first - EARLY_TOLERANCE:
            if now < last:
                return Evaluation(
                    False, None, followed, f"{label} is going out across time zones until {last.isoformat()}"
                )
            return Evaluation(
                True,
                {**sent, "next_send_time_after": current.get("next_send_time")},
                followed,
                f"{label} went out and is next due {current.get('next_send_time')}: sent",
            )
        return Evaluation(
            False,
            None,
            current,
            f"{label} was rescheduled before its time, from {followed.get('next_send_time')} to "
            f"{current.get('next_send_time')}: following the new time",
        )
    if now >= last:
        return Evaluation(
            True,
            {**sent, **current, "sent_at": followed.get("next_send_time")},
            followed,
            (f"{label}: its send time passed ({_window_text(window)}): sent"),
        )
    return Evaluation(False, None, current, f"{label} still due {_window_text(current_window or window)}")
