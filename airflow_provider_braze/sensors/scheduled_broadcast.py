"""BrazeScheduledBroadcastSensor: wait for a dashboard-scheduled campaign or Canvas."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_braze.client.broadcast_matching import (
    BroadcastCondition,
    BroadcastCriteria,
    evaluate,
    parse_send_time,
)
from airflow_provider_braze.exceptions import BrazeBroadcastWaitError
from airflow_provider_braze.triggers.wait_status import WaitStatus

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_braze.hooks.braze import BrazeHook


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        from airflow_provider_braze.hooks.braze import format_end_time

        return format_end_time(value)
    return str(value)


class BrazeScheduledBroadcastSensor(BaseSensorOperator):
    """Wait for a broadcast in ``GET /messages/scheduled_broadcasts``.

    The list holds campaigns and Canvases **scheduled in the dashboard** (not schedules created
    through the API), due between now and ``end_time`` (which Braze reads as midnight UTC of its
    date). The sensor matches a broadcast by ``broadcast_id``, ``broadcast_name`` and/or ``tag``
    and waits for ``condition``:

    * ``"scheduled"``: it is listed (and due before ``send_before``, if given);
    * ``"sent"``: the sensor follows the first matching broadcast **by its id** and waits until it
      went out: its send time passed, it left the list at its time, or (recurring) its
      ``next_send_time`` moved on after its time. For ``local_time_zones`` and
      ``intelligent_delivery`` broadcasts, whose ``next_send_time`` has no zone, "sent" waits until
      the last time zone (UTC-12) reached it (a whole local day for Intelligent Timing), and the
      result says so in ``sent_until``. A broadcast that leaves the list **before** its time was
      unscheduled or cancelled: the task fails with that reason instead of reporting a send. One
      rescheduled before its time is followed to its new time. This needs memory between pokes, so
      it works in ``poke`` mode and deferred, not in ``reschedule`` mode. The sensor must first see
      the broadcast scheduled: one that went out before the first poke cannot be told apart from one
      never scheduled, and the sensor waits until its ``timeout``.

    The result (XCom) is the whole listed broadcast, with Braze's documented fields (``id``, ``name``,
    ``type``, ``tags``, ``next_send_time``, ``schedule_type``); for ``sent`` also ``sent_at`` (the
    send time followed) and, for local delivery, ``sent_until``.

    Every poke is one request against the workspace's shared 250,000/hour budget; the default
    ``poke_interval`` of 5 minutes costs 12 requests an hour. Prefer ``deferrable=True`` (or
    ``mode="reschedule"`` for ``scheduled``) for long waits, so no worker slot is held.

    Example:

    .. code-block:: python

        BrazeScheduledBroadcastSensor(task_id="wait_digest", tag="weekly-digest", condition="sent",
                                      deferrable=True, timeout=3 * 86400)

    :param broadcast_id: the campaign or Canvas id (templated).
    :param broadcast_name: the exact broadcast name (templated).
    :param tag: a tag the broadcast carries (templated).
    :param condition: ``"scheduled"`` or ``"sent"``.
    :param end_time: how far ahead to look (datetime or ISO string; templated). Default: 7 days.
    :param send_before: with ``scheduled``, the broadcast must be due before this time (templated).
    :param braze_conn_id: the Braze connection (templated).
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (
        "broadcast_id",
        "broadcast_name",
        "tag",
        "end_time",
        "send_before",
        "braze_conn_id",
    )
    ui_color = "#f7e4ff"

    def __init__(
        self,
        *,
        broadcast_id: str | None = None,
        broadcast_name: str | None = None,
        tag: str | None = None,
        condition: BroadcastCondition | str = BroadcastCondition.SCHEDULED,
        end_time: datetime | str | None = None,
        send_before: datetime | str | None = None,
        braze_conn_id: str = "braze_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        condition = BroadcastCondition.parse(condition, "condition").value
        if not (broadcast_id or broadcast_name or tag):
            raise ValueError("Give at least one of broadcast_id, broadcast_name or tag to match a broadcast")
        if condition == BroadcastCondition.SENT and self.mode == "reschedule" and not deferrable:
            raise ValueError(
                "condition='sent' remembers the send time between pokes, which mode='reschedule' cannot: "
                "use mode='poke' or deferrable=True"
            )
        self.broadcast_id = broadcast_id
        self.broadcast_name = broadcast_name
        self.tag = tag
        self.condition = condition
        self.end_time = end_time
        self.send_before = send_before
        self.braze_conn_id = braze_conn_id
        self.deferrable = deferrable
        self._followed: dict[str, Any] | None = None

    @cached_property
    def hook(self) -> BrazeHook:
        """The Braze hook."""
        from airflow_provider_braze.hooks.braze import BrazeHook  # a task-time import: DAG files parse fast

        return BrazeHook(braze_conn_id=self.braze_conn_id)

    def _criteria(self) -> BroadcastCriteria:
        return BroadcastCriteria(self.broadcast_id or None, self.broadcast_name or None, self.tag or None)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One look at the list."""
        now = datetime.now(timezone.utc)
        from airflow_provider_braze.hooks.braze import format_end_time
        from airflow_provider_braze.triggers.base import is_transient

        end_time = _iso(self.end_time) or format_end_time(now + timedelta(days=7))
        try:
            response = self.hook.get_scheduled_broadcasts(end_time=end_time)
        except Exception as err:
            if not is_transient(err):
                raise
            # One failed read must not end a long wait: the sensor's timeout still bounds it.
            self.log.warning(
                "Reading Braze's scheduled broadcasts failed (%s: %s); poking again", type(err).__name__, err
            )
            return False
        result = evaluate(
            self.condition,
            response.get("scheduled_broadcasts") or [],
            self._criteria(),
            now=now,
            send_before=parse_send_time(_iso(self.send_before)),
            followed=self._followed,
        )
        self._followed = result.followed
        self.log.info("Braze broadcast %s: %s", self._criteria().describe(), result.reason)
        if result.failed:
            raise BrazeBroadcastWaitError(f"Braze broadcast {self._criteria().describe()}: {result.reason}")
        if result.done:
            return PokeReturnValue(is_done=True, xcom_value=result.broadcast)
        return False

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) as usual; deferred, poke once, then wait in the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        from airflow_provider_braze.triggers.scheduled_broadcast import BrazeScheduledBroadcastTrigger

        self.defer(
            trigger=BrazeScheduledBroadcastTrigger(
                braze_conn_id=self.braze_conn_id,
                condition=self.condition,
                broadcast_id=self.broadcast_id or None,
                broadcast_name=self.broadcast_name or None,
                tag=self.tag or None,
                end_time=_iso(self.end_time),
                send_before=_iso(self.send_before),
                followed=json.dumps(self._followed) if self._followed is not None else None,
                poll_interval=float(self.poke_interval),
                timeout_at=time.time() + float(self.timeout),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: return the broadcast, or time out / fail with its message."""
        payload = event or {}
        status = payload.get("status")
        described = self._criteria().describe()
        if status == WaitStatus.TIMEOUT:
            message = f"Sensor timed out waiting for the Braze broadcast {described}: {payload.get('message')}"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        if status == WaitStatus.FAILED:
            raise BrazeBroadcastWaitError(f"Braze broadcast {described}: {payload.get('message')}")
        if status != WaitStatus.SUCCESS:
            message = payload.get("message", "no event")
            raise BrazeBroadcastWaitError(f"Waiting for the Braze broadcast failed: {message}")
        self.log.info("Braze broadcast %s: %s", described, payload.get("reason"))
        return payload.get("broadcast")
