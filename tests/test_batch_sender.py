"""Progress lines and concurrency of the batch sender, against the sandbox."""

from __future__ import annotations

import logging

from airflow_provider_braze import endpoints as ep
from airflow_provider_braze.batch_sender import send_plan
from airflow_provider_braze.send_plan import list_source, plan_trigger


def _plan(n: int):
    return plan_trigger(
        endpoint=ep.TRIGGER_CAMPAIGN,
        id_field="campaign_id",
        id_value="c",
        properties_field="trigger_properties",
        properties=None,
        source=list_source([f"secret-user-{i}" for i in range(n)]),
        broadcast=None,
        audience=None,
    )


def test_progress_lines_have_counts_rate_eta_and_no_recipient_data(hook, sandbox, logs):
    sandbox.configure(latency=0.02)
    plan = _plan(500)
    outcome = send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=4, progress_every=0.05)
    plan.close()
    text = logs()
    lines = [line for line in text.splitlines() if "recipients/s" in line]
    assert len(lines) >= 2
    assert "500/500 recipients, 10/10 batches" in lines[-1]
    assert "(done)" in lines[-1]
    assert "ETA" in lines[0]
    assert "rate-limit waits" in lines[0]
    assert "retries" in lines[0]
    assert "secret-user" not in text
    assert outcome.recipients == 500


def test_batches_really_run_concurrently(hook, sandbox):
    sandbox.configure(latency=0.2)
    plan = _plan(400)  # 8 batches of 0.2 s each
    outcome = send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=8)
    plan.close()
    assert outcome.seconds < 0.2 * 8 / 2  # well under the sequential 1.6 s
    by_first_recipient = {
        r.body["recipients"][0]["external_user_id"]: r.response["dispatch_id"] for r in sandbox.requests
    }
    assert outcome.dispatch_ids == [by_first_recipient[f"secret-user-{50 * k}"] for k in range(8)]  # batch order
