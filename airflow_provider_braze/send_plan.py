"""Planning a send: validate everything, then split it into Braze's 50-per-request batches.

A :class:`SendPlan` is the list of request bodies an operator will send. It is built (and every
part of it validated) before the first request, so a bad recipient at position 10,000 stops the
task before recipient 1 is messaged. No Airflow imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_braze import payload_rules as rules
from airflow_provider_braze import payload_validation as pv
from airflow_provider_braze.endpoints import Endpoint

_REDACTED = "<redacted>"
_RECIPIENT_DATA = ("trigger_properties", "context", "canvas_entry_properties", "attributes")


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a plan.

    :param number: 1-based position in the plan.
    :param body: the JSON body.
    :param recipients: how many users or recipients it lists (0 for broadcasts).
    """

    number: int
    body: dict[str, Any]
    recipients: int


@dataclass
class SendPlan:
    """The requests one operator run sends, in order.

    :param endpoint: the endpoint every request goes to.
    :param requests: the requests.
    """

    endpoint: Endpoint
    requests: list[PlannedRequest] = field(default_factory=list)

    @property
    def recipients(self) -> int:
        """Listed users or recipients across all requests."""
        return sum(r.recipients for r in self.requests)

    def summary(self) -> dict[str, Any]:
        """What the plan would send (for dry runs and logs): counts only, no recipient data."""
        return {
            "endpoint": self.endpoint.path,
            "requests": len(self.requests),
            "batches": len(self.requests),
            "recipients": self.recipients,
            "batch_sizes": [r.recipients for r in self.requests],
        }


def redact(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a request body safe to log: identifiers and per-recipient data replaced."""
    safe: dict[str, Any] = {}
    for key, value in body.items():
        if key == "external_user_ids":
            safe[key] = [_REDACTED] * len(value)
        elif key == "user_aliases":
            safe[key] = [{"alias_name": _REDACTED, "alias_label": a.get("alias_label")} for a in value]
        elif key == "recipients":
            safe[key] = [_redact_recipient(r) for r in value]
        else:
            safe[key] = value
    return safe


def _redact_recipient(recipient: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in recipient.items():
        if key in rules.RECIPIENT_IDENTIFIERS:
            out[key] = _REDACTED
        elif key in _RECIPIENT_DATA and isinstance(value, Mapping):
            out[key] = dict.fromkeys(value, _REDACTED)
        else:
            out[key] = value
    return out


def batched(items: Sequence[Any], size: int = rules.MAX_USERS_PER_REQUEST) -> Iterator[list[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def normalise_recipients(recipients: Iterable[Any] | None) -> list[dict[str, Any]]:
    """Recipient objects; a plain string is shorthand for ``{"external_user_id": s}``."""
    result = []
    for index, recipient in enumerate(recipients or ()):
        if isinstance(recipient, str):
            result.append({"external_user_id": recipient})
        elif isinstance(recipient, Mapping):
            result.append(dict(recipient))
        else:
            raise pv.PayloadRuleError(f"recipients[{index}]", "must be an object (or an external_user_id string)")
    return result


def _compact(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def plan_trigger(
    *,
    endpoint: Endpoint,
    id_field: str,
    id_value: Any,
    properties_field: str,
    properties: Mapping[str, Any] | None,
    recipients: Iterable[Any] | None,
    broadcast: bool | None,
    audience: Mapping[str, Any] | None,
    send_id: str | None = None,
    attachments: Sequence[Mapping[str, Any]] | None = None,
    schedule: Mapping[str, Any] | None = None,
) -> SendPlan:
    """Plan a campaign or Canvas trigger (or trigger-schedule create).

    :param id_field: ``campaign_id`` or ``canvas_id``.
    :param properties_field: ``trigger_properties`` or ``context``.
    """
    pv.check_required_id(id_value, id_field)
    pv.check_send_id(send_id)
    pv.check_properties(properties, properties_field)
    listed = normalise_recipients(recipients)
    for index, recipient in enumerate(listed):
        pv.check_recipient(recipient, f"recipients[{index}]", properties_field)
    pv.check_targets(
        broadcast=broadcast,
        listed=bool(listed),
        audience=audience,
        attachments=attachments,
        broadcast_alone_targets=True,
    )
    common = _compact(
        **{id_field: id_value},
        send_id=send_id,
        **{properties_field: properties},
        broadcast=broadcast or None,
        audience=audience,
        attachments=attachments,
        schedule=schedule,
    )
    plan = SendPlan(endpoint)
    if not listed:
        plan.requests.append(PlannedRequest(1, common, 0))
        return plan
    for number, batch in enumerate(batched(listed), start=1):
        plan.requests.append(PlannedRequest(number, {**common, "recipients": batch}, len(batch)))
    return plan


def plan_message(
    *,
    endpoint: Endpoint,
    messages: Mapping[str, Any] | None,
    external_user_ids: Sequence[str] | None,
    user_aliases: Sequence[Mapping[str, Any]] | None,
    segment_id: str | None,
    audience: Mapping[str, Any] | None,
    broadcast: bool | None,
    campaign_id: str | None,
    send_id: str | None,
    recipient_subscription_state: str | None,
    frequency_flag: str,
    frequency_value: bool | None,
    schedule: Mapping[str, Any] | None = None,
) -> SendPlan:
    """Plan ``/messages/send`` or ``/messages/schedule/create``.

    :param frequency_flag: ``override_frequency_capping`` (send) or ``override_messaging_limits``
        (schedule create), as Braze spells it per endpoint.
    """
    pv.check_user_ids(external_user_ids, user_aliases)
    pv.check_targets(
        broadcast=broadcast,
        listed=bool(external_user_ids or user_aliases),
        segment_id=segment_id,
        audience=audience,
        broadcast_alone_targets=False,
    )
    if campaign_id is not None:
        pv.check_required_id(campaign_id, "campaign_id")
    pv.check_send_id(send_id)
    pv.check_enum(recipient_subscription_state, "recipient_subscription_state", rules.RECIPIENT_SUBSCRIPTION_STATES)
    pv.check_messages(messages, campaign_id=campaign_id)
    common = _compact(
        broadcast=broadcast or None,
        segment_id=segment_id,
        audience=audience,
        campaign_id=campaign_id,
        send_id=send_id,
        recipient_subscription_state=recipient_subscription_state,
        schedule=schedule,
        messages=messages,
        **{frequency_flag: frequency_value},
    )
    plan = SendPlan(endpoint)
    users: list[tuple[str, Any]] = [("external_user_ids", u) for u in external_user_ids or ()]
    users += [("user_aliases", a) for a in user_aliases or ()]
    if not users:
        plan.requests.append(PlannedRequest(1, common, 0))
        return plan
    for number, batch in enumerate(batched(users), start=1):
        body = dict(common)
        for key in ("external_user_ids", "user_aliases"):
            chosen = [value for kind, value in batch if kind == key]
            if chosen:
                body[key] = chosen
        plan.requests.append(PlannedRequest(number, body, len(batch)))
    return plan
