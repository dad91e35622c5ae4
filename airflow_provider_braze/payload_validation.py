"""Braze's request rules as checks: each raises :class:`PayloadRuleError` naming the field and the rule.

No Airflow imports. The operators run these before the first request (so nothing is sent when any
part of the input is invalid); the sandbox runs the same checks on what it receives and answers
with Braze's status and ``message``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_braze import payload_rules as rules


class PayloadRuleError(ValueError):
    """A request field breaks one of Braze's rules.

    :param field: the field, as a path (``recipients[3].user_alias.alias_name``).
    :param rule: the rule it breaks, in words.
    :param braze_message: the ``message`` Braze answers for it (``Bad Request`` unless documented).
    """

    def __init__(self, field: str, rule: str, *, braze_message: str = "Bad Request") -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
        self.braze_message = braze_message


def _object(value: Any) -> bool:
    return isinstance(value, Mapping)


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON."""
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def check_bool(body: Mapping[str, Any], field: str, prefix: str = "") -> None:
    """``field`` is absent or a boolean."""
    if field in body and body[field] is not None and not isinstance(body[field], bool):
        raise PayloadRuleError(f"{prefix}{field}", "must be true or false")


def check_properties(value: Any, field: str) -> None:
    """A personalisation object (``trigger_properties``, ``context``): a JSON object of at most 50 KB."""
    if value is None:
        return
    if not _object(value):
        raise PayloadRuleError(field, "must be a JSON object")
    size = json_size(value)
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
        message = "Invalid Campaign ID" if field == "campaign_id" else "Bad Request"
        raise PayloadRuleError(field, "is required and must be a non-empty string", braze_message=message)


def check_alias(alias: Any, field: str) -> None:
    """A user alias object: ``alias_name`` and ``alias_label`` strings."""
    if not _object(alias):
        raise PayloadRuleError(field, "must be an object with alias_name and alias_label")
    for key in ("alias_name", "alias_label"):
        if not isinstance(alias.get(key), str) or not alias[key]:
            raise PayloadRuleError(f"{field}.{key}", "is required and must be a non-empty string")


def check_recipient(recipient: Any, field: str, properties_field: str | None) -> None:
    """One recipient object: exactly one identifier and the rules that go with it."""
    if not _object(recipient):
        raise PayloadRuleError(field, "must be an object")
    present = [key for key in rules.RECIPIENT_IDENTIFIERS if recipient.get(key) not in (None, "")]
    if len(present) != 1:
        found = ", ".join(present) if present else "none"
        raise PayloadRuleError(
            field, f"must have exactly one of {', '.join(rules.RECIPIENT_IDENTIFIERS)} (found: {found})"
        )
    identifier = present[0]
    if identifier == "user_alias":
        check_alias(recipient["user_alias"], f"{field}.user_alias")
    elif not isinstance(recipient[identifier], str):
        raise PayloadRuleError(f"{field}.{identifier}", "must be a string")
    if identifier == "email":
        prioritization = recipient.get("prioritization")
        if not isinstance(prioritization, list) or not prioritization:
            raise PayloadRuleError(f"{field}.prioritization", "is required (a non-empty array) with email")
    check_bool(recipient, "send_to_existing_only", f"{field}.")
    if recipient.get("send_to_existing_only") is False:
        if identifier == "user_alias":
            raise PayloadRuleError(f"{field}.send_to_existing_only", "false cannot be used with user_alias")
        if not _object(recipient.get("attributes")):
            raise PayloadRuleError(f"{field}.send_to_existing_only", "false requires attributes (an object)")
    if "attributes" in recipient and recipient["attributes"] is not None and not _object(recipient["attributes"]):
        raise PayloadRuleError(f"{field}.attributes", "must be an object")
    if properties_field:
        check_properties(recipient.get(properties_field), f"{field}.{properties_field}")
        if properties_field == "context":
            check_properties(recipient.get("canvas_entry_properties"), f"{field}.canvas_entry_properties")


