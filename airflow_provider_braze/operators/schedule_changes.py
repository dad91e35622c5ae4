"""Operators that update and delete API schedules of messages, campaigns and Canvases.

Both route by what they are given: ``campaign_id`` → campaign schedule, ``canvas_id`` → Canvas
schedule, neither → message schedule. ``schedule_id`` may be one id or the list a schedule operator
returned (``schedule_ids`` in its XCom), so one task updates or deletes every batch's schedule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_braze import endpoints as ep
from airflow_provider_braze import payload_validation as pv
from airflow_provider_braze.batch_sender import SendOutcome
from airflow_provider_braze.operators.base import BrazeBaseOperator
from airflow_provider_braze.schedules import LOCAL_FLAGS, build_schedule
from airflow_provider_braze.send_plan import SendPlan

_ROUTES = {
    "update": {
        "messages": ep.UPDATE_MESSAGE_SCHEDULE,
        "campaign": ep.UPDATE_CAMPAIGN_SCHEDULE,
        "canvas": ep.UPDATE_CANVAS_SCHEDULE,
    },
    "delete": {
        "messages": ep.DELETE_MESSAGE_SCHEDULE,
        "campaign": ep.DELETE_CAMPAIGN_SCHEDULE,
        "canvas": ep.DELETE_CANVAS_SCHEDULE,
    },
}


class _ScheduleTarget(BrazeBaseOperator):
    """Shared routing and ``schedule_id`` handling of the update and delete operators."""

    action = ""

    def __init__(
        self,
        *,
        schedule_id: str | Sequence[str] | Mapping[str, Any],
        campaign_id: str | None = None,
        canvas_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule_id = schedule_id
        self.campaign_id = campaign_id
        self.canvas_id = canvas_id

    def kind(self) -> tuple[str, dict[str, str]]:
        """``(kind, owner field)`` from the arguments given."""
        if self.campaign_id and self.canvas_id:
            raise pv.PayloadRuleError("campaign_id", "give campaign_id or canvas_id, not both")
        if self.campaign_id:
            pv.check_required_id(self.campaign_id, "campaign_id")
            return "campaign", {"campaign_id": self.campaign_id}
        if self.canvas_id:
            pv.check_required_id(self.canvas_id, "canvas_id")
            return "canvas", {"canvas_id": self.canvas_id}
        return "messages", {}

    def schedule_ids(self) -> list[str]:
        """One id, a list of ids, or a schedule operator's whole result (its ``schedule_ids``)."""
        value = self.schedule_id
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            value = self.json_arg(value, "schedule_id", (list, dict))
        if isinstance(value, Mapping):
            value = value.get("schedule_ids") or ([value["schedule_id"]] if "schedule_id" in value else [])
        ids = [value] if isinstance(value, str) else list(value or [])
        if not ids:
            raise pv.PayloadRuleError("schedule_id", "is required (one id or a list of ids)")
        for index, schedule_id in enumerate(ids):
            pv.check_required_id(schedule_id, f"schedule_id[{index}]" if len(ids) > 1 else "schedule_id")
        return ids

    def dashboard_target(self) -> tuple[str, str] | None:
        """The campaign's or Canvas's dashboard page."""
        if self.campaign_id:
            return ("campaign", str(self.campaign_id))
        if self.canvas_id:
            return ("canvas", str(self.canvas_id))
        return None

    def plan_for(self, extra: dict[str, Any]) -> SendPlan:
        kind, owner = self.kind()
        bodies = [{**owner, "schedule_id": schedule_id, **extra} for schedule_id in self.schedule_ids()]
        return SendPlan(_ROUTES[self.action][kind], fixed=bodies)

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """``{"endpoint", "schedule_ids", "<action>d": n}``."""
        ids = self.schedule_ids()
        return {"endpoint": outcome.endpoint, "schedule_ids": ids, f"{self.action}d": outcome.batches}


