"""Close the loop: send with a send id, copy Braze's analytics into the warehouse, join them with
the send outcomes.

1. ``create_send_id`` creates (or reuses) the send id that groups this campaign's sends in analytics.
2. ``send`` triggers the campaign with that send id and writes one outcome row per recipient to
   ``braze_example_send_outcomes``.
3. ``copy_analytics`` upserts the campaign's and the send id's daily series of the 3 days up to the
   send day into ``braze_example_analytics``. Scheduled daily, each run re-reads the trailing days,
   so the day after a send its late opens, clicks and conversions are copied too; the table keeps one
   row per day, object, channel and variation however often it runs.
4. ``join_outcomes_and_analytics`` puts what the API accepted next to what Braze reports, per day.

Works on a manual run without a logical date (Airflow 3) and on every later run (idempotent DDL
and upserts). Connections: ``braze_default`` and ``braze_example_warehouse`` (SQLite here).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow_provider_braze.operators import BrazeCreateSendIdOperator, BrazeTriggerCampaignOperator
from airflow_provider_braze.transfers import BrazeAnalyticsToSqlOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

WAREHOUSE_CONN_ID = "braze_example_warehouse"
CAMPAIGN_ID = "weekly-digest-api-campaign"
SEND_ID = "example-weekly-digest"
OUTCOMES = "braze_example_send_outcomes"
ANALYTICS = "braze_example_analytics"

JOIN_SQL = f"""
    SELECT a.stat_date, a.sent AS braze_sent, a.delivered, a.opens, a.clicks,
           COALESCE(o.accepted, 0) AS accepted_recipients
    FROM {ANALYTICS} a
    LEFT JOIN (
        SELECT substr(recorded_at, 1, 10) AS day, COUNT(*) AS accepted
        FROM {OUTCOMES}
        WHERE status = 'accepted' AND dag_id = 'example_braze_send_analytics'
        GROUP BY substr(recorded_at, 1, 10)
    ) o ON o.day = a.stat_date
    WHERE a.object_type = 'send' AND a.parent_id = '{CAMPAIGN_ID}' AND a.object_id = '{SEND_ID}'
      AND a.channel = 'email'
    ORDER BY a.stat_date
"""

with DAG(
    dag_id="example_braze_send_analytics",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one load of the analytics table at a time
    tags=["braze", "example", "analytics", "warehouse"],
) as dag:
    create_send_id = BrazeCreateSendIdOperator(task_id="create_send_id", campaign_id=CAMPAIGN_ID, send_id=SEND_ID)

    send = BrazeTriggerCampaignOperator(
        task_id="send",
        campaign_id=CAMPAIGN_ID,
        send_id="{{ ti.xcom_pull(task_ids='create_send_id')['send_id'] }}",
        recipients=[f"reader-{i}" for i in range(40)],
        outcome_table=OUTCOMES,
        outcome_conn_id=WAREHOUSE_CONN_ID,
    )

    @task
    def send_day() -> str:
        """The UTC day of the send: the copy reads up to it (by default it would stop at the last day the
        run covers, yesterday for a daily run; the next daily runs re-read the send day as stats arrive)."""
        return datetime.now(timezone.utc).date().isoformat()

    copy_analytics = BrazeAnalyticsToSqlOperator(
        task_id="copy_analytics",
        last_day=send_day(),
        campaign_ids=[CAMPAIGN_ID],
        send_ids=create_send_id.output,  # {"campaign_id": ..., "send_id": ...}
        table=ANALYTICS,
        sql_conn_id=WAREHOUSE_CONN_ID,
        lookback_days=3,
    )

    @task
    def join_outcomes_and_analytics() -> list[dict[str, Any]]:
        """Per day: recipients the API accepted (outcome table) next to Braze's sent/delivered/opens."""
        from airflow.providers.common.compat.sdk import BaseHook

        hook = BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()
        columns = ("stat_date", "braze_sent", "delivered", "opens", "clicks", "accepted_recipients")
        rows = [dict(zip(columns, row, strict=True)) for row in hook.get_records(JOIN_SQL)]
        for row in rows:
            print(row)  # noqa: T201 - the example's output
        return rows

    create_send_id >> send >> copy_analytics >> join_outcomes_and_analytics()
