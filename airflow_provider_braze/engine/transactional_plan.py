"""The plan of a transactional email send: one request per recipient, each with its own
``external_send_id``, derived from campaign, recipient and a business key, so Braze drops a repeat.
The endpoint's rules are :mod:`airflow_provider_braze.client.transactional`. No Airflow imports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client import payload_validation as pv
from airflow_provider_braze.client.transactional import (
    EXTERNAL_SEND_ID_VERSION,
    check_transactional_recipient,
)
from airflow_provider_braze.engine.recipient_rows import identifier_key
from airflow_provider_braze.engine.send_plan import (
    PlannedRequest,
    RecipientSource,
    SendPlan,
    SpoolOptions,
    spool_source,
)


def derive_external_send_id(campaign_id: str, recipient: Mapping[str, Any], business_key: str) -> str:
    """The ``external_send_id`` of one email: SHA-256 (hex, 64 characters) of the campaign, the
    recipient's identifier and the business key. Never the try number, the run id or the clock: a
    retry of the same email derives the same id, so Braze de-duplicates it for 24 hours."""
    material = "|".join((EXTERNAL_SEND_ID_VERSION, campaign_id, identifier_key(recipient), business_key))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass
class TransactionalSendPlan(SendPlan):
    """A send plan of one request per recipient to one transactional campaign.

    Spooled items are recipient objects carrying their ``external_send_id``; :meth:`_request` turns
    each into :meth:`BrazeHook.send_transactional_email`'s arguments
    (:meth:`BrazeHook.transactional_email_arguments`) and body. ``common`` holds the shared
    ``trigger_properties`` (from :meth:`BrazeHook.transactional_shared_body`; merged under each
    recipient's own).
    """

    def _request(self, number: int, batch: list[dict[str, Any]]) -> PlannedRequest:
        (item,) = batch  # one recipient per request
        from airflow_provider_braze.hooks.braze import BrazeHook

        arguments = BrazeHook.transactional_email_arguments(self.common, item)
        return PlannedRequest(number, BrazeHook.transactional_email_body(**arguments), 1, shared=arguments)


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
    from airflow_provider_braze.hooks.braze import BrazeHook

    common = BrazeHook.transactional_shared_body(trigger_properties=trigger_properties)

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
