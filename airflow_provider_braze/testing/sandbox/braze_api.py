"""The sandbox's Braze endpoints: validate like Braze, then take effect and answer like Braze.

Each handler takes the parsed JSON body (or query) and returns ``(status, answer)``; it raises
:class:`~airflow_provider_braze.testing.sandbox.validation.Rejection` before any effect when the
request breaks a rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, time, timezone
from typing import Any

from airflow_provider_braze.testing.sandbox import rules
from airflow_provider_braze.testing.sandbox.config import SandboxConfig
from airflow_provider_braze.testing.sandbox.rules import refuse
from airflow_provider_braze.testing.sandbox.state import SandboxState, StoredSchedule
from airflow_provider_braze.testing.sandbox.validation import Rejection

Answer = tuple[int, dict[str, Any]]

#: Top-level fields of ``/messages/send`` and ``/messages/schedule/create`` with a documented type.
_MESSAGE_FIELDS = (
    "broadcast",
    "external_user_ids",
    "user_aliases",
    "segment_id",
    "audience",
    "campaign_id",
    "send_id",
    "override_frequency_capping",
    "override_messaging_limits",
    "recipient_subscription_state",
    "messages",
)
#: Top-level fields of the trigger sends and trigger schedules with a documented type.
_TRIGGER_FIELDS = ("broadcast", "audience", "send_id", "recipients", "attachments")

#: A send id is created for a campaign (``/sends/id/create``) and tracks that campaign's sends.
SEND_ID_NEEDS_CAMPAIGN = (
    "needs campaign_id: a send id is created for a campaign (/sends/id/create) and tracks that campaign's sends"
)


def new_dispatch_id() -> str:
    """A 32-hex dispatch id, as Braze returns."""
    return uuid.uuid4().hex


def recipient_key(recipient: dict[str, Any]) -> str:
    """The identifier a delivery is counted under, e.g. ``external_user_id:u1``."""
    if recipient.get("external_user_id"):
        return f"external_user_id:{recipient['external_user_id']}"
    if recipient.get("user_alias"):
        alias = recipient["user_alias"]
        return f"user_alias:{alias['alias_label']}:{alias['alias_name']}"
    if recipient.get("braze_id"):
        return f"braze_id:{recipient['braze_id']}"
    return f"email:{recipient.get('email')}"


class BrazeAPI:
    """The endpoint handlers of one sandbox.

    :param state: the sandbox's memory.
    :param config: the sandbox's knobs.
    """

    def __init__(self, state: SandboxState, config: SandboxConfig) -> None:
        self.state = state
        self.config = config
        self.routes: dict[tuple[str, str], Callable[[dict[str, Any], datetime], Answer]] = {
            ("POST", rules.SEND_MESSAGE.path): self.send_message,
            ("POST", rules.TRIGGER_CAMPAIGN.path): self.trigger_campaign,
            ("POST", rules.TRIGGER_CANVAS.path): self.trigger_canvas,
            ("POST", rules.CREATE_MESSAGE_SCHEDULE.path): self.create_message_schedule,
            ("POST", rules.UPDATE_MESSAGE_SCHEDULE.path): self.update_message_schedule,
            ("POST", rules.DELETE_MESSAGE_SCHEDULE.path): self.delete_message_schedule,
            ("POST", rules.CREATE_CAMPAIGN_SCHEDULE.path): self.create_campaign_schedule,
            ("POST", rules.UPDATE_CAMPAIGN_SCHEDULE.path): self.update_campaign_schedule,
            ("POST", rules.DELETE_CAMPAIGN_SCHEDULE.path): self.delete_campaign_schedule,
            ("POST", rules.CREATE_CANVAS_SCHEDULE.path): self.create_canvas_schedule,
            ("POST", rules.UPDATE_CANVAS_SCHEDULE.path): self.update_canvas_schedule,
            ("POST", rules.DELETE_CANVAS_SCHEDULE.path): self.delete_canvas_schedule,
            ("POST", rules.CREATE_SEND_ID.path): self.create_send_id,
            ("GET", rules.SCHEDULED_BROADCASTS.path): self.scheduled_broadcasts,
        }

    # -- helpers ------------------------------------------------------------------------------

    def _success(self, extra: dict[str, Any], *, status: int = 201) -> Answer:
        body = {**extra, "message": "success"}
        if self.config.minor_errors and "dispatch_id" in extra:
            body["errors"] = list(self.config.minor_errors)
        return status, body

    def _deliver(self, path: str, keys: list[str]) -> None:
        self.state.record_delivery(path, keys)

    # -- /messages/send -----------------------------------------------------------------------

    def _check_message_request(self, body: dict[str, Any]) -> list[str]:
        rules.check_types(body, _MESSAGE_FIELDS)
        if "campaign_id" in body:
            rules.check_required_id(body, "campaign_id")
        rules.check_send_id(body.get("send_id"))
        if body.get("send_id") and not body.get("campaign_id"):
            raise refuse("send_id", SEND_ID_NEEDS_CAMPAIGN)
        state = body.get("recipient_subscription_state")
        if state is not None and state not in rules.RECIPIENT_SUBSCRIPTION_STATES:
            raise refuse(
                "recipient_subscription_state",
                f"must be one of {', '.join(rules.RECIPIENT_SUBSCRIPTION_STATES)} (got {state!r})",
            )
        keys = rules.check_message_targets(body)
        rules.check_messages(body.get("messages"), campaign_id=body.get("campaign_id"))
        return keys

    def send_message(self, body: dict[str, Any], now: datetime) -> Answer:
        keys = self._check_message_request(body)
        self._deliver(rules.SEND_MESSAGE.path, keys)
        extra: dict[str, Any] = {"dispatch_id": new_dispatch_id()}
        if body.get("broadcast") and body.get("campaign_id") and not body.get("send_id"):
            extra["send_id"] = f"sandbox-{uuid.uuid4().hex[:12]}"
        return self._success(extra)

    # -- triggers -----------------------------------------------------------------------------

    def _check_trigger_request(self, body: dict[str, Any], id_field: str, properties: tuple[str, ...]) -> list[str]:
        rules.check_types(body, (*_TRIGGER_FIELDS, *properties))
        rules.check_required_id(body, id_field)
        rules.check_send_id(body.get("send_id"))
        for name in properties:
            rules.check_properties(body.get(name), name)
        if "context" in body and "canvas_entry_properties" in body:
            raise refuse("canvas_entry_properties", "is the older name of context: give only one of them")
        return rules.check_trigger_targets(body, id_field, properties)

    def _check_campaign_request(self, body: dict[str, Any]) -> list[str]:
        return self._check_trigger_request(body, "campaign_id", ("trigger_properties",))

    def _check_canvas_request(self, body: dict[str, Any]) -> list[str]:
        return self._check_trigger_request(body, "canvas_id", ("context", "canvas_entry_properties"))

    def trigger_campaign(self, body: dict[str, Any], now: datetime) -> Answer:
        keys = self._check_campaign_request(body)
        self._deliver(rules.TRIGGER_CAMPAIGN.path, keys)
        return self._success({"dispatch_id": new_dispatch_id()})

    def trigger_canvas(self, body: dict[str, Any], now: datetime) -> Answer:
        keys = self._check_canvas_request(body)
        extra: dict[str, Any] = {"dispatch_id": new_dispatch_id()}
        if body["canvas_id"] in self.config.paused_canvas_ids:
            extra["notice"] = "The Canvas is paused. Resume the Canvas to ensure trigger requests will take effect."
        else:
            self._deliver(rules.TRIGGER_CANVAS.path, keys)
        return self._success(extra)

    # -- schedules ----------------------------------------------------------------------------

    def _store_schedule(self, path: str, kind: str, owner: str | None, body: dict[str, Any], keys: list[str]) -> Answer:
        schedule_id = uuid.uuid4().hex
        dispatch_id = new_dispatch_id()
        self.state.schedules[schedule_id] = StoredSchedule(schedule_id, kind, owner, dict(body), dispatch_id)
        self._deliver(path, keys)
        return self._success({"dispatch_id": dispatch_id, "schedule_id": schedule_id})

    def _find_schedule(self, body: dict[str, Any], kind: str, owner_field: str | None) -> StoredSchedule:
        rules.check_required_id(body, "schedule_id")
        if owner_field:
            rules.check_required_id(body, owner_field)
        schedule_id, owner = body["schedule_id"], body.get(owner_field) if owner_field else None
        stored = self.state.schedules.get(schedule_id)
        if stored is None or stored.kind != kind or stored.owner_id != owner:
            raise Rejection(400, "Invalid schedule_id", f"schedule_id: no {kind} schedule {schedule_id} exists")
        return stored

    def create_message_schedule(self, body: dict[str, Any], now: datetime) -> Answer:
        rules.check_schedule(body.get("schedule"), now)
        keys = self._check_message_request(body)
        return self._store_schedule(rules.CREATE_MESSAGE_SCHEDULE.path, "messages", None, body, keys)

    def update_message_schedule(self, body: dict[str, Any], now: datetime) -> Answer:
        stored = self._find_schedule(body, "messages", None)
        if "schedule" not in body and "messages" not in body:
            raise refuse("schedule", "one of schedule or messages is required")
        if "schedule" in body:
            rules.check_schedule(body["schedule"], now)
        if "messages" in body:
            rules.check_messages(body["messages"], campaign_id=stored.body.get("campaign_id"))
        for field in ("schedule", "messages"):
            if field in body:
                stored.body[field] = body[field]
        stored.updates += 1
        return self._success({})

    def _delete(self, stored: StoredSchedule) -> Answer:
        del self.state.schedules[stored.schedule_id]
        self.state.deleted_schedules[stored.schedule_id] = stored
        return self._success({})

    def delete_message_schedule(self, body: dict[str, Any], now: datetime) -> Answer:
        return self._delete(self._find_schedule(body, "messages", None))

    def create_campaign_schedule(self, body: dict[str, Any], now: datetime) -> Answer:
        rules.check_schedule(body.get("schedule"), now)
        keys = self._check_campaign_request(body)
        return self._store_schedule(rules.CREATE_CAMPAIGN_SCHEDULE.path, "campaign", body["campaign_id"], body, keys)

    def _update_whole_schedule(self, body: dict[str, Any], now: datetime, kind: str, owner_field: str) -> Answer:
        stored = self._find_schedule(body, kind, owner_field)
        rules.check_schedule(body.get("schedule"), now)
        stored.body["schedule"] = body["schedule"]  # replaces the whole schedule, as Braze does
        stored.updates += 1
        return self._success({})

    def update_campaign_schedule(self, body: dict[str, Any], now: datetime) -> Answer:
        return self._update_whole_schedule(body, now, "campaign", "campaign_id")

    def delete_campaign_schedule(self, body: dict[str, Any], now: datetime) -> Answer:
        return self._delete(self._find_schedule(body, "campaign", "campaign_id"))

    def create_canvas_schedule(self, body: dict[str, Any], now: datetime) -> Answer:
        rules.check_schedule(body.get("schedule"), now)
        keys = self._check_canvas_request(body)
        return self._store_schedule(rules.CREATE_CANVAS_SCHEDULE.path, "canvas", body["canvas_id"], body, keys)

    def update_canvas_schedule(self, body: dict[str, Any], now: datetime) -> Answer:
        return self._update_whole_schedule(body, now, "canvas", "canvas_id")

    def delete_canvas_schedule(self, body: dict[str, Any], now: datetime) -> Answer:
        return self._delete(self._find_schedule(body, "canvas", "canvas_id"))

    # -- send ids and scheduled broadcasts ----------------------------------------------------

    def create_send_id(self, body: dict[str, Any], now: datetime) -> Answer:
        rules.check_required_id(body, "campaign_id")
        rules.check_send_id(body.get("send_id"))
        campaign_id = body["campaign_id"]
        send_id = body.get("send_id") or f"sandbox-{uuid.uuid4().hex[:16]}"
        # Braze: "Each send id - campaign id combination that you create will count towards your daily
        # limit": every create counts, an existing pair created again included.
        window = self.state.window("send_id", self.config.send_ids_per_day, 86_400)
        allowed, _, _ = window.take(now.timestamp())
        if not allowed:
            raise Rejection(429, "Rate Limited", f"more than {self.config.send_ids_per_day} send ids today")
        self.state.send_ids[(campaign_id, send_id)] = now.isoformat()
        return self._success({"send_id": send_id})

    def scheduled_broadcasts(self, query: dict[str, Any], now: datetime) -> Answer:
        if "end_time" not in query:
            raise refuse("end_time", "is required")
        end = rules.parse_time(query["end_time"], "end_time")
        cutoff = datetime.combine(end.date(), time(0, 0), tzinfo=timezone.utc)  # Braze: midnight UTC
        return 200, {"scheduled_broadcasts": self.state.due_broadcasts(now, cutoff)}
