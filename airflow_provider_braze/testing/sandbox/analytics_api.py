"""The sandbox's analytics exports: ``GET /sends/data_series``, ``/campaigns/data_series``,
``/canvas/data_series`` and the campaign and Canvas lists and details.

The series are plausible and deterministic, and **derived from what the sandbox actually
delivered**: ``sent`` of a day is the number of recipients the sandbox accepted that UTC day for the
campaign (triggers and ``/messages/send`` with its ``campaign_id``, transactional emails), the send id
(requests carrying that ``send_id``) or the Canvas (Canvas triggers). The other counts follow from
``sent`` by fixed ratios; opens, clicks and conversions keep growing for three days after the send
day (late stats), so re-reading a trailing window changes earlier days, as Braze's does. Only the
``email`` channel is reported (the sandbox does not know a campaign's channels). Send-id stats older
than 14 days read as zero (Braze keeps them 14 days; what it answers past that is not documented).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow_provider_braze.testing.sandbox import rules
from airflow_provider_braze.testing.sandbox.rules import refuse
from airflow_provider_braze.testing.sandbox.state import SandboxState
from airflow_provider_braze.testing.sandbox.transactional_api import TransactionalModel, campaign_digest
from airflow_provider_braze.testing.sandbox.validation import Rejection

Answer = tuple[int, dict[str, Any]]
#: Days send-id stats are kept.
SEND_RETENTION_DAYS = 14
MAX_SERIES_DAYS = 100
MAX_CANVAS_DAYS = 14
_CAMPAIGN_SENDS = (rules.TRIGGER_CAMPAIGN.path, rules.SEND_MESSAGE.path)


@dataclass
class AnalyticsMemory:
    """Counts of the analytics requests answered (for the sandbox summary)."""

    series_requests: Counter[str]

    def summary_lines(self) -> list[str]:
        """Lines of the sandbox summary."""
        if not self.series_requests:
            return []
        parts = ", ".join(f"{n}x {path}" for path, n in sorted(self.series_requests.items()))
        return [f"Analytics exports answered: {parts}"]


def email_stats(sent: int, age_days: int) -> dict[str, Any]:
    """A day's email stats for ``sent`` emails, ``age_days`` after the send day (late stats grow for 3 days)."""
    bounces = sent // 50
    delivered = sent - bounces
    maturity = min(age_days + 1, 3)
    opens = delivered * maturity * 2 // 9
    clicks = delivered * maturity // 15
    return {
        "sent": sent,
        "delivered": delivered,
        "opens": opens,
        "unique_opens": opens * 4 // 5,
        "clicks": clicks,
        "unique_clicks": clicks * 4 // 5,
        "unsubscribes": delivered // 200,
        "bounces": bounces,
        "reported_spam": 0,
    }


def conversions(stats: dict[str, Any]) -> dict[str, Any]:
    """Day-level conversions and revenue derived from the clicks."""
    count = stats["clicks"] // 3
    return {
        "conversions": count,
        "conversions_by_send_time": count,
        "conversions1": 0,
        "conversions1_by_send_time": 0,
        "conversions2": 0,
        "conversions2_by_send_time": 0,
        "conversions3": 0,
        "conversions3_by_send_time": 0,
        "revenue": round(count * 9.99, 2),
    }


