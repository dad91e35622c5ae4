"""The warehouse selects users, then Braze messages them.

1. ``load_warehouse`` fills a ``carts`` table (a stand-in for your dbt/ELT job).
2. ``select_abandoned_carts`` queries the users who abandoned a cart in the last day.
3. ``build_recipients`` turns rows into Braze recipients with per-user ``trigger_properties``,
   grouped by cart value into two API-triggered campaigns.
4. ``trigger_campaign`` is mapped over the groups (``expand_kwargs``): one task per campaign, each
   batching its recipients by 50.

Connections: ``braze_default`` (Braze) and ``braze_example_warehouse`` (SQLite here; any
common.sql database works the same way).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_provider_braze.operators import BrazeTriggerCampaignOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task

WAREHOUSE_CONN_ID = "braze_example_warehouse"
HIGH_VALUE = 100.0

# Safe to run again and concurrently (a scheduled and a manual run at once): every statement is
# atomic on its own, the table is created once and the rows are upserted, never dropped.
LOAD_SQL = [
    """CREATE TABLE IF NOT EXISTS carts (
        external_user_id TEXT PRIMARY KEY, sku TEXT NOT NULL, cart_value REAL NOT NULL, abandoned_at TEXT NOT NULL
    )""",
    """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 130)
       INSERT OR REPLACE INTO carts (external_user_id, sku, cart_value, abandoned_at)
       SELECT 'user-' || i, 'SKU-' || (i % 7), round(20 + (i * 37 % 200), 2),
              datetime('now', '-' || (i % 36) || ' hours', '-30 minutes')
       FROM n""",
]

SELECT_SQL = """
    SELECT external_user_id, sku, cart_value
    FROM carts
    WHERE abandoned_at >= datetime('now', '-1 day')
    ORDER BY external_user_id
"""


with DAG(
    dag_id="example_braze_abandoned_cart",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "example", "warehouse"],
) as dag:
    load_warehouse = SQLExecuteQueryOperator(task_id="load_warehouse", conn_id=WAREHOUSE_CONN_ID, sql=LOAD_SQL)

    select_abandoned_carts = SQLExecuteQueryOperator(
        task_id="select_abandoned_carts", conn_id=WAREHOUSE_CONN_ID, sql=SELECT_SQL
    )

    @task
    def build_recipients(rows: list[list[Any]]) -> list[dict[str, Any]]:
        """One ``expand_kwargs`` entry per campaign: high-value carts get their own campaign."""
        groups: dict[str, list[dict[str, Any]]] = {"cart-high-value": [], "cart-standard": []}
        for external_user_id, sku, cart_value in rows:
            campaign = "cart-high-value" if cart_value >= HIGH_VALUE else "cart-standard"
            groups[campaign].append(
                {"external_user_id": external_user_id, "trigger_properties": {"sku": sku, "cart_value": cart_value}}
            )
        return [{"campaign_id": campaign, "recipients": people} for campaign, people in groups.items() if people]

    trigger_campaign = BrazeTriggerCampaignOperator.partial(
        task_id="trigger_campaign",
        # Not {{ ds }}: an Airflow 3 run triggered by hand has no logical date (and no ds). The run's
        # logical date when it has one, else the time it was triggered for, works for every kind of run.
        trigger_properties={"campaign_day": "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"},
        map_index_template="{{ task.campaign_id }}",
    ).expand_kwargs(build_recipients(select_abandoned_carts.output))

    load_warehouse >> select_abandoned_carts
