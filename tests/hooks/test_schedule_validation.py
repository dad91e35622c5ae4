"""The hook is the one place a schedule is validated and normalised.

A direct call of a schedule create or update method gets the checks and the normalisation the
schedule operators get (they send through the same builders): a bad schedule is refused as a
``BrazeValidationError`` naming the field before any request, and a time without designator, or a
``Z`` time with ``in_local_time``, is sent exactly as the operator sends it. Round trips against the
sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.hooks.braze import BrazeHook
from airflow_provider_braze.operators import BrazeScheduleCampaignOperator, BrazeUpdateScheduleOperator
from tests.conftest import run_operator
from tests.hooks.test_braze import EMAIL


def _ahead(days: float) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)


def _naive(days: float) -> str:
    """A time string without designator (UTC to Braze)."""
    return _ahead(days).strftime("%Y-%m-%dT%H:%M:%S")


#: Times fixed once (two calls of ``_naive`` could straddle a second).
DAY1, DAY3 = _naive(1), _naive(3)
AWARE2 = _ahead(2)

#: A direct call of every schedule create and update method with ``schedule``.
SCHEDULE_CALLS: dict[str, Callable[[BrazeHook, Any], Any]] = {
    "create_message_schedule": lambda h, s: h.create_message_schedule(
        schedule=s, messages=EMAIL, external_user_ids=["u1"]
    ),
    "create_campaign_schedule": lambda h, s: h.create_campaign_schedule(campaign_id="c", schedule=s, broadcast=True),
    "create_canvas_schedule": lambda h, s: h.create_canvas_schedule(canvas_id="c", schedule=s, broadcast=True),
    "update_message_schedule": lambda h, s: h.update_message_schedule(schedule_id="s", schedule=s),
    "update_campaign_schedule": lambda h, s: h.update_campaign_schedule(campaign_id="c", schedule_id="s", schedule=s),
    "update_canvas_schedule": lambda h, s: h.update_canvas_schedule(canvas_id="c", schedule_id="s", schedule=s),
}

#: (schedule, the field refused, words of the rule)
BAD_SCHEDULES = [
    ({"time": "not a time", "in_local_time": "yes"}, "schedule.in_local_time", "true or false"),
    ({"time": "garbage"}, "schedule.time", "could not be parsed"),
    ({"time": "2001-01-01T00:00:00"}, "schedule.time", "in the past"),
    ({"time": _naive(95)}, "schedule.time", "more than 90 days"),
    ({"time": DAY1, "in_local_time": True, "at_optimal_time": True}, "schedule", "alternatives"),
    ({"time": DAY1, "every": "day"}, "schedule", "unknown key"),
    ({"in_local_time": True}, "schedule.time", "is required"),
    ({"time": datetime.now() + timedelta(days=1)}, "schedule.time", "without a time zone"),
]


@pytest.mark.parametrize("method", SCHEDULE_CALLS)
@pytest.mark.parametrize(("schedule", "field", "rule"), BAD_SCHEDULES)
def test_a_direct_call_with_a_bad_schedule_is_refused_before_any_request(
    hook, sandbox, method, schedule, field, rule
) -> None:
    with pytest.raises(BrazeValidationError) as raised:
        SCHEDULE_CALLS[method](hook, schedule)
    assert (raised.value.field, rule in raised.value.rule) == (field, True), raised.value
    assert sandbox.requests == []


@pytest.mark.parametrize("method", [m for m in SCHEDULE_CALLS if m != "update_message_schedule"])
def test_a_schedule_create_or_required_update_without_a_schedule_is_refused(hook, sandbox, method) -> None:
    with pytest.raises(BrazeValidationError) as raised:
        SCHEDULE_CALLS[method](hook, None)
    assert raised.value.field == "schedule"
    assert sandbox.requests == []


def test_the_body_builders_refuse_the_schedules_they_passed_through() -> None:
    """The review's reproduction: each of these was accepted unchanged by the builders."""
    with pytest.raises(PayloadRuleError) as raised:
        BrazeHook.trigger_shared_body(
            id_field="campaign_id",
            id_value="c",
            listed=False,
            broadcast=True,
            schedule={"time": "not a time", "in_local_time": "yes"},
        )
    assert raised.value.field == "schedule.in_local_time"
    with pytest.raises(PayloadRuleError) as raised:
        BrazeHook.message_shared_body(messages=EMAIL, listed=True, schedule={"time": "2001-01-01T00:00:00"})
    assert (raised.value.field, raised.value.rule) == ("schedule.time", "is in the past")
    with pytest.raises(PayloadRuleError) as raised:
        BrazeHook.update_campaign_schedule_body(campaign_id="c", schedule_id="s", schedule={"time": "garbage"})
    assert raised.value.field == "schedule.time"


