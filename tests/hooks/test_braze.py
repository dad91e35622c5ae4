"""BrazeHook against the sandbox over real HTTP on loopback."""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_braze import __version__
from airflow_provider_braze.exceptions import (
    BrazeAuthenticationError,
    BrazeBadRequestError,
    BrazeClientError,
    BrazeConfigurationError,
    BrazeInvalidResponseError,
    BrazeNotFoundError,
    BrazePayloadTooLargeError,
    BrazePermissionError,
    BrazeRateLimitError,
    BrazeServerError,
    BrazeTransportError,
    BrazeUnknownOutcomeError,
    BrazeUnsupportedMediaTypeError,
)
from airflow_provider_braze.hooks.braze import BrazeHook
from airflow_provider_braze.testing.sandbox import BrazeSandbox, Fault
from tests.conftest import FAST

EMAIL = {"email": {"app_id": "app", "from": "Shop <shop@example.com>", "body": "<p>Hi</p>", "subject": "Hi"}}


def _in(days: int = 1) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _schedule_body(days: int = 1) -> dict:
    return {"time": _in(days)}


# -- every endpoint -------------------------------------------------------------------------------

SEND_CALLS = [
    ("send_message", "/messages/send", {"messages": EMAIL, "external_user_ids": ["u1", "u2"]}),
    (
        "trigger_campaign",
        "/campaigns/trigger/send",
        {"campaign_id": "camp", "recipients": [{"external_user_id": "u1", "trigger_properties": {"sku": "A1"}}]},
    ),
    (
        "trigger_canvas",
        "/canvas/trigger/send",
        {"canvas_id": "canv", "recipients": [{"external_user_id": "u1", "context": {"tier": "gold"}}]},
    ),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), SEND_CALLS)
def test_send_endpoints_return_a_dispatch_id(hook, sandbox, method, path, kwargs):
    response = getattr(hook, method)(**kwargs)
    assert response.status == 201
    assert re.fullmatch(r"[0-9a-f]{32}", response.dispatch_id)
    [request] = sandbox.requests_to(path)
    assert request.body == kwargs  # exactly the fields given, nothing added
    assert sandbox.delivery_counts(path)["external_user_id:u1"] == 1


def test_requests_carry_bearer_auth_json_and_user_agent_and_never_the_key_in_body_or_query(hook, sandbox):
    hook.trigger_campaign(campaign_id="camp", broadcast=True)
    hook.get_scheduled_broadcasts(end_time=_in(2))
    for request in sandbox.requests:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["authorization"] == "<redacted>"  # recorded redacted: it was present and accepted
        assert headers["user-agent"] == f"airflow-provider-braze-messaging/{__version__}"
        assert request.status in (200, 201)
        assert sandbox.api_key not in json.dumps(request.body)
        assert sandbox.api_key not in json.dumps(request.query)
    assert sandbox.requests[0].headers["Content-Type"] == "application/json"


def test_one_session_is_reused_across_requests(hook, sandbox):
    session = hook.get_conn()
    hook.trigger_campaign(campaign_id="camp", broadcast=True)
    hook.trigger_campaign(campaign_id="camp", broadcast=True)
    assert hook.get_conn() is session


def test_message_schedule_create_update_delete(hook, sandbox):
    created = hook.create_message_schedule(schedule=_schedule_body(), messages=EMAIL, external_user_ids=["u1"])
    schedule_id = created.schedule_id
    assert schedule_id
    assert created.dispatch_id
    new_time = _in(2)
    hook.update_message_schedule(schedule_id=schedule_id, schedule={"time": new_time})
    assert sandbox.schedules[schedule_id].body["schedule"] == {"time": new_time}
    hook.delete_message_schedule(schedule_id=schedule_id)
    assert schedule_id not in sandbox.schedules
    assert schedule_id in sandbox.deleted_schedules
    with pytest.raises(BrazeBadRequestError, match="Invalid schedule_id"):
        hook.delete_message_schedule(schedule_id=schedule_id)


