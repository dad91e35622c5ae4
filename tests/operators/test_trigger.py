"""Trigger operators against the sandbox: batching, validation before any request, templating, dry run."""

from __future__ import annotations

import json

import pytest

from airflow_provider_braze.engine.batch_sender import BrazeBatchError
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import BrazeTriggerCampaignOperator, BrazeTriggerCanvasOperator
from tests.conftest import run_operator


def _recipients(n: int, **extra):
    return [{"external_user_id": f"user-{i}", "trigger_properties": {"rank": i}, **extra} for i in range(n)]


def test_120_recipients_go_out_in_batches_of_50_each_exactly_once(sandbox):
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="camp", recipients=_recipients(120))
    result = run_operator(op)
    # Batches are sent concurrently, so they may reach the sandbox in any order: put them in batch order.
    requests = sorted(
        sandbox.requests_to("/campaigns/trigger/send"),
        key=lambda r: int(r.body["recipients"][0]["external_user_id"].split("-")[1]),
    )
    assert [len(r.body["recipients"]) for r in requests] == [50, 50, 20]
    assert result["recipients"] == 120
    assert result["batches"] == 3
    assert len(result["dispatch_ids"]) == 3
    assert result["dispatch_ids"] == [r.response["dispatch_id"] for r in requests]
    counts = sandbox.delivery_counts()
    assert len(counts) == 120
    assert set(counts.values()) == {1}
    assert requests[0].body["recipients"][7] == {"external_user_id": "user-7", "trigger_properties": {"rank": 7}}


def test_plain_strings_are_external_user_ids_and_shared_properties_are_sent_with_every_batch(sandbox):
    op = BrazeTriggerCampaignOperator(
        task_id="t", campaign_id="camp", recipients=["a", "b"], trigger_properties={"promo": "XMAS"}
    )
    run_operator(op)
    [request] = sandbox.requests
    assert request.body == {
        "campaign_id": "camp",
        "trigger_properties": {"promo": "XMAS"},
        "recipients": [{"external_user_id": "a"}, {"external_user_id": "b"}],
    }


def test_broadcast_is_an_explicit_opt_in(sandbox):
    result = run_operator(BrazeTriggerCampaignOperator(task_id="t", campaign_id="camp", broadcast=True))
    [request] = sandbox.requests
    assert request.body == {"campaign_id": "camp", "broadcast": True}
    assert result["recipients"] == 0
    assert result["batches"] == 1


BAD = [
    ({}, "recipients", "no target"),
    ({"broadcast": True, "recipients": ["a"]}, "broadcast", "cannot be true when users or recipients are listed"),
    (
        {"recipients": [*_recipients(73), {"external_user_id": "x", "email": "x@example.com"}]},
        "recipients[73]",
        "exactly one of",
    ),
    ({"recipients": [{"email": "x@example.com"}]}, "recipients[0].prioritization", "is required"),
    (
        {"recipients": [{"external_user_id": "x", "send_to_existing_only": False}]},
        "recipients[0].send_to_existing_only",
        "requires attributes",
    ),
    (
        {
            "recipients": [
                {
                    "user_alias": {"alias_name": "n", "alias_label": "l"},
                    "send_to_existing_only": False,
                    "attributes": {"a": 1},
                }
            ]
        },
        "recipients[0].send_to_existing_only",
        "cannot be used with user_alias",
    ),
    ({"recipients": [{"user_alias": {"alias_name": "n"}}]}, "recipients[0].user_alias.alias_label", "is required"),
    ({"recipients": ["a"], "trigger_properties": {"blob": "x" * 52_000}}, "trigger_properties", "50 KB"),
    (
        {"recipients": [{"external_user_id": "a", "trigger_properties": {"blob": "x" * 52_000}}]},
        "recipients[0].trigger_properties",
        "50 KB",
    ),
    ({"recipients": ["a"], "send_id": "été"}, "send_id", "ASCII"),
    ({"recipients": ["a"], "send_id": "x" * 65}, "send_id", "at most 64"),
    (
        {"broadcast": True, "attachments": [{"file_name": "f", "url": "https://x/f.pdf"}]},
        "attachments",
        "cannot be used with broadcast",
    ),
    ({"recipients": "not json at all"}, "recipients", "not JSON"),
    ({"recipients": ["a"], "audience": ["not", "an", "object"]}, "audience", "must be an object"),
    ({"recipients": [42]}, "recipients[0]", "must be an object"),
    ({"campaign_id": "", "recipients": ["a"]}, "campaign_id", "is required"),
    ({"broadcast": "sometimes"}, "broadcast", "true or false"),
]


@pytest.mark.parametrize(("kwargs", "field", "rule"), BAD)
def test_invalid_input_fails_before_any_request_naming_field_and_rule(sandbox, kwargs, field, rule):
    op = BrazeTriggerCampaignOperator(task_id="t", **{"campaign_id": "camp", **kwargs})
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert err.value.field == field
    assert rule in err.value.rule
    assert str(err.value).startswith(f"{field}: ")
    assert sandbox.requests == []


