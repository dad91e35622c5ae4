"""BrazeAnalyticsToSqlOperator: daily campaign, Canvas and send-id stats from Braze, upserted into a
warehouse table."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_braze.client import analytics_series as series
from airflow_provider_braze.client import payload_validation as pv
from airflow_provider_braze.client.analytics_series import StatsRow, StatsTarget
from airflow_provider_braze.exceptions import BrazeValidationError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_braze.hooks.braze import BrazeHook


class BrazeAnalyticsToSqlOperator(BaseOperator):
    """Copy Braze's daily analytics of campaigns, Canvases and send ids into a warehouse table.

    For each object it reads ``GET /campaigns/data_series``, ``/canvas/data_series`` (windows split
    into ≤ 14 days) or ``/sends/data_series`` over a trailing window of ``lookback_days`` ending on
    ``last_day``, flattens the days into rows keyed by ``(object_type, parent_id, object_id,
    stat_date, channel, variant)`` and **upserts** them (one transaction, after every object was
    read): a daily DAG re-reads the last days, whose opens, clicks and conversions keep arriving late,
    and converges to one row per key. The table is created if missing (portable DDL; see
    ``docs/analytics-to-sql.md`` for the columns). Rows are never deleted.

    Braze keeps send-id stats 14 days: the send-id window is cut to them, and a window that ends
    before them fails with a clear error before any request.

    Example:

    .. code-block:: python

        BrazeAnalyticsToSqlOperator(
            task_id="copy_analytics",
            campaign_ids=["{{ var.value.weekly_campaign }}"],
            send_ids=[{"campaign_id": "{{ var.value.weekly_campaign }}", "send_id": "weekly-{{ ds_nodash }}"}],
            table="braze_analytics",
            sql_conn_id="warehouse",
            lookback_days=7,
        )

    :param table: the table to upsert into (``[schema.]name``; templated).
    :param sql_conn_id: the warehouse connection (a common.sql ``DbApiHook``).
    :param campaign_ids: campaign ids (a list or JSON text; templated).
    :param canvas_ids: Canvas ids (a list or JSON text; templated).
    :param send_ids: ``[{"campaign_id", "send_id"}]`` (or one such dict, e.g. what
        ``BrazeCreateSendIdOperator`` returns; templated).
    :param ids_sql: a SELECT whose rows name more objects, by column: ``campaign_id`` and
        ``send_id`` (a send id), ``campaign_id`` alone (a campaign), or ``canvas_id``; e.g.
        ``SELECT DISTINCT campaign_id, send_id FROM sends_log`` (templated).
    :param ids_conn_id: the connection of ``ids_sql`` (default ``sql_conn_id``).
    :param last_day: the last day read (``YYYY-MM-DD``, templated). Default: the last day the DAG run
        covers — the day of the last second before ``data_interval_end`` (a daily run at midnight
        copies the day that just ended); a run without a data interval (a manual run on Airflow 3)
        uses ``run_after`` the same way (a manual run at 10:00 reads up to today).
    :param lookback_days: days read, ending on ``last_day`` (default 7): late stats are re-read.
    :param braze_conn_id: the Braze connection (templated).
    """

    template_fields: Sequence[str] = (
        "table",
        "sql_conn_id",
        "campaign_ids",
        "canvas_ids",
        "send_ids",
        "ids_sql",
        "ids_conn_id",
        "last_day",
        "lookback_days",
        "braze_conn_id",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"campaign_ids": "json", "canvas_ids": "json", "send_ids": "json", "ids_sql": "sql"}
    ui_color = "#f7e4ff"

    def __init__(
        self,
        *,
        table: str,
        sql_conn_id: str,
        campaign_ids: Iterable[str] | str | None = None,
        canvas_ids: Iterable[str] | str | None = None,
        send_ids: Iterable[Mapping[str, str]] | Mapping[str, str] | str | None = None,
        ids_sql: str | None = None,
        ids_conn_id: str | None = None,
        last_day: str | date | datetime | None = None,
        lookback_days: int | str = 7,
        braze_conn_id: str = "braze_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.sql_conn_id = sql_conn_id
        self.campaign_ids = campaign_ids
        self.canvas_ids = canvas_ids
        self.send_ids = send_ids
        self.ids_sql = ids_sql
        self.ids_conn_id = ids_conn_id
        self.last_day: Any = last_day
        self.lookback_days = lookback_days
        self.braze_conn_id = braze_conn_id

    # -- arguments ------------------------------------------------------------------------------

    @staticmethod
    def _json(value: Any, field: str) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            try:
                return json.loads(text)
            except ValueError:
                if field != "send_ids" and not text.startswith(("[", "{")):
                    return [part.strip() for part in text.split(",") if part.strip()]
                raise pv.PayloadRuleError(field, "must be a list (or JSON text of one)") from None
        return value

    def targets(self) -> list[StatsTarget]:
        """The objects to copy, from the arguments and ``ids_sql``, each once, in a stable order."""
        found: list[StatsTarget] = []
        for field, kind in (("campaign_ids", "campaign"), ("canvas_ids", "canvas")):
            values = self._json(getattr(self, field), field)
            if values is None:
                continue
            if isinstance(values, (Mapping, str)) or not isinstance(values, Iterable):
                raise pv.PayloadRuleError(field, "must be a list of ids")
            for index, value in enumerate(values):
                pv.check_required_id(value, f"{field}[{index}]")
                found.append(StatsTarget(kind, value.strip()))
        sends = self._json(self.send_ids, "send_ids")
        if isinstance(sends, Mapping):
            sends = [sends]
        for index, item in enumerate(sends or ()):
            found.append(_send_target(item, f"send_ids[{index}]"))
        if self.ids_sql:
            found.extend(self._sql_targets())
        if not found:
            raise pv.PayloadRuleError(
                "campaign_ids", "no object to copy: give campaign_ids, canvas_ids, send_ids or ids_sql"
            )
        return list(dict.fromkeys(found))

    def _sql_targets(self) -> list[StatsTarget]:
        from airflow_provider_braze.engine.recipient_sources import iter_sql_rows

        conn_id = self.ids_conn_id or self.sql_conn_id
        targets = []
        for number, row in iter_sql_rows(conn_id, str(self.ids_sql)):
            lowered = {str(k).lower(): v for k, v in row.items()}
            label = f"ids_sql row {number}"
            if lowered.get("canvas_id"):
                targets.append(StatsTarget("canvas", str(lowered["canvas_id"])))
            elif lowered.get("send_id"):
                targets.append(_send_target(lowered, label))
            elif lowered.get("campaign_id"):
                targets.append(StatsTarget("campaign", str(lowered["campaign_id"])))
            else:
                raise pv.PayloadRuleError(label, "needs a campaign_id (and optional send_id) or a canvas_id column")
        return targets

    def window(self, context: Context | Mapping[str, Any]) -> tuple[date, date]:
        """``(first day, last day)`` read by this run."""
        try:
            lookback = int(str(self.lookback_days).strip())
        except ValueError:
            raise pv.PayloadRuleError("lookback_days", "must be a whole number") from None
        if lookback < 1:
            raise pv.PayloadRuleError("lookback_days", "must be 1 or more")
        end = _as_date(self.last_day, "last_day") if self.last_day else default_end_date(context)
        return end - timedelta(days=lookback - 1), end

    # -- execution ------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Read every object's series, then upsert all rows in one transaction."""
        try:
            targets = self.targets()
            start, end = self.window(context)
            send_start = send_end = None
            if any(t.object_type == "send" for t in targets):
                send_start, send_end = series.send_window(start, end, series.utc_today())
        except pv.PayloadRuleError as err:
            raise BrazeValidationError(err.field, err.rule) from None
        from airflow.providers.common.compat.sdk import BaseHook

        from airflow_provider_braze.engine.analytics_table import AnalyticsTable
        from airflow_provider_braze.hooks.braze import BrazeHook

        table = AnalyticsTable(BaseHook.get_connection(self.sql_conn_id).get_hook(), str(self.table))
        if send_start is not None and send_start > start:
            self.log.warning(
                "Send-id stats before %s are no longer kept by Braze (14 days): send ids are read from %s",
                send_start,
                send_start,
            )
        hook = BrazeHook(braze_conn_id=self.braze_conn_id)
        rows: list[StatsRow] = []
        requests = 0
        try:
            for target in targets:
                if target.object_type == "send":
                    found, calls = self._read(hook, target, send_start or start, send_end or end)
                else:
                    found, calls = self._read(hook, target, start, end)
                rows.extend(found)
                requests += calls
        finally:
            hook.close()
        table.ensure()
        inserted, updated = table.upsert(rows)
        self.log.info(
            "Braze analytics %s..%s: %d object(s), %d request(s), %d row(s) upserted into %s (%d new, %d updated)",
            start,
            end,
            len(targets),
            requests,
            inserted + updated,
            table.table,
            inserted,
            updated,
        )
        return {
            "table": table.table,
            "first_day": start.isoformat(),
            "last_day": end.isoformat(),
            "objects": len(targets),
            "requests": requests,
            "rows": inserted + updated,
            "inserted": inserted,
            "updated": updated,
        }

    @staticmethod
    def _read(hook: BrazeHook, target: StatsTarget, start: date, end: date) -> tuple[list[StatsRow], int]:
        days = series.days_between(start, end)
        rows: list[StatsRow] = []
        if target.object_type == "canvas":
            windows = series.day_windows(start, end, series.MAX_CANVAS_DAYS)
            for last, length in windows:
                answer = hook.get_canvas_data_series(
                    canvas_id=target.object_id, ending_at=series.ending_at(last), length=length
                )
                rows.extend(series.flatten_canvas_series(target, answer.get("data"), days))
            return rows, len(windows)
        windows = series.day_windows(start, end, series.MAX_SERIES_DAYS)
        for last, length in windows:
            if target.object_type == "send":
                answer = hook.get_send_data_series(
                    campaign_id=target.parent_id,
                    send_id=target.object_id,
                    length=length,
                    ending_at=series.ending_at(last),
                )
            else:
                answer = hook.get_campaign_data_series(
                    campaign_id=target.object_id, length=length, ending_at=series.ending_at(last)
                )
            rows.extend(series.flatten_messages_series(target, answer.get("data"), days))
        return rows, len(windows)


