"""Transactional email (``POST /transactional/v1/campaigns/{campaign_id}/send``): one recipient per
request, and the only Braze send with server-side de-duplication.

Braze does not send again a request whose ``external_send_id`` it saw in the last 24 hours; it
answers "The external reference has been queued. Please retry to obtain send_id." instead. This
module recognises the "already queued" answer as an acceptance. The plan of one request
per recipient is :mod:`airflow_provider_braze.engine.transactional_plan`. No Airflow imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_braze.client import payload_validation as pv

#: Braze's format rule for ``external_send_id`` (letters, digits, ``- _ + / =``: Base64-compatible).
EXTERNAL_SEND_ID_PATTERN = re.compile(r"^[a-zA-Z0-9\-_+/=]+$")
#: No maximum is documented; send ids are capped at 64, and a SHA-256 hex digest is exactly 64.
MAX_EXTERNAL_SEND_ID_LENGTH = 64
#: How long Braze remembers an ``external_send_id`` (a repeat within it is not sent again).
DEDUP_WINDOW_HOURS = 24
#: Braze's answer to a repeated ``external_send_id`` (its HTTP status is not documented; matched on text).
ALREADY_QUEUED_TEXT = "the external reference has been queued"
#: Recipient keys the transactional endpoint documents (one identifier + attributes).
TRANSACTIONAL_RECIPIENT_KEYS = ("external_user_id", "user_alias", "attributes")
#: Version of the external_send_id derivation (part of the hashed material).
EXTERNAL_SEND_ID_VERSION = "v1"


def check_external_send_id(value: Any, field: str = "external_send_id") -> None:
    """Braze's format rule: a non-empty string of ``[a-zA-Z0-9-_+/=]``, at most 64 characters here."""
    if not isinstance(value, str) or not value:
        raise pv.PayloadRuleError(field, "must be a non-empty string")
    if not EXTERNAL_SEND_ID_PATTERN.match(value):
        raise pv.PayloadRuleError(field, "may contain only letters, digits and - _ + / = (Base64-compatible)")
    if len(value) > MAX_EXTERNAL_SEND_ID_LENGTH:
        raise pv.PayloadRuleError(field, f"must be at most {MAX_EXTERNAL_SEND_ID_LENGTH} characters")


def is_already_queued(message: str | None) -> bool:
    """Whether Braze's error text says the ``external_send_id`` was seen in the last 24 hours."""
    return bool(message) and ALREADY_QUEUED_TEXT in " ".join(str(message).lower().split())


def check_transactional_recipient(recipient: Mapping[str, Any], label: str) -> None:
    """The transactional endpoint takes one ``external_user_id`` or ``user_alias`` (+ ``attributes``)."""
    for key in recipient:
        if key in TRANSACTIONAL_RECIPIENT_KEYS or key == "trigger_properties":
            continue
        raise pv.PayloadRuleError(
            f"{label}.{key}",
            "is not supported by transactional email: a recipient is an external_user_id or a user_alias, "
            "with optional attributes and trigger_properties",
        )
    if "external_user_id" not in recipient and "user_alias" not in recipient:
        raise pv.PayloadRuleError(label, "transactional email needs an external_user_id or a user_alias")


def already_queued_response(error: Any) -> Any:
    """The acceptance an "already queued" error stands for (a ``BrazeResponse`` with
    ``message="queued"`` and ``deduplicated=True``), or None when ``error`` is another error."""
    from airflow_provider_braze.client.transport.responses import BrazeResponse

    if not is_already_queued(getattr(error, "message", None)):
        return None
    body = {"message": "queued", "deduplicated": True, "braze_message": str(error.message)}
    return BrazeResponse(status=int(getattr(error, "status", 0) or 0), endpoint=str(error.endpoint), body=body)


def redact_transactional(body: Mapping[str, Any]) -> dict[str, Any]:
    """A transactional body safe to log: the recipient's identifier and data replaced."""
    safe = dict(body)
    recipient = dict(body.get("recipient") or {})
    for key in ("external_user_id", "user_alias"):
        if key in recipient:
            recipient[key] = "<redacted>"
    if isinstance(recipient.get("attributes"), Mapping):
        recipient["attributes"] = dict.fromkeys(recipient["attributes"], "<redacted>")
    if "recipient" in body:
        safe["recipient"] = recipient
    if isinstance(body.get("trigger_properties"), Mapping):
        safe["trigger_properties"] = dict.fromkeys(body["trigger_properties"], "<redacted>")
    return safe
