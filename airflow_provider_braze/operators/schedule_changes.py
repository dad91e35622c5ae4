"""Operators that update and delete API schedules of messages, campaigns and Canvases.

Both route by **what was created**: given a schedule operator's result (its XCom, e.g.
``schedule_id=create.output``), the result's ``endpoint`` says which kind of schedule it is, and
its ``campaign_id``/``canvas_id`` is the owner. A list of results (a mapped or sharded create) is
flattened. Given bare ids, the kind comes from ``kind`` or, failing that, from the arguments:
``campaign_id`` → campaign schedule, ``canvas_id`` → Canvas schedule, neither → message schedule.

A result that lists fewer ids than its ``schedule_id_count`` is refused: deleting only the listed
ids would leave the rest live while the task succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client import payload_validation as pv
from airflow_provider_braze.client.schedules import LOCAL_FLAGS
from airflow_provider_braze.client.str_enum import StrEnum
from airflow_provider_braze.operators.base import BrazeBaseOperator
from airflow_provider_braze.operators.rendered_fields import (
    parse_flag,
    parse_rendered,
    schedule_argument,
    schedule_with_flags,
)

if TYPE_CHECKING:
    from airflow_provider_braze.engine.batch_sender import SendOutcome
    from airflow_provider_braze.engine.send_plan import SendPlan


class ScheduleKind(StrEnum):
    """``kind``: what a schedule belongs to (the ``/messages``, ``/campaigns`` or ``/canvas`` schedule endpoints)."""

    MESSAGES = "messages"
    CAMPAIGN = "campaign"
    CANVAS = "canvas"


KINDS = ScheduleKind.values()
_OWNER_FIELD: dict[str, str | None] = {
    ScheduleKind.MESSAGES: None,
    ScheduleKind.CAMPAIGN: "campaign_id",
    ScheduleKind.CANVAS: "canvas_id",
}
_ROUTES: dict[str, dict[str, ep.Endpoint]] = {
    "update": {
        ScheduleKind.MESSAGES: ep.UPDATE_MESSAGE_SCHEDULE,
        ScheduleKind.CAMPAIGN: ep.UPDATE_CAMPAIGN_SCHEDULE,
        ScheduleKind.CANVAS: ep.UPDATE_CANVAS_SCHEDULE,
    },
    "delete": {
        ScheduleKind.MESSAGES: ep.DELETE_MESSAGE_SCHEDULE,
        ScheduleKind.CAMPAIGN: ep.DELETE_CAMPAIGN_SCHEDULE,
        ScheduleKind.CANVAS: ep.DELETE_CANVAS_SCHEDULE,
    },
}
#: The kind of schedule a result's ``endpoint`` names (create, update and delete results alike).
KIND_BY_ENDPOINT = {
    endpoint.path: kind
    for kind, endpoints in (
        (ScheduleKind.MESSAGES, (ep.CREATE_MESSAGE_SCHEDULE, ep.UPDATE_MESSAGE_SCHEDULE, ep.DELETE_MESSAGE_SCHEDULE)),
        (
            ScheduleKind.CAMPAIGN,
            (ep.CREATE_CAMPAIGN_SCHEDULE, ep.UPDATE_CAMPAIGN_SCHEDULE, ep.DELETE_CAMPAIGN_SCHEDULE),
        ),
        (ScheduleKind.CANVAS, (ep.CREATE_CANVAS_SCHEDULE, ep.UPDATE_CANVAS_SCHEDULE, ep.DELETE_CANVAS_SCHEDULE)),
    )
    for endpoint in endpoints
}


@dataclass
class ScheduleTargets:
    """The schedules one update/delete task acts on, as read from ``schedule_id``.

    :param ids: every schedule id, in order.
    :param kind: the kind the given results name (None for bare ids).
    :param owner: the campaign or Canvas id the results name (None if none).
    :param schedule: the schedule the results were created (or last updated) with, if they say.
    """

    ids: list[str] = field(default_factory=list)
    kind: str | None = None
    owner: str | None = None
    schedule: dict[str, Any] | None = None


def _is_many(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))


def _read_result(result: Mapping[str, Any], where: str, targets: ScheduleTargets) -> None:
    """Add one schedule operator result to ``targets`` (refusing an incomplete or mixed one)."""
    raw_ids = result.get("schedule_ids")
    if raw_ids is None and "schedule_id" in result:
        raw_ids = [result["schedule_id"]]
    ids = [raw_ids] if isinstance(raw_ids, str) else list(raw_ids or [])
    count = result.get("schedule_id_count")
    if isinstance(count, int) and not isinstance(count, bool) and count > len(ids):
        raise pv.PayloadRuleError(
            where,
            f"the result lists {len(ids)} of its {count} schedule ids (schedule_id_count), so acting on it would "
            f"leave {count - len(ids)} schedule(s) live; pass every id (a result that lists all of them, or the "
            "list of ids)",
        )
    endpoint = result.get("endpoint")
    kind = KIND_BY_ENDPOINT.get(str(endpoint)) if endpoint else None
    if endpoint and kind is None:
        raise pv.PayloadRuleError(f"{where}.endpoint", f"{endpoint!r} is not a schedule endpoint")
    if kind is not None:
        if targets.kind is not None and targets.kind != kind:
            raise pv.PayloadRuleError(
                where, f"mixes {targets.kind} and {kind} schedules: update or delete each kind in its own task"
            )
        targets.kind = kind
        owner_field = _OWNER_FIELD[kind]
        owner = result.get(owner_field) if owner_field else None
        if owner:
            if targets.owner is not None and targets.owner != owner:
                raise pv.PayloadRuleError(
                    where, f"mixes schedules of {owner_field} {targets.owner!r} and {owner!r}: one owner per task"
                )
            targets.owner = str(owner)
    schedule = result.get("schedule")
    if isinstance(schedule, Mapping):
        if targets.schedule is not None and _flags(targets.schedule) != _flags(schedule):
            raise pv.PayloadRuleError(where, "mixes schedules with different in_local_time/at_optimal_time")
        targets.schedule = dict(schedule)
    targets.ids.extend(ids)


def _flags(schedule: Mapping[str, Any] | None) -> dict[str, bool]:
    """The delivery flags a schedule object sets (``{}`` for a plain UTC schedule)."""
    return {flag: True for flag in LOCAL_FLAGS if schedule and schedule.get(flag)}


def _describe(flags: Mapping[str, bool]) -> str:
    return " and ".join(flags) if flags else "a plain UTC time"


def read_targets(value: Any) -> ScheduleTargets:
    """Every schedule id of the rendered ``schedule_id``: one id, a list of ids, a schedule operator's
    result, or a list of results (a mapped or sharded create), flattened."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        value = parse_rendered(value, "schedule_id", kinds=(list, dict))
    targets = ScheduleTargets()
    items: list[Any] = list(value) if _is_many(value) else [] if value is None or value == "" else [value]
    for index, item in enumerate(items):
        where = f"schedule_id[{index}]" if len(items) > 1 else "schedule_id"
        if isinstance(item, Mapping):
            _read_result(item, where, targets)
        elif _is_many(item):
            targets.ids.extend(item)
        else:
            targets.ids.append(item)
    if not targets.ids:
        raise pv.PayloadRuleError("schedule_id", "is required (one id, a list of ids or a schedule result)")
    for index, schedule_id in enumerate(targets.ids):
        pv.check_required_id(schedule_id, f"schedule_id[{index}]" if len(targets.ids) > 1 else "schedule_id")
    return targets


