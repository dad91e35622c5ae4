"""Benchmarks of data-driven sends against the Braze sandbox on loopback (``make bench``).

1. Throughput: 50,000 recipients with per-recipient properties from SQLite through
   BrazeTriggerCampaignOperator; sandbox latency 50 ms per request, rate limit 70 requests/s.
   Ceiling = 70 x 50 = 3,500 recipients/s. Targets: >= 90% of the ceiling, >= 3x concurrency 1.
2. Memory: peak RSS of the whole ``airflow dags test`` process for 10,000 vs 1,000,000 recipients
   streamed from SQLite (latency 0, no rate limit). Target: difference <= 50 MB.
3. Fan-out: 4 shard tasks in parallel processes against one sandbox with one shared 70/s limit.
   Targets: total >= 90% of the ceiling; every recipient delivered exactly once.

Usage: python benchmarks/run.py [throughput] [memory] [fanout] [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATE = 70
LATENCY = 0.05
CEILING = RATE * 50


def log(line: str = "") -> None:
    print(line, flush=True)


def make_warehouse(path: Path, rows: int) -> None:
    """A ``users`` table of ``rows`` recipients with per-recipient properties."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, external_user_id TEXT, sku TEXT, cart_value REAL, tier TEXT)"
    )
    batch = 50_000
    for start in range(0, rows, batch):
        db.executemany(
            "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
            (
                (
                    i,
                    f"user-{i:08d}",
                    f"SKU-{i % 97}",
                    round(10 + (i * 37 % 500) / 3, 2),
                    "gold" if i % 5 == 0 else "std",
                )
                for i in range(start + 1, min(rows, start + batch) + 1)
            ),
        )
    db.commit()
    db.close()


class Sandbox:
    """A sandbox in its own process (so it does not share the client's interpreter)."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow_provider_braze.testing.sandbox",
                "--port",
                "0",
                "--no-record-bodies",
                "--quiet",
                *args,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()
        export = self.process.stdout.readline()
        self.conn = json.loads(export.split("=", 1)[1].strip().strip("'"))
        self.url = self.conn["host"]

    def env(self, **extra: object) -> dict[str, str]:
        conn = dict(self.conn)
        if extra:
            conn["extra"] = extra
        return {"AIRFLOW_CONN_BRAZE_DEFAULT": json.dumps(conn)}

    def get(self, what: str) -> object:
        with urllib.request.urlopen(f"{self.url}/_sandbox/{what}") as response:
            return json.loads(response.read())

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/_sandbox/reset", method="POST", data=b""))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


SEND_SCRIPT = """
import json, sys, time
from airflow_provider_braze.operators import BrazeTriggerCampaignOperator
concurrency, shard_count, shard_index = (int(a) for a in sys.argv[1:4])
op = BrazeTriggerCampaignOperator(
    task_id="bench", campaign_id="bench-campaign", sql_conn_id="bench_warehouse",
    sql="SELECT external_user_id, sku, cart_value, tier FROM users ORDER BY id",
    max_concurrency=concurrency, shard_count=shard_count, shard_index=shard_index, resume_store=None,
)
started = time.monotonic()
result = op.execute({})
print(json.dumps({"seconds": time.monotonic() - started, "recipients": result["recipients"],
                  "send_seconds": result["seconds"], "rate_limited": result["rate_limited_responses"]}))
