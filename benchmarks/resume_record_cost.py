"""What the resume record's write-ahead entries cost (issue: precise crash knowledge).

The same send — recipients from SQLite through BrazeTriggerCampaignOperator, sandbox latency 50 ms,
rate limit 70 requests/s — run by ``airflow dags test`` three ways:

* ``resume_store=None``: no record (the floor);
* ``resume_store="variable"``: the default, an Airflow Variable written through the metadata
  database (every batch is listed as in flight before its request leaves; group-committed);
* ``resume_store=<dir>``: a JSON file per record.

Prints recipients/s of each, the ratio to the run without a record (target: within 2%), the store
writes and the record's size. Usage: ``python benchmarks/resume_record_cost.py [ROWS]``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import Sandbox, log, make_warehouse  # noqa: E402

LATENCY = 0.05
RATE = 70

DAG_FILE = """
from datetime import datetime
from airflow_provider_braze.operators import BrazeTriggerCampaignOperator
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
with DAG(dag_id="braze_bench_record", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    BrazeTriggerCampaignOperator(
        task_id="send", campaign_id="bench-campaign", sql_conn_id="bench_warehouse",
        sql="SELECT external_user_id, sku, cart_value, tier FROM users ORDER BY id",
        resume_store={store!r}, on_unknown_outcome="skip",
    )
"""

DONE = re.compile(r"\(done\): (\d+)/\d+ recipients, (\d+)/\d+ batches, (\d+) recipients/s")


def run_dag(work: Path, label: str, store: str | None, warehouse: Path, sandbox: Sandbox) -> float:
    home = work / f"home-{label}"
    dags = work / f"dags-{label}"
    dags.mkdir()
    (dags / "braze_bench_record.py").write_text(DAG_FILE.format(store=store))
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    env = {
        **os.environ,
        **sandbox.env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW_CONN_BENCH_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
    }
    subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True)
    sandbox.configure(latency=LATENCY, rate=RATE)  # and a fresh request log
    done = subprocess.run([airflow, "dags", "test", "braze_bench_record"], env=env, capture_output=True, text=True)
    match = DONE.search(done.stdout + done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"{label}: airflow dags test failed\n{(done.stdout + done.stderr)[-3000:]}")
    delivered = sandbox.get("deliveries")
    once = set(delivered.values()) == {1}  # type: ignore[union-attr]
    rate = float(match.group(3))
    log(f"  {label:<10} {rate:8,.0f} recipients/s   exactly once: {once}")
    return rate


def main(argv: list[str]) -> int:
    rows = int(argv[0]) if argv else 20_000
    log(f"== Resume record cost: {rows:,} recipients, latency {LATENCY * 1000:.0f} ms, limit {RATE} req/s ==")
    work = Path(tempfile.mkdtemp(prefix="braze-bench-record-"))
    warehouse = work / "warehouse.db"
    make_warehouse(warehouse, rows)
    sandbox = Sandbox()
    sandbox.configure(latency=LATENCY, rate=RATE)
    try:
        none = run_dag(work, "none", None, warehouse, sandbox)
        variable = run_dag(work, "variable", "variable", warehouse, sandbox)
        path = run_dag(work, "path", str(work / "records"), warehouse, sandbox)
        [record_file] = (work / "records").glob("*.json")
        log(f"  record size after the send: {record_file.stat().st_size} bytes ({rows // 50:,} batches)")
        log(f"  ratio variable / none: {variable / none:.3f}   path / none: {path / none:.3f}   (target >= 0.98)")
    finally:
        sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
