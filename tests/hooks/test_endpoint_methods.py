"""The hook is the API: each endpoint method builds and validates its body with the hook's builders,
and the send engine sends every batch through those methods (not ``hook.request`` with a body of its own).

Round trips against the sandbox; the recording hook below observes the calls and changes nothing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client import payload_rules as rules
from airflow_provider_braze.client.payload_validation import wire_size
from airflow_provider_braze.engine.batch_sender import send_plan
from airflow_provider_braze.engine.resume_ledger import PathResumeStore, ResumeLedger
from airflow_provider_braze.engine.send_plan import SendPlan, list_source, plan_message, plan_trigger, users_source
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.hooks.braze import BrazeHook
from tests.hooks.test_braze import EMAIL, FAST, _schedule_body

RECIPIENTS: list[dict[str, Any]] = [
    {"external_user_id": "u1", "trigger_properties": {"a": 1}},
    {"external_user_id": "u2"},
]
CANVAS_RECIPIENTS: list[dict[str, Any]] = [{"external_user_id": "u1", "context": {"a": 1}}]
#: A null channel and a null key: never sent.
MESSAGES = {"email": {**EMAIL["email"], "preheader": None}, "apple_push": None}
ALIAS = {"alias_name": "n", "alias_label": "l"}


def _trigger(id_field: str, id_value: str, recipients: Any, schedule: Any = None, **fields: Any) -> dict[str, Any]:
    shared = BrazeHook.trigger_shared_body(
        id_field=id_field, id_value=id_value, listed=True, schedule=schedule, **fields
    )
    return BrazeHook.batch_body(shared, recipients, users_style=False)


def _message(frequency_flag: str, schedule: Any = None) -> dict[str, Any]:
    shared = BrazeHook.message_shared_body(
        messages=MESSAGES,
        listed=True,
        campaign_id="",
        send_id="",
        frequency_flag=frequency_flag,
        frequency_value=True,
        schedule=schedule,
    )
    users = [{"external_user_id": "u1"}, {"user_alias": ALIAS}]
    return BrazeHook.batch_body(shared, users, users_style=True)


SCHEDULE = _schedule_body(2)

# (endpoint, call, the body the builders make of the same arguments)
CASES: list[tuple[str, Callable[[BrazeHook], Any], dict[str, Any]]] = [
    (
        "/campaigns/trigger/send",
        lambda hook: hook.trigger_campaign(
            campaign_id="camp", send_id="", broadcast=False, trigger_properties={"p": 1}, recipients=RECIPIENTS
        ),
        _trigger("campaign_id", "camp", RECIPIENTS, properties={"p": 1}, send_id=""),
    ),
    (
        "/canvas/trigger/send",
        lambda hook: hook.trigger_canvas(
            canvas_id="canv", context={"c": 1}, broadcast=False, recipients=CANVAS_RECIPIENTS
        ),
        _trigger("canvas_id", "canv", CANVAS_RECIPIENTS, properties_field="context", properties={"c": 1}),
    ),
    (
        "/messages/send",
        lambda hook: hook.send_message(
            messages=MESSAGES,
            external_user_ids=["u1"],
            user_aliases=[ALIAS],
            campaign_id="",
            send_id="",
            override_frequency_capping=True,
        ),
        _message("override_frequency_capping"),
    ),
    (
        "/messages/schedule/create",
        lambda hook: hook.create_message_schedule(
            schedule=SCHEDULE,
            messages=MESSAGES,
            external_user_ids=["u1"],
            user_aliases=[ALIAS],
            campaign_id="",
            send_id="",
            override_messaging_limits=True,
        ),
        _message("override_messaging_limits", SCHEDULE),
    ),
    (
        "/campaigns/trigger/schedule/create",
        lambda hook: hook.create_campaign_schedule(
            campaign_id="camp", schedule=SCHEDULE, send_id="", broadcast=False, recipients=RECIPIENTS
        ),
        _trigger("campaign_id", "camp", RECIPIENTS, SCHEDULE, send_id=""),
    ),
    (
        "/canvas/trigger/schedule/create",
        lambda hook: hook.create_canvas_schedule(
            canvas_id="canv", schedule=SCHEDULE, canvas_entry_properties={"c": 2}, recipients=CANVAS_RECIPIENTS
        ),
        _trigger(
            "canvas_id",
            "canv",
            CANVAS_RECIPIENTS,
            SCHEDULE,
            properties_field="canvas_entry_properties",
            properties={"c": 2},
        ),
    ),
]


@pytest.mark.parametrize(("path", "call", "expected"), CASES, ids=[c[0] for c in CASES])
def test_the_sandbox_receives_exactly_the_builders_body(hook, sandbox, path, call, expected) -> None:
    call(hook)
    (received,) = sandbox.requests
    assert received.path == path
    assert received.body == expected
    # what the builders make of "not given" values: nothing sent for them
    assert "broadcast" not in received.body
    assert "send_id" not in received.body
    assert "apple_push" not in received.body.get("messages", {})


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.trigger_campaign(campaign_id="c", broadcast=True, recipients=RECIPIENTS), "broadcast"),
        (lambda h: h.trigger_campaign(campaign_id="c"), "recipients"),
        (lambda h: h.trigger_campaign(campaign_id="c", send_id="é", broadcast=True), "send_id"),
        (
            lambda h: h.trigger_canvas(canvas_id="c", context={}, canvas_entry_properties={}, broadcast=True),
            "canvas_entry_properties",
        ),
        (lambda h: h.trigger_canvas(canvas_id="c", context=[1], broadcast=True), "context"),
        (lambda h: h.send_message(messages=EMAIL, broadcast=True), "broadcast"),
        (
            lambda h: h.send_message(messages=EMAIL, external_user_ids=["u"], recipient_subscription_state="x"),
            "recipient_subscription_state",
        ),
        (lambda h: h.create_message_schedule(schedule=SCHEDULE, messages={}, external_user_ids=["u"]), "messages"),
        (lambda h: h.create_campaign_schedule(campaign_id=" ", schedule=SCHEDULE, broadcast=True), "campaign_id"),
        (lambda h: h.create_canvas_schedule(canvas_id="c", schedule=SCHEDULE, audience={}, broadcast=True), "audience"),
    ],
)
def test_endpoint_methods_refuse_a_bad_shared_field_before_any_request(hook, sandbox, call, field) -> None:
    with pytest.raises(BrazeValidationError) as raised:  # a BrazeError (and a ValueError), as every hook error
        call(hook)
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)
    assert sandbox.requests == []


class RecordingHook(BrazeHook):
    """A real BrazeHook that notes which endpoint method each request went through (and how)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._calls_lock = threading.Lock()

    def _note(self, name: str, kwargs: dict[str, Any]) -> None:
        with self._calls_lock:
            self.calls.append((name, kwargs))

    def trigger_campaign(self, **kwargs: Any) -> Any:  # type: ignore[override]
        self._note("trigger_campaign", kwargs)
        return super().trigger_campaign(**kwargs)

    def send_message(self, **kwargs: Any) -> Any:  # type: ignore[override]
        self._note("send_message", kwargs)
        return super().send_message(**kwargs)

    def create_canvas_schedule(self, **kwargs: Any) -> Any:  # type: ignore[override]
        self._note("create_canvas_schedule", kwargs)
        return super().create_canvas_schedule(**kwargs)

    def create_send_id(self, **kwargs: Any) -> Any:  # type: ignore[override]
        self._note("create_send_id", kwargs)
        return super().create_send_id(**kwargs)

    def send_transactional_email(self, **kwargs: Any) -> Any:  # type: ignore[override]
        self._note("send_transactional_email", kwargs)
        return super().send_transactional_email(**kwargs)