def test_campaign_schedule_update_replaces_the_whole_schedule(hook, sandbox):
    local_time = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S")
    created = hook.create_campaign_schedule(
        campaign_id="camp",
        schedule={"time": local_time, "in_local_time": True},
        recipients=[{"external_user_id": "u1"}],
    )
    new_time = _in(4)
    hook.update_campaign_schedule(campaign_id="camp", schedule_id=created.schedule_id, schedule={"time": new_time})
    assert sandbox.schedules[created.schedule_id].body["schedule"] == {"time": new_time}
    with pytest.raises(BrazeBadRequestError):
        hook.delete_campaign_schedule(campaign_id="other-campaign", schedule_id=created.schedule_id)
    hook.delete_campaign_schedule(campaign_id="camp", schedule_id=created.schedule_id)
    assert not sandbox.schedules


def test_canvas_schedule_create_update_delete(hook, sandbox):
    created = hook.create_canvas_schedule(
        canvas_id="canv", schedule=_schedule_body(), recipients=[{"external_user_id": "u1", "context": {"a": 1}}]
    )
    hook.update_canvas_schedule(canvas_id="canv", schedule_id=created.schedule_id, schedule={"time": _in(5)})
    hook.delete_canvas_schedule(canvas_id="canv", schedule_id=created.schedule_id)
    paths = [r.path for r in sandbox.requests]
    assert paths == [
        "/canvas/trigger/schedule/create",
        "/canvas/trigger/schedule/update",
        "/canvas/trigger/schedule/delete",
    ]
    assert all(r.status == 201 for r in sandbox.requests)


def test_create_send_id(hook, sandbox):
    assert hook.create_send_id(campaign_id="camp", send_id="spring-sale").send_id == "spring-sale"
    generated = hook.create_send_id(campaign_id="camp").send_id
    assert generated
    assert generated != "spring-sale"


def test_scheduled_broadcasts_lists_seeded_dashboard_broadcasts(hook, sandbox):
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    sandbox.add_broadcast(broadcast_id="b1", name="Weekly digest", next_send_time=soon, tags=["digest"])
    sandbox.add_broadcast(broadcast_id="b2", name="Far away", next_send_time=soon + timedelta(days=30))
    response = hook.get_scheduled_broadcasts(end_time=datetime.now(timezone.utc) + timedelta(days=7))
    assert [b["id"] for b in response["scheduled_broadcasts"]] == ["b1"]
    [request] = sandbox.requests
    assert request.method == "GET"
    assert "end_time" in request.query


# -- response model -------------------------------------------------------------------------------


def test_partial_success_is_returned_and_logged_as_a_warning_without_the_errors_text(hook, sandbox, logs):
    sandbox.configure(minor_errors=["some user ids were not found"])
    response = hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}])
    assert response.minor_errors == ["some user ids were not found"]
    text = logs()
    assert "1 minor error" in text
    assert "u1" not in text
    assert "not found" not in text


def test_queued_202_is_accepted_not_an_error(hook, sandbox):
    sandbox.configure(queue_every_n=1)
    response = hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}])
    assert response.status == 202
    assert response.queued
    assert len(sandbox.requests) == 1


def test_paused_canvas_notice_is_surfaced(hook, sandbox, logs):
    sandbox.configure(paused_canvas_ids={"canv"})
    response = hook.trigger_canvas(canvas_id="canv", broadcast=True)
    assert "paused" in response.notice
    assert "Braze notice" in logs()
    assert "paused" in logs()


# -- error families -------------------------------------------------------------------------------


def test_400_carries_status_endpoint_message_and_errors(hook, sandbox):
    with pytest.raises(BrazeBadRequestError) as err:
        hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1", "email": "a@b.c"}])
    error = err.value
    assert (error.status, error.method, error.endpoint) == (400, "POST", "/campaigns/trigger/send")
    assert error.message == "Bad Request"
    assert "exactly one of" in error.errors[0]
    assert len(sandbox.requests) == 1  # a 400 is final: not retried


def test_401_names_the_instance_and_explains_wrong_instance_keys(braze_sandbox, monkeypatch):
    for name, value in braze_sandbox.airflow_env(api_key="not-the-key").items():
        monkeypatch.setenv(name, value)
    hook = BrazeHook(settings=FAST)
    with pytest.raises(BrazeAuthenticationError) as err:
        hook.trigger_campaign(campaign_id="camp", broadcast=True)
    assert braze_sandbox.url in str(err.value)
    assert "another Braze instance" in str(err.value)
    assert "not-the-key" not in str(err.value)


