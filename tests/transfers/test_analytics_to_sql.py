"""Braze analytics copied into a warehouse table, for real on SQLite and PostgreSQL: one row per key
after three overlapping daily runs, counts derived from what the sandbox delivered."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_braze.client.analytics_series import (
    StatsTarget,
    day_windows,
    flatten_messages_series,
)
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import (
    BrazeSendTransactionalEmailOperator,
    BrazeTriggerCampaignOperator,
    BrazeTriggerCanvasOperator,
)
from airflow_provider_braze.transfers import BrazeAnalyticsToSqlOperator
from airflow_provider_braze.transfers.analytics_to_sql import default_end_date
from tests.conftest import run_operator

KEY = "object_type, parent_id, object_id, stat_date, channel, variant"
TODAY = datetime.now(timezone.utc).date()


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request, tmp_path, monkeypatch):
    """``(connection id, DbApiHook)`` of an empty warehouse."""
    if request.param == "sqlite":
        conn = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")})
    else:
        conn = request.getfixturevalue("postgres_server")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", conn)
    from airflow.providers.common.compat.sdk import BaseHook

    hook = BaseHook.get_connection("warehouse").get_hook()
    hook.run("DROP TABLE IF EXISTS braze_analytics")
    return hook


def _send_everything(tmp_path) -> None:
    context = {"run_id": "r", "logical_date": datetime.now(timezone.utc)}
    users = [f"user-{i}" for i in range(60)]
    run_operator(
        BrazeTriggerCampaignOperator(
            task_id="a", campaign_id="camp-a", send_id="send-a", recipients=users, resume_store=None
        ),
        context,
    )
    run_operator(
        BrazeSendTransactionalEmailOperator(task_id="t", campaign_id="tx-a", recipients=users[:5], resume_store=None),
        context,
    )
    run_operator(
        BrazeTriggerCanvasOperator(task_id="c", canvas_id="canvas-a", recipients=users[:7], resume_store=None),
        context,
    )


def _copy(last_day: date, lookback: int = 3, **kwargs):
    kwargs.setdefault("campaign_ids", ["camp-a", "tx-a"])
    kwargs.setdefault("canvas_ids", '["canvas-a"]')
    kwargs.setdefault("send_ids", [{"campaign_id": "camp-a", "send_id": "send-a"}])
    return BrazeAnalyticsToSqlOperator(
        task_id="copy",
        table="braze_analytics",
        sql_conn_id="warehouse",
        last_day=last_day.isoformat(),
        lookback_days=lookback,
        **kwargs,
    )


def test_three_overlapping_daily_runs_leave_exactly_one_row_per_key(sandbox, warehouse, tmp_path):
    _send_everything(tmp_path)
    results = [run_operator(_copy(TODAY - timedelta(days=d)), {}) for d in (2, 1, 0)]
    # 10 rows a day: campaign total + email (x2 campaigns), send total + email, Canvas total/variant/step/email.
    assert [(r["inserted"], r["updated"]) for r in results] == [(30, 0), (10, 20), (10, 20)]
    assert (
        warehouse.get_records(f"SELECT {KEY}, COUNT(*) FROM braze_analytics GROUP BY {KEY} HAVING COUNT(*) > 1") == []
    )
    assert warehouse.get_first("SELECT COUNT(*) FROM braze_analytics")[0] == 50
    assert warehouse.get_first("SELECT COUNT(DISTINCT stat_date) FROM braze_analytics")[0] == 5
    today = TODAY.isoformat()
    mark = getattr(warehouse, "placeholder", "%s")
    sent = dict(
        warehouse.get_records(
            "SELECT object_id, sent FROM braze_analytics "
            f"WHERE stat_date = {mark} AND channel = 'email' AND object_type <> 'canvas'",
            parameters=[today],
        )
    )
    assert sent == {"camp-a": 60, "tx-a": 5, "send-a": 60}  # what the sandbox delivered today
    entries = warehouse.get_first(
        "SELECT entries FROM braze_analytics WHERE object_type = 'canvas' AND channel = '_total' AND stat_date = "
        f"'{today}'"
    )
    assert entries[0] == 7
    parent = warehouse.get_first("SELECT parent_id FROM braze_analytics WHERE object_type = 'send' LIMIT 1")
    assert parent[0] == "camp-a"


def test_a_later_run_updates_late_stats_in_place(sandbox, warehouse, tmp_path, monkeypatch):
    _send_everything(tmp_path)
    run_operator(_copy(TODAY, lookback=1, canvas_ids=None, send_ids=None, campaign_ids=["camp-a"]), {})
    before = warehouse.get_first("SELECT opens, loaded_at FROM braze_analytics WHERE channel = 'email'")
    # The sandbox's opens keep growing for 3 days after the send: pretend a day passed by shifting "now".
    import airflow_provider_braze.testing.sandbox.analytics_api as model

    monkeypatch.setattr(model.AnalyticsModel, "_age", staticmethod(lambda day, now: 2))
    result = run_operator(_copy(TODAY, lookback=1, canvas_ids=None, send_ids=None, campaign_ids=["camp-a"]), {})
    assert (result["inserted"], result["updated"]) == (0, 2)
    after = warehouse.get_first("SELECT opens FROM braze_analytics WHERE channel = 'email'")
    assert after[0] > before[0]
    assert warehouse.get_first("SELECT COUNT(*) FROM braze_analytics")[0] == 2


def test_canvas_windows_are_split_into_14_days(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")}))
    result = run_operator(_copy(TODAY, lookback=30, campaign_ids=None, send_ids=None), {})
    lengths = [int(r.query["length"]) for r in sandbox.requests_to("/canvas/data_series")]
    assert lengths == [14, 14, 2]
    assert result["rows"] == 30 * 4
    assert {r.status for r in sandbox.requests_to("/canvas/data_series")} == {200}


def test_send_id_stats_past_brazes_14_days_fail_clearly_before_any_request(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")}))
    with pytest.raises(BrazeValidationError, match=r"send_ids.*14 days"):
        run_operator(_copy(TODAY - timedelta(days=20), campaign_ids=None, canvas_ids=None), {})
    assert sandbox.requests == []


def test_send_id_window_is_cut_to_the_retention(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")}))
    run_operator(_copy(TODAY, lookback=30, canvas_ids=None, campaign_ids=["camp-a"]), {})
    assert [int(r.query["length"]) for r in sandbox.requests_to("/sends/data_series")] == [14]
    assert [int(r.query["length"]) for r in sandbox.requests_to("/campaigns/data_series")] == [30]


def test_ids_can_come_from_a_table_of_sends(sandbox, tmp_path, monkeypatch):
    _send_everything(tmp_path)
    path = tmp_path / "w.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE sends_log (campaign_id TEXT, send_id TEXT)")
    db.executemany(
        "INSERT INTO sends_log VALUES (?, ?)", [("camp-a", "send-a"), ("camp-a", "send-a"), ("camp-a", None)]
    )
    db.commit()
    db.close()
    op = _copy(TODAY, lookback=1, campaign_ids=None, canvas_ids=None, send_ids=None)
    op.ids_sql = "SELECT campaign_id, send_id FROM sends_log"
    result = run_operator(op, {})
    assert result["objects"] == 2  # the send id (listed twice) and the campaign
    assert len(sandbox.requests_to("/sends/data_series")) == 1
    assert len(sandbox.requests_to("/campaigns/data_series")) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"campaign_ids": None, "canvas_ids": None, "send_ids": None}, "campaign_ids"),
        ({"campaign_ids": {"a": 1}}, "campaign_ids"),
        ({"send_ids": [{"campaign_id": "c"}]}, "send_ids[0].send_id"),
        ({"lookback_days": 0}, "lookback_days"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(sandbox, tmp_path, monkeypatch, kwargs, field):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")}))
    lookback = kwargs.pop("lookback_days", 3)
    with pytest.raises(BrazeValidationError) as info:
        run_operator(_copy(TODAY, lookback=lookback, **kwargs), {})
    assert info.value.field == field
    assert sandbox.requests == []


def test_the_default_last_day_is_the_day_the_run_covers():
    midnight = datetime(2026, 11, 30, tzinfo=timezone.utc)
    airflow2_daily = {"data_interval_start": midnight - timedelta(days=1), "data_interval_end": midnight}
    assert default_end_date(airflow2_daily) == date(2026, 11, 29)
    cron_trigger = {"data_interval_start": midnight, "data_interval_end": midnight, "logical_date": midnight}
    assert default_end_date(cron_trigger) == date(2026, 11, 29)
    manual = {"logical_date": None, "dag_run": SimpleNamespace(run_after=midnight + timedelta(hours=10))}
    assert default_end_date(manual) == date(2026, 11, 30)


def test_flattening_the_documented_multichannel_shape():
    data = [
        {
            "time": "2026-11-30",
            "conversions": 3,
            "unique_recipients": 10,
            "revenue": 9.5,
            "messages": {
                "ios_push": [
                    {"variation_api_id": "v1", "sent": 5, "direct_opens": 2, "total_opens": 3, "body_clicks": 1}
                ],
                "webhook": [{"variation_api_id": "v2", "sent": 4, "errors": 1}],
                "trigger_in_app_message": [
                    {"variation_name": "Variant A", "impressions": 8, "clicks": 2},
                    {"revenue": 0},
                ],
            },
        },
        {"time": "2026-11-29", "messages": {}},
    ]
    rows = {
        row.key[4:]: row.metrics for row in flatten_messages_series(StatsTarget("campaign", "c"), data, {"2026-11-30"})
    }
    assert rows[("_total", "_total")] == {"conversions": 3, "unique_recipients": 10, "revenue": 9.5}
    assert rows[("ios_push", "v1")] == {"sent": 5, "opens": 3, "unique_opens": 2, "clicks": 1}
    assert rows[("webhook", "v2")] == {"sent": 4, "bounces": 1}
    assert rows[("trigger_in_app_message", "Variant A")] == {"opens": 8, "clicks": 2}
    assert ("trigger_in_app_message", "#1") in rows


def test_day_windows_cover_the_range_without_gaps_or_overlap():
    windows = day_windows(date(2026, 1, 1), date(2026, 2, 4), 14)
    days = sorted(w[0] - timedelta(days=n) for w in windows for n in range(w[1]))
    assert days == [date(2026, 1, 1) + timedelta(days=n) for n in range(35)]
    assert all(length <= 14 for _, length in windows)