@pytest.fixture
def recording(braze_connection) -> Any:
    hook = RecordingHook(settings=FAST)
    yield hook
    hook.close()


def _ledger(tmp_path, plan: SendPlan) -> tuple[ResumeLedger, PathResumeStore]:
    store = PathResumeStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", plan.fingerprint, flush_interval=0)
    ledger.open(plan.total_requests)
    return ledger, store


def test_the_engine_sends_each_batch_through_the_endpoint_method(recording, sandbox, tmp_path) -> None:
    plan = plan_trigger(
        endpoint=ep.TRIGGER_CAMPAIGN,
        id_field="campaign_id",
        id_value="camp",
        properties_field="trigger_properties",
        properties={"p": 1},
        source=list_source([f"user-{n:03d}" for n in range(120)]),
        broadcast=None,
        audience=None,
    )
    planned = [r.body for r in plan.requests()]
    ledger, store = _ledger(tmp_path, plan)
    in_flight_at_send: list[list[int]] = []
    real_request = recording.request

    def observe(*args: Any, **kwargs: Any) -> Any:  # the ledger as the request is about to be written
        before_send = kwargs["before_send"]

        def then_look() -> None:
            before_send()
            in_flight_at_send.append(list(store.load("k")["in_flight"]))

        return real_request(*args, **{**kwargs, "before_send": then_look})

    recording.request = observe  # type: ignore[method-assign]
    outcome = send_plan(recording, plan, logging.getLogger("braze.test"), concurrency=1, ledger=ledger)
    plan.close()
    assert outcome.batches == 3
    assert [name for name, _ in recording.calls] == ["trigger_campaign"] * 3
    assert [len(kwargs["recipients"]) for _, kwargs in recording.calls] == [50, 50, 20]
    assert all(callable(kwargs["before_send"]) for _, kwargs in recording.calls)
    # the batch is recorded in flight before its bytes leave the process, as before
    assert in_flight_at_send == [[1], [2], [3]]
    # the dry run's bodies are the ones sent
    assert [r.body for r in sandbox.requests] == planned


