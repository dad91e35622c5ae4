"""Benchmarks of data-driven sends against the Braze sandbox on loopback (``make bench``).

Every figure is measured in this run; the sandbox runs in its own process, recipients come from
SQLite through ``BrazeTriggerCampaignOperator`` (50 per request), with the default settings unless
said otherwise. The ceiling of a limit of R requests/s is R x 50 recipients/s.

1. ``sweep``: Braze latency 50 / 250 / 600 / 1,000 ms at a 70 req/s limit: share of the ceiling with
   adaptive concurrency (the default) vs. a fixed 8 in flight. Target >= 0.90 everywhere, >= 0.95 at 50 ms.
2. ``raised``: a raised limit, 300 req/s (``requests_per_hour`` 1,080,000) at 250 ms: one task and 4
   shard processes. Target >= 0.90 of the ceiling; prints the client's CPU per recipient.
3. ``throttle``: Braze enforces 30 req/s in 1 s windows (50 and 250 ms latency) while the connection keeps
   the default ``requests_per_hour``: the client learns the limit only from the headers. Share of requests
   answered 429: target <= 5% at >= 0.90 of the ceiling (before in-flight-aware pacing: 13%; before slots
   were checked again when sent: 6.8%).
4. ``parse``: median import time of a DAG file using every Braze operator and sensor vs. one with only
   ``BaseOperator``. Target <= 1.05.
5. ``memory``: peak RSS of ``airflow dags test`` for 10,000 vs 1,000,000 recipients. Target <= 50 MB apart.

Usage: python benchmarks/run.py [sweep] [raised] [throttle] [parse] [memory] [--quick]
``--quick`` sends fewer recipients (and 100,000 instead of 1,000,000 for memory): about half the time.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

BATCH = 50
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


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


def warehouse_env(path: Path) -> dict[str, str]:
    """This process's environment plus the ``bench_warehouse`` SQLite connection."""
    return {**os.environ, "AIRFLOW_CONN_BENCH_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(path)})}


# The sandbox listens with a deep backlog (like a real gateway): a send opening a hundred connections
# at once (100+ in flight at 250 ms) must not have some dropped after the request was written.
SANDBOX_LAUNCHER = """
import sys
from airflow_provider_braze.testing.sandbox.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


class Sandbox:
    """A sandbox in its own process (so it does not share the client's interpreter)."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SANDBOX_LAUNCHER,
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

    def post(self, what: str, body: object = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(f"{self.url}/_sandbox/{what}", method="POST", data=data)
        urllib.request.urlopen(request).read()

    def configure(self, latency: float, rate: int, window: int = 1) -> None:
        self.post("config", {"latency": latency, "rate_limit": rate, "rate_limit_window": window})
        self.post("reset")

    def cpu_seconds(self) -> float:
        """CPU the sandbox process has used so far (Linux ``/proc``; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


SEND_SCRIPT = """
import json, resource, sys, time
from airflow_provider_braze.operators import BrazeTriggerCampaignOperator
concurrency, shard_count, shard_index, limit = (int(a) for a in sys.argv[1:5])
op = BrazeTriggerCampaignOperator(
    task_id="bench", campaign_id="bench-campaign", sql_conn_id="bench_warehouse",
    sql=f"SELECT external_user_id, sku, cart_value, tier FROM users ORDER BY id LIMIT {limit}",
    max_concurrency=concurrency or None, shard_count=shard_count, shard_index=shard_index, resume_store=None,
)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
import airflow_provider_braze.engine.batch_sender as batch_sender  # the operator imports send_plan when it runs
sending = {}
def timed_send_plan(*args, _send=batch_sender.send_plan, **kwargs):
    sending["cpu"] = cpu()
    try:
        return _send(*args, **kwargs)
    finally:
        sending["cpu"] = cpu() - sending["cpu"]
batch_sender.send_plan = timed_send_plan
started, cpu_started = time.monotonic(), cpu()
result = op.execute({})
print(json.dumps({"seconds": time.monotonic() - started, "recipients": result["recipients"],
                  "send_seconds": result["seconds"], "rate_limited": result["rate_limited_responses"],
                  "cpu_seconds": cpu() - cpu_started, "send_cpu_seconds": sending["cpu"],
                  "unknown": result["unknown_outcome_count"]}))
"""


def run_send(
    env: dict[str, str], rows: int, concurrency: int = 0, shard_count: int = 1, shard_index: int = 0
) -> subprocess.Popen[str]:
    """One sending process (``concurrency`` 0: adaptive, the default)."""
    return subprocess.Popen(
        [sys.executable, "-c", SEND_SCRIPT, str(concurrency), str(shard_count), str(shard_index), str(rows)],
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


def api_requests(sandbox: Sandbox) -> list[dict]:
    return [r for r in sandbox.get("requests") if not r["path"].startswith("/_sandbox")]  # type: ignore[union-attr]


def max_in_flight(requests: list[dict], latency: float) -> int:
    """The most requests that arrived within one latency of each other (= in flight at Braze)."""
    times = sorted(r["at"] for r in requests)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= latency:
            start += 1
        most = max(most, end - start + 1)
    return most


def exactly_once(sandbox: Sandbox, rows: int) -> bool:
    delivered = sandbox.get("deliveries")
    return len(delivered) == rows and set(delivered.values()) == {1}  # type: ignore[union-attr]


def send_once(sandbox: Sandbox, base_env: dict, rows: int, concurrency: int, shards: int = 1, **extra: object) -> dict:
    """Send ``rows`` recipients (in ``shards`` parallel processes); the combined figures."""
    env = {**base_env, **sandbox.env(**extra)}
    sandbox_cpu = sandbox.cpu_seconds()
    processes = [run_send(env, rows, concurrency, shards, index) for index in range(shards)]
    results = [finish(p) for p in processes]
    sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
    seconds = max(r["send_seconds"] for r in results)
    recipients = sum(r["recipients"] for r in results)
    requests = api_requests(sandbox)
    return {
        "rate": recipients / seconds,
        "seconds": seconds,
        "requests": len(requests),
        "throttled": sum(1 for r in requests if r["status"] == 429),
        "requests_list": requests,
        "cpu_us_per_recipient": sum(r["cpu_seconds"] for r in results) / max(recipients, 1) * 1e6,
        "send_cpu_us_per_recipient": sum(r["send_cpu_seconds"] for r in results) / max(recipients, 1) * 1e6,
        "once": exactly_once(sandbox, rows),
        "unknown": sum(r["unknown"] for r in results),
        "sandbox_cpu_share": sandbox_cpu / seconds,
    }


def bench_sweep(work: Path, seconds: float) -> bool:
    rate = 70
    ceiling = rate * BATCH
    log(f"== Latency sweep: limit {rate} req/s (ceiling {ceiling:,} recipients/s), adaptive vs. fixed 8 ==")
    warehouse = work / "sweep.db"
    make_warehouse(warehouse, int(ceiling * max(seconds, 14.0)))
    base_env = warehouse_env(warehouse)
    sandbox = Sandbox()
    ok = True
    log(f"  {'latency':>8}  {'mode':<9} {'recipients/s':>12} {'share':>6} {'max in flight':>13} {'429s':>5}  once")
    try:
        for latency in (0.05, 0.25, 0.6, 1.0):
            for mode, concurrency in (("adaptive", 0), ("fixed 8", 8)):
                # Long enough that the last answer's wait (one latency) is a small part of the send.
                duration = max(seconds, 14 * latency)
                expected = min(rate, concurrency / latency) if concurrency else rate
                rows = max(BATCH * 20, int(expected * BATCH * duration))
                sandbox.configure(latency, rate)
                result = send_once(sandbox, base_env, rows, concurrency)
                share = result["rate"] / ceiling
                target = 0.95 if latency <= 0.05 else 0.90
                passed = share >= target and result["once"]
                if concurrency == 0:
                    ok &= passed
                log(
                    f"  {latency * 1000:>6.0f} ms  {mode:<9} {result['rate']:>12,.0f} {share:>6.2f} "
                    f"{max_in_flight(result['requests_list'], latency):>13} {result['throttled']:>5}  {result['once']}"
                    + (f"   (target >= {target:.2f}: {'PASS' if passed else 'FAIL'})" if concurrency == 0 else "")
                )
    finally:
        sandbox.stop()
    log(f"  {'PASS' if ok else 'FAIL'}")
    return ok


def bench_raised(work: Path, seconds: float) -> bool:
    rate, latency = 300, 0.25
    ceiling = rate * BATCH
    rows = int(ceiling * seconds)
    log(f"== Raised limit: {rate} req/s (requests_per_hour {rate * 3600:,}) at {latency * 1000:.0f} ms ==")
    warehouse = work / "raised.db"
    make_warehouse(warehouse, rows)
    base_env = warehouse_env(warehouse)
    sandbox = Sandbox()
    ok = True
    try:
        for label, shards in (("one task", 1), ("4 shards", 4)):
            sandbox.configure(latency, rate)
            result = send_once(sandbox, base_env, rows, 0, shards, requests_per_hour=rate * 3600)
            share = result["rate"] / ceiling
            passed = share >= 0.9 and result["once"]
            ok &= passed
            log(
                f"  {label:<9} {result['rate']:>8,.0f} recipients/s  share {share:.2f} (target >= 0.90)  "
                f"max in flight {max_in_flight(result['requests_list'], latency)}  429s {result['throttled']}  "
                f"unknown outcomes {result['unknown']}  exactly once: {result['once']}  {'PASS' if passed else 'FAIL'}"
            )
            log(
                f"            client CPU per recipient: {result['send_cpu_us_per_recipient']:.1f} us sending, "
                f"{result['cpu_us_per_recipient']:.1f} us for the whole task (imports, SQL, validation, spool); "
                f"sandbox busy {result['sandbox_cpu_share']:.0%} of a core"
            )
    finally:
        sandbox.stop()
    return ok


def bench_throttle(work: Path, seconds: float) -> bool:
    rate = 30
    ceiling = rate * BATCH
    rows = int(ceiling * seconds)
    log(
        f"== 429 share: Braze allows {rate} req/s in 1 s windows, {rows:,} recipients; the connection keeps "
        "the default requests_per_hour, so the client learns the limit only from the headers =="
    )
    warehouse = work / "throttle.db"
    make_warehouse(warehouse, rows)
    base_env = warehouse_env(warehouse)
    ok = True
    for latency in (0.05, 0.25):
        sandbox = Sandbox()
        try:
            sandbox.configure(latency, rate)
            result = send_once(sandbox, base_env, rows, 0)  # the connection keeps Braze's default 250,000/hour
        finally:
            sandbox.stop()
        share_429 = result["throttled"] / max(result["requests"], 1)
        share = result["rate"] / ceiling
        passed = share_429 <= 0.05 and share >= 0.9 and result["once"]
        ok = ok and passed
        log(
            f"  latency {latency * 1000:4.0f} ms: {result['throttled']} of {result['requests']} requests answered 429: "
            f"{share_429:.1%} (target <= 5%); throughput {share:.2f} of the ceiling; exactly once: {result['once']}  "
            f"{'PASS' if passed else 'FAIL'}"
        )
    return ok


PARSE_BASE = """
from datetime import datetime
try:
    from airflow.sdk import DAG, BaseOperator
except ImportError:
    from airflow import DAG
    from airflow.models import BaseOperator
with DAG(dag_id="bench_parse", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    BaseOperator(task_id="noop")
"""

PARSE_BRAZE = (
    PARSE_BASE
    + """
    from airflow_provider_braze.operators import (
        BrazeCDISyncOperator, BrazeCreateSendIdOperator, BrazeDeleteScheduleOperator,
        BrazeScheduleCampaignOperator, BrazeScheduleCanvasOperator, BrazeScheduleMessageOperator,
        BrazeSendMessageOperator, BrazeTriggerCampaignOperator, BrazeTriggerCanvasOperator,
        BrazeUpdateScheduleOperator,
    )
    from airflow_provider_braze.sensors import BrazeScheduledBroadcastSensor
    msg = {"email": {"app_id": "a", "subject": "s", "from": "a@b.c", "body": "b"}}
    at = {"time": "2030-01-01T00:00:00Z"}
    BrazeCDISyncOperator(task_id="cdi", integration_id="i")
    BrazeCreateSendIdOperator(task_id="sid", campaign_id="c")
    BrazeDeleteScheduleOperator(task_id="del", schedule_id="s")
    BrazeScheduleCampaignOperator(task_id="sc", campaign_id="c", schedule=at, broadcast=True)
    BrazeScheduleCanvasOperator(task_id="scv", canvas_id="c", schedule=at, broadcast=True)
    BrazeScheduleMessageOperator(task_id="sm", messages=msg, schedule=at, broadcast=True)
    BrazeSendMessageOperator(task_id="send", messages=msg, external_user_ids=["u1"])
    BrazeTriggerCampaignOperator(task_id="tc", campaign_id="c", recipients=[{"external_user_id": "u1"}])
    BrazeTriggerCanvasOperator(task_id="tcv", canvas_id="c", recipients=[{"external_user_id": "u1"}])
    BrazeUpdateScheduleOperator(task_id="upd", schedule_id="s", schedule=at)
    BrazeScheduledBroadcastSensor(task_id="wait", broadcast_name="weekly")
"""
)

# In one fresh interpreter: the BaseOperator-only DAG file (Airflow's own import cost), then what the
# Braze DAG file adds on top. Timing the addition in the same process keeps machine-load noise out of it.
IMPORT_TIMER = """
import importlib.util, sys, time
def load(name, path):
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location(name, path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return time.perf_counter() - started
print(load("bench_base", sys.argv[1]), load("bench_braze", sys.argv[2]))
"""


def bench_parse(work: Path, runs: int) -> bool:
    log(f"== Parse: import time of a DAG file with every Braze operator vs. BaseOperator only (median of {runs}) ==")
    base, braze = work / "dag_base.py", work / "dag_braze.py"
    base.write_text(PARSE_BASE)
    braze.write_text(PARSE_BRAZE)
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW_HOME": str(work / "parse-home")}
    # Bytecode cached, as in a deployment: pip compiles an installed provider (and Airflow) at install
    # time. With PYTHONDONTWRITEBYTECODE set (some CI images set it), every run would compile the
    # provider's modules from source (about 40 ms here) while Airflow's come compiled from the venv.
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def timed() -> tuple[float, float]:
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_TIMER, str(base), str(braze)], env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(f"parse benchmark failed: {out.stderr[-2000:]}")
        base_s, extra_s = out.stdout.strip().splitlines()[-1].split()
        return float(base_s), float(extra_s)

    timed()  # warm the file cache; writes the provider's bytecode cache
    samples = [timed() for _ in range(runs)]
    ratios = sorted((b + e) / b for b, e in samples)
    base_s = statistics.median(b for b, _ in samples)
    extra_s = statistics.median(e for _, e in samples)
    ratio = statistics.median(ratios)
    ok = ratio <= 1.05
    log(
        f"  BaseOperator only: {base_s * 1000:.0f} ms; every Braze operator and sensor adds {extra_s * 1000:.0f} ms "
        f"(imports and 11 tasks)"
    )
    log(f"  ratio {ratio:.3f} (range {ratios[0]:.3f}-{ratios[-1]:.3f}; target <= 1.05)  {'PASS' if ok else 'FAIL'}")
    return ok


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
    sandbox.post("reset")
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
    log(f"== Memory: peak RSS of `airflow dags test`, {small:,} vs {large:,} recipients (adaptive in-flight window) ==")
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
    log(f"  difference: {diff:+.1f} MB (target <= 50 MB)  ratio {large_mb / small_mb:.2f}  {'PASS' if ok else 'FAIL'}")
    return ok


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    every = ["sweep", "raised", "throttle", "parse", "memory"]
    wanted = [a for a in argv if not a.startswith("--")] or every
    unknown = set(wanted) - set(every)
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; choose from {every}")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    work = Path(tempfile.mkdtemp(prefix="braze-bench-"))
    seconds = 4.0 if quick else 8.0
    results = {}
    try:
        if "sweep" in wanted:
            results["sweep"] = bench_sweep(work, seconds)
        if "raised" in wanted:
            results["raised"] = bench_raised(work, seconds)
        if "throttle" in wanted:
            results["throttle"] = bench_throttle(work, seconds * 2)
        if "parse" in wanted:
            results["parse"] = bench_parse(work, 5 if quick else 9)
        if "memory" in wanted:
            results["memory"] = bench_memory(work, 10_000, 100_000 if quick else 1_000_000)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log("== Summary: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
