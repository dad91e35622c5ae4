"""Test DAG: a transactional send without any resume record, failing midway and retried by Airflow."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_braze.operators import BrazeSendTransactionalEmailOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(dag_id="braze_transactional_retry", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    BrazeSendTransactionalEmailOperator(
        task_id="send_invoices",
        campaign_id="invoice-transactional",
        recipients=[f"customer-{i}" for i in range(100)],
        business_key="invoice-batch-1",
        resume_store=None,  # no record at all: only Braze's de-duplication stands between a retry and a resend
        max_concurrency=1,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