class AnalyticsModel:
    """The analytics endpoints of one sandbox.

    :param state: the sandbox's memory (its request log is what the series are derived from).
    :param transactional: the transactional model (its sends count toward their campaign).
    """

    def __init__(self, state: SandboxState, transactional: TransactionalModel) -> None:
        self.state = state
        self.transactional = transactional
        self.routes: dict[tuple[str, str], Callable[[dict[str, Any], datetime], Answer]] = {
            ("GET", rules.SEND_DATA_SERIES.path): self.send_series,
            ("GET", rules.CAMPAIGN_DATA_SERIES.path): self.campaign_series,
            ("GET", rules.CANVAS_DATA_SERIES.path): self.canvas_series,
            ("GET", rules.CAMPAIGN_LIST.path): self.campaign_list,
            ("GET", rules.CAMPAIGN_DETAILS.path): self.campaign_details,
            ("GET", rules.CANVAS_LIST.path): self.canvas_list,
            ("GET", rules.CANVAS_DETAILS.path): self.canvas_details,
        }

    def _count(self, path: str) -> None:
        memory = self.state.extensions.get("analytics")
        if not isinstance(memory, AnalyticsMemory):
            memory = self.state.extensions["analytics"] = AnalyticsMemory(Counter())
        memory.series_requests[path] += 1

    # -- what was delivered ---------------------------------------------------------------------

    def _delivered(self) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str, str]], Counter[tuple[str, str]]]:
        """Recipients accepted per (campaign, day), (campaign, send id, day) and (Canvas, day)."""
        campaigns: Counter[tuple[str, str]] = Counter()
        sends: Counter[tuple[str, str, str]] = Counter()
        canvases: Counter[tuple[str, str]] = Counter()
        for request in self.state.requests:
            body = request.body
            if not request.processed or not 200 <= request.status < 300 or not isinstance(body, dict):
                continue
            day = datetime.fromtimestamp(request.at, timezone.utc).date().isoformat()
            listed = len(body.get("recipients") or []) + len(body.get("external_user_ids") or [])
            listed += len(body.get("user_aliases") or [])
            if request.path in _CAMPAIGN_SENDS and isinstance(body.get("campaign_id"), str):
                campaigns[(body["campaign_id"], day)] += listed
                if isinstance(body.get("send_id"), str):
                    sends[(body["campaign_id"], body["send_id"], day)] += listed
            elif request.path == rules.TRIGGER_CANVAS.path and isinstance(body.get("canvas_id"), str):
                canvases[(body["canvas_id"], day)] += listed
        for (campaign_id, day), count in self.transactional.sends_by_day().items():
            campaigns[(campaign_id, day)] += count
        return campaigns, sends, canvases

    # -- windows --------------------------------------------------------------------------------

    @staticmethod
    def _days(query: dict[str, Any], now: datetime, limit: int, *, canvas: bool = False) -> list[date]:
        ending = rules.parse_time(query["ending_at"], "ending_at") if query.get("ending_at") else now
        end = ending.astimezone(timezone.utc).date() if ending.tzinfo else ending.date()
        if canvas and query.get("starting_at"):
            starting = rules.parse_time(query["starting_at"], "starting_at")
            start = starting.astimezone(timezone.utc).date() if starting.tzinfo else starting.date()
            length = (end - start).days + 1
            if length < 1:
                raise refuse("starting_at", "must be before ending_at")
        else:
            raw = query.get("length")
            if raw is None:
                raise refuse("length", "is required" + (" (or starting_at)" if canvas else ""))
            try:
                length = int(raw)
            except ValueError:
                raise refuse("length", "must be an integer") from None
        if not 1 <= length <= limit:
            raise refuse("length", f"must be between 1 and {limit} days (got {length})")
        return [end - timedelta(days=offset) for offset in range(length - 1, -1, -1)]

    @staticmethod
    def _age(day: date, now: datetime) -> int:
        return max(0, (now.astimezone(timezone.utc).date() - day).days)

    # -- series ---------------------------------------------------------------------------------

    def campaign_series(self, query: dict[str, Any], now: datetime) -> Answer:
        rules.check_required_id(query, "campaign_id")
        days = self._days(query, now, MAX_SERIES_DAYS)
        self._count(rules.CAMPAIGN_DATA_SERIES.path)
        campaigns, _, _ = self._delivered()
        campaign_id = query["campaign_id"]
        data = []
        for day in days:
            stats = email_stats(campaigns[(campaign_id, day.isoformat())], self._age(day, now))
            row = {"variation_api_id": f"variation-{campaign_digest(campaign_id)}", **stats}
            totals = conversions(stats)
            data.append(
                {"time": day.isoformat(), "messages": {"email": [row]}, "unique_recipients": stats["sent"], **totals}
            )
        return 200, {"message": "success", "data": data}

    def send_series(self, query: dict[str, Any], now: datetime) -> Answer:
        rules.check_required_id(query, "campaign_id")
        rules.check_required_id(query, "send_id")
        days = self._days(query, now, MAX_SERIES_DAYS)
        self._count(rules.SEND_DATA_SERIES.path)
        _, sends, _ = self._delivered()
        data = []
        for day in days:
            kept = self._age(day, now) < SEND_RETENTION_DAYS
            sent = sends[(query["campaign_id"], query["send_id"], day.isoformat())] if kept else 0
            stats = email_stats(sent, self._age(day, now))
            totals = conversions(stats)
            row = {"variation_name": "Variant 1", **stats, "unique_recipients": sent, **totals}
            data.append({"time": day.isoformat(), "messages": {"email": [row]}, "unique_recipients": sent, **totals})
        return 200, {"message": "success", "data": data}

    def canvas_series(self, query: dict[str, Any], now: datetime) -> Answer:
        rules.check_required_id(query, "canvas_id")
        days = self._days(query, now, MAX_CANVAS_DAYS, canvas=True)
        self._count(rules.CANVAS_DATA_SERIES.path)
        _, _, canvases = self._delivered()
        canvas_id = query["canvas_id"]
        digest = campaign_digest(canvas_id)
        variants = query.get("include_variant_breakdown") == "true"
        steps = query.get("include_step_breakdown") == "true"
        stats_list = []
        for day in days:
            entries = canvases[(canvas_id, day.isoformat())]
            email = email_stats(entries, self._age(day, now))
            money = conversions(email)
            total = {
                "revenue": money["revenue"],
                "conversions": money["conversions"],
                "conversions_by_entry_time": money["conversions"],
                "entries": entries,
            }
            item: dict[str, Any] = {"time": day.isoformat(), "total_stats": total}
            if variants:
                item["variant_stats"] = {f"variant-{digest}": {"name": "Variant 1", **total}}
            if steps:
                item["step_stats"] = {
                    f"step-{digest}": {
                        "name": "Email step",
                        "revenue": money["revenue"],
                        "conversions": money["conversions"],
                        "conversions_by_entry_time": money["conversions"],
                        "messages": {"email": [email]},
                    }
                }
            stats_list.append(item)
        return 200, {"message": "success", "data": {"name": f"Sandbox Canvas {canvas_id}", "stats": stats_list}}

    # -- lists and details ----------------------------------------------------------------------

    def _known(self) -> tuple[list[str], list[str]]:
        campaigns, _, canvases = self._delivered()
        return sorted({c for c, _ in campaigns}), sorted({c for c, _ in canvases})

    @staticmethod
    def _page(items: list[dict[str, Any]], query: dict[str, Any]) -> list[dict[str, Any]]:
        page = int(query.get("page") or 0)
        return items[page * 100 : page * 100 + 100]

    def campaign_list(self, query: dict[str, Any], now: datetime) -> Answer:
        campaigns, _ = self._known()
        items: list[dict[str, Any]] = [
            {"id": c, "name": f"Sandbox campaign {c}", "is_api_campaign": True, "tags": [], "last_edited": None}
            for c in campaigns
        ]
        return 200, {"message": "success", "campaigns": self._page(items, query)}

    def canvas_list(self, query: dict[str, Any], now: datetime) -> Answer:
        _, canvases = self._known()
        items: list[dict[str, Any]] = [
            {"id": c, "name": f"Sandbox Canvas {c}", "tags": [], "last_edited": None} for c in canvases
        ]
        return 200, {"message": "success", "canvases": self._page(items, query)}

    def campaign_details(self, query: dict[str, Any], now: datetime) -> Answer:
        rules.check_required_id(query, "campaign_id")
        campaign_id = query["campaign_id"]
        if campaign_id not in self._known()[0]:
            raise Rejection(400, "Campaign does not exist")
        variation = f"variation-{campaign_digest(campaign_id)}"
        return 200, {
            "message": "success",
            "name": f"Sandbox campaign {campaign_id}",
            "archived": False,
            "draft": False,
            "enabled": True,
            "channels": ["email"],
            "messages": {variation: {"channel": "email", "name": "Variant 1"}},
            "conversion_behaviors": [{"type": "Clicks Email", "window": 259200}],
        }

    def canvas_details(self, query: dict[str, Any], now: datetime) -> Answer:
        rules.check_required_id(query, "canvas_id")
        canvas_id = query["canvas_id"]
        if canvas_id not in self._known()[1]:
            raise Rejection(400, "Canvas does not exist")
        digest = campaign_digest(canvas_id)
        return 200, {
            "message": "success",
            "name": f"Sandbox Canvas {canvas_id}",
            "archived": False,
            "draft": False,
            "enabled": True,
            "channels": ["email"],
            "variants": [{"name": "Variant 1", "id": f"variant-{digest}", "first_step_ids": [f"step-{digest}"]}],
            "steps": [{"name": "Email step", "type": "message", "id": f"step-{digest}", "channels": ["email"]}],
        }
