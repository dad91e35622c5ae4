"""Finding a dashboard broadcast in ``/messages/scheduled_broadcasts`` and deciding whether a
sensor's condition holds. Pure functions shared by the sensor and its trigger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

CONDITIONS = ("scheduled", "sent")


def parse_send_time(value: Any) -> datetime | None:
    """A broadcast's ``next_send_time`` as an aware datetime (naive local-time values read as UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


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


def find_broadcast(broadcasts: Iterable[Mapping[str, Any]], criteria: BroadcastCriteria) -> dict[str, Any] | None:
    """The matching broadcast due soonest, or None."""
    matches = [dict(b) for b in broadcasts if criteria.matches(b)]
    far = datetime.max.replace(tzinfo=timezone.utc)
    matches.sort(key=lambda b: parse_send_time(b.get("next_send_time")) or far)
    return matches[0] if matches else None


@dataclass(frozen=True)
class Evaluation:
    """One look at the list.

    :param done: the condition holds.
    :param broadcast: the broadcast to return as the result (when done).
    :param first_seen: the ``next_send_time`` first seen (state of the ``sent`` condition).
    :param reason: what was seen, for the log.
    """

    done: bool
    broadcast: dict[str, Any] | None
    first_seen: str | None
    reason: str


def evaluate(
    condition: str,
    broadcasts: Iterable[Mapping[str, Any]],
    criteria: BroadcastCriteria,
    *,
    now: datetime,
    send_before: datetime | None = None,
    first_seen: str | None = None,
) -> Evaluation:
    """Decide ``condition`` on one answer of ``/messages/scheduled_broadcasts``.

    ``scheduled``: a matching broadcast is listed (and due before ``send_before``, if given).
    ``sent``: a matching broadcast was seen, and since then it left the list, its ``next_send_time``
    moved on (a recurring broadcast), or that time has passed.
    """
    match = find_broadcast(broadcasts, criteria)
    when = parse_send_time(match.get("next_send_time")) if match else None
    if condition == "scheduled":
        if match is None:
            return Evaluation(False, None, first_seen, f"no broadcast matching {criteria.describe()} is scheduled")
        if send_before is not None and (when is None or when > send_before):
            return Evaluation(
                False, None, first_seen, f"next send {match.get('next_send_time')} is after {send_before}"
            )
        return Evaluation(True, match, first_seen, f"scheduled for {match.get('next_send_time')}")
    if first_seen is None:
        if match is None:
            return Evaluation(False, None, None, f"no broadcast matching {criteria.describe()} is scheduled yet")
        return Evaluation(False, None, str(match.get("next_send_time")), f"seen, due {match.get('next_send_time')}")
    seen_time = parse_send_time(first_seen)
    sent = {"id": criteria.broadcast_id, "name": criteria.broadcast_name, "sent_at": first_seen}
    if match is None:
        return Evaluation(True, {k: v for k, v in sent.items() if v}, first_seen, "left the list: sent")
    if seen_time is not None and when is not None and when > seen_time:
        return Evaluation(True, {**match, "sent_at": first_seen}, first_seen, "next send moved on: sent")
    if seen_time is not None and seen_time <= now:
        return Evaluation(True, {**match, "sent_at": first_seen}, first_seen, "send time passed: sent")
    return Evaluation(False, None, first_seen, f"still due {match.get('next_send_time')}")
