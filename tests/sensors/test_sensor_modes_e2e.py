"""The sensor's reschedule, deferred and soft-fail paths, run by Airflow itself (``airflow dags test``)."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).parents[1] / "dags"


def test_reschedule_deferred_and_soft_fail(airflow_cli, braze_sandbox):
    def script() -> None:
        # The reschedule sensor pokes first and finds nothing; the broadcast appears only after that.
        deadline = time.time() + 120
        while time.time() < deadline and not braze_sandbox.requests:
            time.sleep(0.2)
        time.sleep(1)
        now = datetime.now(timezone.utc)
        braze_sandbox.add_broadcast(broadcast_id="appears-later", name="Later", next_send_time=now + timedelta(hours=5))
        braze_sandbox.add_broadcast(
            broadcast_id="goes-out-later", name="Soon", next_send_time=now + timedelta(seconds=12)
        )

    threading.Thread(target=script, daemon=True).start()
    result = airflow_cli(
        "dags",
        "test",
        "braze_sensor_modes",
        env={**braze_sandbox.airflow_env(), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)},
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "no broadcast matching id=appears-later is scheduled" in output  # first poke: rescheduled
    assert "id=appears-later: scheduled for" in output  # a later poke found it
    sent = r"id=goes-out-later: goes-out-later \(Soon\)(:| left the list at) its (send )?time.*: sent"
    assert re.search(sent, output)
    # the soft-failing sensor's trigger gave up after its timeout and the task was skipped
    assert re.search(r"soft_fail|Sensor timed out", output)
    assert re.search(r"deferred_never_scheduled_soft_fails.*(new_state=skipped|state=skipped|SKIPPED)", output, re.S)
    polls = [r for r in braze_sandbox.requests if r.path == "/messages/scheduled_broadcasts"]
    assert all(r.status == 200 for r in polls)
