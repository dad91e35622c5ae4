"""Wait for a dashboard-scheduled broadcast, then trigger a follow-up campaign.

The sensor defers to the triggerer (no worker slot is held while waiting) and returns the matched
broadcast, whose ``next_send_time`` personalises the follow-up.
"""

from __future__ import annotations

from datetime import datetime

from airflow_provider_braze.operators import BrazeTriggerCampaignOperator
from airflow_provider_braze.sensors import BrazeScheduledBroadcastSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(
    dag_id="example_braze_wait_for_broadcast",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "example"],
) as dag:
    wait_for_digest = BrazeScheduledBroadcastSensor(
        task_id="wait_for_digest",
        broadcast_id="weekly-digest-campaign",
        condition="scheduled",
        deferrable=True,
        poke_interval=300,
        timeout=6 * 3600,
    )

    follow_up = BrazeTriggerCampaignOperator(
        task_id="follow_up",
        campaign_id="digest-follow-up",
        recipients=["editor-1", "editor-2"],
        trigger_properties={"digest_goes_out": "{{ ti.xcom_pull(task_ids='wait_for_digest')['next_send_time'] }}"},
    )

    wait_for_digest >> follow_up
