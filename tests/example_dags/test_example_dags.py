"""Every example DAG end to end with ``airflow dags test`` against the sandbox (Airflow 2.11 and 3)."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).parents[2] / "example_dags"

READ_XCOM = """
import json, sys
from airflow.utils.session import create_session
try:
    from airflow.models.xcom import XComModel as X
except ImportError:
    from airflow.models.xcom import XCom as X
with create_session() as session:
    rows = session.query(X).filter(X.dag_id == sys.argv[1], X.key == sys.argv[2]).all()
    out = []
    for row in rows:
        value = row.value  # Airflow 2 deserialises on load; Airflow 3 stores JSON
        if isinstance(value, (bytes, bytearray)):
            value = X.deserialize_value(row)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out.append({"task_id": row.task_id, "map_index": row.map_index, "value": value})
print(json.dumps(out, default=str))
"""


@pytest.fixture
def dags_test(airflow_cli, braze_sandbox, tmp_path):
    env = {
        **braze_sandbox.airflow_env(),
        "AIRFLOW_CONN_BRAZE_EXAMPLE_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "wh.db")}),
    }

    def run(dag_id: str):
        result = airflow_cli("dags", "test", dag_id, env=env)
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
        return result

    def xcoms(dag_id: str, key: str = "return_value") -> list[dict]:
        import subprocess

        out = subprocess.run(
            [sys.executable, "-c", READ_XCOM, dag_id, key],
            env={**airflow_cli.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    run.xcoms = xcoms  # type: ignore[attr-defined]
    return run


def test_every_example_dag_file_is_covered():
    files = {p.stem for p in EXAMPLES.glob("example_*.py")}
    tested = {name[len("test_") :] for name in globals() if name.startswith("test_example_braze")}
    assert files == {f"example_braze_{t[len('example_braze_') :]}" for t in tested}


def test_example_braze_abandoned_cart(dags_test, braze_sandbox):
    dags_test("example_braze_abandoned_cart")
    bodies = [r.body for r in braze_sandbox.requests_to("/campaigns/trigger/send")]
    assert {b["campaign_id"] for b in bodies} == {"cart-high-value", "cart-standard"}
    assert all(len(b["recipients"]) <= 50 for b in bodies)
    counts = braze_sandbox.delivery_counts()
    abandoned_in_last_day = sum(1 for i in range(1, 131) if i % 36 <= 23)  # the DAG's sample data
    assert len(counts) == abandoned_in_last_day == 94
    assert set(counts.values()) == {1}
    first = bodies[0]["recipients"][0]
    assert set(first["trigger_properties"]) == {"sku", "cart_value"}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", bodies[0]["trigger_properties"]["campaign_day"])
    results = dags_test.xcoms("example_braze_abandoned_cart")
    mapped = sorted((r for r in results if r["task_id"] == "trigger_campaign"), key=lambda r: r["map_index"])
    assert [r["map_index"] for r in mapped] == [0, 1]
    assert sum(r["value"]["recipients"] for r in mapped) == 94
    urls = {
        f"{braze_sandbox.url}/engagement/campaigns/cart-high-value",
        f"{braze_sandbox.url}/engagement/campaigns/cart-standard",
    }
    links = dags_test.xcoms("example_braze_abandoned_cart", "braze_dashboard_url")
    assert {link["value"] for link in links} == urls
    from airflow_provider_braze.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:  # Airflow 3 resolves extra links on the worker and stores them as XCom
        resolved = dags_test.xcoms("example_braze_abandoned_cart", "_link_BrazeCampaignLink")
        assert {link["value"] for link in resolved} == urls


def test_example_braze_segment_broadcast(dags_test, braze_sandbox):
    dags_test("example_braze_segment_broadcast")
    [request] = braze_sandbox.requests  # the dry run sent nothing
    assert request.body["broadcast"] is True
    assert request.body["segment_id"] == "winter-sale-segment"
    assert "{{${first_name}}}" in request.body["messages"]["email"]["body"]  # Liquid left for Braze


def test_example_braze_canvas_schedule(dags_test, braze_sandbox):
    dags_test("example_braze_canvas_schedule")
    paths = [r.path for r in braze_sandbox.requests]
    assert (
        paths
        == ["/canvas/trigger/schedule/create"] * 2
        + ["/canvas/trigger/schedule/update"] * 2
        + ["/canvas/trigger/schedule/delete"] * 2
    )
    assert braze_sandbox.schedules == {}
    assert len(braze_sandbox.deleted_schedules) == 2
    update = braze_sandbox.requests_to("/canvas/trigger/schedule/update")[0].body["schedule"]["time"]
    moved_to = datetime.fromisoformat(update.replace("Z", "+00:00"))
    assert timedelta(days=1, hours=23) < moved_to - datetime.now(timezone.utc) < timedelta(days=2, minutes=5)


def test_example_braze_send_id(dags_test, braze_sandbox):
    dags_test("example_braze_send_id")
    created = braze_sandbox.requests_to("/sends/id/create")[0].response["send_id"]
    assert created.startswith("statement-")
    triggers = braze_sandbox.requests_to("/campaigns/trigger/send")
    assert len(triggers) == 2  # .expand() over two regions
    assert all(t.body["send_id"] == created for t in triggers)
    regions = sorted(t.body["recipients"][0]["external_user_id"].split("-")[1] for t in triggers)
    assert regions == ["eu", "us"]
    assert len(braze_sandbox.delivery_counts()) == 20


def test_example_braze_wait_for_broadcast(dags_test, braze_sandbox):
    when = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(microsecond=0)
    braze_sandbox.add_broadcast(broadcast_id="weekly-digest-campaign", name="Weekly digest", next_send_time=when)
    dags_test("example_braze_wait_for_broadcast")
    [trigger] = braze_sandbox.requests_to("/campaigns/trigger/send")
    assert trigger.body["trigger_properties"] == {"digest_goes_out": when.isoformat()}


def test_example_braze_hook_in_a_task(dags_test, braze_sandbox):
    dags_test("example_braze_hook_in_a_task")
    assert braze_sandbox.delivery_counts() == {f"external_user_id:new-signup-{i}": 1 for i in (1, 2, 3)}


def test_example_braze_sharded_send(dags_test, braze_sandbox):
    dags_test("example_braze_sharded_send")
    counts = braze_sandbox.delivery_counts()
    assert len(counts) == 1000
    assert set(counts.values()) == {1}
    results = [r for r in dags_test.xcoms("example_braze_sharded_send") if r["task_id"] == "notify_score_change"]
    assert sorted(r["map_index"] for r in results) == [0, 1, 2, 3]
    assert sum(r["value"]["recipients"] for r in results) == 1000
    assert all(150 < r["value"]["recipients"] < 350 for r in results)
    first = braze_sandbox.requests_to("/campaigns/trigger/send")[0].body["recipients"][0]
    assert set(first) == {"external_user_id", "trigger_properties"}
    assert set(first["trigger_properties"]) == {"new_score"}


def test_example_braze_cdi_sync(dags_test, braze_sandbox, tmp_path):
    from airflow_provider_braze.testing.sandbox import RunScript

    integration = braze_sandbox.add_cdi_integration(
        name="users-from-warehouse", default_run=RunScript("success", 1.0, rows_synced=75)
    )
    dags_test("example_braze_cdi_sync")
    [sync] = [r for r in braze_sandbox.requests if r.method == "POST" and r.path.startswith("/cdi/")]
    assert sync.path == f"/cdi/integrations/{integration}/sync"
    assert sync.status == 202
    triggers = braze_sandbox.requests_to("/campaigns/trigger/send")
    assert all(t.body["trigger_properties"] == {"synced_rows": "75"} for t in triggers)
    counts = braze_sandbox.delivery_counts()
    assert len(counts) == 75
    assert set(counts.values()) == {1}
    [result] = [r for r in dags_test.xcoms("example_braze_cdi_sync") if r["task_id"] == "sync_to_braze"]
    assert result["value"]["status"] == "success"
    assert result["value"]["sync_start_time"] == braze_sandbox.cdi_runs(integration)[0]["sync_start_time"]
    import sqlite3

    db = sqlite3.connect(tmp_path / "wh.db")
    outcomes = db.execute("SELECT status, COUNT(*) FROM braze_send_outcomes GROUP BY status").fetchall()
    db.close()
    assert outcomes == [("accepted", 75)]


def test_example_braze_transactional_email(dags_test, braze_sandbox, tmp_path):
    dags_test("example_braze_transactional_email")
    path = "/transactional/v1/campaigns/order-confirmation-transactional/send"
    requests = braze_sandbox.requests_to(path)
    assert [r.status for r in requests] == [201] * 25 + [400] * 25  # the second send: all de-duplicated
    counts = braze_sandbox.delivery_counts(path)
    assert counts == {f"external_user_id:customer-{i}": 1 for i in range(1, 26)}  # one email per order
    assert len({r.body["external_send_id"] for r in requests}) == 25
    results = {r["task_id"]: r["value"] for r in dags_test.xcoms("example_braze_transactional_email")}
    assert results["confirm_orders_again"]["deduplicated"] == 25
    assert results["confirm_orders"]["recipients"] == 25
    import sqlite3

    db = sqlite3.connect(tmp_path / "wh.db")
    outcomes = db.execute(
        "SELECT task_id, status, COUNT(*) FROM braze_transactional_outcomes GROUP BY task_id, status"
    ).fetchall()
    db.close()
    assert sorted(outcomes) == [("confirm_orders", "accepted", 25), ("confirm_orders_again", "accepted", 25)]


def test_example_braze_send_analytics(dags_test, braze_sandbox, tmp_path):
    import sqlite3

    for run in (1, 2):  # a second run: idempotent DDL, upserts, the same send id
        dags_test("example_braze_send_analytics")
        db = sqlite3.connect(tmp_path / "wh.db")
        keys = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT object_type || parent_id || object_id || stat_date || channel || variant) "
            "FROM braze_example_analytics"
        ).fetchone()
        today_sent = db.execute(
            "SELECT sent FROM braze_example_analytics WHERE object_type = 'send' AND channel = 'email' "
            "ORDER BY stat_date DESC LIMIT 1"
        ).fetchone()
        db.close()
        assert keys == (12, 12)  # 3 days x (campaign total + email, send total + email)
        assert today_sent == (40 * run,)
    joined = [r["value"] for r in dags_test.xcoms("example_braze_send_analytics") if r["task_id"].startswith("join")]
    assert len(joined) == 2
    assert all(row["braze_sent"] == row["accepted_recipients"] for rows in joined for row in rows)
    assert sorted(rows[-1]["braze_sent"] for rows in joined) == [40, 80]
