"""Every malformed input is refused before the first request, and what is validated is what is sent.

Regression tests for the concrete cases of issue 16 (a differential run against a Braze-like judge)
and issue 8 item 5 (bad input that reached Braze or failed mid-send). Each runs the operator against
the sandbox and looks at what the sandbox received.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_braze.client.payload_rules import REQUEST_BYTES_BUDGET
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import (
    BrazeScheduleCanvasOperator,
    BrazeSendMessageOperator,
    BrazeTriggerCampaignOperator,
    BrazeTriggerCanvasOperator,
)
from tests.conftest import run_operator

PUSH = {"apple_push": {"alert": "Hello"}}


def _refused(op, field: str, rule: str, sandbox) -> BrazeValidationError:
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert err.value.field == field, str(err.value)
    assert rule in err.value.rule, str(err.value)
    assert sandbox.requests == []
    return err.value


# -- null optional keys are not sent -------------------------------------------------------------


def test_a_null_identifier_next_to_another_is_not_sent(sandbox):
    recipients = [{"braze_id": "5f00", "email": None}, {"external_user_id": "u", "user_alias": None}]
    run_operator(BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients))
    assert sandbox.requests[0].body["recipients"] == [{"braze_id": "5f00"}, {"external_user_id": "u"}]


def test_null_properties_context_and_attributes_of_a_recipient_are_not_sent(sandbox):
    campaign = [
        {"external_user_id": "a", "trigger_properties": None, "attributes": None, "send_to_existing_only": None}
    ]
    canvas = [{"external_user_id": "b", "context": None, "canvas_entry_properties": None}]
    run_operator(BrazeTriggerCampaignOperator(task_id="t1", campaign_id="c", recipients=campaign))
    run_operator(BrazeTriggerCanvasOperator(task_id="t2", canvas_id="v", recipients=canvas))
    assert [r.body["recipients"] for r in sandbox.requests] == [
        [{"external_user_id": "a"}],
        [{"external_user_id": "b"}],
    ]


def test_null_extra_of_a_push_is_not_sent(sandbox):
    messages = {"apple_push": {"alert": "Hi", "extra": None}, "android_push": None}
    run_operator(BrazeSendMessageOperator(task_id="t", external_user_ids=["u"], messages=messages))
    assert sandbox.requests[0].body["messages"] == {"apple_push": {"alert": "Hi"}}


def test_an_extra_that_is_not_an_object_is_refused_as_braze_does(sandbox):
    op = BrazeSendMessageOperator(
        task_id="t", external_user_ids=["u"], messages={"android_push": {"alert": "a", "title": "t", "extra": "x"}}
    )
    _refused(op, "messages.android_push.extra", "must be an object", sandbox)


def test_a_null_send_to_existing_only_false_still_needs_attributes(sandbox):
    op = BrazeTriggerCampaignOperator(
        task_id="t",
        campaign_id="c",
        recipients=[{"external_user_id": "u", "send_to_existing_only": False, "attributes": None}],
    )
    _refused(op, "recipients[0].send_to_existing_only", "requires attributes", sandbox)


# -- the other endpoint's personalisation field ---------------------------------------------------


def test_trigger_properties_on_a_canvas_recipient_is_refused(sandbox):
    op = BrazeTriggerCanvasOperator(
        task_id="t", canvas_id="v", recipients=[{"external_user_id": "u", "trigger_properties": {"a": 1}}]
    )
    _refused(op, "recipients[0].trigger_properties", "a Canvas recipient takes context", sandbox)


def test_context_on_a_campaign_recipient_is_refused(sandbox):
    op = BrazeTriggerCampaignOperator(
        task_id="t", campaign_id="c", recipients=[{"external_user_id": "u", "context": {"a": 1}}]
    )
    _refused(op, "recipients[0].context", "a campaign recipient takes trigger_properties", sandbox)


# -- non-finite numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_number_on_the_51st_recipient_is_refused_before_batch_1(sandbox, number):
    recipients = [{"external_user_id": f"u{i}", "trigger_properties": {"score": 1.5}} for i in range(51)]
    recipients[50]["trigger_properties"] = {"score": number}
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients)
    _refused(op, "recipients[50].trigger_properties.score", "JSON cannot carry", sandbox)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"trigger_properties": {"x": [1, float("nan")]}}, "trigger_properties.x[1]"),
        (
            {"recipients": [{"external_user_id": "u", "attributes": {"ltv": float("inf")}}]},
            "recipients[0].attributes.ltv",
        ),
    ],
)
def test_non_finite_numbers_anywhere_in_the_body_are_refused(sandbox, kwargs, field):
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", **{"recipients": ["u"], **kwargs})
    _refused(op, field, "JSON cannot carry", sandbox)


def test_a_non_finite_number_in_a_message_is_refused(sandbox):
    op = BrazeSendMessageOperator(
        task_id="t", external_user_ids=["u"], messages={"apple_push": {"alert": "a", "relevance_score": float("nan")}}
    )
    _refused(op, "messages.apple_push.relevance_score", "JSON cannot carry", sandbox)


# -- a mapping is never a list of users; types --------------------------------------------------------


@pytest.mark.parametrize("recipients", [{"braze_id": "5f00"}, {}])
def test_an_object_where_a_list_is_expected_is_refused_not_iterated(sandbox, recipients):
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients)
    _refused(op, "recipients", "must be a list of recipients, not one object", sandbox)


@pytest.mark.parametrize("recipients", [0, 12.5, True])
def test_a_number_where_a_list_is_expected_is_a_validation_error_not_a_type_error(sandbox, recipients):
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients)
    _refused(op, "recipients", "must be a list", sandbox)


@pytest.mark.parametrize(("field", "value"), [("external_user_ids", {"id": "u"}), ("user_aliases", 7)])
def test_message_user_lists_must_be_lists(sandbox, field, value):
    op = BrazeSendMessageOperator(task_id="t", messages=PUSH, **{field: value})
    _refused(op, field, "must be a list", sandbox)


@pytest.mark.parametrize("segment_id", [123, ["seg"], True, []])
def test_segment_id_must_be_a_string(sandbox, segment_id):
    op = BrazeSendMessageOperator(task_id="t", broadcast=True, segment_id=segment_id, messages=PUSH)
    _refused(op, "segment_id", "must be a non-empty string", sandbox)


@pytest.mark.parametrize(("field", "value"), [("send_id", 5), ("campaign_id", ["c"])])
def test_ids_must_be_strings(sandbox, field, value):
    op = BrazeSendMessageOperator(task_id="t", external_user_ids=["u"], messages=PUSH, **{field: value})
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert err.value.field == field
    assert sandbox.requests == []


# -- recipient objects and rows --------------------------------------------------------------------------


def test_a_recipient_object_with_an_unknown_key_is_refused_naming_it_not_reread_as_a_row(sandbox):
    recipients = [{"external_user_id": f"u{i}", "trigger_properties": {"sku": "A"}} for i in range(45)]
    recipients[44]["send_to_existing_onyl"] = False
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients)
    error = _refused(op, "recipients[44].send_to_existing_onyl", "is not a recipient-object key", sandbox)
    assert "did you mean 'send_to_existing_only'" in error.rule


def test_an_alias_recipient_with_an_extra_key_is_refused_naming_the_key(sandbox):
    recipients = [{"user_alias": {"alias_name": "n", "alias_label": "crm"}, "tier": "gold"}]
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients)
    error = _refused(op, "recipients[0].tier", "is not a recipient-object key", sandbox)
    assert "found: none" not in str(error)


def test_a_row_with_a_misspelt_recipient_key_is_refused_as_ambiguous(sandbox):
    op = BrazeTriggerCampaignOperator(
        task_id="t", campaign_id="c", recipients=[{"external_user_id": "u", "trigger_propertes": {"sku": "A"}}]
    )
    error = _refused(op, "recipients[0].trigger_propertes", "is ambiguous", sandbox)
    assert "trigger_properties" in error.rule


def test_rows_keep_the_case_of_their_property_names(sandbox):
    rows = [{"EXTERNAL_USER_ID": "u1", "cartValue": 3, "SKU": "A1"}]
    run_operator(BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=rows))
    assert sandbox.requests[0].body["recipients"] == [
        {"external_user_id": "u1", "trigger_properties": {"cartValue": 3, "SKU": "A1"}}
    ]


# -- duplicates, max_recipients, empty sources ----------------------------------------------------------------


def test_the_same_user_in_two_batches_fails_naming_the_rows_without_pii(sandbox):
    recipients = [f"user-{i}" for i in range(60)]
    recipients.append("user-3")  # row 61 repeats row 4, in another batch
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients)
    error = _refused(op, "recipients", "row 61 repeats row 4", sandbox)
    assert "user-3" not in str(error)
    assert "on_duplicate='first'" in error.rule


def test_on_duplicate_first_keeps_each_users_first_row_and_reports_the_count(sandbox):
    recipients = [{"external_user_id": f"user-{i % 55}", "trigger_properties": {"n": i}} for i in range(60)]
    result = run_operator(
        BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients, on_duplicate="first")
    )
    assert result["recipients"] == 55
    assert result["duplicate_count"] == 5
    assert result["duplicate_rows"][0] == {"row": 56, "first_row": 1}
    assert set(sandbox.delivery_counts().values()) == {1}
    sent = [r for request in sandbox.requests for r in request.body["recipients"]]
    assert sent[0] == {"external_user_id": "user-0", "trigger_properties": {"n": 0}}


def test_max_recipients_counts_the_whole_source_not_one_shard(sandbox):
    recipients = [f"user-{i}" for i in range(200)]
    for index in range(4):
        op = BrazeTriggerCampaignOperator(
            task_id=f"s{index}",
            campaign_id="c",
            recipients=recipients,
            max_recipients=100,
            shard_count=4,
            shard_index=index,
        )
        with pytest.raises(BrazeValidationError, match="200 recipients \\(across all 4 shards\\)"):
            run_operator(op)
    assert sandbox.requests == []


def test_an_empty_source_succeeds_with_zero_recipients_and_a_warning(sandbox, caplog):
    caplog.set_level(logging.WARNING)
    result = run_operator(BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=[]))
    assert result["recipients"] == 0
    assert result["empty_source"] is True
    assert "no valid recipients" in caplog.text
    assert sandbox.requests == []


def test_on_empty_fail_refuses_an_empty_source(sandbox):
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=[], on_empty="fail")
    _refused(op, "recipients", "no valid recipients", sandbox)


def test_a_shard_that_gets_nothing_of_a_non_empty_source_is_not_an_empty_source(sandbox):
    for index in range(8):  # seven of the eight shards get nothing of a one-recipient source
        op = BrazeTriggerCampaignOperator(
            task_id=f"s{index}",
            campaign_id="c",
            recipients=["only-one"],
            shard_count=8,
            shard_index=index,
            on_empty="fail",
        )
        result = run_operator(op)
        assert "empty_source" not in result
    assert len(sandbox.requests) == 1


# -- request size -----------------------------------------------------------------------------------------------


def test_a_batch_over_braze_body_limit_is_split_by_bytes(sandbox):
    """Recipients whose properties are each within 50 KB, with attributes, ~85 KB each: 50 of them
    are over Braze's 4 MB body limit (the sandbox answered 413 at batch 1). Batches are cut by bytes
    as well as by count, so every request stays under the limit and nothing fails."""
    recipients = [
        {"external_user_id": f"u{i}", "trigger_properties": {"blob": "x" * 45_000}, "attributes": {"bio": "y" * 40_000}}
        for i in range(140)
    ]
    result = run_operator(BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients))
    sizes = [len(json.dumps(r.body)) for r in sandbox.requests]
    counts = [len(r.body["recipients"]) for r in sandbox.requests]
    assert max(sizes) <= REQUEST_BYTES_BUDGET
    assert sum(counts) == 140
    assert max(counts) < 50
    assert result["batches"] == len(counts) == 3  # 47, 47, 46: not 50, 50, 40
    assert set(sandbox.delivery_counts().values()) == {1}


def test_one_recipient_too_big_for_any_request_is_refused_naming_it(sandbox):
    recipients = ["a", {"external_user_id": "b", "attributes": {"bio": "z" * 4_100_000}}]
    op = BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients)
    _refused(op, "recipients[1]", "body limit", sandbox)


def test_byte_sized_batches_are_the_same_for_the_same_source(sandbox):
    blob = "y" * 40_000
    recipients = [
        {
            "external_user_id": f"u{i}",
            "trigger_properties": {"blob": blob[: 1000 * (i % 40)]},
            "attributes": {"b": blob},
        }
        for i in range(300)
    ]
    plans = [
        BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients).build_plan() for _ in range(2)
    ]
    try:
        assert [r.recipients for r in plans[0].requests()] == [r.recipients for r in plans[1].requests()]
        assert plans[0].fingerprint == plans[1].fingerprint
        assert plans[0].total_requests == len(list(plans[0].requests()))
    finally:
        for plan in plans:
            plan.close()


def test_batches_cut_elsewhere_change_the_fingerprint_so_a_resume_record_is_not_reused(sandbox, monkeypatch):
    """The resume record names batches by number: a try that cuts the same source into other batches
    (here: an upgrade that changed the bytes kept free for the body's fixed fields) must not take an
    earlier try's "batch 3 accepted" as its own batch 3."""
    from airflow_provider_braze.engine import send_plan

    blob = "y" * 78_000  # 50 of them pass 4 MB: batches are cut by bytes
    recipients = [{"external_user_id": f"u{i}", "attributes": {"b": blob}} for i in range(300)]

    def plan():
        return BrazeTriggerCampaignOperator(task_id="t", campaign_id="c", recipients=recipients).build_plan()

    before = plan()
    monkeypatch.setattr(send_plan, "_BODY_OVERHEAD", send_plan._BODY_OVERHEAD + 200_000)
    after = plan()
    try:
        assert before.spool is not None
        assert after.spool is not None
        assert before.spool.digest == after.spool.digest  # the same recipients, in the same order
        assert [r.recipients for r in before.requests()] != [r.recipients for r in after.requests()]
        assert before.fingerprint != after.fingerprint
    finally:
        before.close()
        after.close()


# -- schedules ------------------------------------------------------------------------------------------------------


def test_a_year_9999_local_time_is_a_validation_error_not_an_overflow(sandbox):
    op = BrazeScheduleCanvasOperator(
        task_id="t", canvas_id="v", broadcast=True, schedule={"time": "9999-12-31T23:00:00", "in_local_time": True}
    )
    _refused(op, "schedule.time", "out of range", sandbox)


def test_the_sandbox_answers_400_not_a_dropped_connection_for_a_year_9999_local_time(sandbox, hook):
    from airflow_provider_braze.exceptions import BrazeBadRequestError

    body = {"canvas_id": "v", "broadcast": True, "schedule": {"time": "9999-12-31T23:00:00", "in_local_time": True}}
    with pytest.raises(BrazeBadRequestError, match="out of range"):
        hook.request("POST", "/canvas/trigger/schedule/create", json=body)


def test_naive_times_in_braze_dict_form_are_utc(sandbox):
    when = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0, tzinfo=None)
    run_operator(
        BrazeScheduleCanvasOperator(task_id="t", canvas_id="v", broadcast=True, schedule={"time": when.isoformat()})
    )
    assert sandbox.requests[0].body["schedule"] == {"time": when.isoformat() + "Z"}
