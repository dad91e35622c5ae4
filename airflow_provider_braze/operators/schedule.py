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

from datetime import datetime
from typing import Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.schedules import build_schedule
from airflow_provider_braze.engine.batch_sender import SendOutcome
from airflow_provider_braze.engine.send_plan import SendPlan, plan_message, plan_trigger
from airflow_provider_braze.operators.send_message import BrazeSendMessageOperator
from airflow_provider_braze.operators.trigger import BrazeTriggerCampaignOperator, BrazeTriggerCanvasOperator

_SCHEDULE_FIELDS = ("schedule", "in_local_time", "at_optimal_time")


class _ScheduleArgs:
    """The ``schedule`` argument of the schedule operators, rendered into Braze's object."""

    schedule: Any
    in_local_time: Any
    at_optimal_time: Any
    flag_arg: Any
    json_arg: Any
    hook: Any
    #: The owner field the create body carries (``campaign_id``/``canvas_id``), if any.
    owner_field: str | None = None
    _sent_schedule: dict[str, Any] | None = None

    def rendered_schedule(self) -> dict[str, Any]:
        value = self.schedule
        if isinstance(value, str) and value.strip().startswith("{"):
            value = self.json_arg(value, "schedule", (dict,))
        schedule = build_schedule(
            value,
            in_local_time=self.flag_arg(self.in_local_time, "in_local_time"),
            at_optimal_time=self.flag_arg(self.at_optimal_time, "at_optimal_time"),
        )
        self._sent_schedule = schedule
        return schedule

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """The send result plus what an update or delete needs: the owner id and the schedule sent."""
        result = outcome.to_result(self.hook)
        owner = getattr(self, self.owner_field, None) if self.owner_field else None
        if owner:
            result[self.owner_field] = owner  # type: ignore[index]
        if self._sent_schedule is not None:
            result["schedule"] = dict(self._sent_schedule)
        return result


class BrazeScheduleMessageOperator(_ScheduleArgs, BrazeSendMessageOperator):
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
    :param override_messaging_limits: ignore frequency capping for this send.
    """

    template_fields = (*BrazeSendMessageOperator.template_fields, *_SCHEDULE_FIELDS, "override_messaging_limits")
    template_fields_renderers = {**BrazeSendMessageOperator.template_fields_renderers, "schedule": "json"}
    endpoint = ep.CREATE_MESSAGE_SCHEDULE
    frequency_flag = "override_messaging_limits"
    owner_field = "campaign_id"

    def __init__(
        self,
        *,
        schedule: dict[str, Any] | datetime | str,
        in_local_time: bool | str | None = None,
        at_optimal_time: bool | str | None = None,
        override_messaging_limits: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule = schedule
        self.in_local_time = in_local_time
        self.at_optimal_time = at_optimal_time
        self.override_messaging_limits = override_messaging_limits

    def build_plan(self) -> SendPlan:
        """Validate the schedule and the send, and batch."""
        kwargs = self.plan_kwargs()
        limits = self.flag_arg(self.override_messaging_limits, "override_messaging_limits")
        # ``override_frequency_capping`` (the /messages/send spelling) is accepted as the same flag.
        kwargs["frequency_value"] = limits if limits is not None else kwargs["frequency_value"]
        return plan_message(endpoint=self.endpoint, schedule=self.rendered_schedule(), **kwargs)


class BrazeScheduleCampaignOperator(_ScheduleArgs, BrazeTriggerCampaignOperator):
    """Schedule an API-triggered campaign (``POST /campaigns/trigger/schedule/create``).

    Takes every argument of :class:`~airflow_provider_braze.operators.trigger.BrazeTriggerCampaignOperator`
    plus ``schedule``, ``in_local_time`` and ``at_optimal_time`` (see
    :class:`BrazeScheduleMessageOperator`). Returns ``{"schedule_ids": [...], "dispatch_ids": [...], ...}``.

    :param schedule: when to send (templated); see :class:`BrazeScheduleMessageOperator`.
    :param in_local_time: deliver at that wall-clock time in each user's time zone.
    :param at_optimal_time: deliver on that date at each user's optimal time.
    """

    template_fields = (*BrazeTriggerCampaignOperator.template_fields, *_SCHEDULE_FIELDS)
    template_fields_renderers = {**BrazeTriggerCampaignOperator.template_fields_renderers, "schedule": "json"}
    owner_field = "campaign_id"

    def __init__(
        self,
        *,
        schedule: dict[str, Any] | datetime | str,
        in_local_time: bool | str | None = None,
        at_optimal_time: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule = schedule
        self.in_local_time = in_local_time
        self.at_optimal_time = at_optimal_time

    def build_plan(self) -> SendPlan:
        """Validate the schedule and the trigger, and batch."""
        return plan_trigger(
            endpoint=ep.CREATE_CAMPAIGN_SCHEDULE, schedule=self.rendered_schedule(), **self.plan_kwargs()
        )


class BrazeScheduleCanvasOperator(_ScheduleArgs, BrazeTriggerCanvasOperator):
    """Schedule an API-triggered Canvas (``POST /canvas/trigger/schedule/create``).

    Takes every argument of :class:`~airflow_provider_braze.operators.trigger.BrazeTriggerCanvasOperator`
    plus ``schedule``, ``in_local_time`` and ``at_optimal_time``. Returns
    ``{"schedule_ids": [...], "dispatch_ids": [...], ...}``.

    :param schedule: when to send (templated); see :class:`BrazeScheduleMessageOperator`.
    :param in_local_time: deliver at that wall-clock time in each user's time zone.
    :param at_optimal_time: deliver on that date at each user's optimal time.
    """

    template_fields = (*BrazeTriggerCanvasOperator.template_fields, *_SCHEDULE_FIELDS)
    template_fields_renderers = {**BrazeTriggerCanvasOperator.template_fields_renderers, "schedule": "json"}
    owner_field = "canvas_id"

    def __init__(
        self,
        *,
        schedule: dict[str, Any] | datetime | str,
        in_local_time: bool | str | None = None,
        at_optimal_time: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule = schedule
        self.in_local_time = in_local_time
        self.at_optimal_time = at_optimal_time

    def build_plan(self) -> SendPlan:
        """Validate the schedule and the trigger, and batch."""
        return plan_trigger(endpoint=ep.CREATE_CANVAS_SCHEDULE, schedule=self.rendered_schedule(), **self.plan_kwargs())