def route(
    targets: ScheduleTargets, *, action: str, kind: str | None, campaign_id: Any, canvas_id: Any
) -> tuple[str, dict[str, str]]:
    """``(kind, owner field)`` of an ``action`` (update or delete): from the results given, checked
    against ``kind`` and the ids given."""
    if campaign_id and canvas_id:
        raise pv.PayloadRuleError("campaign_id", "give campaign_id or canvas_id, not both")
    explicit = ScheduleKind.parse(kind, "kind") if kind else None
    if explicit and targets.kind and explicit != targets.kind:
        raise pv.PayloadRuleError(
            "kind", f"is {explicit.value!r} but the schedule_id result is a {targets.kind} schedule"
        )
    routed = explicit or targets.kind
    if routed is None:  # bare ids: the arguments say what they belong to
        routed = ScheduleKind.CAMPAIGN if campaign_id else ScheduleKind.CANVAS if canvas_id else ScheduleKind.MESSAGES
    owner_field = _OWNER_FIELD[routed]
    for name, value in (("campaign_id", campaign_id), ("canvas_id", canvas_id)):
        if value and name != owner_field:
            raise pv.PayloadRuleError(
                name, f"does not belong on a {routed} schedule's {action} (the schedule is a {routed} schedule)"
            )
    if owner_field is None:
        return routed, {}
    given = (campaign_id if owner_field == "campaign_id" else canvas_id) or None
    if given and targets.owner and str(given) != targets.owner:
        raise pv.PayloadRuleError(
            owner_field, f"is {given!r} but the schedule_id result was created for {targets.owner!r}"
        )
    owner = given or targets.owner
    if not owner:
        raise pv.PayloadRuleError(owner_field, f"is required to {action} a {routed} schedule")
    pv.check_required_id(owner, owner_field)
    return routed, {owner_field: str(owner)}


