"""BrazeCreateSendIdOperator against the sandbox."""

from __future__ import annotations

import pytest

from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import BrazeCreateSendIdOperator
from tests.conftest import run_operator


def test_creates_the_given_send_id(sandbox):
    result = run_operator(
        BrazeCreateSendIdOperator(task_id="s", campaign_id="camp", send_id="spring-{{ ds_nodash }}"),
        {"ds_nodash": "20261127"},
    )
    assert result == {"send_id": "spring-20261127", "campaign_id": "camp"}
    assert sandbox.requests[0].body == {"campaign_id": "camp", "send_id": "spring-20261127"}


def test_braze_generates_one_when_omitted(sandbox):
    result = run_operator(BrazeCreateSendIdOperator(task_id="s", campaign_id="camp"))
    assert result["send_id"] == sandbox.requests[0].response["send_id"]


@pytest.mark.parametrize(("send_id", "rule"), [("ünïcode", "ASCII"), ("x" * 65, "at most 64")])
def test_invalid_send_ids_are_refused_before_sending(sandbox, send_id, rule):
    with pytest.raises(BrazeValidationError, match=rule):
        run_operator(BrazeCreateSendIdOperator(task_id="s", campaign_id="camp", send_id=send_id))
    assert sandbox.requests == []


@pytest.mark.parametrize("operator_name", ["BrazeSendMessageOperator", "BrazeScheduleMessageOperator"])
def test_a_send_id_without_campaign_id_is_refused_before_sending(sandbox, operator_name):
    from datetime import datetime, timedelta, timezone

    import airflow_provider_braze.operators as operators

    kwargs = {"task_id": "m", "external_user_ids": ["u1"], "messages": {"email": {"app_id": "a"}}, "send_id": "s"}
    if operator_name == "BrazeScheduleMessageOperator":
        kwargs["schedule"] = datetime.now(timezone.utc) + timedelta(days=1)
    with pytest.raises(BrazeValidationError) as err:
        run_operator(getattr(operators, operator_name)(**kwargs))
    assert err.value.field == "send_id"
    assert "needs campaign_id" in err.value.rule
    assert sandbox.requests == []