def check_recipient_count(recipients: Sequence[Any]) -> None:
    """At most 50 recipients in one request."""
    if len(recipients) > rules.MAX_USERS_PER_REQUEST:
        raise PayloadRuleError(
            "recipients",
            f"at most {rules.MAX_USERS_PER_REQUEST} per request (has {len(recipients)})",
            braze_message="The max number of ids per request was exceeded",
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
            "external_user_ids",
            f"with user_aliases, at most {rules.MAX_USERS_PER_REQUEST} per request (has {total})",
            braze_message="The max number of external_ids and aliases per request was exceeded",
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
    if audience is not None and not _object(audience):
        raise PayloadRuleError("audience", "must be a connected audience object")
    if broadcast and listed:
        raise PayloadRuleError("broadcast", "cannot be true when users or recipients are listed")
    if broadcast and attachments:
        raise PayloadRuleError("attachments", "cannot be used with broadcast")
    if listed:
        return
    if not broadcast:
        raise PayloadRuleError(
            "recipients",
            "no target: list users or recipients, or set broadcast=True to send to a segment or audience",
            braze_message="No Recipients",
        )
    if not broadcast_alone_targets and segment_id is None and audience is None:
        raise PayloadRuleError("broadcast", "needs segment_id or audience here", braze_message="No Recipients")


def check_messages(messages: Any, *, campaign_id: Any = None, required: bool = True) -> None:
    """The ``messages`` object: known channels, required fields, enums, push sizes, variation ids."""
    if messages is None and not required:
        return
    if not _object(messages) or not messages:
        raise PayloadRuleError(
            "messages", "must be a non-empty object of message types", braze_message="No message to send"
        )
    for channel, message in messages.items():
        field = f"messages.{channel}"
        if channel in rules.LEGACY_MESSAGE_TYPES:
            continue
        if channel not in rules.MESSAGE_REQUIRED_FIELDS:
            known = ", ".join(rules.MESSAGE_REQUIRED_FIELDS)
            raise PayloadRuleError(field, f"unknown message type (known: {known})")
        if not _object(message):
            raise PayloadRuleError(field, "must be an object")
        if campaign_id is not None and not message.get("message_variation_id"):
            raise PayloadRuleError(
                f"{field}.message_variation_id",
                "is required when campaign_id is given",
                braze_message="Message Variant Unspecified",
            )
        silent = channel == "android_push" and message.get("send_to_sync")
        for required_field in () if silent else rules.MESSAGE_REQUIRED_FIELDS[channel]:
            if message.get(required_field) in (None, ""):
                raise PayloadRuleError(f"{field}.{required_field}", "is required")
        _check_channel(channel, message, field)


def _check_channel(channel: str, message: Mapping[str, Any], field: str) -> None:
    for (enum_channel, name), allowed in rules.MESSAGE_ENUMS.items():
        if enum_channel == channel and name in message:
            check_enum(message[name], f"{field}.{name}", allowed)
    if channel in rules.PUSH_WITH_EXTRA and message.get("extra") is not None and not _object(message["extra"]):
        raise PayloadRuleError(f"{field}.extra", "must be an object", braze_message="Invalid Extra Push Payload")
    if channel == "apple_push":
        if not message.get("alert") and not message.get("content-available"):
            raise PayloadRuleError(f"{field}.alert", "is required unless content-available is true")
        if json_size(message) > rules.APPLE_PUSH_MAX_BYTES:
            raise PayloadRuleError(
                field, f"is over {rules.APPLE_PUSH_MAX_BYTES} bytes", braze_message="Apple Push Length Exceeded"
            )
    if channel == "android_push":
        if message.get("send_to_sync") and (message.get("alert") or message.get("title")):
            raise PayloadRuleError(f"{field}.send_to_sync", "cannot be used with alert or title")
        if json_size({"alert": message.get("alert"), "extra": message.get("extra")}) > rules.ANDROID_PUSH_MAX_BYTES:
            raise PayloadRuleError(
                field,
                f"alert and extra are over {rules.ANDROID_PUSH_MAX_BYTES} bytes",
                braze_message="Android Push Length Exceeded",
            )
    if channel == "email" and not message.get("body") and not message.get("email_template_id"):
        raise PayloadRuleError(f"{field}.body", "is required unless email_template_id is given")
    if channel == "content_card":
        if message.get("type") in ("CAPTIONED_IMAGE", "BANNER") and not message.get("image_url"):
            raise PayloadRuleError(f"{field}.image_url", f"is required for {message['type']} cards")
        if message.get("time_to_live") is None and message.get("expire_at") is None:
            raise PayloadRuleError(field, "needs one of time_to_live or expire_at")


def parse_time(value: Any, field: str) -> datetime:
    """Parse an ISO 8601 time string (``Z`` accepted); a naive result stays naive."""
    if not isinstance(value, str) or not value.strip():
        raise PayloadRuleError(field, "must be an ISO 8601 time string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise PayloadRuleError(field, f"could not be parsed as an ISO 8601 time: {value!r}") from None


def check_schedule(schedule: Any, now: datetime, field: str = "schedule") -> None:
    """A schedule object: a parseable time, the local/optimal-time rules, at most 90 days ahead.

    :param now: an aware current time.
    """
    if not _object(schedule):
        raise PayloadRuleError(field, "is required and must be an object with a time")
    for flag in ("in_local_time", "at_optimal_time"):
        check_bool(schedule, flag, f"{field}.")
    when = parse_time(schedule.get("time"), f"{field}.time")
    horizon = now + timedelta(days=rules.MAX_SCHEDULE_DAYS_AHEAD)
    if schedule.get("in_local_time") or schedule.get("at_optimal_time"):
        if when.tzinfo is not None:
            raise PayloadRuleError(
                f"{field}.time", "must not carry a UTC offset with in_local_time or at_optimal_time (wall-clock time)"
            )
        wall = when.replace(tzinfo=timezone.utc)
        # The last time zone to reach a wall-clock time is UTC-12, the first UTC+14.
        if wall + timedelta(hours=12) <= now:
            raise PayloadRuleError(f"{field}.time", "has already passed in every time zone")
        if wall - timedelta(hours=14) > horizon:
            raise PayloadRuleError(f"{field}.time", f"is more than {rules.MAX_SCHEDULE_DAYS_AHEAD} days ahead")
        return
    aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    if aware <= now:
        raise PayloadRuleError(f"{field}.time", "is in the past")
    if aware > horizon:
        raise PayloadRuleError(f"{field}.time", f"is more than {rules.MAX_SCHEDULE_DAYS_AHEAD} days ahead")
