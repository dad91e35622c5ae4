"""Schedule a Canvas for tomorrow, move it a day later, then cancel it.

Each batch of 50 recipients becomes one Braze schedule; the schedule operator returns every
``schedule_id`` and the update and delete operators accept that result as it is.
"""

from __future__ import annotations

from datetime import datetime

from airflow_provider_braze.operators import (
    BrazeDeleteScheduleOperator,
    BrazeScheduleCanvasOperator,
    BrazeUpdateScheduleOperator,
)

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

CANVAS_ID = "winback-canvas"

with DAG(
    dag_id="example_braze_canvas_schedule",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["braze", "example"],
) as dag:
    schedule_canvas = BrazeScheduleCanvasOperator(
        task_id="schedule_canvas",
        canvas_id=CANVAS_ID,
        recipients=[{"external_user_id": f"lapsed-{i}", "context": {"offer": "COMEBACK10"}} for i in range(70)],
        schedule="{{ (dag_run.start_date + macros.timedelta(days=1)).isoformat() }}",
    )

    move_schedule = BrazeUpdateScheduleOperator(
        task_id="move_schedule",
        canvas_id=CANVAS_ID,
        schedule_id=schedule_canvas.output,
        schedule="{{ (dag_run.start_date + macros.timedelta(days=2)).isoformat() }}",
    )

    cancel_schedule = BrazeDeleteScheduleOperator(
        task_id="cancel_schedule",
        canvas_id=CANVAS_ID,
        schedule_id="{{ ti.xcom_pull(task_ids='schedule_canvas')['schedule_ids'] }}",
    )

    schedule_canvas >> move_schedule >> cancel_schedule
