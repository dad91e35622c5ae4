"""Transactional email (``POST /transactional/v1/campaigns/{campaign_id}/send``): one recipient per
request, and the only Braze send with server-side de-duplication.

Braze does not send again a request whose ``external_send_id`` it saw in the last 24 hours; it
answers "The external reference has been queued. Please retry to obtain send_id." instead. This
module derives that id deterministically from what identifies the email (campaign, recipient, a
business key), plans one request per recipient, and recognises the "already queued" answer as an
acceptance. No Airflow imports.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_braze import endpoints as ep
from airflow_provider_braze import payload_validation as pv
from airflow_provider_braze.recipient_rows import identifier_key
from airflow_provider_braze.send_plan import RecipientSource, SendPlan, SpoolOptions, spool_source

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
_VERSION = "v1"


def check_external_send_id(value: Any, field: str = "external_send_id") -> None:
    """Braze's format rule: a non-empty string of ``[a-zA-Z0-9-_+/=]``, at most 64 characters here."""
    if not isinstance(value, str) or not value:
        raise pv.PayloadRuleError(field, "must be a non-empty string")
    if not EXTERNAL_SEND_ID_PATTERN.match(value):
        raise pv.PayloadRuleError(field, "may contain only letters, digits and - _ + / = (Base64-compatible)")
    if len(value) > MAX_EXTERNAL_SEND_ID_LENGTH:
        raise pv.PayloadRuleError(field, f"must be at most {MAX_EXTERNAL_SEND_ID_LENGTH} characters")


def derive_external_send_id(campaign_id: str, recipient: Mapping[str, Any], business_key: str) -> str:
    """The ``external_send_id`` of one email: SHA-256 (hex, 64 characters) of the campaign, the
    recipient's identifier and the business key. Never the try number, the run id or the clock: a
    retry of the same email derives the same id, so Braze de-duplicates it for 24 hours."""
    material = "|".join((_VERSION, campaign_id, identifier_key(recipient), business_key))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


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


@dataclass
class TransactionalSendPlan(SendPlan):
    """A send plan of one request per recipient to one transactional campaign.

    Spooled items are recipient objects carrying their ``external_send_id``; :meth:`_body` turns each
    into ``{"external_send_id", "trigger_properties", "recipient"}``. ``common`` holds the shared
    ``trigger_properties`` (merged under each recipient's own).
    """

    def _body(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        (item,) = batch  # one recipient per request
        properties = {**(self.common.get("trigger_properties") or {}), **(item.get("trigger_properties") or {})}
        body: dict[str, Any] = {"external_send_id": item["external_send_id"]}
        if properties:
            body["trigger_properties"] = properties
        body["recipient"] = {k: v for k, v in item.items() if k in TRANSACTIONAL_RECIPIENT_KEYS}
        return body


def plan_transactional(
    *,
    campaign_id: Any,
    trigger_properties: Mapping[str, Any] | None,
    source: RecipientSource,
    business_key: Any,
    business_key_field: str | None = None,
    options: SpoolOptions | None = None,
) -> TransactionalSendPlan:
    """Plan a transactional send: validate every recipient and derive its ``external_send_id``.

    :param campaign_id: the Transactional Email campaign (in the path).
    :param trigger_properties: personalisation shared by every email (each recipient's own win).
    :param source: the recipients.
    :param business_key: what makes this email distinct besides campaign and recipient (e.g. the
        DAG run's logical date, an invoice batch id).
    :param business_key_field: a per-recipient trigger property whose value joins the key (e.g.
        ``order_id``): one email per order, so a user with two orders gets two.
    """
    pv.check_required_id(campaign_id, "campaign_id")
    if "/" in campaign_id:
        raise pv.PayloadRuleError("campaign_id", "must be a campaign API identifier (no '/')")
    if not isinstance(business_key, str) or not business_key.strip():
        raise pv.PayloadRuleError("business_key", "must be a non-empty string")
    pv.check_properties(trigger_properties, "trigger_properties")
    common: dict[str, Any] = {"trigger_properties": dict(trigger_properties)} if trigger_properties else {}
    pv.check_finite(common, "body")

    def refine(recipient: dict[str, Any], label: str) -> dict[str, Any]:
        check_transactional_recipient(recipient, label)
        key = business_key
        if business_key_field:
            value = (recipient.get("trigger_properties") or {}).get(business_key_field)
            if value is None or value == "":
                raise pv.PayloadRuleError(
                    f"{label}.{business_key_field}", "is the business_key_field and must be present and non-empty"
                )
            key = f"{business_key}|{value}"
        return {**recipient, "external_send_id": derive_external_send_id(campaign_id, recipient, key)}

    endpoint = ep.Endpoint(
        ep.TRANSACTIONAL_EMAIL.method,
        ep.transactional_path(campaign_id),
        ep.TRANSACTIONAL_EMAIL.permission,
        ep.TRANSACTIONAL_EMAIL.bucket,
    )
    plan = TransactionalSendPlan(endpoint, common)
    shared = pv.wire_size(common) + 64  # the external_send_id and the recipient wrapper
    plan.spool, plan.duplicate_rows, plan.duplicate_count = spool_source(
        source,
        properties_field="trigger_properties",
        options=options or SpoolOptions(),
        shared_bytes=shared,
        batch_size=1,
        refine=refine,
        identity=lambda item: str(item["external_send_id"]),
    )
    return plan


def already_queued_response(error: Any) -> Any:
    """The acceptance an "already queued" error stands for (a ``BrazeResponse`` with
    ``message="queued"`` and ``deduplicated=True``), or None when ``error`` is another error."""
    from airflow_provider_braze.transport.responses import BrazeResponse

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
