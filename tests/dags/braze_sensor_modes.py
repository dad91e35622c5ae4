"""Test DAG: the broadcast sensor in reschedule mode, deferred (trigger run by Airflow), and soft-failing."""

from __future__ import annotations

from datetime import datetime

from airflow_provider_braze.sensors import BrazeScheduledBroadcastSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(dag_id="braze_sensor_modes", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    rescheduled = BrazeScheduledBroadcastSensor(
        task_id="rescheduled_until_scheduled",
        broadcast_id="appears-later",
        mode="reschedule",
        poke_interval=2,
        timeout=120,
    )
    deferred = BrazeScheduledBroadcastSensor(
        task_id="deferred_until_sent",
        broadcast_id="goes-out-later",
        condition="sent",
        deferrable=True,
        poke_interval=1,
        timeout=120,
    )
    soft_fail = BrazeScheduledBroadcastSensor(
        task_id="deferred_never_scheduled_soft_fails",
        broadcast_id="never",
        deferrable=True,
        poke_interval=1,
        timeout=3,
        soft_fail=True,
    )
    rescheduled >> deferred
    rescheduled >> soft_fail
