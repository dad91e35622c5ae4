"""SQL sends from a real PostgreSQL server (started by the test session from the OS's binaries)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_braze.operators import BrazeTriggerCanvasOperator
from tests.conftest import run_operator

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg(postgres_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PG", postgres_server)
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id="pg")
    return hook


def test_postgres_rows_convert_and_are_delivered_exactly_once(sandbox, pg):
    pg.run(
        [
            "DROP TABLE IF EXISTS members",
            """CREATE TABLE members (id serial PRIMARY KEY, external_user_id text, points numeric(10,2),
               joined date, seen timestamptz, prefs jsonb, token uuid)""",
            """INSERT INTO members (external_user_id, points, joined, seen, prefs, token)
               SELECT 'm-' || i, i * 1.5, DATE '2026-01-01' + i,
                      TIMESTAMPTZ '2026-11-27 10:00:00+00' + i * interval '1 hour',
                      jsonb_build_object('lang', 'en', 'i', i), md5(i::text)::uuid
               FROM generate_series(1, 260) AS i""",
        ]
    )
    result = run_operator(
        BrazeTriggerCanvasOperator(
            task_id="t",
            canvas_id="canv",
            sql_conn_id="pg",
            sql="SELECT external_user_id, points, joined, seen, prefs, token FROM members ORDER BY id",
        )
    )
    assert result["recipients"] == 260
    assert result["batches"] == 6
    counts = sandbox.delivery_counts()
    assert len(counts) == 260
    assert set(counts.values()) == {1}
    first = sandbox.requests_to("/canvas/trigger/send")
    first_recipient = next(r for req in first for r in req.body["recipients"] if r["external_user_id"] == "m-2")
    assert first_recipient["context"] == {
        "points": 3,
        "joined": "2026-01-03",
        "seen": "2026-11-27T12:00:00+00:00",
        "prefs": {"lang": "en", "i": 2},
        "token": "c81e728d-9d4c-2f63-6f06-7f89cc14862c",
    }


MEASURE = textwrap.dedent("""
    import json, resource, sys
    from airflow_provider_braze.operators import BrazeTriggerCampaignOperator
    op = BrazeTriggerCampaignOperator(
        task_id="m", campaign_id="c", sql_conn_id="pg", resume_store=None,
        sql="SELECT external_user_id, score FROM big WHERE id <= %(n)s ORDER BY id",
        sql_parameters={"n": int(sys.argv[1])},
    )
    result = op.execute({})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"recipients": result["recipients"], "peak_kb": peak}))
""")


def test_a_million_rows_stream_with_flat_memory(braze_sandbox, pg, postgres_server):
    braze_sandbox.configure(record_bodies=False)
    pg.run(
        [
            "DROP TABLE IF EXISTS big",
            "CREATE TABLE big (id integer PRIMARY KEY, external_user_id text, score integer)",
            "INSERT INTO big SELECT i, 'big-' || i, i % 1000 FROM generate_series(1, 1000000) AS i",
        ]
    )
    env = {
        "AIRFLOW_CONN_PG": postgres_server,
        **braze_sandbox.airflow_env(extra={"requests_per_hour": 10**9, "max_concurrency": 8}),
    }
    import os

    peaks = {}
    for rows in (10_000, 1_000_000):
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, str(rows)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        assert measured["recipients"] == rows
        peaks[rows] = measured["peak_kb"] / 1024
    counts = braze_sandbox.delivery_counts()
    assert len(counts) == 1_000_000  # the 10k run's recipients are the first 10k of the 1M run
    assert sum(counts.values()) == 1_010_000
    assert peaks[1_000_000] - peaks[10_000] <= 50, peaks
