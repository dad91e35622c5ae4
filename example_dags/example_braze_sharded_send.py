"""A large warehouse-driven send fanned out over 4 mapped tasks (Celery or Kubernetes workers).

Each mapped task streams the same ordered query, keeps the recipients of its shard (a stable hash of
the identifier), and paces itself at 1/4 of the connection's rate limits, so the four together stay
within the workspace's budget. In production, add ``pool="braze_api"`` to cap the Braze tasks
running at once across DAGs (``airflow pools set braze_api 4 "Braze API"``).

Retries resume: each shard keeps a record of the batches Braze accepted, so a retried shard sends
only what it had not sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_provider_braze.operators import BrazeTriggerCampaignOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

SHARDS = 4

with DAG(
    dag_id="example_braze_sharded_send",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "example", "warehouse"],
) as dag:
    build_audience = SQLExecuteQueryOperator(
        task_id="build_audience",
        conn_id="braze_example_warehouse",
        # Safe to run again and concurrently: created once, rows upserted (never DROP + CREATE, which
        # fails when two runs interleave: "table score_changes already exists").
        sql=[
            """CREATE TABLE IF NOT EXISTS score_changes (
                   user_id INTEGER PRIMARY KEY, external_user_id TEXT, new_score INTEGER)""",
            """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
               INSERT OR REPLACE INTO score_changes SELECT i, 'member-' || i, (i * 7919) % 1000 FROM n""",
        ],
    )

    send = BrazeTriggerCampaignOperator.partial(
        task_id="notify_score_change",
        campaign_id="score-changed-campaign",
        sql_conn_id="braze_example_warehouse",
        # ORDER BY a unique key: a retry resumes only if the query yields the same rows in the same order.
        sql="SELECT external_user_id, new_score FROM score_changes ORDER BY user_id",
        shard_count=SHARDS,
        max_recipients=1_000_000,
        retries=2,
        retry_delay=timedelta(minutes=1),
    ).expand(shard_index=list(range(SHARDS)))

    build_audience >> send