def test_the_validation_error_carries_no_recipient_data(sandbox):
    op = BrazeTriggerCampaignOperator(
        task_id="t", campaign_id="camp", recipients=[{"email": "secret.person@example.com"}]
    )
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert "secret.person" not in str(err.value)


def test_jinja_templates_render_ids_and_json_strings(sandbox):
    op = BrazeTriggerCampaignOperator(
        task_id="t",
        campaign_id="{{ params.campaign }}",
        recipients='[{"external_user_id": "{{ params.user }}"}]',
        trigger_properties="{{ params.props }}",
        braze_conn_id="{{ params.conn }}",
    )
    params = {"campaign": "camp-42", "user": "u-9", "props": {"day": "friday"}, "conn": "braze_default"}
    run_operator(op, {"params": params})
    [request] = sandbox.requests
    assert request.body == {
        "campaign_id": "camp-42",
        "trigger_properties": {"day": "friday"},
        "recipients": [{"external_user_id": "u-9"}],
    }


def test_json_template_files_are_rendered(sandbox, tmp_path):
    from airflow_provider_braze.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import DAG
    else:
        from airflow import DAG

    (tmp_path / "recipients.json").write_text(
        json.dumps([{"external_user_id": "{{ params.user }}", "trigger_properties": {"ds": "{{ ds }}"}}])
    )
    (tmp_path / "props.json").write_text('{"campaign_day": "{{ ds }}"}')
    with DAG("templated", schedule=None, template_searchpath=[str(tmp_path)]):
        op = BrazeTriggerCampaignOperator(
            task_id="t", campaign_id="camp", recipients="recipients.json", trigger_properties="props.json"
        )
    run_operator(op, {"params": {"user": "file-user"}, "ds": "2026-11-27"})
    [request] = sandbox.requests
    assert request.body["recipients"] == [{"external_user_id": "file-user", "trigger_properties": {"ds": "2026-11-27"}}]
    assert request.body["trigger_properties"] == {"campaign_day": "2026-11-27"}


def test_template_fields_are_declared_with_json_renderers():
    fields = set(BrazeTriggerCampaignOperator.template_fields)
    assert {"campaign_id", "recipients", "trigger_properties", "audience", "send_id", "braze_conn_id"} <= fields
    assert BrazeTriggerCampaignOperator.template_fields_renderers["recipients"] == "json"
    assert ".json" in BrazeTriggerCampaignOperator.template_ext
    assert {"canvas_id", "context", "canvas_entry_properties"} <= set(BrazeTriggerCanvasOperator.template_fields)


def test_dry_run_sends_nothing_and_logs_redacted_payloads(sandbox, logs):
    op = BrazeTriggerCampaignOperator(
        task_id="t",
        campaign_id="camp",
        recipients=[
            {"external_user_id": f"secret-user-{i}", "trigger_properties": {"email": "p@x.io"}} for i in range(60)
        ],
        dry_run=True,
    )
    result = run_operator(op)
    assert sandbox.requests == []
    assert result == {
        "dry_run": True,
        "endpoint": "/campaigns/trigger/send",
        "requests": 2,
        "batches": 2,
        "recipients": 60,
        "batch_sizes": [50, 10],
    }
    text = logs()
    assert "Dry run request 1/2" in text
    assert '"campaign_id": "camp"' in text
    assert "secret-user" not in text
    assert "p@x.io" not in text


def test_canvas_entry_properties_is_accepted_as_the_older_name_of_context(sandbox):
    op = BrazeTriggerCanvasOperator(
        task_id="t",
        canvas_id="canv",
        recipients=[{"external_user_id": "u", "context": {"x": 1}}],
        canvas_entry_properties={"plan": "pro"},
    )
    result = run_operator(op)
    [request] = sandbox.requests
    assert request.body["context"] == {"plan": "pro"}
    assert "canvas_entry_properties" not in request.body
    assert result["recipients"] == 1


def test_context_and_canvas_entry_properties_together_are_refused(sandbox):
    op = BrazeTriggerCanvasOperator(
        task_id="t", canvas_id="c", broadcast=True, context={"a": 1}, canvas_entry_properties={"a": 2}
    )
    with pytest.raises(BrazeValidationError, match="older name of context"):
        run_operator(op)
    assert sandbox.requests == []


def test_paused_canvas_notice_and_minor_errors_are_in_the_result(sandbox):
    sandbox.configure(paused_canvas_ids={"canv"}, minor_errors=["1 external id not found"])
    result = run_operator(BrazeTriggerCanvasOperator(task_id="t", canvas_id="canv", recipients=["u"]))
    assert "paused" in result["notices"][0]
    assert result["minor_errors"] == ["1 external id not found"]
    assert result["minor_error_count"] == 1


def test_a_failure_midway_says_how_many_batches_were_accepted(sandbox):
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="camp", recipients=_recipients(150), max_concurrency=1)
    sandbox.configure(fail_every_n=2, fail_status=400)
    with pytest.raises(BrazeBatchError) as err:
        run_operator(op)
    assert err.value.accepted_batches == 1
    assert "Batch 2 of 3" in str(err.value)
    assert "was not sent" in str(err.value)
    assert "user-" not in str(err.value)
    assert len(sandbox.delivery_counts()) == 50
