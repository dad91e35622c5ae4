"""Test DAG: the fault matrix, one task per cell (see ``tests/faults/``), each retried once by Airflow.

Built only when ``BRAZE_FAULT_MATRIX_CELLS`` names the cells file the matrix test writes.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

CELLS = os.environ.get("BRAZE_FAULT_MATRIX_CELLS")

if CELLS:
    from tests.faults.cell_operator import FaultCellOperator, survive_task_timeouts_in_airflow2_dag_test
    from tests.faults.matrix import EXECUTION_TIMEOUT

    survive_task_timeouts_in_airflow2_dag_test()

    with DAG(dag_id="braze_fault_matrix", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        for cell in json.loads(Path(CELLS).read_text()):
            FaultCellOperator(
                task_id=f"cell_{cell['id']}",
                cell=json.dumps(cell),
                braze_conn_id=cell["conn_id"],
                campaign_id=f"fm-{cell['id']}",
                recipients=cell["recipients"],
                resume_store=cell["resume_dir"],
                on_unknown_outcome="skip",
                retries=1,
                retry_delay=timedelta(0),
                execution_timeout=(
                    timedelta(seconds=EXECUTION_TIMEOUT) if cell["fault"] == "execution_timeout" else None
                ),
            )