@dataclass
class ScheduleChange:
    """One update or delete task's requests: what it acts on and what each body adds.

    :param action: ``"update"`` or ``"delete"``.
    :param kind: the kind of schedule (``messages``, ``campaign``, ``canvas``).
    :param targets: the schedules.
    :param owner: ``{"campaign_id" | "canvas_id": id}`` (empty for message schedules).
    :param extra: what each body sets besides the ids (``schedule``, ``messages``).
    """

    action: str
    kind: str
    targets: ScheduleTargets
    owner: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def plan(self) -> SendPlan:
        """One request per schedule id."""
        from airflow_provider_braze.hooks.braze import BrazeHook

        noun = "message" if self.kind == ScheduleKind.MESSAGES else self.kind
        build = getattr(BrazeHook, f"{self.action}_{noun}_schedule_body")
        bodies = [build(**self.owner, schedule_id=schedule_id, **self.extra) for schedule_id in self.targets.ids]
        from airflow_provider_braze.engine.send_plan import SendPlan

        return SendPlan(_ROUTES[self.action][self.kind], fixed=bodies)

    def result(self, outcome: SendOutcome) -> dict[str, Any]:
        """``{"endpoint", "schedule_ids", "schedule_id_count", "<action>d": n}`` plus the owner id (and,
        for an update, the new ``schedule``), so the result can be passed on to a later update or delete."""
        result: dict[str, Any] = {
            "endpoint": outcome.endpoint,
            "schedule_ids": list(self.targets.ids),
            "schedule_id_count": len(self.targets.ids),
            f"{self.action}d": outcome.batches,
            **self.owner,
        }
        if "schedule" in self.extra:
            result["schedule"] = self.extra["schedule"]
        return result


def owner_dashboard_target(campaign_id: Any, canvas_id: Any) -> tuple[str, str] | None:
    """The campaign's or Canvas's dashboard page, when one was given."""
    if campaign_id:
        return ("campaign", str(campaign_id))
    if canvas_id:
        return ("canvas", str(canvas_id))
    return None


#: The template fields of both the update and the delete (the update adds its new values).
_TARGET_TEMPLATE_FIELDS = ("schedule_id", "campaign_id", "canvas_id", "kind")