def test_403_names_the_missing_permission(braze_sandbox, monkeypatch):
    braze_sandbox.configure(api_keys={"limited": frozenset({"campaigns.trigger.send"})})
    for name, value in braze_sandbox.airflow_env(api_key="limited").items():
        monkeypatch.setenv(name, value)
    hook = BrazeHook(settings=FAST)
    hook.trigger_campaign(campaign_id="camp", broadcast=True)
    with pytest.raises(BrazePermissionError, match=r"'canvas\.trigger\.send' permission"):
        hook.trigger_canvas(canvas_id="canv", broadcast=True)


def test_404_for_an_unknown_route(hook, sandbox):
    with pytest.raises(BrazeNotFoundError, match="check the connection's REST endpoint"):
        hook.request("POST", "/campaigns/trigger/sendd", json={})


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(413, BrazePayloadTooLargeError), (415, BrazeUnsupportedMediaTypeError), (409, BrazeClientError)],
)
def test_other_4xx_map_to_their_error_class(hook, sandbox, status, error_class):
    sandbox.inject(Fault(status=status))
    with pytest.raises(error_class) as err:
        hook.trigger_campaign(campaign_id="camp", broadcast=True)
    assert err.value.status == status
    assert len(sandbox.requests) == 1


def test_sandbox_refuses_a_wrong_content_type_with_415(hook, sandbox):
    session = hook.get_conn()
    response = session.post(f"{sandbox.url}/campaigns/trigger/send", data="x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


# -- retries --------------------------------------------------------------------------------------


def test_429_waits_until_x_ratelimit_reset_then_succeeds(hook, sandbox):
    sandbox.rate_limit_burst(1, reset_in=1.0)
    started = time.time()
    response = hook.trigger_campaign(campaign_id="camp", broadcast=True)
    waited = time.time() - started
    first = sandbox.requests[0]
    reset_at = 1 + int(first.at + 1.0)
    assert response.attempts == 2
    assert time.time() >= reset_at - 0.05  # it slept until the absolute reset time
    assert waited < 4
    assert [r.status for r in sandbox.requests] == [429, 201]


def test_429_with_a_reset_past_the_deadline_raises_rate_limit_error(braze_connection):
    hook = BrazeHook(settings={**FAST, "retry_deadline": 1})
    braze_connection.rate_limit_burst(1, reset_in=30)
    with pytest.raises(BrazeRateLimitError) as err:
        hook.trigger_campaign(campaign_id="camp", broadcast=True)
    assert err.value.reset_at
    assert err.value.reset_at > time.time() + 20
    assert len(braze_connection.requests) == 1


def test_sandbox_rate_limit_window_answers_429_with_headers(hook, sandbox):
    sandbox.configure(rate_limit=2, rate_limit_window=3600)
    session = hook.get_conn()
    statuses = []
    for _ in range(3):
        r = session.post(
            f"{sandbox.url}/campaigns/trigger/send",
            json={"campaign_id": "c", "recipients": [{"external_user_id": "u"}]},
        )
        statuses.append((r.status_code, r.headers["X-RateLimit-Remaining"]))
        reset = int(r.headers["x-ratelimit-reset"])
    assert statuses == [(201, "1"), (201, "0"), (429, "0")]
    assert reset % 3600 == 0
    assert reset > time.time()


@pytest.mark.parametrize("status", [502, 503])
def test_502_and_503_are_retried_with_backoff(hook, sandbox, status):
    sandbox.inject(Fault(status=status), Fault(status=status))
    response = hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}])
    assert response.attempts == 3
    assert [r.status for r in sandbox.requests] == [status, status, 201]
    assert sandbox.delivery_counts()["external_user_id:u1"] == 1


def test_non_json_gateway_502_is_a_clear_error_after_retries(braze_connection):
    hook = BrazeHook(settings={**FAST, "max_retries": 1})
    braze_connection.inject(Fault(kind="html", status=502), Fault(kind="html", status=502))
    with pytest.raises(BrazeServerError) as err:
        hook.trigger_campaign(campaign_id="camp", broadcast=True)
    assert "not Braze JSON (text/html)" in str(err.value)
    assert "502 Bad Gateway" in str(err.value)
    assert len(braze_connection.requests) == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_retried_then_raises_transport_error(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_DEFAULT",
        json.dumps({"conn_type": "braze", "host": f"http://127.0.0.1:{_closed_port()}", "password": "k"}),
    )
    hook = BrazeHook(settings={**FAST, "max_retries": 2})
    with pytest.raises(BrazeTransportError, match="after 3 attempt"):
        hook.trigger_campaign(campaign_id="camp", broadcast=True)


