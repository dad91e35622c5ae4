"""The sandbox's request checks: what Braze refuses, with Braze's status and message.

Each ``check_*`` function raises :class:`Rejection` for the first rule a request breaks. Messages
follow Braze's documented ``message`` strings where Braze documents one; ``errors`` says which field
broke which rule (those strings are the sandbox's own, Braze's are undocumented).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_braze import payload_rules as rules


class Rejection(Exception):
    """A request Braze would refuse.

    :param status: HTTP status.
    :param message: Braze's ``message``.
    :param errors: details (field and rule).
    """

    def __init__(self, status: int, message: str, *errors: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)

    def body(self) -> dict[str, Any]:
        """The JSON body Braze answers with."""
        return {"message": self.message, "errors": self.errors}


def bad_request(*errors: str, message: str = "Bad Request") -> Rejection:
    """A 400 with Braze's generic message."""
    return Rejection(400, message, *errors)


def parse_time(value: Any, field: str) -> datetime:
    """Parse an ISO 8601 time (``Z`` accepted); naive results stay naive."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{field} must be an ISO 8601 time string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"{field} could not be parsed as an ISO 8601 time: {value!r}") from None


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def check_bool(body: dict[str, Any], field: str) -> None:
    """``field`` is absent or a JSON boolean."""
    if field in body and not isinstance(body[field], bool):
        raise bad_request(f"{field} must be true or false")


def check_properties(value: Any, field: str) -> None:
    """A personalisation object: a JSON object of at most 50 KB."""
    if value is None:
        return
    if not _is_object(value):
        raise bad_request(f"{field} must be a JSON object")
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > rules.MAX_PROPERTIES_BYTES:
        raise bad_request(f"{field} is {size} bytes; the limit is {rules.MAX_PROPERTIES_BYTES} bytes (50 KB)")


def check_send_id(body: dict[str, Any]) -> None:
    """``send_id``: an ASCII string of at most 64 characters."""
    if "send_id" not in body:
        return
    send_id = body["send_id"]
    if not isinstance(send_id, str) or not send_id or not send_id.isascii():
        raise bad_request("send_id must be a non-empty ASCII string")
    if len(send_id) > rules.MAX_SEND_ID_LENGTH:
        raise bad_request(f"send_id must be at most {rules.MAX_SEND_ID_LENGTH} characters")


def check_alias(alias: Any, field: str) -> None:
    """A user alias object: ``alias_name`` and ``alias_label`` strings."""
    if not _is_object(alias):
        raise bad_request(f"{field} must be an object with alias_name and alias_label")
    for key in ("alias_name", "alias_label"):
        if not isinstance(alias.get(key), str) or not alias[key]:
            raise bad_request(f"{field}.{key} is required and must be a string")


def check_recipients(body: dict[str, Any], properties_field: str | None) -> list[dict[str, Any]]:
    """The ``recipients`` list of a trigger or trigger-schedule request; returns it."""
    recipients = body.get("recipients")
    if recipients is None:
        return []
    if not isinstance(recipients, list):
        raise bad_request("recipients must be an array")
    if len(recipients) > rules.MAX_USERS_PER_REQUEST:
        raise Rejection(400, "The max number of ids per request was exceeded")
    for index, recipient in enumerate(recipients):
        where = f"recipients[{index}]"
        if not _is_object(recipient):
            raise bad_request(f"{where} must be an object")
        present = [key for key in rules.RECIPIENT_IDENTIFIERS if recipient.get(key) not in (None, "")]
        if len(present) != 1:
            raise bad_request(
                f"{where} must have exactly one of {', '.join(rules.RECIPIENT_IDENTIFIERS)} (has {len(present)})"
            )
        if "user_alias" in present:
            check_alias(recipient["user_alias"], f"{where}.user_alias")
        if "email" in present and not isinstance(recipient.get("prioritization"), list):
            raise bad_request(f"{where}.prioritization is required (an array) when email identifies the recipient")
        existing_only = recipient.get("send_to_existing_only", True)
        if not isinstance(existing_only, bool):
            raise bad_request(f"{where}.send_to_existing_only must be true or false")
        if existing_only is False:
            if "user_alias" in present:
                raise bad_request(f"{where}: send_to_existing_only false cannot be used with user_alias")
            if not _is_object(recipient.get("attributes")):
                raise bad_request(f"{where}: send_to_existing_only false requires attributes")
        if "attributes" in recipient and not _is_object(recipient["attributes"]):
            raise bad_request(f"{where}.attributes must be an object")
        if properties_field:
            check_properties(recipient.get(properties_field), f"{where}.{properties_field}")
    return recipients


def check_broadcast_targets(body: dict[str, Any], *, listed: bool, broadcast_alone_targets: bool) -> None:
    """The targeting rules shared by every send and schedule-create endpoint.

    :param listed: users or recipients are listed in the request.
    :param broadcast_alone_targets: ``broadcast: true`` with nothing else targets the campaign's
        or Canvas's own segment (trigger endpoints); on ``/messages/send`` it needs a segment or
        an audience.
    """
    check_bool(body, "broadcast")
    broadcast = body.get("broadcast", False)
    if broadcast and listed:
        raise bad_request("broadcast cannot be true when users or recipients are listed")
    if broadcast and body.get("attachments"):
        raise bad_request("attachments cannot be used with broadcast")
    has_audience = body.get("audience") is not None or body.get("segment_id") is not None
    if body.get("audience") is not None and not _is_object(body["audience"]):
        raise bad_request("audience must be a connected audience object")
    if listed:
        return
    if not broadcast:
        raise Rejection(
            400, "No Recipients", "list users or recipients, or set broadcast to true to send to a segment or audience"
        )
    if not broadcast_alone_targets and not has_audience:
        raise Rejection(400, "No Recipients", "broadcast needs segment_id or audience")


def check_messages(body: dict[str, Any], *, required: bool = True) -> None:
    """The ``messages`` object: known channels, required fields, enums, push sizes."""
    messages = body.get("messages")
    if messages is None and not required:
        return
    if not _is_object(messages) or not messages:
        raise Rejection(400, "No message to send")
    needs_variation = "campaign_id" in body
    for channel, message in messages.items():
        where = f"messages.{channel}"
        if channel in rules.LEGACY_MESSAGE_TYPES:
            continue
        if channel not in rules.MESSAGE_REQUIRED_FIELDS:
            raise bad_request(f"{where}: unknown message type")
        if not _is_object(message):
            raise bad_request(f"{where} must be an object")
        if needs_variation and not message.get("message_variation_id"):
            raise Rejection(400, "Message Variant Unspecified", f"{where}.message_variation_id is required")
        for field in rules.MESSAGE_REQUIRED_FIELDS[channel]:
            if channel == "android_push" and message.get("send_to_sync"):
                break
            if message.get(field) in (None, ""):
                raise bad_request(f"{where}.{field} is required")
        _check_channel_specifics(channel, message, where)


def _check_channel_specifics(channel: str, message: dict[str, Any], where: str) -> None:
    for (enum_channel, field), allowed in rules.MESSAGE_ENUMS.items():
        if enum_channel == channel and field in message and message[field] not in allowed:
            raise bad_request(f"{where}.{field} must be one of {', '.join(allowed)}")
    if channel in rules.PUSH_WITH_EXTRA and "extra" in message and not _is_object(message["extra"]):
        raise Rejection(400, "Invalid Extra Push Payload", f"{where}.extra must be an object")
    if channel == "apple_push":
        if not message.get("alert") and not message.get("content-available"):
            raise bad_request(f"{where}.alert is required unless content-available is true")
        if len(json.dumps(message).encode()) > rules.APPLE_PUSH_MAX_BYTES:
            raise Rejection(400, "Apple Push Length Exceeded")
    if channel == "android_push":
        if message.get("send_to_sync") and (message.get("alert") or message.get("title")):
            raise bad_request(f"{where}: send_to_sync cannot be used with alert or title")
        size = len(json.dumps({"alert": message.get("alert"), "extra": message.get("extra")}).encode())
        if size > rules.ANDROID_PUSH_MAX_BYTES:
            raise Rejection(400, "Android Push Length Exceeded")
    if channel == "email" and not message.get("body") and not message.get("email_template_id"):
        raise bad_request(f"{where}.body is required unless email_template_id is given")
    if channel == "content_card":
        if message.get("type") in ("CAPTIONED_IMAGE", "BANNER") and not message.get("image_url"):
            raise bad_request(f"{where}.image_url is required for {message['type']} cards")
        if message.get("time_to_live") is None and message.get("expire_at") is None:
            raise bad_request(f"{where}: one of time_to_live or expire_at is required")


def check_schedule(body: dict[str, Any], now: datetime, *, required: bool = True) -> None:
    """The ``schedule`` object: a parseable time, the local/optimal-time rules, at most 90 days ahead."""
    schedule = body.get("schedule")
    if schedule is None and not required:
        return
    if not _is_object(schedule):
        raise bad_request("schedule is required and must be an object with a time")
    for flag in ("in_local_time", "at_optimal_time"):
        check_bool(schedule, flag)
    when = parse_time(schedule.get("time"), "schedule.time")
    local = schedule.get("in_local_time") or schedule.get("at_optimal_time")
    if local:
        if when.tzinfo is not None:
            raise bad_request("schedule.time must not carry a UTC offset with in_local_time or at_optimal_time")
        # The last time zone to reach a wall-clock time is UTC-12.
        latest = when.replace(tzinfo=timezone.utc) + timedelta(hours=12)
        earliest = when.replace(tzinfo=timezone.utc) - timedelta(hours=14)
        if latest <= now:
            raise bad_request("schedule.time has already passed in every time zone")
        if earliest > now + timedelta(days=rules.MAX_SCHEDULE_DAYS_AHEAD):
            raise bad_request(f"schedule.time is more than {rules.MAX_SCHEDULE_DAYS_AHEAD} days ahead")
        return
    aware = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    if aware <= now:
        raise bad_request("schedule.time is in the past")
    if aware > now + timedelta(days=rules.MAX_SCHEDULE_DAYS_AHEAD):
        raise bad_request(f"schedule.time is more than {rules.MAX_SCHEDULE_DAYS_AHEAD} days ahead")


def check_required_string(body: dict[str, Any], field: str) -> str:
    """``field`` is present and a non-empty string; returns it."""
    value = body.get(field)
    if not isinstance(value, str) or not value:
        message = {"campaign_id": "Invalid Campaign ID"}.get(field, "Bad Request")
        raise Rejection(400, message, f"{field} is required")
    return value


def check_user_list(body: dict[str, Any]) -> int:
    """``external_user_ids`` and ``user_aliases`` of ``/messages/send``; returns how many users."""
    ids = body.get("external_user_ids") or []
    aliases = body.get("user_aliases") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise bad_request("external_user_ids must be an array of strings")
    if not isinstance(aliases, list):
        raise bad_request("user_aliases must be an array")
    for index, alias in enumerate(aliases):
        check_alias(alias, f"user_aliases[{index}]")
    if len(ids) + len(aliases) > rules.MAX_USERS_PER_REQUEST:
        raise Rejection(400, "The max number of external_ids and aliases per request was exceeded")
    if "recipient_subscription_state" in body and (
        body["recipient_subscription_state"] not in rules.RECIPIENT_SUBSCRIPTION_STATES
    ):
        raise bad_request(
            f"recipient_subscription_state must be one of {', '.join(rules.RECIPIENT_SUBSCRIPTION_STATES)}"
        )
    return len(ids) + len(aliases)