class BrazeUpdateScheduleOperator(BrazeBaseOperator):
    """Replace API schedules (``POST /messages|/campaigns/trigger|/canvas/trigger /schedule/update``).

    Braze replaces the **whole** schedule. Given a schedule operator's result, the update keeps the
    original's ``in_local_time``/``at_optimal_time`` unless told otherwise (pass ``in_local_time=False``
    to turn a local-time schedule into a UTC one); a warning is logged only when the delivery
    semantics change. Given bare ids, the original flags are unknown and the new schedule is sent as
    given. Message schedules may also update ``messages``; campaign and Canvas schedules need
    ``schedule``.

    Example:

    .. code-block:: python

        BrazeUpdateScheduleOperator(
            task_id="push_back_one_day",
            schedule_id=schedule_canvas.output,
            schedule="{{ data_interval_end.add(days=2) }}",
        )

    :param schedule_id: a schedule operator's result (routes by its ``endpoint``), a list of results,
        one schedule id or a list of ids (templated).
    :param kind: ``"messages"``, ``"campaign"`` or ``"canvas"``: what bare ids are (checked against a result).
    :param campaign_id: the campaign of bare campaign schedule ids (templated).
    :param canvas_id: the Canvas of bare Canvas schedule ids (templated).
    :param schedule: the new schedule (see ``BrazeScheduleMessageOperator``); templated.
    :param in_local_time: deliver at the wall-clock time in each user's time zone (default: as created).
    :param at_optimal_time: deliver on that date at each user's optimal time (default: as created).
    :param messages: new message objects (message schedules only; templated, ``.json`` works).
    """

    template_fields: Sequence[str] = (
        *_TARGET_TEMPLATE_FIELDS,
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
        schedule_id: str | Sequence[Any] | Mapping[str, Any],
        campaign_id: str | None = None,
        canvas_id: str | None = None,
        kind: str | None = None,
        schedule: Mapping[str, Any] | datetime | str | None = None,
        in_local_time: bool | str | None = None,
        at_optimal_time: bool | str | None = None,
        messages: Mapping[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule_id = schedule_id
        self.campaign_id = campaign_id
        self.canvas_id = canvas_id
        self.kind = kind
        self._change: ScheduleChange | None = None
        self.schedule = schedule
        self.in_local_time = in_local_time
        self.at_optimal_time = at_optimal_time
        self.messages = messages

    def new_schedule(self, original: Mapping[str, Any] | None) -> tuple[Any, dict[str, bool]]:
        """The new schedule as given (the hook's body builder validates and normalises it), with the
        original's flags where none are given; and the flags so carried over.

        :param original: the schedule the given result was created (or last updated) with (None: bare ids).
        """
        value = schedule_argument(self.schedule)
        in_local_time = parse_flag(self.in_local_time, "in_local_time")
        at_optimal_time = parse_flag(self.at_optimal_time, "at_optimal_time")
        given_in_value = isinstance(value, Mapping) and any(value.get(flag) is not None for flag in LOCAL_FLAGS)
        carried = _flags(original) if in_local_time is None and at_optimal_time is None and not given_in_value else {}
        schedule = schedule_with_flags(
            value,
            in_local_time=True if carried.get("in_local_time") else in_local_time,
            at_optimal_time=True if carried.get("at_optimal_time") else at_optimal_time,
        )
        return schedule, carried

    def _log_schedule(
        self, original: Mapping[str, Any] | None, schedule: Mapping[str, Any], carried: Mapping[str, bool]
    ) -> None:
        """Say what the update does to the delivery semantics (Braze replaces the whole schedule)."""
        if carried:
            self.log.info("Keeping %s from the schedule being updated", _describe(carried))
        if original is None:
            self.log.info(
                "Braze replaces the whole schedule; the original's flags are unknown (bare ids were given), so the "
                "new one is sent as given: %s",
                _describe(_flags(schedule)),
            )
        elif _flags(original) != _flags(schedule):
            self.log.warning(
                "Braze replaces the whole schedule: this update changes delivery from %s to %s (at %s)",
                _describe(_flags(original)),
                _describe(_flags(schedule)),
                schedule["time"],
            )

    def build_plan(self) -> SendPlan:
        """Validate the ids and the new schedule, and route."""
        targets = read_targets(self.schedule_id)
        kind, owner = route(
            targets, action="update", kind=self.kind, campaign_id=self.campaign_id, canvas_id=self.canvas_id
        )
        extra: dict[str, Any] = {}
        carried: dict[str, bool] = {}
        if self.schedule is not None and self.schedule != "":
            extra["schedule"], carried = self.new_schedule(targets.schedule)
        messages = parse_rendered(self.messages, "messages", kinds=(dict,))
        if messages is not None:
            if kind != ScheduleKind.MESSAGES:
                raise pv.PayloadRuleError("messages", f"cannot be updated on a {kind} schedule (only schedule)")
            extra["messages"] = messages  # checked by the hook's body builder
        if kind != ScheduleKind.MESSAGES and "schedule" not in extra:
            raise pv.PayloadRuleError("schedule", f"is required to update a {kind} schedule")
        if not extra:
            raise pv.PayloadRuleError("schedule", "give schedule and/or messages to update")
        self._change = ScheduleChange("update", kind, targets, owner, extra)
        try:
            plan = self._change.plan()  # the hook's body builder validates and normalises the schedule
        except pv.PayloadRuleError as err:
            if not carried or not (err.field == "schedule" or err.field.startswith("schedule.")):
                raise
            raise pv.PayloadRuleError(
                err.field,
                f"{err.rule} ({_describe(carried)} is kept from the schedule being updated; pass "
                f"{next(iter(carried))}=False to schedule a plain UTC time instead)",
            ) from None
        if "schedule" in extra:
            assert plan.fixed, "an update plan lists one body per schedule id"
            extra["schedule"] = plan.fixed[0]["schedule"]  # what is sent, for the log and the result
            self._log_schedule(targets.schedule, extra["schedule"], carried)
        return plan

    def dashboard_target(self) -> tuple[str, str] | None:
        """The campaign's or Canvas's dashboard page."""
        return owner_dashboard_target(self.campaign_id, self.canvas_id)

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """``{"endpoint", "schedule_ids", "schedule_id_count", "updated": n, "schedule"}`` plus the owner id."""
        assert self._change is not None, "make_result follows build_plan"
        return self._change.result(outcome)


class BrazeDeleteScheduleOperator(BrazeBaseOperator):
    """Cancel API schedules (``POST /messages|/campaigns/trigger|/canvas/trigger /schedule/delete``).

    Example:

    .. code-block:: python

        BrazeDeleteScheduleOperator(task_id="cancel", schedule_id=schedule_campaign.output)

    :param schedule_id: a schedule operator's result (routes by its ``endpoint``), a list of results,
        one schedule id or a list of ids (templated).
    :param kind: ``"messages"``, ``"campaign"`` or ``"canvas"``: what bare ids are (checked against a result).
    :param campaign_id: the campaign of bare campaign schedule ids (templated).
    :param canvas_id: the Canvas of bare Canvas schedule ids (templated).
    """

    template_fields: Sequence[str] = (*_TARGET_TEMPLATE_FIELDS, "braze_conn_id", "braze_dry_run")
    template_fields_renderers = {"schedule_id": "json"}

    def __init__(
        self,
        *,
        schedule_id: str | Sequence[Any] | Mapping[str, Any],
        campaign_id: str | None = None,
        canvas_id: str | None = None,
        kind: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule_id = schedule_id
        self.campaign_id = campaign_id
        self.canvas_id = canvas_id
        self.kind = kind
        self._change: ScheduleChange | None = None

    def dashboard_target(self) -> tuple[str, str] | None:
        """The campaign's or Canvas's dashboard page."""
        return owner_dashboard_target(self.campaign_id, self.canvas_id)

    def build_plan(self) -> SendPlan:
        """Validate the ids and route."""
        targets = read_targets(self.schedule_id)
        kind, owner = route(
            targets, action="delete", kind=self.kind, campaign_id=self.campaign_id, canvas_id=self.canvas_id
        )
        self._change = ScheduleChange("delete", kind, targets, owner)
        return self._change.plan()

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """``{"endpoint", "schedule_ids", "schedule_id_count", "deleted": n}`` plus the owner id."""
        assert self._change is not None, "make_result follows build_plan"
        return self._change.result(outcome)
