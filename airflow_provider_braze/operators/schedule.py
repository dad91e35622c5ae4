"""Operators that schedule messages, campaigns and Canvases for later (the ``.../schedule/create`` endpoints).

Each is its immediate-send sibling plus a ``schedule``; every batch of 50 recipients becomes its own
Braze schedule, so the result lists one ``schedule_id`` per batch (``schedule_ids``). The result also
says what was created (``endpoint``, ``campaign_id``/``canvas_id`` and the ``schedule`` sent, flags
included), so passing it whole to
:class:`~airflow_provider_braze.operators.schedule_changes.BrazeUpdateScheduleOperator` or
:class:`~airflow_provider_braze.operators.schedule_changes.BrazeDeleteScheduleOperator` reaches the
right endpoint and keeps the delivery semantics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.links import BrazeCampaignLink, BrazeCanvasLink
from airflow_provider_braze.operators.batch_send import BrazeBatchSendOperator
from airflow_provider_braze.operators.rendered_fields import parse_flag, schedule_argument, schedule_with_flags
from airflow_provider_braze.operators.send_message import BrazeSendMessageOperator, message_plan_kwargs
from airflow_provider_braze.operators.trigger import (
    BrazeTriggerCampaignOperator,
    BrazeTriggerCanvasOperator,
    campaign_plan_kwargs,
    canvas_plan_kwargs,
)

if TYPE_CHECKING:
    from airflow_provider_braze.engine.batch_sender import SendOutcome
    from airflow_provider_braze.engine.send_plan import SendPlan

_SCHEDULE_FIELDS = ("schedule", "in_local_time", "at_optimal_time")


def rendered_schedule(schedule: Any, in_local_time: Any, at_optimal_time: Any) -> Any:
    """A schedule create's rendered ``schedule``, ``in_local_time`` and ``at_optimal_time`` arguments as
    one schedule; the hook's body builder validates and normalises it
    (:meth:`~airflow_provider_braze.hooks.braze.BrazeHook.schedule_object`)."""
    if schedule is None:  # a required argument rendered to nothing; the hook would send no schedule
        raise PayloadRuleError("schedule", "is required")
    return schedule_with_flags(
        schedule_argument(schedule),
        in_local_time=parse_flag(in_local_time, "in_local_time"),
        at_optimal_time=parse_flag(at_optimal_time, "at_optimal_time"),
    )


def schedule_result(outcome: SendOutcome, hook: Any, owner: Mapping[str, Any], schedule: Any) -> dict[str, Any]:
    """A schedule create's result: the send result plus what an update or delete needs (the owner id,
    when given, and the schedule sent)."""
    result = outcome.to_result(hook)
    result.update({name: value for name, value in owner.items() if value})
    if schedule is not None:
        result["schedule"] = dict(schedule)
    return result


class BrazeScheduleMessageOperator(BrazeBatchSendOperator):
    """Schedule message content for later (``POST /messages/schedule/create``).

    Takes every argument of :class:`~airflow_provider_braze.operators.send_message.BrazeSendMessageOperator`
    (``override_messaging_limits`` is this endpoint's spelling of the frequency flag) plus the
    schedule. Returns ``{"endpoint", "schedule_ids": [...], "schedule_id_count": n, "schedule": {...},
    "dispatch_ids": [...], "recipients": n, ...}`` (plus ``campaign_id`` when one was given).

    Example:

    .. code-block:: python

        BrazeScheduleMessageOperator(
            task_id="schedule_push",
            segment_id="weekly-readers",
            broadcast=True,
            messages={"apple_push": {"alert": "New issue out"}},
            schedule="{{ data_interval_end.add(hours=9) }}",
        )

    :param schedule: when to send: Braze's dict, an aware datetime or an ISO string with an offset
        (sent in UTC); a time string without an offset is UTC, as Braze reads it (a naive ``datetime``
        object is refused: in Python it usually means the worker's local time).
        At most 90 days ahead, not in the past. Templated.
    :param in_local_time: deliver at that wall-clock time in each user's time zone.
    :param at_optimal_time: deliver on that date at each user's optimal time.
    :param override_messaging_limits: ignore frequency capping for this send (``override_frequency_capping``,
        the ``/messages/send`` spelling, is accepted as the same flag).
    :param messages: see ``BrazeSendMessageOperator``, as every other argument.
    """

    template_fields = (*BrazeSendMessageOperator.template_fields, *_SCHEDULE_FIELDS, "override_messaging_limits")
    template_fields_renderers = {**BrazeSendMessageOperator.template_fields_renderers, "schedule": "json"}
    operator_extra_links = (BrazeCampaignLink(),)

    def __init__(
        self,
        *,
        schedule: dict[str, Any] | datetime | str,
        in_local_time: bool | str | None = None,
        at_optimal_time: bool | str | None = None,
        override_messaging_limits: bool | str | None = None,
        messages: Mapping[str, Any] | str,
        external_user_ids: Iterable[str] | str | None = None,
        user_aliases: Iterable[Mapping[str, str]] | str | None = None,
        segment_id: str | None = None,
        audience: Mapping[str, Any] | str | None = None,
        broadcast: bool | str = False,
        campaign_id: str | None = None,
        send_id: str | None = None,
        override_frequency_capping: bool | str | None = None,
        recipient_subscription_state: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule = schedule
        self.in_local_time = in_local_time
        self.at_optimal_time = at_optimal_time
        self.override_messaging_limits = override_messaging_limits
        self.messages = messages
        self.external_user_ids = external_user_ids
        self.user_aliases = user_aliases
        self.segment_id = segment_id
        self.audience = audience
        self.broadcast = broadcast
        self.campaign_id = campaign_id
        self.send_id = send_id
        self.override_frequency_capping = override_frequency_capping
        self.recipient_subscription_state = recipient_subscription_state
        self._sent_schedule: dict[str, Any] | None = None

    def dashboard_target(self) -> tuple[str, str] | None:
        """The API campaign's dashboard page, when a campaign is given."""
        return ("campaign", str(self.campaign_id)) if self.campaign_id else None

    def build_plan(self) -> SendPlan:
        """Validate the schedule and the send, and batch."""
        kwargs = message_plan_kwargs(self)
        capping = parse_flag(self.override_frequency_capping, "override_frequency_capping")
        limits = parse_flag(self.override_messaging_limits, "override_messaging_limits")
        from airflow_provider_braze.engine.send_plan import plan_message

        plan = plan_message(
            endpoint=ep.CREATE_MESSAGE_SCHEDULE,
            frequency_flag="override_messaging_limits",
            frequency_value=limits if limits is not None else capping,
            schedule=rendered_schedule(self.schedule, self.in_local_time, self.at_optimal_time),
            **kwargs,
        )
        self._sent_schedule = plan.common["schedule"]
        return plan

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """The send result plus the campaign (if any) and the schedule sent."""
        return schedule_result(outcome, self.hook, {"campaign_id": self.campaign_id}, self._sent_schedule)


class BrazeScheduleCampaignOperator(BrazeBatchSendOperator):
    """Schedule an API-triggered campaign (``POST /campaigns/trigger/schedule/create``).

    Takes every argument of :class:`~airflow_provider_braze.operators.trigger.BrazeTriggerCampaignOperator`
    plus ``schedule``, ``in_local_time`` and ``at_optimal_time`` (see
    :class:`BrazeScheduleMessageOperator`). Returns ``{"schedule_ids": [...], "dispatch_ids": [...], ...}``.

    :param schedule: when to send (templated); see :class:`BrazeScheduleMessageOperator`.
    :param in_local_time: deliver at that wall-clock time in each user's time zone.
    :param at_optimal_time: deliver on that date at each user's optimal time.
    :param campaign_id: see ``BrazeTriggerCampaignOperator``, as every other argument.
    """

    template_fields = (*BrazeTriggerCampaignOperator.template_fields, *_SCHEDULE_FIELDS)
    template_fields_renderers = {**BrazeTriggerCampaignOperator.template_fields_renderers, "schedule": "json"}
    operator_extra_links = (BrazeCampaignLink(),)

    def __init__(
        self,
        *,
        schedule: dict[str, Any] | datetime | str,
        in_local_time: bool | str | None = None,
        at_optimal_time: bool | str | None = None,
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
        self.schedule = schedule
        self.in_local_time = in_local_time
        self.at_optimal_time = at_optimal_time
        self.campaign_id = campaign_id
        self.recipients = recipients
        self.trigger_properties = trigger_properties
        self.broadcast = broadcast
        self.audience = audience
        self.send_id = send_id
        self.attachments = attachments
        self._sent_schedule: dict[str, Any] | None = None

    def dashboard_target(self) -> tuple[str, str] | None:
        """The campaign's dashboard page."""
        return ("campaign", str(self.campaign_id))

    def build_plan(self) -> SendPlan:
        """Validate the schedule and the trigger, and batch."""
        from airflow_provider_braze.engine.send_plan import plan_trigger

        plan = plan_trigger(
            endpoint=ep.CREATE_CAMPAIGN_SCHEDULE,
            schedule=rendered_schedule(self.schedule, self.in_local_time, self.at_optimal_time),
            **campaign_plan_kwargs(self),
        )
        self._sent_schedule = plan.common["schedule"]
        return plan

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """The send result plus the campaign and the schedule sent."""
        return schedule_result(outcome, self.hook, {"campaign_id": self.campaign_id}, self._sent_schedule)


class BrazeScheduleCanvasOperator(BrazeBatchSendOperator):
    """Schedule an API-triggered Canvas (``POST /canvas/trigger/schedule/create``).

    Takes every argument of :class:`~airflow_provider_braze.operators.trigger.BrazeTriggerCanvasOperator`
    plus ``schedule``, ``in_local_time`` and ``at_optimal_time``. Returns
    ``{"schedule_ids": [...], "dispatch_ids": [...], ...}``.

    :param schedule: when to send (templated); see :class:`BrazeScheduleMessageOperator`.
    :param in_local_time: deliver at that wall-clock time in each user's time zone.
    :param at_optimal_time: deliver on that date at each user's optimal time.
    :param canvas_id: see ``BrazeTriggerCanvasOperator``, as every other argument.
    """

    template_fields = (*BrazeTriggerCanvasOperator.template_fields, *_SCHEDULE_FIELDS)
    template_fields_renderers = {**BrazeTriggerCanvasOperator.template_fields_renderers, "schedule": "json"}
    operator_extra_links = (BrazeCanvasLink(),)

    def __init__(
        self,
        *,
        schedule: dict[str, Any] | datetime | str,
        in_local_time: bool | str | None = None,
        at_optimal_time: bool | str | None = None,
        canvas_id: str,
        recipients: Iterable[Mapping[str, Any] | str] | str | None = None,
        context: Mapping[str, Any] | str | None = None,
        canvas_entry_properties: Mapping[str, Any] | str | None = None,
        broadcast: bool | str = False,
        audience: Mapping[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule = schedule
        self.in_local_time = in_local_time
        self.at_optimal_time = at_optimal_time
        self.canvas_id = canvas_id
        self.recipients = recipients
        self.context = context
        self.canvas_entry_properties = canvas_entry_properties
        self.broadcast = broadcast
        self.audience = audience
        self._sent_schedule: dict[str, Any] | None = None

    def dashboard_target(self) -> tuple[str, str] | None:
        """The Canvas's dashboard page."""
        return ("canvas", str(self.canvas_id))

    def build_plan(self) -> SendPlan:
        """Validate the schedule and the trigger, and batch."""
        from airflow_provider_braze.engine.send_plan import plan_trigger

        plan = plan_trigger(
            endpoint=ep.CREATE_CANVAS_SCHEDULE,
            schedule=rendered_schedule(self.schedule, self.in_local_time, self.at_optimal_time),
            **canvas_plan_kwargs(self),
        )
        self._sent_schedule = plan.common["schedule"]
        return plan

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """The send result plus the Canvas and the schedule sent."""
        return schedule_result(outcome, self.hook, {"canvas_id": self.canvas_id}, self._sent_schedule)
