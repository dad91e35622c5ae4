"""The sandbox's own rule table: what Braze's documentation says a request must be, as data and checks.

Written from Braze's documentation source (``braze-inc/braze-docs``: the endpoint pages under
``_docs/_api/endpoints/messaging/``, the object pages under ``_docs/_api/objects_filters/`` and
``_docs/_api/errors.md``), not from the provider's client-side validation: like moto, the fake
stands on its own, so a rule the client gets wrong is caught by a disagreement rather than
repeated on both sides. This module imports nothing from the provider outside
``airflow_provider_braze.testing.sandbox``.

Every refusal is a :class:`~airflow_provider_braze.testing.sandbox.validation.Rejection` carrying
Braze's documented ``message`` (``errors.md``'s fatal-error table: ``Bad Request``, ``No
Recipients``, ...) and one ``errors`` entry ``"<field>: <rule>"`` saying which rule, in the
sandbox's words. Where the docs contradict each other or an example contradicts its own page, the
decision taken is written next to the rule and in ``docs/sandbox.md`` ("Where Braze's examples and
our rules differ").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_braze.testing.sandbox.validation import Rejection

# -- Braze's fatal-error messages (errors.md, "Fatal errors") ------------------------------------------

BAD_REQUEST = "Bad Request"
NO_RECIPIENTS = "No Recipients"
INVALID_CAMPAIGN_ID = "Invalid Campaign ID"
MESSAGE_VARIANT_UNSPECIFIED = "Message Variant Unspecified"
INVALID_EXTRA_PUSH_PAYLOAD = "Invalid Extra Push Payload"
MAX_EXTERNAL_IDS_AND_ALIASES = "The max number of external_ids and aliases per request was exceeded"
MAX_IDS = "The max number of ids per request was exceeded"
NO_MESSAGE_TO_SEND = "No message to send"
APPLE_PUSH_LENGTH_EXCEEDED = "Apple Push Length Exceeded"
ANDROID_PUSH_LENGTH_EXCEEDED = "Android Push Length Exceeded"
INVALID_SCHEDULE_ID = "Invalid schedule_id"  # not in errors.md: Braze documents no text for it
RATE_LIMITED = "Rate Limited"

# -- limits -----------------------------------------------------------------------------------------

#: "The recipients array may contain up to 50 objects" (post_send_triggered_*.md); errors.md's two
#: "max number ... per request was exceeded" rows ("more than 50 external IDs").
MAX_IDS_PER_REQUEST = 50
#: "The context object has a maximum size limit of 50 KB" (post_send_triggered_canvases.md); the same
#: for trigger_properties (trigger_properties_object.md).
MAX_PROPERTIES_BYTES = 50 * 1024
#: payload_size_alert.md: requests over 4 MB are refused (413).
MAX_BODY_BYTES = 4 * 1024 * 1024
#: identifier_types.md: a send identifier is ASCII, at most 64 characters.
MAX_SEND_ID_LENGTH = 64
#: post_schedule_messages.md (older revisions): "at a designated time (up to 90 days in the future)".
MAX_SCHEDULE_DAYS_AHEAD = 90
#: errors.md: "Apple Push Length Exceeded: JSON payload is more than 1,912 bytes".
APPLE_PUSH_MAX_BYTES = 1912
#: errors.md: "Android Push Length Exceeded: JSON payload is more than 4,000 bytes" (alert + extra).
ANDROID_PUSH_MAX_BYTES = 4000
#: Local delivery reaches a wall-clock time first at UTC+14 and last at UTC-12.
FIRST_ZONE = timedelta(hours=14)
LAST_ZONE = timedelta(hours=12)

RECIPIENT_SUBSCRIPTION_STATES = ("opted_in", "subscribed", "all")
#: recipient_object.md: "You must include one of external_user_id, user_alias, braze_id, or email ...
#: Requests must specify only one."
RECIPIENT_IDENTIFIERS = ("external_user_id", "user_alias", "braze_id", "email")
RECIPIENT_KEYS = (
    *RECIPIENT_IDENTIFIERS,
    "prioritization",
    "trigger_properties",
    "context",
    "canvas_entry_properties",
    "send_to_existing_only",
    "attributes",
)

#: Per channel (objects_filters/messaging/*.md): the fields marked required. ``apple_push.alert`` is
#: required unless ``content-available`` is true; ``android_push`` needs none with ``send_to_sync``;
#: ``email.body`` unless ``email_template_id`` (checked in :func:`_check_channel`).
CHANNEL_REQUIRED: dict[str, tuple[str, ...]] = {
    "apple_push": (),
    "android_push": ("alert", "title"),
    "kindle_push": ("alert", "title"),
    "web_push": ("alert", "title"),
    "email": ("app_id", "from"),
    "sms": ("subscription_group_id", "body", "app_id"),
    "webhook": ("url", "request_method"),
    "content_card": ("type", "title", "description"),
    "whats_app": ("app_id", "subscription_group_id", "message_type", "message"),
}
#: Windows objects are only on older revisions of post_send_messages.md: accepted as given.
LEGACY_CHANNELS = ("windows_phone8_push", "windows_universal_push")
#: Enumerated fields of the channel objects.
CHANNEL_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("webhook", "request_method"): ("POST", "PUT", "DELETE", "GET"),
    ("content_card", "type"): ("CLASSIC", "CAPTIONED_IMAGE", "BANNER"),
    ("apple_push", "interruption_level"): ("passive", "active", "time-sensitive", "critical"),
    ("android_push", "android_priority"): ("normal", "high"),
    ("whats_app", "message_type"): (
        "template_message",
        "text_response_message",
        "text_image_response_message",
        "quick_reply_response_message",
        "list_response_message",
    ),
}
PUSH_CHANNELS = ("apple_push", "android_push", "kindle_push", "web_push")

# -- the endpoints ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One Braze endpoint the sandbox serves.

    :param method: ``GET`` or ``POST``.
    :param path: the path; ``{name}`` segments match any value.
    :param permission: the REST API key permission it needs (each page's "Prerequisites").
    :param bucket: its rate-limit budget: ``shared`` (the workspace's hourly pool), ``send`` (shared
        for listed users, the per-minute broadcast budget for segment or audience sends),
        ``send_id`` (per day) or a CDI per-minute budget.
    """

    method: str
    path: str
    permission: str
    bucket: str = "shared"

    def matches(self, path: str) -> bool:
        """Whether the concrete ``path`` is this endpoint's."""
        if "{" not in self.path:
            return path == self.path
        template, parts = self.path.strip("/").split("/"), path.strip("/").split("/")
        return len(template) == len(parts) and all(
            t.startswith("{") or t == p for t, p in zip(template, parts, strict=True)
        )


