"""Operators that trigger API-triggered campaigns and Canvases now."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.links import BrazeCampaignLink, BrazeCanvasLink
from airflow_provider_braze.operators.batch_send import SOURCE_TEMPLATE_FIELDS, BrazeBatchSendOperator
from airflow_provider_braze.operators.rendered_fields import parse_flag, parse_rendered

if TYPE_CHECKING:
    from airflow_provider_braze.engine.send_plan import SendPlan
    from airflow_provider_braze.operators.schedule import BrazeScheduleCampaignOperator, BrazeScheduleCanvasOperator

_JSON = "json"


class BrazeTriggerCampaignOperator(BrazeBatchSendOperator):
    """Trigger an API-triggered campaign (``POST /campaigns/trigger/send``) for listed recipients or its audience.

    Recipients are validated as a whole before anything is sent, then sent in batches of 50 (Braze's
    per-request limit). Returns ``{"dispatch_ids": [...], "recipients": n, "batches": k, ...}``.

    .. seealso:: https://www.braze.com/docs/api/endpoints/messaging/send_messages/post_send_triggered_campaigns/

    Example:

    .. code-block:: python

        BrazeTriggerCampaignOperator(
            task_id="notify",
            campaign_id="{{ var.value.cart_campaign_id }}",
            recipients=[{"external_user_id": "u1", "trigger_properties": {"sku": "A1"}}],
        )

    :param campaign_id: the API-triggered campaign (templated).
    :param recipients: recipient objects (``external_user_id``, ``user_alias``, ``braze_id`` or
        ``email`` + ``prioritization``; per-recipient ``trigger_properties``, ``attributes``,
        ``send_to_existing_only``), rows in the row convention, or plain ``external_user_id``
        strings. Any length or iterable: batched by 50. Templated; a ``.json`` file or an upstream
        task's output works. Or give ``sql`` + ``sql_conn_id`` (see ``BrazeBatchSendOperator``).
    :param trigger_properties: personalisation for every recipient (≤ 50 KB; templated).
    :param broadcast: ``True`` sends to the campaign's whole dashboard audience; an explicit opt-in
        that cannot be combined with ``recipients``.
    :param audience: a connected audience filter (templated).
    :param send_id: a send id for analytics grouping (ASCII, ≤ 64; templated).
    :param attachments: email attachments ``[{"file_name", "url"}]`` (not with ``broadcast``).
    :param braze_conn_id: the Braze connection (templated).
    :param dry_run: validate and log without sending.
    """

    template_fields: Sequence[str] = (
        "campaign_id",
        "recipients",
        "trigger_properties",
        "broadcast",
        "audience",
        "send_id",
        "attachments",
        "braze_conn_id",
        "braze_dry_run",
        *SOURCE_TEMPLATE_FIELDS,
    )
    template_fields_renderers = {
        "recipients": _JSON,
        "trigger_properties": _JSON,
        "audience": _JSON,
        "attachments": _JSON,
    }
    operator_extra_links = (BrazeCampaignLink(),)

    def __init__(
        self,
        *,
        campaign_id: str,
        recipients: Iterable[Mapping[str, Any] | str] | str | None = None,
        trigger_properties: Mapping[str, Any] | str | None = None,
        broadcast: bool | str = False,
        audience: Mapping[str, Any] | str | None = None,
        send_id: str | None = None,
        attachments: Sequence[Mapping[str, Any]] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.campaign_id = campaign_id
        self.recipients = recipients
        self.trigger_properties = trigger_properties
        self.broadcast = broadcast
        self.audience = audience
        self.send_id = send_id
        self.attachments = attachments

    def dashboard_target(self) -> tuple[str, str] | None:
        """The campaign's dashboard page."""
        return ("campaign", str(self.campaign_id))

    def build_plan(self) -> SendPlan:
        """Validate and batch."""
        from airflow_provider_braze.engine.send_plan import plan_trigger  # task time: DAG files parse fast

        return plan_trigger(endpoint=ep.TRIGGER_CAMPAIGN, **campaign_plan_kwargs(self))


