"""Test DAG: a send that fails midway (a Braze outage) and is retried by Airflow."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_braze.operators import BrazeTriggerCampaignOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(dag_id="braze_resume_after_outage", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    BrazeTriggerCampaignOperator(
        task_id="send",
        campaign_id="outage-campaign",
        recipients=[{"external_user_id": f"user-{i}", "trigger_properties": {"i": i}} for i in range(300)],
        max_concurrency=1,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
