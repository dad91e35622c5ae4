"""Send a message to a whole segment: preview it with ``dry_run=True``, then send with ``broadcast=True``.

``broadcast=True`` is an explicit opt-in: without it a send with no listed users is refused before
any request, so a missing user list can never turn into a message to everyone.
"""

from __future__ import annotations

from datetime import datetime

from airflow_provider_braze.operators import BrazeSendMessageOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

MESSAGES = {
    "apple_push": {"alert": {"title": "Winter sale", "body": "30% off until Sunday"}, "sound": "default"},
    "android_push": {"title": "Winter sale", "alert": "30% off until Sunday"},
    "email": {
        "app_id": "your-app-id",
        "from": "Shop <news@shop.example.com>",
        "subject": "Winter sale: 30% off until Sunday",
        # Braze's Liquid uses {{ }} like Jinja: wrap it in {% raw %} so Airflow leaves it to Braze.
        "body": "{% raw %}<p>Hi {{${first_name}}}, our winter sale is on.</p>{% endraw %}",
    },
}

with DAG(
    dag_id="example_braze_segment_broadcast",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "example"],
) as dag:
    common = {
        "segment_id": "winter-sale-segment",
        "broadcast": True,
        "messages": MESSAGES,
        "recipient_subscription_state": "opted_in",
    }

    preview = BrazeSendMessageOperator(task_id="preview_broadcast", dry_run=True, **common)
    send = BrazeSendMessageOperator(task_id="send_broadcast", **common)

    preview >> send