def _operator_schedule(sandbox: Any, schedule: Any, **flags: Any) -> dict[str, Any]:
    """What BrazeScheduleCampaignOperator sends for ``schedule``."""
    before = len(sandbox.requests)
    run_operator(
        BrazeScheduleCampaignOperator(task_id="t", campaign_id="c", broadcast=True, schedule=schedule, **flags)
    )
    (request,) = sandbox.requests[before:]
    return dict(request.body["schedule"])


@pytest.mark.parametrize(
    ("schedule", "sent"),
    [
        ({"time": DAY1}, {"time": DAY1 + "Z"}),
        ({"time": DAY1 + "Z", "in_local_time": True}, {"time": DAY1, "in_local_time": True}),
        (
            {"time": DAY1 + ".250+02:00"},
            {"time": (datetime.fromisoformat(DAY1) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        ),
        ({"time": DAY1 + "Z", "in_local_time": False}, {"time": DAY1 + "Z"}),
        (AWARE2, {"time": AWARE2.strftime("%Y-%m-%dT%H:%M:%SZ")}),
    ],
    ids=["naive-gets-Z", "Z-with-local-time-stripped", "offset-to-utc", "false-flag-left-out", "aware-datetime"],
)
def test_a_direct_call_sends_the_schedule_the_operator_sends(hook, sandbox, schedule, sent) -> None:
    created = hook.create_campaign_schedule(campaign_id="c", schedule=schedule, broadcast=True)
    hook.update_campaign_schedule(campaign_id="c", schedule_id=created.schedule_id, schedule=schedule)
    assert [r.body["schedule"] for r in sandbox.requests] == [sent, sent]
    assert _operator_schedule(sandbox, schedule) == sent


@pytest.mark.parametrize(
    "schedule",
    [
        {"time": DAY1},
        {"time": DAY1 + "+05:30"},
        {"time": DAY3 + "Z", "in_local_time": True},
        {"time": DAY3, "at_optimal_time": True, "in_local_time": False},
        _ahead(4),
        _naive(5) + "-03:00",
    ],
)
def test_normalising_a_normalised_schedule_changes_nothing(schedule) -> None:
    once = BrazeHook.schedule_object(schedule)
    assert BrazeHook.schedule_object(once) == once
    assert BrazeHook.update_canvas_schedule_body(canvas_id="c", schedule_id="s", schedule=once)["schedule"] == once


def test_the_update_operator_still_says_which_flag_it_kept_when_the_hook_refuses(sandbox) -> None:
    """The hook validates the update's schedule; the operator adds that in_local_time was carried over."""
    created = {
        "endpoint": "/campaigns/trigger/schedule/create",
        "schedule_ids": ["s1"],
        "campaign_id": "c",
        "schedule": {"time": _naive(2), "in_local_time": True},
    }
    past = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S")
    with pytest.raises(BrazeValidationError) as raised:
        run_operator(BrazeUpdateScheduleOperator(task_id="u", schedule_id=created, schedule=past))
    assert raised.value.field == "schedule.time"
    assert "in_local_time is kept from the schedule being updated" in raised.value.rule
    assert sandbox.requests == []


def test_a_schedule_operator_whose_schedule_rendered_to_nothing_is_refused(sandbox) -> None:
    """None reaches the hook's builders as "no schedule" (a trigger); the create operator refuses it."""
    with pytest.raises(BrazeValidationError) as raised:
        run_operator(BrazeScheduleCampaignOperator(task_id="t", campaign_id="c", broadcast=True, schedule=None))
    assert (raised.value.field, raised.value.rule) == ("schedule", "is required")
    assert sandbox.requests == []


def test_a_direct_message_schedule_update_checks_its_messages_as_a_create_does(hook, sandbox) -> None:
    """The update operator checked ``messages``; a direct hook call sent them as given."""
    with pytest.raises(BrazeValidationError, match="messages"):
        hook.update_message_schedule(schedule_id="s-1", messages={"email": {"subject": "no app id"}})
    with pytest.raises(BrazeValidationError, match="messages"):
        hook.update_message_schedule(schedule_id="s-1", messages={"carrier_pigeon": {"body": "x"}})
    assert sandbox.requests == []
    body = BrazeHook.update_message_schedule_body(schedule_id="s-1", messages={**EMAIL, "apple_push": None})
    assert body == {"schedule_id": "s-1", "messages": EMAIL}  # a null channel is not sent, as for a create
