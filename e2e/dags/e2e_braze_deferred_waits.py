"""The deployment test's deferred broadcast wait: the broadcast appears only after the sensor deferred.

``example_braze_wait_for_broadcast`` finds its broadcast on the first poke (before deferring) when it
is already scheduled, and polls every 5 minutes once deferred; this copy polls every 2 seconds, so
the test can add the broadcast once the task is ``deferred`` and see the triggerer find it.
"""

from __future__ import annotations

from datetime import datetime

from airflow_provider_braze.sensors import BrazeScheduledBroadcastSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(
    dag_id="e2e_braze_deferred_waits",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "e2e"],
) as dag:
    BrazeScheduledBroadcastSensor(
        task_id="wait_for_late_broadcast",
        broadcast_id="e2e-late-broadcast",
        condition="scheduled",
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )
