"""The deployment test's large send: 20,000 recipients over 4 shards (mapped tasks on Celery workers).

The same shape as ``example_dags/example_braze_sharded_send.py``, with a short retry delay so a
retry after a killed worker starts within seconds, and ``on_unknown_outcome`` set explicitly: the
batches in flight when a worker dies are accepted as "may have been sent" and named in the result,
so the run completes and the test can check them against what reached Braze.
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
RECIPIENTS = 20_000

with DAG(
    dag_id="e2e_braze_sharded_20k",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["braze", "e2e"],
) as dag:
    build_audience = SQLExecuteQueryOperator(
        task_id="build_audience",
        conn_id="braze_example_warehouse",
        sql=[
            "CREATE TABLE IF NOT EXISTS e2e_members (user_id INTEGER PRIMARY KEY, external_user_id TEXT, tier TEXT)",
            f"""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {RECIPIENTS})
               INSERT OR REPLACE INTO e2e_members SELECT i, 'member-' || i, 'tier-' || (i % 3) FROM n""",
        ],
    )

    send = BrazeTriggerCampaignOperator.partial(
        task_id="notify_members",
        campaign_id="e2e-members-campaign",
        sql_conn_id="braze_example_warehouse",
        sql="SELECT external_user_id, tier FROM e2e_members ORDER BY user_id",
        shard_count=SHARDS,
        max_recipients=RECIPIENTS,
        # "skip": the batches in flight when a worker dies are named, not sent again; the test then
        # follows docs/data-driven-sends.md: Variable set to "resend", the shards cleared.
        on_unknown_outcome="{{ var.value.get('e2e_on_unknown_outcome', 'skip') }}",
        max_concurrency=8,  # a fixed in-flight window, so the test can bound what a killed worker leaves unknown
        retries=2,
        retry_delay=timedelta(seconds=5),
    ).expand(shard_index=list(range(SHARDS)))

    build_audience >> send
