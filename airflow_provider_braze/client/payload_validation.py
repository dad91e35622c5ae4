"""Braze's request rules as checks: each raises :class:`PayloadRuleError` naming the field and the rule.

No Airflow imports. The operators run these before the first request (so nothing is sent when any
part of the input is invalid). The sandbox does not use them: it has its own rule table, written
from Braze's documentation (``airflow_provider_braze.testing.sandbox.rules``), so the two are
compared rather than shared.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_braze.client import payload_rules as rules
from airflow_provider_braze.client.iso_time import IsoTimeError, parse_iso_time


class PayloadRuleError(ValueError):
    """A request field breaks one of Braze's rules.

    :param field: the field, as a path (``recipients[3].user_alias.alias_name``).
    :param rule: the rule it breaks, in words.
    """

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def _object(value: Any) -> bool:
    return isinstance(value, Mapping)


def json_size(value: Any, field: str = "body") -> int:
    """Bytes of ``value`` as compact JSON (refused when it has no JSON form)."""
    try:
        return len(json.dumps(value, separators=(",", ":"), default=str).encode())
    except (TypeError, ValueError, RecursionError):
        raise PayloadRuleError(field, "has no JSON form (circular, too deeply nested or non-string keys)") from None


def wire_size(value: Any, field: str = "body") -> int:
    """Bytes of ``value`` as the request body is written (``requests``' ``json=``: default separators,
    ASCII escapes), refused when it has no JSON form or holds a non-finite number."""
    try:
        return len(json.dumps(value, allow_nan=False))
    except ValueError as err:
        if "Out of range float" in str(err):
            check_finite(value, field)
        raise PayloadRuleError(field, "has no JSON form (circular or too deeply nested)") from None
    except (TypeError, RecursionError):
        raise PayloadRuleError(field, "has no JSON form (non-string keys or values JSON cannot hold)") from None


def check_finite(value: Any, field: str) -> None:
    """No NaN or ±Infinity anywhere in ``value`` (JSON has no such numbers; Braze refuses the body)."""
    stack: list[tuple[str, Any]] = [(field, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise PayloadRuleError(path, f"is {item!r}, which JSON cannot carry: give a finite number or null")
        if isinstance(item, Mapping):
            stack.extend((f"{path}.{key}", child) for key, child in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))


def without_nulls(value: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an object without its null-valued keys: a null optional key means "not given" and is
    never sent (``{"braze_id": "b", "email": None}`` is sent as ``{"braze_id": "b"}``)."""
    return {key: item for key, item in value.items() if item is not None}


def normalise_recipient(recipient: Mapping[str, Any]) -> dict[str, Any]:
    """The recipient object as it is validated and sent: null keys removed (also in ``user_alias``)."""
    out = without_nulls(recipient)
    if isinstance(out.get("user_alias"), Mapping):
        out["user_alias"] = without_nulls(out["user_alias"])
    return out


def normalise_messages(messages: Any) -> Any:
    """The ``messages`` object as it is validated and sent: null channels and null keys of each
    message object removed (``"extra": None`` is not sent). Anything else is left for the checks."""
    if not isinstance(messages, Mapping):
        return messages
    return {
        channel: without_nulls(message) if isinstance(message, Mapping) else message
        for channel, message in messages.items()
        if message is not None
    }