SEND_MESSAGE = Route("POST", "/messages/send", "messages.send", "send")
TRIGGER_CAMPAIGN = Route("POST", "/campaigns/trigger/send", "campaigns.trigger.send", "send")
TRIGGER_CANVAS = Route("POST", "/canvas/trigger/send", "canvas.trigger.send", "send")
CREATE_MESSAGE_SCHEDULE = Route("POST", "/messages/schedule/create", "messages.schedule.create")
UPDATE_MESSAGE_SCHEDULE = Route("POST", "/messages/schedule/update", "messages.schedule.update")
DELETE_MESSAGE_SCHEDULE = Route("POST", "/messages/schedule/delete", "messages.schedule.delete")
CREATE_CAMPAIGN_SCHEDULE = Route(
    "POST", "/campaigns/trigger/schedule/create", "campaigns.trigger.schedule.create", "send"
)
UPDATE_CAMPAIGN_SCHEDULE = Route("POST", "/campaigns/trigger/schedule/update", "campaigns.trigger.schedule.update")
DELETE_CAMPAIGN_SCHEDULE = Route("POST", "/campaigns/trigger/schedule/delete", "campaigns.trigger.schedule.delete")
CREATE_CANVAS_SCHEDULE = Route("POST", "/canvas/trigger/schedule/create", "canvas.trigger.schedule.create", "send")
UPDATE_CANVAS_SCHEDULE = Route("POST", "/canvas/trigger/schedule/update", "canvas.trigger.schedule.update")
DELETE_CANVAS_SCHEDULE = Route("POST", "/canvas/trigger/schedule/delete", "canvas.trigger.schedule.delete")
CREATE_SEND_ID = Route("POST", "/sends/id/create", "sends.id.create", "send_id")
SCHEDULED_BROADCASTS = Route("GET", "/messages/scheduled_broadcasts", "messages.schedule_broadcasts")
TRANSACTIONAL_EMAIL = Route("POST", "/transactional/v1/campaigns/{campaign_id}/send", "transactional.send")
CDI_INTEGRATIONS = Route("GET", "/cdi/integrations", "cdi.integration_list", "cdi_list")
CDI_SYNC = Route("POST", "/cdi/integrations/{integration_id}/sync", "cdi.integration_sync", "cdi_sync")
CDI_JOB_SYNC_STATUS = Route(
    "GET", "/cdi/integrations/{integration_id}/job_sync_status", "cdi.integration_job_status", "cdi_status"
)
SEND_DATA_SERIES = Route("GET", "/sends/data_series", "sends.data_series")
CAMPAIGN_DATA_SERIES = Route("GET", "/campaigns/data_series", "campaigns.data_series")
CANVAS_DATA_SERIES = Route("GET", "/canvas/data_series", "canvas.data_series")
CAMPAIGN_LIST = Route("GET", "/campaigns/list", "campaigns.list")
CAMPAIGN_DETAILS = Route("GET", "/campaigns/details", "campaigns.details")
CANVAS_LIST = Route("GET", "/canvas/list", "canvas.list")
CANVAS_DETAILS = Route("GET", "/canvas/details", "canvas.details")

