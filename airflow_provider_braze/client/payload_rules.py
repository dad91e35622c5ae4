"""Braze's documented limits and field rules for messaging payloads, as data.

No Airflow imports. The client's validation reads these; the sandbox keeps its own table
(``airflow_provider_braze.testing.sandbox.rules``), written from Braze's documentation.
"""

from __future__ import annotations

#: ``external_user_ids`` + ``user_aliases`` (``/messages/send``) or ``recipients`` (triggers) per request.
MAX_USERS_PER_REQUEST = 50
#: ``trigger_properties`` and ``context`` (``canvas_entry_properties``), serialised.
MAX_PROPERTIES_BYTES = 50 * 1024
#: Whole request body (413 above it).
MAX_REQUEST_BYTES = 4 * 1024 * 1024
#: What the client lets one request body weigh, as written on the wire: Braze's "4 MB" read as
#: 4,000,000 bytes, so a batch stays under the limit whichever way Braze counts a megabyte.
REQUEST_BYTES_BUDGET = 4_000_000
#: ``send_id``: ASCII, at most 64 characters.
MAX_SEND_ID_LENGTH = 64
#: Schedules may be at most this many days ahead.
MAX_SCHEDULE_DAYS_AHEAD = 90
APPLE_PUSH_MAX_BYTES = 1912
ANDROID_PUSH_MAX_BYTES = 4000

#: A recipient object carries exactly one of these.
RECIPIENT_IDENTIFIERS = ("external_user_id", "user_alias", "braze_id", "email")
#: Per-recipient personalisation: ``trigger_properties`` (campaigns), ``context`` and its older name
#: ``canvas_entry_properties`` (Canvases).
RECIPIENT_PROPERTY_FIELDS = ("trigger_properties", "context", "canvas_entry_properties")
#: Every key of Braze's recipient object.
RECIPIENT_KEYS = (
    *RECIPIENT_IDENTIFIERS,
    "prioritization",
    "send_to_existing_only",
    "attributes",
    *RECIPIENT_PROPERTY_FIELDS,
)

RECIPIENT_SUBSCRIPTION_STATES = ("opted_in", "subscribed", "all")

#: Fields every message object of a channel must have (``messages.<channel>``).
MESSAGE_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "apple_push": (),  # ``alert`` unless ``content-available`` is true (checked separately)
    "android_push": ("alert", "title"),  # not with ``send_to_sync`` (checked separately)
    "kindle_push": ("alert", "title"),
    "web_push": ("alert", "title"),
    "email": ("app_id", "from"),  # ``body`` unless ``email_template_id`` (checked separately)
    "sms": ("subscription_group_id", "body", "app_id"),
    "webhook": ("url", "request_method"),
    "content_card": ("type", "title", "description"),
    "whats_app": ("app_id", "subscription_group_id", "message_type", "message"),
}
#: Channels only older doc versions list; accepted, without field checks.
LEGACY_MESSAGE_TYPES = ("windows_phone8_push", "windows_universal_push")

#: Enumerated fields of message objects: ``(channel, field) -> allowed values``.
MESSAGE_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
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

#: Push channels whose ``extra`` must be a JSON object.
PUSH_WITH_EXTRA = ("apple_push", "android_push", "kindle_push", "web_push")
