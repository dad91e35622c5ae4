"""A transactional send without a resume record, run by Airflow (``airflow dags test``): a retry after
an outage midway, then a second DAG run with the same business key, email each customer once."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).parents[1] / "dags"
PATH = "/transactional/v1/campaigns/invoice-transactional/send"


def test_airflow_retry_and_a_second_run_email_each_customer_once_without_a_resume_record(airflow_cli, braze_sandbox):
    braze_sandbox.configure(fail_on_requests=frozenset({31}))  # emails 1-30 sent, then Braze is down
    env = {**braze_sandbox.airflow_env(extra={"max_retries": 0}), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)}
    first = airflow_cli("dags", "test", "braze_transactional_retry", env=env)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-6000:]
    assert "Batch 31 of 100" in output  # the first try failed there; Airflow retried the task
    statuses = [r.status for r in braze_sandbox.requests_to(PATH)]
    assert statuses == [201] * 30 + [503] + [400] * 30 + [201] * 70  # the retry resent 1-30: de-duplicated
    braze_sandbox.configure(fail_on_requests=frozenset())
    second = airflow_cli("dags", "test", "braze_transactional_retry", env=env)
    assert second.returncode == 0, (second.stdout + second.stderr)[-6000:]
    assert [r.status for r in braze_sandbox.requests_to(PATH)][131:] == [400] * 100
    assert braze_sandbox.delivery_counts(PATH) == {f"external_user_id:customer-{i}": 1 for i in range(100)}