def check_string(value: Any, field: str) -> None:
    """An optional identifier (``segment_id``): absent, or a non-empty string."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise PayloadRuleError(field, f"must be a non-empty string (got {type(value).__name__})")


def check_bool(body: Mapping[str, Any], field: str, prefix: str = "") -> None:
    """``field`` is absent or a boolean."""
    if field in body and not isinstance(body[field], bool):
        raise PayloadRuleError(f"{prefix}{field}", "must be true or false")


def check_properties(value: Any, field: str) -> None:
    """A personalisation object (``trigger_properties``, ``context``): a JSON object of at most 50 KB."""
    if value is None:
        return
    if not _object(value):
        raise PayloadRuleError(field, "must be a JSON object")
    check_finite(value, field)
    size = json_size(value, field)
    if size > rules.MAX_PROPERTIES_BYTES:
        raise PayloadRuleError(field, f"is {size} bytes; the limit is {rules.MAX_PROPERTIES_BYTES} bytes (50 KB)")


def check_send_id(send_id: Any, field: str = "send_id") -> None:
    """``send_id``: a non-empty ASCII string of at most 64 characters."""
    if send_id is None:
        return
    if not isinstance(send_id, str) or not send_id or not send_id.isascii():
        raise PayloadRuleError(field, "must be a non-empty ASCII string")
    if len(send_id) > rules.MAX_SEND_ID_LENGTH:
        raise PayloadRuleError(field, f"must be at most {rules.MAX_SEND_ID_LENGTH} characters (has {len(send_id)})")


def check_required_id(value: Any, field: str) -> None:
    """A required identifier (``campaign_id``, ``canvas_id``, ``schedule_id``): a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise PayloadRuleError(field, "is required and must be a non-empty string")


def check_alias(alias: Any, field: str) -> None:
    """A user alias object: ``alias_name`` and ``alias_label`` strings."""
    if not _object(alias):
        raise PayloadRuleError(field, "must be an object with alias_name and alias_label")
    for key in ("alias_name", "alias_label"):
        if not isinstance(alias.get(key), str) or not alias[key]:
            raise PayloadRuleError(f"{field}.{key}", "is required and must be a non-empty string")