CDI_ROUTES: tuple[Route, ...] = (CDI_INTEGRATIONS, CDI_SYNC, CDI_JOB_SYNC_STATUS)
#: Per-minute budgets of the CDI endpoints (braze-cdi: 50, 20 and 100 per minute).
CDI_RATE_LIMITS_PER_MINUTE = {"cdi_list": 50, "cdi_sync": 20, "cdi_status": 100}

#: Every endpoint the sandbox knows. A new sandbox module adds its routes with :func:`register`.
ROUTES: list[Route] = [
    SEND_MESSAGE,
    TRIGGER_CAMPAIGN,
    TRIGGER_CANVAS,
    CREATE_MESSAGE_SCHEDULE,
    UPDATE_MESSAGE_SCHEDULE,
    DELETE_MESSAGE_SCHEDULE,
    CREATE_CAMPAIGN_SCHEDULE,
    UPDATE_CAMPAIGN_SCHEDULE,
    DELETE_CAMPAIGN_SCHEDULE,
    CREATE_CANVAS_SCHEDULE,
    UPDATE_CANVAS_SCHEDULE,
    DELETE_CANVAS_SCHEDULE,
    CREATE_SEND_ID,
    SCHEDULED_BROADCASTS,
    TRANSACTIONAL_EMAIL,
    *CDI_ROUTES,
    SEND_DATA_SERIES,
    CAMPAIGN_DATA_SERIES,
    CANVAS_DATA_SERIES,
    CAMPAIGN_LIST,
    CAMPAIGN_DETAILS,
    CANVAS_LIST,
    CANVAS_DETAILS,
]


def register(*routes: Route) -> None:
    """Add endpoints to the table (a sandbox module modelling another Braze API)."""
    for route in routes:
        if route not in ROUTES:
            ROUTES.append(route)


def route_for(path: str) -> Route | None:
    """The endpoint a concrete path belongs to (exact paths first, then templates)."""
    for route in ROUTES:
        if "{" not in route.path and route.path == path:
            return route
    return next((route for route in ROUTES if route.matches(path)), None)


