"""The hook builds the body of every batch of a data-driven send (``BrazeHook.batch_body``)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_braze.hooks.braze import BrazeHook
from airflow_provider_braze.operators import BrazeSendMessageOperator, BrazeTriggerCampaignOperator
from tests.conftest import run_operator


def test_batch_body_lists_users_or_recipients() -> None:
    batch = [{"external_user_id": "u1"}, {"user_alias": {"alias_name": "a", "alias_label": "l"}}]
    assert BrazeHook.batch_body({"messages": {}}, batch, users_style=True) == {
        "messages": {},
        "external_user_ids": ["u1"],
        "user_aliases": [{"alias_name": "a", "alias_label": "l"}],
    }
    assert BrazeHook.batch_body({"campaign_id": "c"}, batch[:1], users_style=False) == {
        "campaign_id": "c",
        "recipients": [{"external_user_id": "u1"}],
    }


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Every body the hook's builder returned (the real builder, only recorded)."""
    bodies: list[dict] = []
    real = BrazeHook.batch_body

    def recording(shared, batch, *, users_style):  # type: ignore[no-untyped-def]
        body = real(shared, batch, users_style=users_style)
        bodies.append(body)
        return body

    monkeypatch.setattr(BrazeHook, "batch_body", staticmethod(recording))
    return bodies


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (
            lambda ids: BrazeTriggerCampaignOperator(
                task_id="t", campaign_id="c", recipients=[{"external_user_id": i} for i in ids]
            ),
            "recipients",
        ),
        (
            lambda ids: BrazeSendMessageOperator(
                task_id="t", external_user_ids=ids, messages={"apple_push": {"alert": "hi"}}
            ),
            "external_user_ids",
        ),
    ],
)
def test_the_sandbox_receives_the_hook_builders_bodies(sandbox, built, make, key) -> None:
    ids = [f"user-{n:03d}" for n in range(120)]
    result = run_operator(make(ids))
    assert result["batches"] == 3
    received = sorted((r.body for r in sandbox.requests), key=lambda b: str(b[key][0]))
    assert len(received) == 3
    # the plan builds each body (for the engine's budget and dry runs; an empty batch to size the shared
    # part) and the endpoint method builds it again to send it: the same builder, so the same body
    distinct = {json.dumps(b, sort_keys=True): b for b in built if b.get(key)}
    assert received == sorted(distinct.values(), key=lambda b: str(b[key][0]))


def test_transactional_sends_post_the_hook_builders_bodies(sandbox, monkeypatch, tmp_path) -> None:
    from airflow_provider_braze.operators import BrazeSendTransactionalEmailOperator
    from tests.operators.test_transactional import _context

    bodies: list[dict] = []
    real = BrazeHook.transactional_email_body

    def recording(**kwargs):  # type: ignore[no-untyped-def]
        body = real(**kwargs)
        bodies.append(body)
        return body

    monkeypatch.setattr(BrazeHook, "transactional_email_body", staticmethod(recording))
    op = BrazeSendTransactionalEmailOperator(
        task_id="confirm",
        campaign_id="tx",
        recipients=["u1", {"external_user_id": "u2", "trigger_properties": {"n": 2}}],
        trigger_properties={"shop": "x"},
        max_concurrency=1,
        resume_store=str(tmp_path / "resume"),
    )
    run_operator(op, _context())
    received = [r.body for r in sandbox.requests]
    assert len(received) == 2
    assert sorted(received, key=str) == sorted({json.dumps(b, sort_keys=True): b for b in bodies}.values(), key=str)
    assert {b["recipient"]["external_user_id"]: b["trigger_properties"] for b in received} == {
        "u1": {"shop": "x"},
        "u2": {"shop": "x", "n": 2},
    }


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda hook: hook.create_send_id(campaign_id="camp", send_id="é"), "send_id"),
        (lambda hook: hook.create_send_id(campaign_id=" "), "campaign_id"),
        (lambda hook: hook.delete_message_schedule(schedule_id=""), "schedule_id"),
        (lambda hook: hook.update_message_schedule(schedule_id=None, schedule={"time": "x"}), "schedule_id"),
        (lambda hook: hook.delete_campaign_schedule(campaign_id="", schedule_id="s"), "campaign_id"),
        (lambda hook: hook.update_campaign_schedule(campaign_id="c", schedule_id=7, schedule={}), "schedule_id"),
        (lambda hook: hook.delete_canvas_schedule(canvas_id=None, schedule_id="s"), "canvas_id"),
        (lambda hook: hook.update_canvas_schedule(canvas_id="c", schedule_id="", schedule={}), "schedule_id"),
    ],
)
def test_endpoint_methods_refuse_a_bad_body_before_any_request(hook, sandbox, call, field) -> None:
    from airflow_provider_braze.exceptions import BrazeValidationError

    with pytest.raises(BrazeValidationError) as raised:  # a BrazeError and a ValueError, naming the field
        call(hook)
    assert raised.value.field == field
    assert sandbox.requests == []
