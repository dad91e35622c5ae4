"""Schedule create, update and delete operators against the sandbox."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import (
    BrazeDeleteScheduleOperator,
    BrazeScheduleCampaignOperator,
    BrazeScheduleCanvasOperator,
    BrazeScheduleMessageOperator,
    BrazeUpdateScheduleOperator,
)
from tests.conftest import run_operator

PUSH = {"apple_push": {"alert": "Hello"}}


def _tomorrow_utc() -> datetime:
    return (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)


def test_aware_datetime_is_sent_in_utc_and_each_batch_gets_a_schedule(sandbox):
    when = pendulum.now("Europe/Paris").add(days=2).replace(microsecond=0)
    result = run_operator(
        BrazeScheduleCampaignOperator(
            task_id="t", campaign_id="camp", schedule=when, recipients=[f"u{i}" for i in range(120)]
        )
    )
    # Batches go out concurrently and may reach the sandbox in any order: put them in batch order.
    requests = sorted(sandbox.requests, key=lambda r: int(r.body["recipients"][0]["external_user_id"][1:]))
    bodies = [r.body for r in requests]
    expected = when.in_timezone("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [b["schedule"] for b in bodies] == [{"time": expected}] * 3
    assert len(result["schedule_ids"]) == 3
    assert result["schedule_ids"] == [r.response["schedule_id"] for r in requests]
    assert len(result["dispatch_ids"]) == 3
    assert set(sandbox.schedules) == set(result["schedule_ids"])


def test_iso_string_with_offset_is_converted_to_utc(sandbox):
    when = _tomorrow_utc().astimezone(timezone(timedelta(hours=-5)))
    run_operator(BrazeScheduleCanvasOperator(task_id="t", canvas_id="canv", broadcast=True, schedule=when.isoformat()))
    assert sandbox.requests[0].body["schedule"] == {"time": _tomorrow_utc().strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_in_local_time_sends_the_wall_clock_time_without_offset(sandbox):
    when = pendulum.now("Asia/Tokyo").add(days=3).replace(hour=9, minute=0, second=0, microsecond=0)
    run_operator(
        BrazeScheduleMessageOperator(
            task_id="t", schedule=when, in_local_time=True, segment_id="s", broadcast=True, messages=PUSH
        )
    )
    assert sandbox.requests[0].body["schedule"] == {"time": when.strftime("%Y-%m-%dT09:00:00"), "in_local_time": True}


def test_braze_dict_form_and_override_messaging_limits(sandbox):
    local = (datetime.now(timezone.utc) + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S")
    run_operator(
        BrazeScheduleMessageOperator(
            task_id="t",
            schedule={"time": local, "at_optimal_time": True},
            external_user_ids=["u"],
            messages=PUSH,
            override_messaging_limits=True,
        )
    )
    body = sandbox.requests[0].body
    assert body["schedule"] == {"time": local, "at_optimal_time": True}
    assert body["override_messaging_limits"] is True
    assert "override_frequency_capping" not in body


BAD_SCHEDULES = [
    (datetime.now() + timedelta(days=1), {}, "schedule", "without a time zone"),
    (
        (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%d"),
        {"at_optimal_time": True},
        "schedule.time",
        "ended in every time zone",
    ),
    ({"time": "9999-12-31T23:59:59", "in_local_time": True}, {}, "schedule.time", "out of range"),
    ("9999-12-31T23:59:59-05:00", {}, "schedule", "out of range"),
    (datetime.now(timezone.utc) - timedelta(hours=1), {}, "schedule.time", "in the past"),
    (datetime.now(timezone.utc) + timedelta(days=95), {}, "schedule.time", "more than 90 days"),
    ("next tuesday", {}, "schedule", "could not be parsed"),
    ({"time": "2030-01-01T10:00:00Z", "every": "day"}, {}, "schedule", "unknown key"),
    (
        datetime.now(timezone.utc) + timedelta(days=1),
        {"in_local_time": True, "at_optimal_time": True},
        "schedule",
        "alternatives",
    ),
]


def test_a_naive_time_string_means_utc_as_for_braze(sandbox):
    """Braze's schedule object: "time to send the message in UTC"; a naive string (in the dict or
    alone) is taken as UTC and sent with an explicit Z (it was refused as ambiguous before)."""
    when = _tomorrow_utc().replace(tzinfo=None).isoformat()
    run_operator(BrazeScheduleCampaignOperator(task_id="a", campaign_id="c", broadcast=True, schedule={"time": when}))
    run_operator(BrazeScheduleCampaignOperator(task_id="b", campaign_id="c", broadcast=True, schedule=when))
    assert [r.body["schedule"] for r in sandbox.requests] == [{"time": when + "Z"}] * 2


def test_a_templated_aware_string_with_in_local_time_is_read_like_the_same_datetime(sandbox):
    """Issue 15 item 5: "{{ data_interval_end }}" renders an aware string; with in_local_time its
    wall-clock time is sent, exactly as for the datetime object (it was refused before)."""
    when = (datetime.now(timezone(timedelta(hours=2))) + timedelta(days=2)).replace(microsecond=0)
    for task_id, value in (("obj", when), ("str", "{{ params.when }}")):
        op = BrazeScheduleCampaignOperator(
            task_id=task_id, campaign_id="c", broadcast=True, schedule=value, in_local_time=True
        )
        run_operator(op, {"params": {"when": when.isoformat()}})
    expected = {"time": when.replace(tzinfo=None).isoformat(), "in_local_time": True}
    assert [r.body["schedule"] for r in sandbox.requests] == [expected, expected]


def test_at_optimal_time_is_judged_by_its_date_only(sandbox):
    """Issue 15 item 5: Braze ignores the clock part of an optimal-time schedule, so today is
    accepted whatever the clock says (it was refused after 12:00 UTC), and a past date is refused
    whatever the clock says."""
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    for task_id, clock in (("early", "00:00:00"), ("late", "23:59:59")):
        op = BrazeScheduleCampaignOperator(
            task_id=task_id,
            campaign_id="c",
            broadcast=True,
            schedule={"time": f"{today}T{clock}", "at_optimal_time": True},
        )
        run_operator(op)
    assert len(sandbox.requests) == 2
    past = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%d")
    op = BrazeScheduleCampaignOperator(
        task_id="past", campaign_id="c", broadcast=True, schedule={"time": f"{past}T23:59:59", "at_optimal_time": True}
    )
    with pytest.raises(BrazeValidationError, match="ended in every time zone"):
        run_operator(op)


@pytest.mark.parametrize(("schedule", "flags", "field", "rule"), BAD_SCHEDULES)
def test_bad_schedules_are_refused_before_any_request(sandbox, schedule, flags, field, rule):
    op = BrazeScheduleCampaignOperator(task_id="t", campaign_id="c", broadcast=True, schedule=schedule, **flags)
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert err.value.field == field
    assert rule in err.value.rule
    assert sandbox.requests == []


def test_templated_schedule(sandbox):
    op = BrazeScheduleCampaignOperator(task_id="t", campaign_id="c", broadcast=True, schedule="{{ params.when }}")
    when = _tomorrow_utc()
    run_operator(op, {"params": {"when": when.isoformat()}})
    assert sandbox.requests[0].body["schedule"] == {"time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _create_campaign_schedules(n_recipients: int = 60) -> dict:
    return run_operator(
        BrazeScheduleCampaignOperator(
            task_id="create",
            campaign_id="camp",
            schedule=_tomorrow_utc(),
            recipients=[f"u{i}" for i in range(n_recipients)],
        )
    )


def test_update_routes_by_campaign_id_and_takes_the_create_result(sandbox, logs):
    created = _create_campaign_schedules()
    new_time = _tomorrow_utc() + timedelta(days=1)
    result = run_operator(
        BrazeUpdateScheduleOperator(task_id="update", campaign_id="camp", schedule_id=created, schedule=new_time)
    )
    updates = sandbox.requests_to("/campaigns/trigger/schedule/update")
    assert [u.body["schedule_id"] for u in updates] == created["schedule_ids"]
    assert all(
        u.body
        == {
            "campaign_id": "camp",
            "schedule_id": u.body["schedule_id"],
            "schedule": {"time": new_time.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }
        for u in updates
    )
    assert result == {
        "endpoint": "/campaigns/trigger/schedule/update",
        "schedule_ids": created["schedule_ids"],
        "schedule_id_count": 2,
        "updated": 2,
        "campaign_id": "camp",
        "schedule": {"time": new_time.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }
    # UTC stays UTC: no warning about changed delivery semantics.
    assert "changes delivery" not in logs()


def test_update_routes_by_canvas_id_and_message_schedules_by_default(sandbox):
    canvas = run_operator(
        BrazeScheduleCanvasOperator(task_id="c", canvas_id="canv", broadcast=True, schedule=_tomorrow_utc())
    )
    message = run_operator(
        BrazeScheduleMessageOperator(
            task_id="m", segment_id="s", broadcast=True, messages=PUSH, schedule=_tomorrow_utc()
        )
    )
    run_operator(
        BrazeUpdateScheduleOperator(
            task_id="u1",
            canvas_id="canv",
            schedule_id=canvas["schedule_ids"][0],
            schedule=_tomorrow_utc() + timedelta(hours=2),
        )
    )
    run_operator(
        BrazeUpdateScheduleOperator(
            task_id="u2", schedule_id=str(message["schedule_ids"]), messages={"apple_push": {"alert": "Changed"}}
        )
    )
    assert [r.path for r in sandbox.requests][-2:] == ["/canvas/trigger/schedule/update", "/messages/schedule/update"]
    assert sandbox.schedules[message["schedule_ids"][0]].body["messages"] == {"apple_push": {"alert": "Changed"}}


UPDATE_BAD = [
    ({"campaign_id": "c", "schedule_id": "s"}, "schedule", "is required to update a campaign schedule"),
    ({"campaign_id": "c", "canvas_id": "d", "schedule_id": "s"}, "campaign_id", "not both"),
    (
        {
            "campaign_id": "c",
            "schedule_id": "s",
            "messages": PUSH,
            "schedule": (datetime.now(timezone.utc) + timedelta(days=2)).isoformat(),
        },
        "messages",
        "cannot be updated on a campaign schedule",
    ),
    ({"schedule_id": []}, "schedule_id", "is required"),
    ({"schedule_id": "s"}, "schedule", "give schedule and/or messages"),
]


@pytest.mark.parametrize(("kwargs", "field", "rule"), UPDATE_BAD)
def test_bad_updates_are_refused_before_any_request(sandbox, kwargs, field, rule):
    with pytest.raises(BrazeValidationError) as err:
        run_operator(BrazeUpdateScheduleOperator(task_id="u", **kwargs))
    assert err.value.field == field
    assert rule in err.value.rule
    assert sandbox.requests == []


def test_delete_every_schedule_of_a_create_result(sandbox):
    created = _create_campaign_schedules(120)
    result = run_operator(
        BrazeDeleteScheduleOperator(task_id="d", campaign_id="camp", schedule_id=created["schedule_ids"])
    )
    assert result["deleted"] == 3
    assert sandbox.schedules == {}
    assert set(sandbox.deleted_schedules) == set(created["schedule_ids"])


def test_dry_run_of_a_delete_sends_nothing(sandbox):
    result = run_operator(
        BrazeDeleteScheduleOperator(task_id="d", canvas_id="canv", schedule_id=["a", "b"], dry_run=True)
    )
    assert sandbox.requests == []
    assert (result["endpoint"], result["requests"]) == ("/canvas/trigger/schedule/delete", 2)


# -- issue 15: update/delete follow what was created -------------------------------------------


def test_create_result_says_what_was_created(sandbox):
    when = pendulum.now("UTC").add(days=3).replace(hour=9, minute=0, second=0, microsecond=0).naive()
    result = run_operator(
        BrazeScheduleCampaignOperator(
            task_id="t", campaign_id="camp", schedule=when, in_local_time=True, recipients=["u1", "u2"]
        )
    )
    assert result["endpoint"] == "/campaigns/trigger/schedule/create"
    assert result["campaign_id"] == "camp"
    assert result["schedule"] == {"time": when.strftime("%Y-%m-%dT%H:%M:%S"), "in_local_time": True}


def test_delete_refuses_a_result_that_lists_fewer_ids_than_it_counts(sandbox):
    created = _create_campaign_schedules(120)
    capped = {**created, "schedule_ids": created["schedule_ids"][:2], "schedule_id_count": 3}
    with pytest.raises(BrazeValidationError) as err:
        run_operator(BrazeDeleteScheduleOperator(task_id="d", schedule_id=capped))
    assert err.value.field == "schedule_id"
    assert "lists 2 of its 3 schedule ids" in err.value.rule
    assert sandbox.requests_to("/campaigns/trigger/schedule/delete") == []
    assert len(sandbox.schedules) == 3


def test_delete_routes_a_campaign_result_without_campaign_id_argument(sandbox):
    created = _create_campaign_schedules(60)
    result = run_operator(BrazeDeleteScheduleOperator(task_id="d", schedule_id=created))
    deletes = sandbox.requests_to("/campaigns/trigger/schedule/delete")
    assert [d.body for d in deletes] == [{"campaign_id": "camp", "schedule_id": i} for i in created["schedule_ids"]]
    assert result["deleted"] == 2
    assert sandbox.schedules == {}


def test_a_message_schedule_with_campaign_id_is_deleted_on_the_message_endpoint(sandbox):
    created = run_operator(
        BrazeScheduleMessageOperator(
            task_id="m",
            campaign_id="camp",
            external_user_ids=["u1"],
            messages={"apple_push": {"alert": "Hi", "message_variation_id": "v"}},
            schedule=_tomorrow_utc(),
        )
    )
    assert created["campaign_id"] == "camp"
    run_operator(BrazeDeleteScheduleOperator(task_id="d", schedule_id=created))
    assert [r.path for r in sandbox.requests][-1] == "/messages/schedule/delete"
    assert sandbox.requests[-1].body == {"schedule_id": created["schedule_ids"][0]}
    assert sandbox.schedules == {}


def test_explicit_kind_routes_bare_ids_and_is_checked_against_a_result(sandbox):
    created = _create_campaign_schedules(10)
    with pytest.raises(BrazeValidationError) as err:
        run_operator(BrazeDeleteScheduleOperator(task_id="d", schedule_id=created, kind="canvas"))
    assert (err.value.field, "is a campaign schedule" in err.value.rule) == ("kind", True)
    with pytest.raises(BrazeValidationError) as err:
        run_operator(BrazeDeleteScheduleOperator(task_id="d", schedule_id=created, campaign_id="other"))
    assert err.value.field == "campaign_id"
    run_operator(
        BrazeDeleteScheduleOperator(
            task_id="d", schedule_id=created["schedule_ids"], kind="campaign", campaign_id="camp"
        )
    )
    assert sandbox.schedules == {}


def test_a_list_of_results_from_a_mapped_create_is_flattened(sandbox):
    shards = [_create_campaign_schedules(60), _create_campaign_schedules(60)]
    result = run_operator(BrazeDeleteScheduleOperator(task_id="d", schedule_id=shards))
    assert result["deleted"] == 4
    assert result["schedule_ids"] == shards[0]["schedule_ids"] + shards[1]["schedule_ids"]
    assert sandbox.schedules == {}


def test_results_of_different_kinds_are_refused(sandbox):
    campaign = _create_campaign_schedules(10)
    canvas = run_operator(
        BrazeScheduleCanvasOperator(task_id="c", canvas_id="canv", broadcast=True, schedule=_tomorrow_utc())
    )
    with pytest.raises(BrazeValidationError) as err:
        run_operator(BrazeDeleteScheduleOperator(task_id="d", schedule_id=[campaign, canvas]))
    assert "mixes campaign and canvas schedules" in err.value.rule


def _local_nine(days: int) -> datetime:
    return pendulum.now("UTC").add(days=days).replace(hour=9, minute=0, second=0, microsecond=0).naive()


def test_update_given_a_create_result_keeps_in_local_time(sandbox, logs):
    created = run_operator(
        BrazeScheduleCanvasOperator(
            task_id="c", canvas_id="canv", broadcast=True, schedule=_local_nine(2), in_local_time=True
        )
    )
    run_operator(BrazeUpdateScheduleOperator(task_id="u", schedule_id=created, schedule=_local_nine(3)))
    stored = sandbox.schedules[created["schedule_ids"][0]]
    assert stored.body["schedule"] == {"time": _local_nine(3).strftime("%Y-%m-%dT%H:%M:%S"), "in_local_time": True}
    assert "changes delivery" not in logs()


def test_update_that_drops_local_time_on_purpose_warns(sandbox, logs):
    created = run_operator(
        BrazeScheduleCanvasOperator(
            task_id="c", canvas_id="canv", broadcast=True, schedule=_local_nine(2), in_local_time=True
        )
    )
    new_time = _tomorrow_utc() + timedelta(days=2)
    run_operator(BrazeUpdateScheduleOperator(task_id="u", schedule_id=created, schedule=new_time, in_local_time=False))
    assert sandbox.schedules[created["schedule_ids"][0]].body["schedule"] == {
        "time": new_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    assert "changes delivery from in_local_time to a plain UTC time" in logs()


def test_ten_thousand_recipient_schedule_updated_and_deleted_through_its_result(sandbox):
    """Issue 15 acceptance: create 10,000 recipients (200 schedules), update and delete them through
    the create's result: zero schedules left live. Needs batch_sender to list every schedule id."""
    created = run_operator(
        BrazeScheduleCampaignOperator(
            task_id="create",
            campaign_id="camp",
            schedule=_local_nine(2),
            in_local_time=True,
            recipients=[f"u{i}" for i in range(10_000)],
        )
    )
    assert created["schedule_id_count"] == 200
    updated = run_operator(BrazeUpdateScheduleOperator(task_id="u", schedule_id=created, schedule=_local_nine(4)))
    assert updated["updated"] == 200
    assert all(s.updates == 1 and s.body["schedule"]["in_local_time"] for s in sandbox.schedules.values())
    deleted = run_operator(BrazeDeleteScheduleOperator(task_id="d", schedule_id=updated))
    assert deleted["deleted"] == 200
    assert sandbox.schedules == {}
    assert len(sandbox.deleted_schedules) == 200


@pytest.mark.parametrize("flags", [{}, {"in_local_time": True}, {"at_optimal_time": "true"}])
def test_a_schedule_time_is_parsed_once(monkeypatch, flags):
    """build_schedule checks the rules on the time it parsed, instead of formatting it and parsing it again."""
    from airflow_provider_braze.client import payload_validation, schedules

    parsed = []

    def counting(value, field, _parse=payload_validation.parse_time):
        parsed.append(value)
        return _parse(value, field)

    monkeypatch.setattr(payload_validation, "parse_time", counting)
    monkeypatch.setattr(schedules, "parse_time", counting)
    when = (_tomorrow_utc() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    op = BrazeScheduleCampaignOperator(task_id="t", campaign_id="c", broadcast=True, schedule=when, **flags)
    plan = op.plan_or_fail()
    assert plan.summary()["requests"] == 1
    assert parsed == [when]
    expected = {"time": when + ("" if flags else "Z"), **dict.fromkeys(flags, True)}
    assert op._sent_schedule == expected