def rate_bucket(route: Route, body: Mapping[str, Any] | None) -> str:
    """The budget one request draws on: ``broadcast``, ``send_id``, a CDI budget, or ``shared``.

    rate_limits.md: send endpoints aimed at a segment, the dashboard audience or a connected
    audience use the per-minute broadcast budget; calls naming users share the hourly pool.
    """
    if route.bucket in ("send_id", *CDI_RATE_LIMITS_PER_MINUTE):
        return route.bucket
    if route.bucket == "send" and body is not None:
        listed = body.get("recipients") or body.get("external_user_ids") or body.get("user_aliases")
        if body.get("broadcast") is True or (not listed and (body.get("segment_id") or body.get("audience"))):
            return "broadcast"
    return "shared"


# -- refusals -----------------------------------------------------------------------------------------


def refuse(field: str, rule: str, message: str = BAD_REQUEST, status: int = 400) -> Rejection:
    """The answer to a broken rule: Braze's ``message``, and ``"<field>: <rule>"`` in ``errors``."""
    return Rejection(status, message, f"{field}: {rule}")


def _is_object(value: Any) -> bool:
    return isinstance(value, Mapping)


def _non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


#: The JSON type each top-level field must have, from the "Data Type" column of the endpoint pages.
FIELD_TYPES: dict[str, str] = {
    "broadcast": "boolean",
    "external_user_ids": "array",
    "user_aliases": "array",
    "segment_id": "string",
    "audience": "object",
    "campaign_id": "string",
    "canvas_id": "string",
    "send_id": "string",
    "schedule_id": "string",
    "override_frequency_capping": "boolean",
    "override_messaging_limits": "boolean",
    "recipient_subscription_state": "string",
    "trigger_properties": "object",
    "context": "object",
    "canvas_entry_properties": "object",
    "recipients": "array",
    "attachments": "array",
    "schedule": "object",
    "messages": "object",
}
_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": _is_object,
    "string": lambda v: isinstance(v, str),
}
_TYPE_WORDS = {"boolean": "true or false", "array": "an array", "object": "a JSON object", "string": "a string"}


