"""Load a table, sync it to Braze with Cloud Data Ingestion, then message the synced users.

1. ``load_users`` writes the users whose attributes changed (a stand-in for your ELT job) — the
   table a CDI integration reads.
2. ``sync_to_braze`` triggers the integration's sync and waits (deferred) for the run it started:
   the newest earlier run and Braze's answer time identify it, since Braze returns no run id.
3. ``welcome_synced_users`` triggers a campaign for exactly those users, and writes one outcome row
   per recipient back to the warehouse table ``braze_send_outcomes`` for analysts.

Connections: ``braze_default`` and ``braze_example_warehouse``. The CDI integration is named
``users-from-warehouse`` (``make demo`` seeds it in the sandbox).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_provider_braze.operators import BrazeCDISyncOperator, BrazeTriggerCampaignOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(
    dag_id="example_braze_cdi_sync",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "example", "cdi"],
) as dag:
    load_users = SQLExecuteQueryOperator(
        task_id="load_users",
        conn_id="braze_example_warehouse",
        sql=[
            """CREATE TABLE IF NOT EXISTS braze_user_sync (
                   external_id TEXT PRIMARY KEY, payload TEXT NOT NULL, updated_at TEXT NOT NULL)""",
            # Upserted, not deleted and re-inserted: safe to run again and concurrently.
            """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 75)
               INSERT OR REPLACE INTO braze_user_sync
               SELECT 'synced-' || i, '{"plan": "pro", "seats": ' || i || '}', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
               FROM n""",
        ],
    )

    sync_to_braze = BrazeCDISyncOperator(
        task_id="sync_to_braze",
        integration_name="users-from-warehouse",
        deferrable=True,
        poll_interval=1,
        timeout=1800,
        on_partial="fail",
        if_running="wait_then_trigger",
    )

    welcome_synced_users = BrazeTriggerCampaignOperator(
        task_id="welcome_synced_users",
        campaign_id="welcome-pro-users",
        sql_conn_id="braze_example_warehouse",
        sql="SELECT external_id AS external_user_id FROM braze_user_sync ORDER BY external_id",
        trigger_properties={"synced_rows": "{{ ti.xcom_pull(task_ids='sync_to_braze')['rows_synced'] }}"},
        outcome_table="braze_send_outcomes",
    )

    load_users >> sync_to_braze >> welcome_synced_users
