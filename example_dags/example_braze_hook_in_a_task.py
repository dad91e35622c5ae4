"""Use BrazeHook directly in a TaskFlow task: check the connection, then trigger a campaign.

Runs against the Braze sandbox in ``make demo``; point ``braze_default`` at your REST endpoint and
key to run it against Braze.
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(
    dag_id="example_braze_hook_in_a_task",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "example"],
)
def example_braze_hook_in_a_task() -> None:
    @task
    def check_connection() -> str:
        from airflow_provider_braze.hooks import BrazeHook

        ok, message = BrazeHook().test_connection()
        if not ok:
            raise RuntimeError(message)
        return message

    @task
    def trigger_welcome_campaign(user_ids: list[str]) -> dict:
        from airflow_provider_braze.hooks import BrazeHook

        response = BrazeHook().trigger_campaign(
            campaign_id="welcome-campaign",
            recipients=[{"external_user_id": uid, "trigger_properties": {"source": "airflow"}} for uid in user_ids],
        )
        return {"dispatch_id": response.dispatch_id, "recipients": len(user_ids)}

    check_connection() >> trigger_welcome_campaign(["new-signup-1", "new-signup-2", "new-signup-3"])


example_braze_hook_in_a_task()