def check_types(body: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    """Each of ``fields`` present in ``body`` has its documented JSON type.

    A JSON string ``"false"`` is not a boolean: the pages' parameter tables say Boolean, and some
    examples write ``"broadcast": "false"`` (decision D1 in docs/sandbox.md).
    """
    for field in fields:
        if field in body and not _TYPE_TESTS[FIELD_TYPES[field]](body[field]):
            raise refuse(field, f"must be {_TYPE_WORDS[FIELD_TYPES[field]]} (got {type(body[field]).__name__})")


def json_bytes(value: Any) -> int:
    """Bytes of ``value`` as compact JSON."""
    return len(json.dumps(value, separators=(",", ":")).encode())


def check_finite(value: Any, field: str) -> None:
    """No NaN or Infinity anywhere (JSON has no such numbers; the body parser refuses them first)."""
    stack: list[tuple[str, Any]] = [(field, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise refuse(path, "is not a JSON number")
        if isinstance(item, Mapping):
            stack.extend((f"{path}.{key}", child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))


def check_required_id(body: Mapping[str, Any], field: str) -> str:
    """A required identifier: present, a non-empty string. ``campaign_id`` answers ``Invalid Campaign ID``."""
    value = body.get(field)
    if not _non_empty_string(value):
        message = INVALID_CAMPAIGN_ID if field == "campaign_id" else BAD_REQUEST
        raise refuse(field, "is required (a non-empty string)", message)
    return str(value)


def check_properties(value: Any, field: str) -> None:
    """``trigger_properties`` / ``context``: a JSON object of at most 50 KB."""
    if value is None:
        return
    if not _is_object(value):
        raise refuse(field, "must be a JSON object")
    size = json_bytes(value)
    if size > MAX_PROPERTIES_BYTES:
        raise refuse(field, f"is {size} bytes; the limit is {MAX_PROPERTIES_BYTES} bytes (50 KB)")


def check_send_id(value: Any, field: str = "send_id") -> None:
    """identifier_types.md: a send id is an ASCII string of at most 64 characters."""
    if value is None:
        return
    if not isinstance(value, str) or not value or not value.isascii():
        raise refuse(field, "must be a non-empty ASCII string")
    if len(value) > MAX_SEND_ID_LENGTH:
        raise refuse(field, f"must be at most {MAX_SEND_ID_LENGTH} characters (has {len(value)})")


def check_alias(alias: Any, field: str) -> None:
    """user_alias_object.md: ``{"alias_name": (required, string), "alias_label": (required, string)}``."""
    if not _is_object(alias):
        raise refuse(field, "must be a user alias object (alias_name and alias_label)")
    for key in ("alias_name", "alias_label"):
        if not _non_empty_string(alias.get(key)):
            raise refuse(f"{field}.{key}", "is required (a non-empty string)")


# -- targets ------------------------------------------------------------------------------------------


def check_message_targets(body: Mapping[str, Any]) -> list[str]:
    """``/messages/send`` and ``/messages/schedule/create``: users, segment, audience and broadcast.

    Returns the delivery keys (one per listed user, or the segment/audience).
    """
    ids, aliases = body.get("external_user_ids"), body.get("user_aliases")
    for index, user_id in enumerate(ids or []):
        if not _non_empty_string(user_id):
            raise refuse(f"external_user_ids[{index}]", "must be a non-empty string")
    for index, alias in enumerate(aliases or []):
        check_alias(alias, f"user_aliases[{index}]")
    total = len(ids or []) + len(aliases or [])
    if total > MAX_IDS_PER_REQUEST:
        raise refuse(
            "external_user_ids",
            f"with user_aliases, at most {MAX_IDS_PER_REQUEST} per request (has {total})",
            MAX_EXTERNAL_IDS_AND_ALIASES,
        )
    if "segment_id" in body and not _non_empty_string(body["segment_id"]):
        raise refuse("segment_id", "must be a non-empty string")
    _check_audience(body)
    listed = total > 0
    if body.get("broadcast") is True and listed:
        raise refuse("broadcast", "cannot be true when users are listed (a recipients list cannot be included)")
    if not listed:
        if body.get("broadcast") is not True:
            raise refuse("recipients", "no users listed and broadcast is not true", NO_RECIPIENTS)
        if "segment_id" not in body and "audience" not in body:
            raise refuse("broadcast", "needs segment_id or audience on this endpoint", NO_RECIPIENTS)
    keys = [f"external_user_id:{user_id}" for user_id in ids or []]
    keys += [f"user_alias:{a['alias_label']}:{a['alias_name']}" for a in aliases or []]
    return keys or [f"broadcast:{body.get('segment_id') or 'audience'}"]


def _check_audience(body: Mapping[str, Any]) -> None:
    if "audience" in body and not body["audience"]:
        raise refuse("audience", "must be a non-empty connected audience object")


def check_recipient(recipient: Any, field: str, properties: tuple[str, ...]) -> str:
    """recipient_object.md: one identifier, ``prioritization`` with email, ``send_to_existing_only``
    rules, and the endpoint's personalisation field. Returns the delivery key."""
    if not _is_object(recipient):
        raise refuse(field, "must be a recipient object")
    for key in recipient:
        if key not in RECIPIENT_KEYS:
            raise refuse(f"{field}.{key}", f"is not a recipients-object field; allowed: {', '.join(RECIPIENT_KEYS)}")
        if key in ("trigger_properties", "context", "canvas_entry_properties") and key not in properties:
            raise refuse(f"{field}.{key}", f"is not used by this endpoint (it takes {properties[0]})")
    if "context" in recipient and "canvas_entry_properties" in recipient:
        raise refuse(f"{field}.canvas_entry_properties", "is the older name of context: give only one of them")
    present = [key for key in RECIPIENT_IDENTIFIERS if key in recipient]
    if len(present) != 1:
        found = ", ".join(present) or "none"
        raise refuse(field, f"must have exactly one of {', '.join(RECIPIENT_IDENTIFIERS)} (found: {found})")
    identifier = present[0]
    if identifier == "user_alias":
        check_alias(recipient["user_alias"], f"{field}.user_alias")
    elif not _non_empty_string(recipient[identifier]):
        raise refuse(f"{field}.{identifier}", "must be a non-empty string")
    prioritization = recipient.get("prioritization")
    if identifier == "email" and (not isinstance(prioritization, list) or not prioritization):
        raise refuse(f"{field}.prioritization", "is required with email (a non-empty array)")
    if "prioritization" in recipient:
        if not isinstance(prioritization, list):
            raise refuse(f"{field}.prioritization", "must be an array of strings")
        for index, item in enumerate(prioritization):
            if not _non_empty_string(item):
                raise refuse(f"{field}.prioritization[{index}]", "must be a non-empty string")
    existing_only = recipient.get("send_to_existing_only", True)
    if not isinstance(existing_only, bool):
        raise refuse(f"{field}.send_to_existing_only", "must be true or false")
    if "attributes" in recipient and not _is_object(recipient["attributes"]):
        raise refuse(f"{field}.attributes", "must be an object")
    if existing_only is False:
        if identifier == "user_alias":
            raise refuse(f"{field}.send_to_existing_only", "false cannot be used with user_alias")
        if "attributes" not in recipient:
            raise refuse(f"{field}.send_to_existing_only", "false requires attributes (an object)")
    for key in properties:
        if key in recipient:
            check_properties(recipient[key], f"{field}.{key}")
    if identifier == "user_alias":
        alias = recipient["user_alias"]
        return f"user_alias:{alias['alias_label']}:{alias['alias_name']}"
    return f"{identifier}:{recipient[identifier]}"


def check_trigger_targets(body: Mapping[str, Any], id_field: str, properties: tuple[str, ...]) -> list[str]:
    """Trigger sends and trigger schedules: recipients, audience, broadcast, attachments.

    Returns the delivery keys (one per recipient, or the campaign's/Canvas's own audience).
    """
    if "segment_id" in body:
        raise refuse("segment_id", "is not supported on trigger endpoints: use broadcast or audience")
    recipients = body.get("recipients") or []
    if len(recipients) > MAX_IDS_PER_REQUEST:
        raise refuse("recipients", f"at most {MAX_IDS_PER_REQUEST} per request (has {len(recipients)})", MAX_IDS)
    keys = [check_recipient(r, f"recipients[{i}]", properties) for i, r in enumerate(recipients)]
    _check_audience(body)
    if body.get("broadcast") is True and recipients:
        raise refuse("broadcast", "cannot be true when recipients are listed (a recipients list cannot be included)")
    if body.get("broadcast") is True and body.get("attachments"):
        raise refuse("attachments", "cannot be used with broadcast (the attachments list cannot be included)")
    if not recipients and body.get("broadcast") is not True:
        # "must be set to true if recipients is omitted" (each trigger page's broadcast row).
        raise refuse("recipients", "no recipients listed and broadcast is not true", NO_RECIPIENTS)
    return keys or [f"broadcast:{body[id_field]}"]


# -- messages -----------------------------------------------------------------------------------------


def check_messages(messages: Any, *, campaign_id: Any = None) -> None:
    """The messaging objects: known channels, required fields, enums, push sizes, variation ids."""
    if not _is_object(messages) or not messages:
        raise refuse("messages", "must be a non-empty object of messaging objects", NO_MESSAGE_TO_SEND)
    for channel, message in messages.items():
        field = f"messages.{channel}"
        if channel in LEGACY_CHANNELS:
            continue
        if channel not in CHANNEL_REQUIRED:
            raise refuse(field, f"unknown message type (messaging objects: {', '.join(CHANNEL_REQUIRED)})")
        if not _is_object(message):
            raise refuse(field, "must be an object")
        if campaign_id is not None and not message.get("message_variation_id"):
            raise refuse(
                f"{field}.message_variation_id", "is required when campaign_id is given", MESSAGE_VARIANT_UNSPECIFIED
            )
        silent = channel == "android_push" and message.get("send_to_sync") is True
        for required in () if silent else CHANNEL_REQUIRED[channel]:
            if message.get(required) in (None, ""):
                raise refuse(f"{field}.{required}", "is required")
        _check_channel(channel, message, field)


def _check_channel(channel: str, message: Mapping[str, Any], field: str) -> None:
    for (enum_channel, name), allowed in CHANNEL_ENUMS.items():
        if enum_channel == channel and name in message and message[name] not in allowed:
            raise refuse(f"{field}.{name}", f"must be one of {', '.join(allowed)} (got {message[name]!r})")
    if channel in PUSH_CHANNELS and "extra" in message and not _is_object(message["extra"]):
        raise refuse(f"{field}.extra", "must be an object", INVALID_EXTRA_PUSH_PAYLOAD)
    if channel == "apple_push":
        if not message.get("alert") and message.get("content-available") is not True:
            raise refuse(f"{field}.alert", "is required unless content-available is true")
        if json_bytes(message) > APPLE_PUSH_MAX_BYTES:
            raise refuse(field, f"is over {APPLE_PUSH_MAX_BYTES} bytes", APPLE_PUSH_LENGTH_EXCEEDED)
    if channel == "android_push":
        if message.get("send_to_sync") is True and (message.get("alert") or message.get("title")):
            raise refuse(f"{field}.send_to_sync", "cannot be used with alert or title")
        if json_bytes({"alert": message.get("alert"), "extra": message.get("extra")}) > ANDROID_PUSH_MAX_BYTES:
            rule = f"alert and extra are over {ANDROID_PUSH_MAX_BYTES} bytes"
            raise refuse(field, rule, ANDROID_PUSH_LENGTH_EXCEEDED)
    if channel == "email" and not message.get("body") and not message.get("email_template_id"):
        raise refuse(f"{field}.body", "is required unless email_template_id is given")
    if channel == "content_card":
        if message.get("type") in ("CAPTIONED_IMAGE", "BANNER") and not message.get("image_url"):
            raise refuse(f"{field}.image_url", f"is required for {message['type']} cards")
        if message.get("time_to_live") is None and message.get("expire_at") is None:
            raise refuse(field, "needs one of time_to_live or expire_at")


# -- times and schedules ------------------------------------------------------------------------------

_ISO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_time(value: Any, field: str) -> datetime:
    """An ISO 8601 time (``Z``, ``+hh:mm``, ``+hhmm`` or no zone; a date alone is its midnight).

    A time without a zone stays naive: what it means depends on the schedule (UTC, or wall-clock).
    """
    match = _ISO_TIME.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise refuse(field, f"could not be parsed as an ISO 8601 time: {value!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz: timezone | None = None
    if zone in ("Z", "z"):
        tz = timezone.utc
    elif zone:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        try:
            tz = timezone(-offset if zone[0] == "-" else offset)
        except ValueError:
            raise refuse(field, f"has an impossible UTC offset: {value!r}") from None
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        raise refuse(field, f"is not a real date or time: {value!r}") from None


def _shift(when: datetime, delta: timedelta, field: str) -> datetime:
    try:
        return when + delta
    except OverflowError:
        raise refuse(field, "is out of range") from None


def check_schedule(schedule: Any, now: datetime, field: str = "schedule") -> None:
    """schedule_object.md.

    * ``time`` is required; without local or optimal sending it is "time to send the message in
      UTC": an offset is honoured, a time without one is UTC (the update pages' example: a schedule
      without ``in_local_time`` "will now be sent at the provided time in UTC").
    * ``in_local_time``: "an error response if the time parameter has passed in all time zones"
      (the last zone to reach a wall-clock time is UTC-12).
    * ``at_optimal_time``: "the designated date at the optimal time (regardless of the time you
      provide)": refused once that date has ended everywhere.
    * Local and optimal sending: "do not provide time zone designators" (refused; decision D3).
    * At most 90 days ahead.
    """
    if not _is_object(schedule):
        raise refuse(field, "is required (a schedule object with a time)")
    for key in schedule:
        if key not in ("time", "in_local_time", "at_optimal_time"):
            allowed = "time, in_local_time, at_optimal_time"
            raise refuse(f"{field}.{key}", f"is not a schedule-object field; allowed: {allowed}")
    for flag in ("in_local_time", "at_optimal_time"):
        if flag in schedule and not isinstance(schedule[flag], bool):
            raise refuse(f"{field}.{flag}", "must be true or false")
    time_field = f"{field}.time"
    when = parse_time(schedule.get("time"), time_field)
    local, optimal = schedule.get("in_local_time") is True, schedule.get("at_optimal_time") is True
    horizon = now + timedelta(days=MAX_SCHEDULE_DAYS_AHEAD)
    if local and optimal:
        raise refuse(field, "in_local_time and at_optimal_time are alternatives: set only one")
    if local or optimal:
        if when.tzinfo is not None:
            rule = "must not carry a UTC offset with in_local_time or at_optimal_time (wall-clock time)"
            raise refuse(time_field, rule)
        wall = when.replace(tzinfo=timezone.utc)
        if optimal:
            midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
            first = _shift(midnight, -FIRST_ZONE, time_field)
            last = _shift(midnight, timedelta(days=1) + LAST_ZONE, time_field)
            passed = "is a date that has already ended in every time zone"
        else:
            first, last = _shift(wall, -FIRST_ZONE, time_field), _shift(wall, LAST_ZONE, time_field)
            passed = "has already passed in every time zone"
        if last <= now:
            raise refuse(time_field, passed)
        if first > horizon:
            raise refuse(time_field, f"is more than {MAX_SCHEDULE_DAYS_AHEAD} days ahead")
        return
    moment = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    if moment <= now:
        raise refuse(time_field, "is in the past")
    if moment > horizon:
        raise refuse(time_field, f"is more than {MAX_SCHEDULE_DAYS_AHEAD} days ahead")


def broadcast_window(broadcast: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    """When a listed broadcast's next send starts and ends, in UTC (get_messages_scheduled.md).

    ``next_send_time`` carries a zone except for ``local_time_zones`` (a wall-clock time from UTC+14
    to UTC-12) and ``intelligent_delivery`` (the whole local day) broadcasts. None if unparsable.
    """
    try:
        when = parse_time(broadcast.get("next_send_time"), "next_send_time")
    except Rejection:
        return None
    if when.tzinfo is not None:
        moment = when.astimezone(timezone.utc)
        return moment, moment
    wall = when.replace(tzinfo=timezone.utc)
    schedule_type = str(broadcast.get("schedule_type") or "")
    if schedule_type == "intelligent_delivery":
        day = wall.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - FIRST_ZONE, day + timedelta(days=1) + LAST_ZONE
    if schedule_type and schedule_type != "local_time_zones":
        try:
            from zoneinfo import ZoneInfo

            moment = when.replace(tzinfo=ZoneInfo(schedule_type)).astimezone(timezone.utc)
            return moment, moment
        except (ValueError, KeyError, OSError):
            pass
    return wall - FIRST_ZONE, wall + LAST_ZONE


# -- transactional email (post_send_transactional_message.md) -----------------------------------------

#: ``external_send_id``: "Base64 compatible ... /^[a-zA-Z0-9-_+\\/=]+$/".
EXTERNAL_SEND_ID_PATTERN = re.compile(r"^[a-zA-Z0-9\-_+/=]+$")
#: A repeated ``external_send_id`` within 24 hours is not sent again.
DEDUP_WINDOW = timedelta(hours=24)
