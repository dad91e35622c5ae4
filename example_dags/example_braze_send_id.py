"""Create a send id, then use it in mapped sends so the campaign's analytics group this run's sends together."""

from __future__ import annotations

from datetime import datetime

from airflow_provider_braze.operators import BrazeCreateSendIdOperator, BrazeTriggerCampaignOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

CAMPAIGN_ID = "monthly-statement-campaign"

with DAG(
    dag_id="example_braze_send_id",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "example"],
) as dag:
    # Not {{ ds_nodash }}: an Airflow 3 run triggered by hand has no logical date. The run's logical
    # date when it has one, else the time it was triggered for, works for every kind of run.
    create_send_id = BrazeCreateSendIdOperator(
        task_id="create_send_id",
        campaign_id=CAMPAIGN_ID,
        send_id="statement-{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}",
    )

    # One mapped task per region; every one carries the same send id.
    trigger_with_send_id = BrazeTriggerCampaignOperator.partial(
        task_id="trigger_with_send_id",
        campaign_id=CAMPAIGN_ID,
        send_id="{{ ti.xcom_pull(task_ids='create_send_id')['send_id'] }}",
    ).expand(recipients=[[f"customer-eu-{i}" for i in range(10)], [f"customer-us-{i}" for i in range(10)]])

    create_send_id >> trigger_with_send_id