def test_message_schedule_and_fixed_plans_go_through_their_methods(recording, sandbox) -> None:
    users = users_source(["u1"], [ALIAS])
    message = plan_message(
        endpoint=ep.SEND_MESSAGE,
        messages=MESSAGES,
        source=users,
        segment_id=None,
        audience=None,
        broadcast=None,
        campaign_id=None,
        send_id=None,
        recipient_subscription_state=None,
        frequency_flag="override_frequency_capping",
        frequency_value=None,
    )
    canvas = plan_trigger(
        endpoint=ep.CREATE_CANVAS_SCHEDULE,
        id_field="canvas_id",
        id_value="canv",
        properties_field="context",
        properties=None,
        source=None,
        broadcast=True,
        audience=None,
        schedule=SCHEDULE,
    )
    send_id = SendPlan(ep.CREATE_SEND_ID, fixed=[BrazeHook.create_send_id_body(campaign_id="camp", send_id="s1")])
    expected: list[dict[str, Any]] = []
    for plan in (message, canvas, send_id):
        expected += [r.body for r in plan.requests()]
        send_plan(recording, plan, logging.getLogger("braze.test"), concurrency=1)
        plan.close()
    assert [name for name, _ in recording.calls] == ["send_message", "create_canvas_schedule", "create_send_id"]
    assert recording.calls[0][1]["external_user_ids"] == ["u1"]
    assert recording.calls[0][1]["user_aliases"] == [ALIAS]
    assert [r.body for r in sandbox.requests] == expected