class BrazeTriggerCanvasOperator(BrazeBatchSendOperator):
    """Trigger an API-triggered Canvas (``POST /canvas/trigger/send``) for listed recipients or its audience.

    Returns ``{"dispatch_ids": [...], "recipients": n, "batches": k, "notices": [...]}``; a paused or
    archived Canvas answers success with a notice, which is logged as a warning.

    .. seealso:: https://www.braze.com/docs/api/endpoints/messaging/send_messages/post_send_triggered_canvases/

    Example:

    .. code-block:: python

        BrazeTriggerCanvasOperator(
            task_id="onboard",
            canvas_id="onboarding-canvas-id",
            recipients=[{"external_user_id": "u1", "context": {"plan": "pro"}}],
        )

    :param canvas_id: the API-triggered Canvas (templated).
    :param recipients: recipient objects with optional per-recipient ``context``; batched by 50.
    :param context: entry properties for every recipient (≤ 50 KB; templated).
    :param canvas_entry_properties: the older name of ``context`` (give one of the two).
    :param broadcast: ``True`` enters the Canvas's whole dashboard audience (explicit opt-in).
    :param audience: a connected audience filter.
    :param braze_conn_id: the Braze connection (templated).
    :param dry_run: validate and log without sending.
    """

    template_fields: Sequence[str] = (
        "canvas_id",
        "recipients",
        "context",
        "canvas_entry_properties",
        "broadcast",
        "audience",
        "braze_conn_id",
        "braze_dry_run",
        *SOURCE_TEMPLATE_FIELDS,
    )
    template_fields_renderers = {
        "recipients": _JSON,
        "context": _JSON,
        "canvas_entry_properties": _JSON,
        "audience": _JSON,
    }
    operator_extra_links = (BrazeCanvasLink(),)

    def __init__(
        self,
        *,
        canvas_id: str,
        recipients: Iterable[Mapping[str, Any] | str] | str | None = None,
        context: Mapping[str, Any] | str | None = None,
        canvas_entry_properties: Mapping[str, Any] | str | None = None,
        broadcast: bool | str = False,
        audience: Mapping[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.canvas_id = canvas_id
        self.recipients = recipients
        self.context = context
        self.canvas_entry_properties = canvas_entry_properties
        self.broadcast = broadcast
        self.audience = audience

    def dashboard_target(self) -> tuple[str, str] | None:
        """The Canvas's dashboard page."""
        return ("canvas", str(self.canvas_id))

    def build_plan(self) -> SendPlan:
        """Validate and batch."""
        from airflow_provider_braze.engine.send_plan import plan_trigger  # task time: DAG files parse fast

        return plan_trigger(endpoint=ep.TRIGGER_CANVAS, **canvas_plan_kwargs(self))


def campaign_plan_kwargs(op: BrazeTriggerCampaignOperator | BrazeScheduleCampaignOperator) -> dict[str, Any]:
    """The rendered campaign trigger arguments of a trigger or a schedule create."""
    return {
        "id_field": "campaign_id",
        "id_value": op.campaign_id,
        "properties_field": "trigger_properties",
        "properties": parse_rendered(op.trigger_properties, "trigger_properties", kinds=(dict,)),
        "source": op.listed_source(op.recipients, "recipients"),
        "broadcast": parse_flag(op.broadcast, "broadcast"),
        "audience": parse_rendered(op.audience, "audience", kinds=(dict,)),
        "send_id": op.send_id,
        "attachments": parse_rendered(op.attachments, "attachments", kinds=(list,)),
        "options": op.spool_options(),
    }


def canvas_plan_kwargs(op: BrazeTriggerCanvasOperator | BrazeScheduleCanvasOperator) -> dict[str, Any]:
    """The rendered Canvas trigger arguments of a trigger or a schedule create."""
    context = parse_rendered(op.context, "context", kinds=(dict,))
    legacy = parse_rendered(op.canvas_entry_properties, "canvas_entry_properties", kinds=(dict,))
    if context is not None and legacy is not None:
        raise PayloadRuleError("canvas_entry_properties", "is the older name of context: give only one of them")
    return {
        "id_field": "canvas_id",
        "id_value": op.canvas_id,
        "properties_field": "context",
        "properties": context if context is not None else legacy,
        "source": op.listed_source(op.recipients, "recipients"),
        "broadcast": parse_flag(op.broadcast, "broadcast"),
        "audience": parse_rendered(op.audience, "audience", kinds=(dict,)),
        "options": op.spool_options(),
    }