"""


def run_send(
    env: dict[str, str], concurrency: int, shard_count: int = 1, shard_index: int = 0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SEND_SCRIPT, str(concurrency), str(shard_count), str(shard_index)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> dict:
    out, _ = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise SystemExit(f"send failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def count_429(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.get("requests") if r["status"] == 429)  # type: ignore[union-attr]


def bench_throughput(work: Path, rows: int) -> bool:
    log(f"== Throughput: {rows:,} recipients from SQLite, latency {LATENCY * 1000:.0f} ms, limit {RATE} req/s ==")
    warehouse = work / "throughput.db"
    make_warehouse(warehouse, rows)
    sandbox = Sandbox("--latency", str(LATENCY), "--rate-limit", str(RATE), "--rate-limit-window", "1")
    base_env = {
        **os.environ,
        "AIRFLOW_CONN_BENCH_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
    }
    try:
        results = {}
        for label, concurrency in (("concurrent (default 8)", 8), ("sequential (concurrency 1)", 1)):
            sandbox.reset()
            result = finish(run_send({**base_env, **sandbox.env()}, concurrency))
            delivered = sandbox.get("deliveries")
            once = len(delivered) == rows and set(delivered.values()) == {1}  # type: ignore[union-attr]
            rate = result["recipients"] / result["send_seconds"]
            results[concurrency] = rate
            log(
                f"  {label:<28} {rate:8,.0f} recipients/s  ({result['send_seconds']:.1f} s sending, "
                f"{result['seconds']:.1f} s with validation)  429s: {count_429(sandbox)}  exactly once: {once}"
            )
        ratio_ceiling = results[8] / CEILING
        ratio_sequential = results[8] / results[1]
        ok = ratio_ceiling >= 0.9 and ratio_sequential >= 3
        log(f"  ratio to ceiling ({CEILING:,}/s): {ratio_ceiling:.2f} (target >= 0.90)")
        log(f"  ratio to sequential: {ratio_sequential:.2f}x (target >= 3x)")
        log(f"  {'PASS' if ok else 'FAIL'}")
        return ok
    finally:
        sandbox.stop()


DAG_FILE = """
from datetime import datetime
from airflow_provider_braze.operators import BrazeTriggerCampaignOperator
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
with DAG(dag_id="braze_bench_memory", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    BrazeTriggerCampaignOperator(
        task_id="send", campaign_id="bench-campaign", sql_conn_id="bench_warehouse",
        sql="SELECT external_user_id, sku, cart_value, tier FROM users ORDER BY id",
    )
"""


def peak_rss_of_dags_test(work: Path, rows: int, sandbox: Sandbox) -> tuple[float, float]:
    home = work / f"airflow-home-{rows}"
    dags = work / "dags"
    dags.mkdir(exist_ok=True)
    (dags / "braze_bench_memory.py").write_text(DAG_FILE)
    warehouse = work / f"memory-{rows}.db"
    make_warehouse(warehouse, rows)
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW_CONN_BENCH_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        **sandbox.env(requests_per_hour=10**9),
    }
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    sandbox.reset()
    # Measure in a fresh child: RUSAGE_CHILDREN of this wrapper is the dags test process tree's peak.
    code = (
        "import resource, subprocess, sys, time; t = time.monotonic();"
        f"rc = subprocess.call([{airflow!r}, 'dags', 'test', 'braze_bench_memory'], stdout=subprocess.DEVNULL,"
        " stderr=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.monotonic() - t, rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    maxrss_kb, seconds, rc = out.split()
    if rc != "0":
        raise SystemExit(f"airflow dags test failed for {rows} rows")
    delivered = sandbox.get("deliveries")
    assert len(delivered) == rows, (len(delivered), rows)  # type: ignore[arg-type]
    return int(maxrss_kb) / 1024, float(seconds)


def bench_memory(work: Path, small: int, large: int) -> bool:
    log(f"== Memory: peak RSS of `airflow dags test`, {small:,} vs {large:,} recipients from SQLite ==")
    sandbox = Sandbox()
    try:
        small_mb, small_s = peak_rss_of_dags_test(work, small, sandbox)
        log(f"  {small:>9,} recipients: peak RSS {small_mb:6.1f} MB  ({small_s:.0f} s)")
        large_mb, large_s = peak_rss_of_dags_test(work, large, sandbox)
        log(f"  {large:>9,} recipients: peak RSS {large_mb:6.1f} MB  ({large_s:.0f} s)")
    finally:
        sandbox.stop()
    diff = large_mb - small_mb
    ok = diff <= 50
    log(f"  difference: {diff:+.1f} MB (target <= 50 MB)  ratio {large_mb / small_mb:.2f}")
    log(f"  {'PASS' if ok else 'FAIL'}")
    return ok


def bench_fanout(work: Path, rows: int, shards: int = 4) -> bool:
    log(f"== Fan-out: {shards} shard processes, {rows:,} recipients, one shared {RATE} req/s limit ==")
    warehouse = work / "fanout.db"
    make_warehouse(warehouse, rows)
    sandbox = Sandbox("--latency", str(LATENCY), "--rate-limit", str(RATE), "--rate-limit-window", "1")
    env = {
        **os.environ,
        "AIRFLOW_CONN_BENCH_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        **sandbox.env(),
    }
    try:
        processes = [run_send(env, 8, shards, index) for index in range(shards)]
        results = [finish(p) for p in processes]
        delivered = sandbox.get("deliveries")
        once = len(delivered) == rows and set(delivered.values()) == {1}  # type: ignore[union-attr]
        seconds = max(r["send_seconds"] for r in results)
        rate = sum(r["recipients"] for r in results) / seconds
        log(f"  shard sizes: {[r['recipients'] for r in results]}")
        log(f"  total {rate:,.0f} recipients/s over {seconds:.1f} s; 429s: {count_429(sandbox)}")
        log(f"  ratio to ceiling: {rate / CEILING:.2f} (target >= 0.90); every recipient exactly once: {once}")
        ok = rate / CEILING >= 0.9 and once
        log(f"  {'PASS' if ok else 'FAIL'}")
        return ok
    finally:
        sandbox.stop()


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    wanted = [a for a in argv if not a.startswith("--")] or ["throughput", "memory", "fanout"]
    work = Path(tempfile.mkdtemp(prefix="braze-bench-"))
    results = {}
    try:
        if "throughput" in wanted:
            results["throughput"] = bench_throughput(work, 10_000 if quick else 50_000)
        if "memory" in wanted:
            results["memory"] = bench_memory(work, 10_000, 100_000 if quick else 1_000_000)
        if "fanout" in wanted:
            results["fanout"] = bench_fanout(work, 10_000 if quick else 50_000)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log("== Summary: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