def test_connection_refused_then_server_up_succeeds(monkeypatch):
    port = _closed_port()
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_DEFAULT",
        json.dumps({"conn_type": "braze", "host": f"http://127.0.0.1:{port}", "password": "sandbox-rest-api-key"}),
    )
    hook = BrazeHook(settings={**FAST, "backoff_base": 0.4, "backoff_max": 0.8, "max_retries": 5})
    import threading

    started = threading.Event()
    holder: dict[str, BrazeSandbox] = {}

    def start_later() -> None:
        time.sleep(0.3)
        holder["sandbox"] = BrazeSandbox(port=port).start()
        started.set()

    threading.Thread(target=start_later).start()
    try:
        response = hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}])
        assert response.attempts >= 2
        assert holder["sandbox"].delivery_counts()["external_user_id:u1"] == 1
    finally:
        started.wait(5)
        holder["sandbox"].stop()


# -- unknown outcome ------------------------------------------------------------------------------


def test_read_timeout_after_sending_is_not_retried_and_says_it_may_have_been_sent(braze_connection):
    hook = BrazeHook(settings={**FAST, "timeout": 0.5})
    braze_connection.inject(Fault(kind="slow", seconds=1.5))
    with pytest.raises(BrazeUnknownOutcomeError, match="may have been sent") as err:
        hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}])
    assert err.value.outcome_unknown
    assert len(braze_connection.requests) == 1
    assert braze_connection.delivery_counts()["external_user_id:u1"] == 1  # Braze did process it


@pytest.mark.parametrize("status", [500, 501, 504, 507, 520, 521, 522, 523, 524])
def test_every_5xx_but_502_and_503_after_a_post_is_an_unknown_outcome(hook, sandbox, status):
    sandbox.inject(Fault(status=status, after_processing=True))
    with pytest.raises(BrazeUnknownOutcomeError, match="may have been sent"):
        hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}])
    assert len(sandbox.requests) == 1


def test_a_2xx_whose_body_is_not_json_is_an_acceptance_not_a_failure(hook, sandbox, logs):
    sandbox.inject(Fault(kind="html", status=200, after_processing=True))  # a proxy's page after Braze sent
    response = hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}])
    assert response.status == 200
    assert response.unparsed_body
    assert response.dispatch_id is None
    assert len(sandbox.requests) == 1
    assert "counted as accepted" in logs()


def test_a_2xx_whose_body_cannot_be_decoded_is_an_acceptance_not_a_definite_failure(hook, sandbox, logs):
    """Labelled gzip, not gzip: requests raises ContentDecodingError after Braze answered 201. Read as
    "not sent", the batch would be sent again by the next try; it is Braze's answer, so it is accepted."""
    sandbox.inject(Fault(kind="bad_encoding"))
    response = hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}])
    assert response.status == 201
    assert response.unparsed_body
    assert sandbox.delivery_counts() == {"external_user_id:u1": 1}
    assert len(sandbox.requests) == 1
    assert "could not be decoded" in logs()


def test_a_2xx_whose_body_cannot_be_decoded_is_an_error_for_a_get_not_an_empty_answer(hook, sandbox):
    sandbox.inject(*[Fault(kind="bad_encoding", status=200) for _ in range(3)])
    with pytest.raises(BrazeInvalidResponseError, match="not Braze JSON"):
        hook.get_scheduled_broadcasts(end_time=_in(1))


def test_a_2xx_whose_body_is_not_json_is_an_error_for_a_get(hook, sandbox):
    sandbox.inject(Fault(kind="html", status=200), Fault(kind="html", status=200), Fault(kind="html", status=200))
    with pytest.raises(BrazeInvalidResponseError, match="not Braze JSON"):
        hook.get_scheduled_broadcasts(end_time=_in(1))