def _send_target(item: Any, label: str) -> StatsTarget:
    if not isinstance(item, Mapping):
        raise pv.PayloadRuleError(label, 'must be {"campaign_id": ..., "send_id": ...}')
    pv.check_required_id(item.get("campaign_id"), f"{label}.campaign_id")
    pv.check_send_id(item.get("send_id"))
    pv.check_required_id(item.get("send_id"), f"{label}.send_id")
    return StatsTarget("send", str(item["send_id"]), str(item["campaign_id"]))


def _as_date(value: Any, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise pv.PayloadRuleError(field, f"must be a date YYYY-MM-DD (got {value!r})") from None


def default_end_date(context: Context | Mapping[str, Any]) -> date:
    """The last day a DAG run covers: the day of the last second before ``data_interval_end`` (a
    daily run at midnight copies the day that just ended); for a run without a data interval (a
    manual run on Airflow 3; Airflow 3's cron timetables) the same of ``run_after`` or the logical
    date; else today (UTC)."""
    interval_end = context.get("data_interval_end")
    interval_start = context.get("data_interval_start")
    dag_run = context.get("dag_run")
    moments = [getattr(dag_run, "run_after", None), context.get("logical_date"), interval_end]
    if isinstance(interval_end, datetime) and interval_end != interval_start:
        moments.insert(0, interval_end)
    for moment in moments:
        if isinstance(moment, datetime):
            return (moment - timedelta(seconds=1)).date()
    return series.utc_today()
