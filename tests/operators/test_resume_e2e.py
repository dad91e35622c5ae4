"""A send interrupted by a Braze outage and retried by Airflow (``airflow dags test``, ``retries=1``):
every recipient exactly once, and the batches accepted before the outage not sent again."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).parents[1] / "dags"


def test_outage_midway_then_airflow_retry_delivers_each_recipient_exactly_once(airflow_cli, braze_sandbox):
    braze_sandbox.configure(fail_on_requests=frozenset({4}))  # batches 1-3 accepted, then the outage
    env = {
        **braze_sandbox.airflow_env(extra={"max_retries": 0}),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    }
    result = airflow_cli("dags", "test", "braze_resume_after_outage", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Batch 4 of 6" in output  # the first try failed there
    assert "Resuming from try 1" in output
    statuses = [r.status for r in braze_sandbox.requests]
    assert statuses == [201, 201, 201, 503, 201, 201, 201]  # 3 accepted, outage, then only batches 4-6
    counts = braze_sandbox.delivery_counts()
    assert len(counts) == 300
    assert set(counts.values()) == {1}
