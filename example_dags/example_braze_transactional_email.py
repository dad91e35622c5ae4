"""Order confirmations as transactional email: one email per order, never two, even across retries.

1. ``load_orders`` fills an ``orders_to_confirm`` table (a stand-in for your ELT job).
2. ``confirm_orders`` sends the Transactional Email campaign to each order's customer: one request
   per recipient, each carrying an ``external_send_id`` derived from the campaign, the customer and
   the business key ``order-confirmation|<order_id>``. The outcome of every email is written back
   to ``braze_transactional_outcomes``.
3. ``confirm_orders_again`` sends the same orders again, without a resume record, as a cleared task
   or a second DAG run within 24 hours would: Braze de-duplicates every email (its "already queued"
   answer counts as accepted), so each customer still gets one email per order.

Connections: ``braze_default`` (Braze) and ``braze_example_warehouse`` (SQLite here).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_provider_braze.operators import BrazeSendTransactionalEmailOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

WAREHOUSE_CONN_ID = "braze_example_warehouse"
CAMPAIGN_ID = "order-confirmation-transactional"

LOAD_SQL = [
    """CREATE TABLE IF NOT EXISTS orders_to_confirm (
        order_id INTEGER NOT NULL, external_user_id TEXT NOT NULL, total REAL NOT NULL
    )""",
    "DELETE FROM orders_to_confirm",
    """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25)
       INSERT INTO orders_to_confirm (order_id, external_user_id, total)
       SELECT 1000 + i, 'customer-' || i, round(10 + (i * 13 % 90), 2) FROM n""",
]
SELECT_SQL = "SELECT external_user_id, order_id, total FROM orders_to_confirm ORDER BY order_id"

with DAG(
    dag_id="example_braze_transactional_email",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "example", "transactional"],
) as dag:
    load_orders = SQLExecuteQueryOperator(task_id="load_orders", conn_id=WAREHOUSE_CONN_ID, sql=LOAD_SQL)

    common = {
        "campaign_id": CAMPAIGN_ID,
        "sql": SELECT_SQL,
        "sql_conn_id": WAREHOUSE_CONN_ID,
        "business_key": "order-confirmation",
        "business_key_field": "order_id",  # a customer with two orders gets two emails
        "trigger_properties": {"store": "Example Store"},
        "outcome_table": "braze_transactional_outcomes",
    }
    confirm_orders = BrazeSendTransactionalEmailOperator(task_id="confirm_orders", **common)
    confirm_orders_again = BrazeSendTransactionalEmailOperator(
        task_id="confirm_orders_again", resume_store=None, **common
    )

    load_orders >> confirm_orders >> confirm_orders_again