class BrazeUpdateScheduleOperator(_ScheduleTarget):
    """Replace API schedules (``POST /messages|/campaigns/trigger|/canvas/trigger /schedule/update``).

    Braze replaces the **whole** schedule: an update without ``in_local_time`` turns a local-time
    schedule into a plain UTC one, so the operator logs a warning whenever the new schedule has no
    local/optimal-time flag. Message schedules may also update ``messages``; campaign and Canvas
    schedules need ``schedule``.

    Example:

    .. code-block:: python

        BrazeUpdateScheduleOperator(
            task_id="push_back_one_day",
            canvas_id="canvas-id",
            schedule_id="{{ ti.xcom_pull('schedule_canvas')['schedule_ids'] }}",
            schedule="{{ data_interval_end.add(days=2) }}",
        )

    :param schedule_id: one schedule id, a list, or a schedule operator's result (templated).
    :param campaign_id: route to the campaign schedule endpoint (templated).
    :param canvas_id: route to the Canvas schedule endpoint (templated).
    :param schedule: the new schedule (see ``BrazeScheduleMessageOperator``); templated.
    :param in_local_time: deliver at the wall-clock time in each user's time zone.
    :param at_optimal_time: deliver on that date at each user's optimal time.
    :param messages: new message objects (message schedules only; templated, ``.json`` works).
    """

    action = "update"
    template_fields: Sequence[str] = (
        "schedule_id",
        "campaign_id",
        "canvas_id",
        "schedule",
        "in_local_time",
        "at_optimal_time",
        "messages",
        "braze_conn_id",
        "braze_dry_run",
    )
    template_fields_renderers = {"schedule": "json", "messages": "json", "schedule_id": "json"}

    def __init__(
        self,
        *,
        schedule: Mapping[str, Any] | datetime | str | None = None,
        in_local_time: bool | str | None = None,
        at_optimal_time: bool | str | None = None,
        messages: Mapping[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule = schedule
        self.in_local_time = in_local_time
        self.at_optimal_time = at_optimal_time
        self.messages = messages

    def build_plan(self) -> SendPlan:
        """Validate the ids and the new schedule, and route."""
        kind, _ = self.kind()
        self.schedule_ids()
        extra: dict[str, Any] = {}
        if self.schedule is not None and self.schedule != "":
            value = self.schedule
            if isinstance(value, str) and value.strip().startswith("{"):
                value = self.json_arg(value, "schedule", (dict,))
            extra["schedule"] = build_schedule(
                value,
                in_local_time=self.flag_arg(self.in_local_time, "in_local_time"),
                at_optimal_time=self.flag_arg(self.at_optimal_time, "at_optimal_time"),
            )
        messages = self.json_arg(self.messages, "messages", (dict,))
        if messages is not None:
            if kind != "messages":
                raise pv.PayloadRuleError("messages", f"cannot be updated on a {kind} schedule (only schedule)")
            pv.check_messages(messages)
            extra["messages"] = messages
        if kind != "messages" and "schedule" not in extra:
            raise pv.PayloadRuleError("schedule", f"is required to update a {kind} schedule")
        if not extra:
            raise pv.PayloadRuleError("schedule", "give schedule and/or messages to update")
        if "schedule" in extra and not any(extra["schedule"].get(flag) for flag in LOCAL_FLAGS):
            self.log.warning(
                "Braze replaces the whole schedule: the new one has no in_local_time/at_optimal_time, so if the "
                "original used one, it becomes a plain UTC send at %s",
                extra["schedule"]["time"],
            )
        return self.plan_for(extra)


class BrazeDeleteScheduleOperator(_ScheduleTarget):
    """Cancel API schedules (``POST /messages|/campaigns/trigger|/canvas/trigger /schedule/delete``).

    Example:

    .. code-block:: python

        BrazeDeleteScheduleOperator(
            task_id="cancel",
            campaign_id="campaign-id",
            schedule_id="{{ ti.xcom_pull('schedule_campaign')['schedule_ids'] }}",
        )

    :param schedule_id: one schedule id, a list, or a schedule operator's result (templated).
    :param campaign_id: route to the campaign schedule endpoint (templated).
    :param canvas_id: route to the Canvas schedule endpoint (templated).
    """

    action = "delete"
    template_fields: Sequence[str] = ("schedule_id", "campaign_id", "canvas_id", "braze_conn_id", "braze_dry_run")
    template_fields_renderers = {"schedule_id": "json"}

    def build_plan(self) -> SendPlan:
        """Validate the ids and route."""
        return self.plan_for({})