def unknown_key_hint(key: str, known: Sequence[str], cutoff: float = 0.75) -> str:
    """`` (did you mean 'x'?)`` for a key close to a known one, else ``""``."""
    close = difflib.get_close_matches(str(key).lower(), list(known), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_recipient(recipient: Any, field: str, properties_field: str | None) -> None:
    """One recipient object: only known keys, exactly one identifier and the rules that go with it.

    A key present with a null value counts as present (and is refused where a value is required):
    the operators remove null keys before validating (:func:`normalise_recipient`), so what is
    validated is what is sent.

    :param properties_field: ``trigger_properties`` (campaigns) or ``context`` (Canvases; also its
        older name ``canvas_entry_properties``); the other endpoint's field is refused.
    """
    if not _object(recipient):
        raise PayloadRuleError(field, "must be an object")
    for key in recipient:
        if key not in rules.RECIPIENT_KEYS:
            raise PayloadRuleError(
                f"{field}.{key}",
                f"is not a recipient-object key{unknown_key_hint(key, rules.RECIPIENT_KEYS)}; allowed: "
                f"{', '.join(rules.RECIPIENT_KEYS)}",
            )
    if properties_field:
        allowed = ("context", "canvas_entry_properties") if properties_field == "context" else (properties_field,)
        for key in rules.RECIPIENT_PROPERTY_FIELDS:
            if key in recipient and key not in allowed:
                target = (
                    "a Canvas recipient takes context"
                    if properties_field == "context"
                    else ("a campaign recipient takes trigger_properties")
                )
                raise PayloadRuleError(f"{field}.{key}", f"is not used by this endpoint: {target}")
        if "context" in recipient and "canvas_entry_properties" in recipient:
            raise PayloadRuleError(
                f"{field}.canvas_entry_properties", "is the older name of context: give only one of them"
            )
    present = [key for key in rules.RECIPIENT_IDENTIFIERS if key in recipient]
    if len(present) != 1:
        found = ", ".join(present) if present else "none"
        raise PayloadRuleError(
            field, f"must have exactly one of {', '.join(rules.RECIPIENT_IDENTIFIERS)} (found: {found})"
        )
    identifier = present[0]
    if identifier == "user_alias":
        check_alias(recipient["user_alias"], f"{field}.user_alias")
    elif not isinstance(recipient[identifier], str) or not recipient[identifier].strip():
        raise PayloadRuleError(f"{field}.{identifier}", "must be a non-empty string")
    if identifier == "email":
        prioritization = recipient.get("prioritization")
        if not isinstance(prioritization, list) or not prioritization:
            raise PayloadRuleError(f"{field}.prioritization", "is required (a non-empty array) with email")
    if "prioritization" in recipient:
        if not isinstance(recipient["prioritization"], list):
            raise PayloadRuleError(f"{field}.prioritization", "must be an array of strings")
        for index, rule in enumerate(recipient["prioritization"]):
            if not isinstance(rule, str) or not rule:
                raise PayloadRuleError(f"{field}.prioritization[{index}]", "must be a non-empty string")
    check_bool(recipient, "send_to_existing_only", f"{field}.")
    if recipient.get("send_to_existing_only") is False:
        if identifier == "user_alias":
            raise PayloadRuleError(f"{field}.send_to_existing_only", "false cannot be used with user_alias")
        if not _object(recipient.get("attributes")):
            raise PayloadRuleError(f"{field}.send_to_existing_only", "false requires attributes (an object)")
    if "attributes" in recipient:
        if not _object(recipient["attributes"]):
            raise PayloadRuleError(f"{field}.attributes", "must be an object")
        check_finite(recipient["attributes"], f"{field}.attributes")
    for key in rules.RECIPIENT_PROPERTY_FIELDS:
        if key in recipient:
            if recipient[key] is None:
                raise PayloadRuleError(f"{field}.{key}", "must be a JSON object")
            check_properties(recipient[key], f"{field}.{key}")


def check_recipient_count(recipients: Sequence[Any]) -> None:
    """At most 50 recipients in one request."""
    if len(recipients) > rules.MAX_USERS_PER_REQUEST:
        raise PayloadRuleError(
            "recipients", f"at most {rules.MAX_USERS_PER_REQUEST} per request (has {len(recipients)})"
        )


def check_user_ids(external_user_ids: Any, user_aliases: Any) -> None:
    """``external_user_ids`` (strings) and ``user_aliases`` (alias objects) of ``/messages/send``."""
    if external_user_ids is not None:
        if not isinstance(external_user_ids, (list, tuple)):
            raise PayloadRuleError("external_user_ids", "must be an array of strings")
        for index, user_id in enumerate(external_user_ids):
            if not isinstance(user_id, str) or not user_id:
                raise PayloadRuleError(f"external_user_ids[{index}]", "must be a non-empty string")
    if user_aliases is not None:
        if not isinstance(user_aliases, (list, tuple)):
            raise PayloadRuleError("user_aliases", "must be an array of alias objects")
        for index, alias in enumerate(user_aliases):
            check_alias(alias, f"user_aliases[{index}]")


def check_user_count(external_user_ids: Sequence[Any] | None, user_aliases: Sequence[Any] | None) -> None:
    """At most 50 ``external_user_ids`` + ``user_aliases`` in one request."""
    total = len(external_user_ids or ()) + len(user_aliases or ())
    if total > rules.MAX_USERS_PER_REQUEST:
        raise PayloadRuleError(
            "external_user_ids", f"with user_aliases, at most {rules.MAX_USERS_PER_REQUEST} per request (has {total})"
        )


def check_enum(value: Any, field: str, allowed: Sequence[str]) -> None:
    """``value`` is None or one of ``allowed``."""
    if value is not None and value not in allowed:
        raise PayloadRuleError(field, f"must be one of {', '.join(allowed)} (got {value!r})")


def check_targets(
    *,
    broadcast: Any,
    listed: bool,
    segment_id: Any = None,
    audience: Any = None,
    attachments: Any = None,
    broadcast_alone_targets: bool,
) -> None:
    """Who a send goes to.

    :param listed: users or recipients are listed.
    :param broadcast_alone_targets: ``broadcast`` with nothing else targets the campaign's or Canvas's
        own segment (trigger endpoints); on ``/messages/send`` it needs a segment or audience.
    """
    if broadcast is not None and not isinstance(broadcast, bool):
        raise PayloadRuleError("broadcast", "must be true or false")
    check_string(segment_id, "segment_id")
    if audience is not None:
        if not _object(audience) or not audience:
            raise PayloadRuleError("audience", "must be a non-empty connected audience object")
        check_finite(audience, "audience")
    if attachments is not None and not isinstance(attachments, (list, tuple)):
        raise PayloadRuleError("attachments", "must be an array of {file_name, url} objects")
    if broadcast and listed:
        raise PayloadRuleError("broadcast", "cannot be true when users or recipients are listed")
    if broadcast and attachments:
        raise PayloadRuleError("attachments", "cannot be used with broadcast")
    if listed:
        return
    if not broadcast:
        raise PayloadRuleError(
            "recipients", "no target: list users or recipients, or set broadcast=True to send to a segment or audience"
        )
    if not broadcast_alone_targets and segment_id is None and audience is None:
        raise PayloadRuleError("broadcast", "needs segment_id or audience here")


def check_messages(messages: Any, *, campaign_id: Any = None, required: bool = True) -> None:
    """The ``messages`` object: known channels, required fields, enums, push sizes, variation ids."""
    if messages is None and not required:
        return
    if not _object(messages) or not messages:
        raise PayloadRuleError("messages", "must be a non-empty object of message types")
    for channel, message in messages.items():
        field = f"messages.{channel}"
        if channel in rules.LEGACY_MESSAGE_TYPES:
            check_finite(message, field)
            continue
        if channel not in rules.MESSAGE_REQUIRED_FIELDS:
            known = ", ".join(rules.MESSAGE_REQUIRED_FIELDS)
            raise PayloadRuleError(field, f"unknown message type (known: {known})")
        if not _object(message):
            raise PayloadRuleError(field, "must be an object")
        check_finite(message, field)
        if campaign_id is not None and not message.get("message_variation_id"):
            raise PayloadRuleError(f"{field}.message_variation_id", "is required when campaign_id is given")
        silent = channel == "android_push" and message.get("send_to_sync")
        for required_field in () if silent else rules.MESSAGE_REQUIRED_FIELDS[channel]:
            if message.get(required_field) in (None, ""):
                raise PayloadRuleError(f"{field}.{required_field}", "is required")
        _check_channel(channel, message, field)


def _check_channel(channel: str, message: Mapping[str, Any], field: str) -> None:
    for (enum_channel, name), allowed in rules.MESSAGE_ENUMS.items():
        if enum_channel == channel and name in message:
            check_enum(message[name], f"{field}.{name}", allowed)
    if channel in rules.PUSH_WITH_EXTRA and "extra" in message and not _object(message["extra"]):
        raise PayloadRuleError(f"{field}.extra", "must be an object")
    if channel == "apple_push":
        if not message.get("alert") and not message.get("content-available"):
            raise PayloadRuleError(f"{field}.alert", "is required unless content-available is true")
        if json_size(message, field) > rules.APPLE_PUSH_MAX_BYTES:
            raise PayloadRuleError(field, f"is over {rules.APPLE_PUSH_MAX_BYTES} bytes")
    if channel == "android_push":
        if message.get("send_to_sync") and (message.get("alert") or message.get("title")):
            raise PayloadRuleError(f"{field}.send_to_sync", "cannot be used with alert or title")
        pushed = {"alert": message.get("alert"), "extra": message.get("extra")}
        if json_size(pushed, field) > rules.ANDROID_PUSH_MAX_BYTES:
            raise PayloadRuleError(field, f"alert and extra are over {rules.ANDROID_PUSH_MAX_BYTES} bytes")
    if channel == "email" and not message.get("body") and not message.get("email_template_id"):
        raise PayloadRuleError(f"{field}.body", "is required unless email_template_id is given")
    if channel == "content_card":
        if message.get("type") in ("CAPTIONED_IMAGE", "BANNER") and not message.get("image_url"):
            raise PayloadRuleError(f"{field}.image_url", f"is required for {message['type']} cards")
        if message.get("time_to_live") is None and message.get("expire_at") is None:
            raise PayloadRuleError(field, "needs one of time_to_live or expire_at")


def parse_time(value: Any, field: str) -> datetime:
    """Parse an ISO 8601 time string (:func:`~airflow_provider_braze.client.iso_time.parse_iso_time`);
    a naive result stays naive."""
    if not isinstance(value, str) or not value.strip():
        raise PayloadRuleError(field, "must be an ISO 8601 time string")
    try:
        return parse_iso_time(value, naive="keep")
    except IsoTimeError:
        raise PayloadRuleError(field, f"could not be parsed as an ISO 8601 time: {value!r}") from None


def _shifted(when: datetime, delta: timedelta, field: str) -> datetime:
    try:
        return when + delta
    except OverflowError:
        raise PayloadRuleError(field, f"is out of range ({when.isoformat()})") from None


def check_schedule(schedule: Any, now: datetime, field: str = "schedule") -> None:
    """A schedule object: a parseable time, the local/optimal-time rules, at most 90 days ahead.

    * Plain: ``time`` is an instant; without an offset it is UTC (Braze's schedule object: "time to
      send the message in UTC").
    * ``in_local_time``: a wall-clock time without an offset; refused once it has passed in every
      time zone (the last to reach it is UTC-12).
    * ``at_optimal_time``: only the *date* counts (Braze ignores the clock part); refused once that
      date has ended in every time zone.

    :param now: an aware current time.
    """
    if not _object(schedule):
        raise PayloadRuleError(field, "is required and must be an object with a time")
    for key in schedule:
        if key not in ("time", "in_local_time", "at_optimal_time"):
            raise PayloadRuleError(
                f"{field}.{key}", "is not a schedule key; allowed: time, in_local_time, at_optimal_time"
            )
    for flag in ("in_local_time", "at_optimal_time"):
        check_bool(schedule, flag, f"{field}.")
    time_field = f"{field}.time"
    when = parse_time(schedule.get("time"), time_field)
    check_schedule_time(
        when,
        in_local_time=bool(schedule.get("in_local_time")),
        at_optimal_time=bool(schedule.get("at_optimal_time")),
        now=now,
        field=field,
    )


def check_schedule_time(
    when: datetime, *, in_local_time: bool, at_optimal_time: bool, now: datetime, field: str = "schedule"
) -> None:
    """The rules of a schedule's parsed ``time`` (see :func:`check_schedule`).

    :param when: the time, naive for a wall-clock time (``in_local_time``/``at_optimal_time``).
    :param now: an aware current time.
    """
    time_field = f"{field}.time"
    horizon = now + timedelta(days=rules.MAX_SCHEDULE_DAYS_AHEAD)
    if in_local_time and at_optimal_time:
        raise PayloadRuleError(field, "in_local_time and at_optimal_time are alternatives: set only one")
    if in_local_time or at_optimal_time:
        if when.tzinfo is not None:
            raise PayloadRuleError(
                time_field, "must not carry a UTC offset with in_local_time or at_optimal_time (wall-clock time)"
            )
        wall = when.replace(tzinfo=timezone.utc)
        if at_optimal_time:
            # The clock part is ignored: the date runs from its midnight in UTC+14 to its end in UTC-12.
            start = wall.replace(hour=0, minute=0, second=0, microsecond=0)
            first = _shifted(start, timedelta(hours=-14), time_field)
            last = _shifted(start, timedelta(hours=36), time_field)  # its end (+24 h) in UTC-12
            passed_rule = "is a date that has already ended in every time zone"
        else:
            first = _shifted(wall, timedelta(hours=-14), time_field)
            last = _shifted(wall, timedelta(hours=12), time_field)
            passed_rule = "has already passed in every time zone"
        if last <= now:
            raise PayloadRuleError(time_field, passed_rule)
        if first > horizon:
            raise PayloadRuleError(time_field, f"is more than {rules.MAX_SCHEDULE_DAYS_AHEAD} days ahead")
        return
    aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    if aware <= now:
        raise PayloadRuleError(time_field, "is in the past")
    if aware > horizon:
        raise PayloadRuleError(time_field, f"is more than {rules.MAX_SCHEDULE_DAYS_AHEAD} days ahead")
