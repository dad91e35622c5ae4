"""Behaviour every operator shares, checked on each: Jinja and ``.json`` templating, XCom result, dry run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_braze import operators as ops
from airflow_provider_braze.hooks.braze import BrazeHook
from tests.conftest import FAST, run_operator

WHEN = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
WHEN_Z = WHEN.strftime("%Y-%m-%dT%H:%M:%SZ")
PUSH_FILE = '{"apple_push": {"alert": "Hi {{ params.user }}"}}'
PUSH = {"apple_push": {"alert": "Hi u-1"}}


def _existing_message_schedule() -> str:
    hook = BrazeHook(settings=FAST)
    return hook.create_message_schedule(
        schedule={"time": WHEN_Z}, messages={"apple_push": {"alert": "x"}}, external_user_ids=["u"]
    ).schedule_id


# name: (operator class, kwargs, template files, needs an existing schedule, expected body, result keys)
CASES = {
    "send_message": (
        ops.BrazeSendMessageOperator,
        {"messages": "push.json", "external_user_ids": ["{{ params.user }}"]},
        {"push.json": PUSH_FILE},
        False,
        {"external_user_ids": ["u-1"], "messages": PUSH},
        {"dispatch_ids", "recipients", "batches", "minor_errors"},
    ),
    "trigger_campaign": (
        ops.BrazeTriggerCampaignOperator,
        {"campaign_id": "{{ params.id }}", "recipients": "recipients.json"},
        {"recipients.json": '[{"external_user_id": "{{ params.user }}"}]'},
        False,
        {"campaign_id": "c-1", "recipients": [{"external_user_id": "u-1"}]},
        {"dispatch_ids", "recipients", "batches", "minor_errors"},
    ),
    "trigger_canvas": (
        ops.BrazeTriggerCanvasOperator,
        {"canvas_id": "{{ params.id }}", "context": "context.json", "recipients": ["{{ params.user }}"]},
        {"context.json": '{"tier": "{{ params.tier }}"}'},
        False,
        {"canvas_id": "c-1", "context": {"tier": "gold"}, "recipients": [{"external_user_id": "u-1"}]},
        {"dispatch_ids", "recipients", "batches"},
    ),
    "schedule_message": (
        ops.BrazeScheduleMessageOperator,
        {"messages": "push.json", "external_user_ids": ["{{ params.user }}"], "schedule": "{{ params.when }}"},
        {"push.json": PUSH_FILE},
        False,
        {"external_user_ids": ["u-1"], "messages": PUSH, "schedule": {"time": WHEN_Z}},
        {"schedule_ids", "dispatch_ids", "recipients"},
    ),
    "schedule_campaign": (
        ops.BrazeScheduleCampaignOperator,
        {
            "campaign_id": "{{ params.id }}",
            "trigger_properties": "props.json",
            "broadcast": True,
            "schedule": "{{ params.when }}",
        },
        {"props.json": '{"user": "{{ params.user }}"}'},
        False,
        {"campaign_id": "c-1", "trigger_properties": {"user": "u-1"}, "broadcast": True, "schedule": {"time": WHEN_Z}},
        {"schedule_ids", "dispatch_ids"},
    ),
    "schedule_canvas": (
        ops.BrazeScheduleCanvasOperator,
        {"canvas_id": "{{ params.id }}", "recipients": "recipients.json", "schedule": "{{ params.when }}"},
        {"recipients.json": '[{"external_user_id": "{{ params.user }}", "context": {"a": 1}}]'},
        False,
        {
            "canvas_id": "c-1",
            "recipients": [{"external_user_id": "u-1", "context": {"a": 1}}],
            "schedule": {"time": WHEN_Z},
        },
        {"schedule_ids", "dispatch_ids"},
    ),
    "update_schedule": (
        ops.BrazeUpdateScheduleOperator,
        {"schedule_id": "{{ params.schedule_id }}", "messages": "push.json"},
        {"push.json": PUSH_FILE},
        True,
        {"messages": PUSH},
        {"schedule_ids", "updated"},
    ),
    "delete_schedule": (
        ops.BrazeDeleteScheduleOperator,
        {"schedule_id": "ids.json"},
        {"ids.json": '["{{ params.schedule_id }}"]'},
        True,
        {},
        {"schedule_ids", "deleted"},
    ),
    "send_transactional_email": (
        ops.BrazeSendTransactionalEmailOperator,
        {
            "campaign_id": "{{ params.id }}",
            "recipients": "recipients.json",
            "trigger_properties": "props.json",
            "business_key": "order-{{ params.user }}",
        },
        {"recipients.json": '["{{ params.user }}"]', "props.json": '{"tier": "{{ params.tier }}"}'},
        False,
        {"recipient": {"external_user_id": "u-1"}, "trigger_properties": {"tier": "gold"}},
        {"dispatch_ids", "recipients", "batches", "deduplicated", "business_key"},
    ),
    "create_send_id": (
        ops.BrazeCreateSendIdOperator,
        {"campaign_id": "{{ params.id }}", "send_id": "run-{{ params.user }}"},
        {},
        False,
        {"campaign_id": "c-1", "send_id": "run-u-1"},
        {"send_id", "campaign_id"},
    ),
}


def _build(name, tmp_path, **extra):
    from airflow_provider_braze.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import DAG
    else:
        from airflow import DAG

    cls, kwargs, files, _, _, _ = CASES[name]
    for filename, text in files.items():
        (tmp_path / filename).write_text(text)
    with DAG(f"every_{name}", schedule=None, template_searchpath=[str(tmp_path)]):
        return cls(task_id=name, **kwargs, **extra)


def _params(schedule_id: str | None) -> dict:
    return {
        "params": {"user": "u-1", "id": "c-1", "tier": "gold", "when": WHEN.isoformat(), "schedule_id": schedule_id}
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_templates_from_jinja_and_json_files_reach_braze_and_the_result_is_small_json(sandbox, tmp_path, name):
    _, _, _, needs_schedule, expected, result_keys = CASES[name]
    schedule_id = _existing_message_schedule() if needs_schedule else None
    before = len(sandbox.requests)
    result = run_operator(_build(name, tmp_path), _params(schedule_id))
    [request] = sandbox.requests[before:]
    assert request.status in (200, 201)
    for key, value in expected.items():
        assert request.body[key] == value, key
    if needs_schedule:
        assert request.body["schedule_id"] == schedule_id
    assert result_keys <= set(result)
    assert json.loads(json.dumps(result)) == result  # JSON-serialisable as it is
    assert len(json.dumps(result)) < 2000


@pytest.mark.parametrize("name", sorted(CASES))
def test_dry_run_sends_nothing(sandbox, tmp_path, name):
    needs_schedule = CASES[name][3]
    schedule_id = _existing_message_schedule() if needs_schedule else None
    before = len(sandbox.requests)
    result = run_operator(_build(name, tmp_path, dry_run=True), _params(schedule_id))
    assert sandbox.requests[before:] == []
    assert result["dry_run"] is True
    assert result["requests"] == 1


def test_every_public_operator_is_covered():
    messaging = set(ops.__all__) - {"BrazeCDISyncOperator"}  # CDI has its own tests (test_cdi_sync.py)
    assert {CASES[name][0].__name__ for name in CASES} == messaging


def test_every_operator_templates_its_connection_and_documents_its_parameters():
    for name in ops.__all__:
        cls = getattr(ops, name)
        assert "braze_conn_id" in cls.template_fields, name
        assert ":param" in (cls.__doc__ or ""), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_dry_run_can_be_templated_and_airflows_own_dry_run_still_works(sandbox, tmp_path, name):
    op = _build(name, tmp_path, dry_run="{{ params.preview }}")
    assert callable(op.dry_run)  # BaseOperator.dry_run(), used by Airflow 2's `tasks test --dry-run`
    needs_schedule = CASES[name][3]
    schedule_id = _existing_message_schedule() if needs_schedule else None
    before = len(sandbox.requests)
    context = _params(schedule_id)
    context["params"]["preview"] = "true"
    result = run_operator(op, context)
    assert result["dry_run"] is True
    assert sandbox.requests[before:] == []
