"""Braze's daily analytics series as warehouse rows: windows, retention and flattening.

``/campaigns/data_series``, ``/sends/data_series`` and ``/canvas/data_series`` return one element per
day, nested by channel and variation (campaigns, send ids) or by total, variant and step (Canvases).
This module turns them into flat rows keyed by ``(object_type, parent_id, object_id, stat_date,
channel, variant)``, splits a window into the chunks each endpoint accepts, and refuses send-id
windows past Braze's 14-day retention. No Airflow imports.

Row key conventions:

* campaigns: ``object_type="campaign"``, ``parent_id=""``; a row per channel and variation
  (``variant`` = ``variation_api_id``, else ``variation_name``, else ``#<position>``) and a day total
  (``channel = variant = "_total"``: conversions, unique recipients, revenue);
* send ids: ``object_type="send"``, ``parent_id`` = the campaign id, rows as for campaigns;
* Canvases: ``object_type="canvas"``, ``parent_id=""``; the day total (``_total``/``_total``), each
  variant (``_variant``/``variant:<id>``), each step (``_step``/``step:<id>``) and each step's
  channel rows (``<channel>``/``step:<id>#<position>``: Braze gives them no id).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow_provider_braze.client import payload_validation as pv

#: Days per request: campaign and send series take ``length`` 1-100, Canvas series 1-14.
MAX_SERIES_DAYS = 100
MAX_CANVAS_DAYS = 14
#: Braze keeps send-id analytics this many days after the send.
SEND_RETENTION_DAYS = 14
OBJECT_TYPES = ("campaign", "send", "canvas")
KEY_COLUMNS = ("object_type", "parent_id", "object_id", "stat_date", "channel", "variant")
METRIC_COLUMNS = (
    "sent",
    "delivered",
    "opens",
    "unique_opens",
    "clicks",
    "unique_clicks",
    "bounces",
    "unsubscribes",
    "conversions",
    "conversions_by_send_time",
    "revenue",
    "unique_recipients",
    "entries",
)
COLUMNS = (*KEY_COLUMNS, "name", *METRIC_COLUMNS, "stats_json", "loaded_at")
#: Where a metric column reads from when Braze names it differently per channel (first present wins).
_SOURCES: dict[str, tuple[str, ...]] = {
    "opens": ("opens", "total_opens", "impressions", "total_impressions", "read"),
    "unique_opens": ("unique_opens", "direct_opens", "unique_impressions"),
    "clicks": ("clicks", "body_clicks", "total_clicks"),
    "bounces": ("bounces", "delivery_failed", "rejected", "failed", "errors"),
    "unsubscribes": ("unsubscribes", "opt_out"),
    "conversions_by_send_time": ("conversions_by_send_time", "conversions_by_entry_time"),
}


@dataclass(frozen=True)
class StatsTarget:
    """One object whose series is copied.

    :param object_type: ``campaign``, ``send`` or ``canvas``.
    :param object_id: the campaign id, send id or Canvas id.
    :param parent_id: the campaign of a send id (``""`` otherwise).
    """

    object_type: str
    object_id: str
    parent_id: str = ""


def day_windows(start: date, end: date, max_days: int) -> list[tuple[date, int]]:
    """``[(ending day, length), ...]`` covering ``start``..``end`` in chunks of at most ``max_days``."""
    windows = []
    chunk_end = end
    while chunk_end >= start:
        length = min(max_days, (chunk_end - start).days + 1)
        windows.append((chunk_end, length))
        chunk_end -= timedelta(days=length)
    return windows


def ending_at(day: date) -> str:
    """The ``ending_at`` of a window ending on ``day``: its last second, UTC (reproducible reruns)."""
    return f"{day.isoformat()}T23:59:59Z"


def send_window(start: date, end: date, today: date) -> tuple[date, date]:
    """The part of ``start``..``end`` Braze still keeps for send ids (14 days up to ``today``).

    :raises PayloadRuleError: when the whole window is older than the retention.
    """
    oldest = today - timedelta(days=SEND_RETENTION_DAYS - 1)
    if end < oldest:
        raise pv.PayloadRuleError(
            "send_ids",
            f"Braze keeps send-id analytics for {SEND_RETENTION_DAYS} days: the window {start}..{end} ends before "
            f"{oldest}, so there is nothing left to fetch (rows already in the table are kept). Copy send-id "
            "stats at least daily while they exist; use campaign_ids for older days",
        )
    return max(start, oldest), end


def _number(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _metrics(stats: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for column in METRIC_COLUMNS:
        for source in _SOURCES.get(column, (column,)):
            value = _number(stats.get(source))
            if value is not None:
                found[column] = value
                break
    return found


@dataclass(frozen=True)
class StatsRow:
    """One warehouse row before it is stamped with the load time."""

    key: tuple[str, str, str, str, str, str]
    name: str | None
    metrics: dict[str, Any]
    raw: Mapping[str, Any]

    def values(self, loaded_at: str) -> tuple[Any, ...]:
        """The row in :data:`COLUMNS` order."""
        metrics = tuple(self.metrics.get(column) for column in METRIC_COLUMNS)
        raw = json.dumps(self.raw, sort_keys=True, default=str)
        return (*self.key, self.name, *metrics, raw, loaded_at)


def _day(item: Mapping[str, Any]) -> str | None:
    value = item.get("time")
    return str(value)[:10] if value else None


def _day_total(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("time", "messages")}


def flatten_messages_series(
    target: StatsTarget, data: Any, days: set[str], name: str | None = None
) -> Iterator[StatsRow]:
    """Rows of a campaign or send-id series (``data``: Braze's list of days), only for ``days``."""
    for item in data if isinstance(data, list) else ():
        day = _day(item) if isinstance(item, Mapping) else None
        if day not in days:
            continue
        base = (target.object_type, target.parent_id, target.object_id, day)
        total = _day_total(item)
        yield StatsRow((*base, "_total", "_total"), name, _metrics(total), total)
        messages = item.get("messages") or {}
        for channel, rows in messages.items() if isinstance(messages, Mapping) else ():
            for position, row in enumerate(rows if isinstance(rows, list) else ()):
                if not isinstance(row, Mapping):
                    continue
                variant = row.get("variation_api_id") or row.get("variation_name") or f"#{position}"
                yield StatsRow((*base, str(channel), str(variant)), name, _metrics(row), row)


def flatten_canvas_series(target: StatsTarget, data: Any, days: set[str]) -> Iterator[StatsRow]:
    """Rows of a Canvas series (``data``: Braze's ``{"name", "stats": [...]}``), only for ``days``."""
    if not isinstance(data, Mapping):
        return
    name = data.get("name")
    for item in data.get("stats") or ():
        day = _day(item) if isinstance(item, Mapping) else None
        if day not in days:
            continue
        base = (target.object_type, target.parent_id, target.object_id, day)
        total = item.get("total_stats") or {}
        yield StatsRow((*base, "_total", "_total"), name, _metrics(total), total)
        for variant_id, stats in (item.get("variant_stats") or {}).items():
            yield StatsRow((*base, "_variant", f"variant:{variant_id}"), stats.get("name"), _metrics(stats), stats)
        for step_id, stats in (item.get("step_stats") or {}).items():
            step = {k: v for k, v in stats.items() if k != "messages"}
            yield StatsRow((*base, "_step", f"step:{step_id}"), stats.get("name"), _metrics(step), step)
            for channel, rows in (stats.get("messages") or {}).items():
                for position, row in enumerate(rows if isinstance(rows, list) else ()):
                    key = (*base, str(channel), f"step:{step_id}#{position}")
                    yield StatsRow(key, stats.get("name"), _metrics(row), row)


def days_between(start: date, end: date) -> set[str]:
    """ISO dates from ``start`` to ``end`` inclusive."""
    return {(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)}


def utc_today() -> date:
    """Today's date in UTC."""
    return datetime.now(timezone.utc).date()