def test_unknown_outcomes_are_retried_when_the_setting_allows(braze_connection):
    hook = BrazeHook(settings={**FAST, "timeout": 0.5, "retry_unknown_outcome": True})
    braze_connection.inject(Fault(kind="slow", seconds=1.5))
    response = hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}])
    assert response.attempts == 2
    assert braze_connection.delivery_counts()["external_user_id:u1"] == 2  # the documented risk


def test_get_requests_retry_unknown_outcomes_because_they_are_idempotent(hook, sandbox):
    sandbox.inject(Fault(status=504))
    response = hook.get_scheduled_broadcasts(end_time=_in(1))
    assert response.attempts == 2


# -- configuration and secrecy --------------------------------------------------------------------


def test_instance_names_work_as_the_connection_host(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_DEFAULT", json.dumps({"conn_type": "braze", "host": "EU-02", "password": "k"})
    )
    assert BrazeHook().params.base_url == "https://rest.fra-02.braze.eu"
    assert BrazeHook().params.instance.name == "EU-02"


def test_uri_form_connection_with_extras(monkeypatch, braze_sandbox):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_DEFAULT",
        f"braze://:{braze_sandbox.api_key}@127.0.0.1:{braze_sandbox.port}/?timeout=7&max_retries=1",
    )
    hook = BrazeHook()
    assert hook.params.base_url == braze_sandbox.url
    assert (hook.params.settings.timeout, hook.params.settings.max_retries) == (7.0, 1)
    assert hook.trigger_campaign(campaign_id="camp", broadcast=True).status == 201


def test_extras_are_settings_not_headers_on_the_http_hook_session(monkeypatch, braze_sandbox):
    extras = {"timeout": 7, "max_retries": 1, "retry_unknown_outcome": False}
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_DEFAULT",
        json.dumps(
            {
                "conn_type": "braze",
                "host": "127.0.0.1",
                "port": braze_sandbox.port,
                "password": braze_sandbox.api_key,
                "extra": extras,
            }
        ),
    )
    hook = BrazeHook()
    assert hook.trigger_campaign(campaign_id="camp", broadcast=True).status == 201
    assert hook.url_from_endpoint("/campaigns/trigger/send") == f"{braze_sandbox.url}/campaigns/trigger/send"
    sent = {name.lower() for name in braze_sandbox.requests[-1].headers}
    assert sent.isdisjoint(extras)
    assert braze_sandbox.api_key not in repr(hook.get_conn().auth)


def test_a_dashboard_url_as_host_fails_before_any_request_with_advice(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_DEFAULT",
        json.dumps({"conn_type": "braze", "host": "https://dashboard-03.braze.com", "password": "k"}),
    )
    with pytest.raises(BrazeConfigurationError, match=r"use https://rest\.iad-03\.braze\.com"):
        BrazeHook().trigger_campaign(campaign_id="camp", broadcast=True)


def test_missing_key_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_BRAZE_DEFAULT", json.dumps({"conn_type": "braze", "host": "US-01"}))
    with pytest.raises(BrazeConfigurationError, match="no REST API key"):
        BrazeHook().get_conn()


def test_the_key_never_appears_in_logs_exceptions_or_output(braze_sandbox, monkeypatch, logs):
    secret = "sk-very-secret-braze-key-123"
    braze_sandbox.configure(api_keys={secret: None})
    for name, value in braze_sandbox.airflow_env().items():
        monkeypatch.setenv(name, value)
    hook = BrazeHook(settings={**FAST, "timeout": 0.5})
    texts = []
    braze_sandbox.inject(Fault(status=503), Fault(kind="html", status=502), Fault(status=504))
    for call in (
        lambda: hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1"}]),
        lambda: hook.trigger_campaign(campaign_id="camp", recipients=[{"external_user_id": "u1", "email": "x"}]),
        lambda: hook.create_send_id(campaign_id="camp", send_id="é"),
    ):
        try:
            call()
        except Exception as exc:
            texts.append(str(exc))
            texts.append(repr(exc))
    texts.append(repr(hook.params))
    log_text = logs()
    assert len(texts) >= 5
    assert "retrying" in log_text  # the retry warnings were captured, so the check below means something
    for text in [*texts, log_text]:
        assert secret not in text
