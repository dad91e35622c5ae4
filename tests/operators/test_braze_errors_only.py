"""A bad argument fails the task with a ``BrazeError`` subclass naming it, before any request.

Rule violations are ``PayloadRuleError`` (a ``ValueError``) inside the package; what leaves an
operator's ``execute`` is :class:`BrazeValidationError`, whichever step checks the argument (the plan,
the dry-run flag, or the send options checked only for a real send).
"""

from __future__ import annotations

import pytest

from airflow_provider_braze.exceptions import BrazeError, BrazeValidationError
from airflow_provider_braze.operators import BrazeDeleteScheduleOperator, BrazeTriggerCampaignOperator
from tests.conftest import run_operator


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dry_run": "maybe"}, "dry_run"),
        ({"max_concurrency": "lots"}, "max_concurrency"),
        ({"reconcile_unknown_outcomes": "perhaps"}, "reconcile_unknown_outcomes"),
        ({"outcome_table": "outcomes"}, "outcome_conn_id"),
        ({"on_unknown_outcome": "retry"}, "on_unknown_outcome"),
    ],
)
def test_a_send_option_fails_as_a_braze_validation_error(sandbox, kwargs, field):
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=["a"], **kwargs)
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert isinstance(err.value, BrazeError)
    assert err.value.field == field
    assert sandbox.requests == []


def test_a_schedule_change_with_a_bad_dry_run_flag_fails_as_a_braze_validation_error(sandbox):
    with pytest.raises(BrazeValidationError, match=r"^dry_run: must be true or false"):
        run_operator(BrazeDeleteScheduleOperator(task_id="d", schedule_id="s-1", dry_run="maybe"))
    assert sandbox.requests == []