def test_a_transactional_send_goes_through_send_transactional_email(recording, sandbox) -> None:
    from airflow_provider_braze.engine.transactional_plan import plan_transactional

    plan = plan_transactional(
        campaign_id="tx",
        trigger_properties={"shop": "x"},
        source=list_source(["u1", {"external_user_id": "u2", "trigger_properties": {"n": 2}}]),
        business_key="2026-12-01",
    )
    planned = [r.body for r in plan.requests()]
    send_plan(recording, plan, logging.getLogger("braze.test"), concurrency=1)
    plan.close()
    assert [name for name, _ in recording.calls] == ["send_transactional_email"] * 2
    assert {kwargs["campaign_id"] for _, kwargs in recording.calls} == {"tx"}
    assert [r.body for r in sandbox.requests] == planned
    assert planned[1]["trigger_properties"] == {"shop": "x", "n": 2}


def test_a_dry_run_logs_the_body_the_endpoint_method_sends(sandbox, logs) -> None:
    from airflow_provider_braze.engine.send_plan import redact
    from airflow_provider_braze.operators import BrazeTriggerCanvasOperator
    from tests.conftest import run_operator

    def op(dry_run: bool) -> BrazeTriggerCanvasOperator:
        return BrazeTriggerCanvasOperator(
            task_id="t",
            canvas_id="canv",
            canvas_entry_properties={"plan": "pro"},
            recipients=[{"external_user_id": f"u{n}", "context": {"n": n}} for n in range(60)],
            dry_run=dry_run,
        )

    run_operator(op(True))
    assert sandbox.requests == []
    text = logs()
    decoder = json.JSONDecoder()
    logged: dict[str, Any] = {}  # by "n/m" (a line may be captured twice: log records and stderr)
    for line in text.splitlines():
        if "Dry run request" in line:
            tail = line[line.index("Dry run request") + len("Dry run request ") :]
            number, rest = tail.split(": ", 1)
            logged[number], _ = decoder.raw_decode(rest)
    run_operator(op(False))
    sent = [redact(r.body) for r in sandbox.requests]
    assert len(sent) == 2
    assert sorted(logged) == ["1/2", "2/2"]
    by_size = sorted(logged.values(), key=lambda b: len(b["recipients"]))
    assert by_size == sorted(sent, key=lambda b: len(b["recipients"]))


def test_batch_sizing_measures_the_builders_body(monkeypatch) -> None:
    """Whatever the builder puts in every request counts against Braze's body limit when batching."""
    padding = "x" * 3_500_000
    real = BrazeHook.batch_body

    def padded(shared, batch, *, users_style):  # type: ignore[no-untyped-def]
        return {**real(shared, batch, users_style=users_style), "padding": padding}

    monkeypatch.setattr(BrazeHook, "batch_body", staticmethod(padded))
    big = "y" * 20_000
    plan = plan_trigger(
        endpoint=ep.TRIGGER_CAMPAIGN,
        id_field="campaign_id",
        id_value="camp",
        properties_field="trigger_properties",
        properties=None,
        source=list_source([{"external_user_id": f"u{n}", "trigger_properties": {"b": big}} for n in range(100)]),
        broadcast=None,
        audience=None,
    )
    try:
        requests = list(plan.requests())
    finally:
        plan.close()
    sizes = [wire_size(r.body) for r in requests]
    assert sum(r.recipients for r in requests) == 100
    assert len(sizes) > 2  # 50 per batch would not fit beside the padding
    assert max(sizes) <= rules.REQUEST_BYTES_BUDGET


@pytest.mark.parametrize("transactional_hook", [False, True], ids=["BrazeHook", "BrazeTransactionalHook"])
def test_the_already_queued_answer_is_handled_and_counted_in_one_place(braze_connection, transactional_hook) -> None:
    """send_transactional_email returns Braze's "already queued" answer as accepted and counts it, on
    any hook (the transactional hook no longer repeats the rule in an override of request())."""
    from airflow_provider_braze.hooks.transactional import BrazeTransactionalHook

    hook = (BrazeTransactionalHook if transactional_hook else BrazeHook)(settings=FAST)
    try:
        for _ in range(3):
            hook.send_transactional_email(
                campaign_id="tx", recipient={"external_user_id": "u1"}, external_send_id="order-1"
            )
        assert hook.deduplicated == 2
    finally:
        hook.close()
