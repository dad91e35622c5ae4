"""Every example DAG triggered by hand on Airflow 3 — no logical date — twice in the same home.

A run triggered from the UI, the CLI (``airflow dags trigger``) or the REST API without a
``logical_date`` has no ``ds``, ``ds_nodash``, ``logical_date`` nor ``data_interval_*`` in its
template context; ``airflow dags test`` always sets one and so hides a template that needs it.
``DAG.test(logical_date=None)`` makes the same kind of run as the UI's trigger button. Running each
DAG twice proves the examples are safe to run again (a daily DAG never starts from an empty home).
The deployment test (``make e2e``) triggers them through the REST API of a real scheduler too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_braze.version_compat import AIRFLOW_V_3_0_PLUS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2 runs always have a logical date"),
]

EXAMPLES = Path(__file__).parents[2] / "example_dags"

# Two manual runs of one example DAG in one interpreter; prints one JSON line per run.
RUN_TWICE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
[dag] = bag.dags.values()
for _ in range(2):
    run = dag.test(logical_date=None)
    tis = run.get_task_instances()
    states = {ti.task_id + ("" if ti.map_index < 0 else f"[{ti.map_index}]"): str(ti.state) for ti in tis}
    summary = {"run_id": run.run_id, "state": str(run.state), "logical_date": run.logical_date, "tasks": states}
    print("RUN " + json.dumps(summary, default=str))
"""


@pytest.fixture
def manual_runs(airflow_cli, braze_sandbox, tmp_path):
    env = {
        **airflow_cli.env,
        **braze_sandbox.airflow_env(),
        "AIRFLOW_CONN_BRAZE_EXAMPLE_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "wh.db")}),
    }

    def run(dag_id: str) -> list[dict]:
        out = subprocess.run(
            [sys.executable, "-c", RUN_TWICE, str(EXAMPLES / f"{dag_id}.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        runs = [json.loads(line[4:]) for line in out.stdout.splitlines() if line.startswith("RUN ")]
        assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
        assert len(runs) == 2, (out.stdout + out.stderr)[-6000:]
        for r in runs:
            assert r["logical_date"] is None, r
            assert r["state"] == "success", (r, (out.stdout + out.stderr)[-6000:])
            assert set(r["tasks"].values()) == {"success"}, r
        assert runs[0]["run_id"] != runs[1]["run_id"]
        return runs

    return run


def test_every_example_dag_is_run_by_hand():
    files = {p.stem for p in EXAMPLES.glob("example_*.py")}
    tested = {name[len("test_manual_run_") :] for name in globals() if name.startswith("test_manual_run_")}
    assert files == {f"example_braze_{t}" for t in tested}


def _each_delivered_twice(braze_sandbox, expected: int) -> None:
    counts = braze_sandbox.delivery_counts()
    assert len(counts) == expected
    assert set(counts.values()) == {2}  # once per run: the second run sends again, nothing is sent twice


def test_manual_run_abandoned_cart(manual_runs, braze_sandbox):
    before = datetime.now(timezone.utc).date()
    manual_runs("example_braze_abandoned_cart")
    _each_delivered_twice(braze_sandbox, 94)
    days = {r.body["trigger_properties"]["campaign_day"] for r in braze_sandbox.requests_to("/campaigns/trigger/send")}
    assert days <= {before.isoformat(), datetime.now(timezone.utc).date().isoformat()}  # the day it was triggered


def test_manual_run_send_id(manual_runs, braze_sandbox):
    manual_runs("example_braze_send_id")
    created = {r.response["send_id"] for r in braze_sandbox.requests_to("/sends/id/create")}
    today = datetime.now(timezone.utc).strftime("%Y%m%d")
    assert created <= {f"statement-{today}", f"statement-{(datetime.now(timezone.utc) - timedelta(days=1)):%Y%m%d}"}
    assert len(braze_sandbox.requests_to("/campaigns/trigger/send")) == 4  # 2 regions x 2 runs
    _each_delivered_twice(braze_sandbox, 20)


def test_manual_run_sharded_send(manual_runs, braze_sandbox):
    manual_runs("example_braze_sharded_send")  # the second run used to fail: table already exists
    _each_delivered_twice(braze_sandbox, 1000)


def test_manual_run_cdi_sync(manual_runs, braze_sandbox):
    from airflow_provider_braze.testing.sandbox import RunScript

    run = RunScript("success", 0.5, rows_synced=75)
    braze_sandbox.add_cdi_integration(name="users-from-warehouse", default_run=run)
    manual_runs("example_braze_cdi_sync")
    _each_delivered_twice(braze_sandbox, 75)


def test_manual_run_hook_in_a_task(manual_runs, braze_sandbox):
    manual_runs("example_braze_hook_in_a_task")
    _each_delivered_twice(braze_sandbox, 3)


def test_manual_run_segment_broadcast(manual_runs, braze_sandbox):
    manual_runs("example_braze_segment_broadcast")
    assert len(braze_sandbox.requests_to("/messages/send")) == 2  # one broadcast per run, the previews send nothing


def test_manual_run_canvas_schedule(manual_runs, braze_sandbox):
    manual_runs("example_braze_canvas_schedule")
    assert braze_sandbox.schedules == {}
    assert len(braze_sandbox.deleted_schedules) == 4


def test_manual_run_wait_for_broadcast(manual_runs, braze_sandbox):
    when = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(microsecond=0)
    braze_sandbox.add_broadcast(broadcast_id="weekly-digest-campaign", name="Weekly digest", next_send_time=when)
    manual_runs("example_braze_wait_for_broadcast")
    assert len(braze_sandbox.requests_to("/campaigns/trigger/send")) == 2
    _each_delivered_twice(braze_sandbox, 2)


def test_manual_run_transactional_email(manual_runs, braze_sandbox):
    manual_runs("example_braze_transactional_email")
    counts = braze_sandbox.delivery_counts()
    assert counts
    assert set(counts.values()) == {1}  # a business key of its own: the second run is de-duplicated by Braze


def test_manual_run_send_analytics(manual_runs, braze_sandbox):
    manual_runs("example_braze_send_analytics")
    assert len(braze_sandbox.requests_to("/sends/data_series")) >= 2  # the copy ran in both runs
    _each_delivered_twice(braze_sandbox, len(braze_sandbox.delivery_counts()))
