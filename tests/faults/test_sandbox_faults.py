"""The sandbox's fault knobs, seen from a plain HTTP client: what the client gets, and whether the
request took effect (the per-recipient delivery record)."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_braze.testing.sandbox import BrazeSandbox, Fault
from tests.faults.tls import self_signed_cert, server_context

pytestmark = pytest.mark.faults

PATH = "/campaigns/trigger/send"


def body(campaign: str, user: str) -> dict:
    return {"campaign_id": campaign, "recipients": [{"external_user_id": user}]}


def post(session: requests.Session, url: str, campaign: str, user: str, **kwargs) -> requests.Response:
    headers = {"Authorization": "Bearer sandbox-rest-api-key"}
    return session.post(url + PATH, json=body(campaign, user), headers=headers, timeout=(0.5, 2), **kwargs)


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


@pytest.mark.parametrize(
    ("status", "processed"),
    [(500, True), (501, True), (502, False), (503, False), (504, True), (507, True), (520, True), (524, True)],
)
def test_each_status_is_answered_before_or_after_processing_as_declared(braze_sandbox, session, status, processed):
    fault = Fault(status=status)
    assert fault.processes_first is processed
    braze_sandbox.inject(fault)
    answer = post(session, braze_sandbox.url, "c", "u1")
    assert answer.status_code == status
    assert braze_sandbox.delivery_counts()["external_user_id:u1"] == int(processed)


def test_scoped_fault_strikes_on_the_chosen_request_of_its_send_only(braze_sandbox, session):
    braze_sandbox.inject(Fault(status=503, match={"campaign_id": "b"}, on_request=2, label="b#2"))
    statuses = [post(session, braze_sandbox.url, c, f"{c}{i}").status_code for i, c in enumerate("aabab")]
    assert statuses == [201, 201, 201, 201, 503]  # a, a, b(1st), a, b(2nd)
    assert braze_sandbox.fired == ["b#2"]


def test_drop_processes_then_resets_without_an_answer(braze_sandbox, session):
    braze_sandbox.inject(Fault(kind="drop"))
    with pytest.raises(requests.ConnectionError):
        post(session, braze_sandbox.url, "c", "u1")
    assert braze_sandbox.delivery_counts()["external_user_id:u1"] == 1
    assert post(session, braze_sandbox.url, "c", "u2").status_code == 201  # the sandbox serves on


def test_non_json_2xx_after_processing(braze_sandbox, session):
    braze_sandbox.inject(Fault(kind="non_json"))
    answer = post(session, braze_sandbox.url, "c", "u1")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html"
    with pytest.raises(ValueError):
        answer.json()
    assert braze_sandbox.delivery_counts()["external_user_id:u1"] == 1


def test_rate_limit_with_and_without_reset(braze_sandbox, session):
    braze_sandbox.inject(Fault(kind="rate_limit", seconds=2), Fault(kind="rate_limit", reset=False))
    with_reset = post(session, braze_sandbox.url, "c", "u1")
    without = post(session, braze_sandbox.url, "c", "u2")
    assert (with_reset.status_code, without.status_code) == (429, 429)
    assert int(with_reset.headers["X-RateLimit-Reset"]) >= time.time() + 1
    assert "X-RateLimit-Reset" not in without.headers
    assert braze_sandbox.delivery_counts() == {}


def test_slow_answer_is_a_read_timeout_after_processing(braze_sandbox, session):
    braze_sandbox.inject(Fault(kind="slow", seconds=3))
    with pytest.raises(requests.ReadTimeout):
        post(session, braze_sandbox.url, "c", "u1")
    assert braze_sandbox.delivery_counts()["external_user_id:u1"] == 1


@pytest.mark.parametrize(("abandon", "delivered"), [(True, 0), (False, 1)])
def test_stall_holds_before_processing_and_may_be_abandoned_by_a_leaving_client(
    braze_sandbox, session, abandon, delivered
):
    braze_sandbox.inject(Fault(kind="stall", seconds=1.0, abandon_if_client_left=abandon))
    with pytest.raises(requests.ReadTimeout):
        session.post(
            braze_sandbox.url + PATH,
            json=body("c", "u1"),
            headers={"Authorization": "Bearer sandbox-rest-api-key"},
            timeout=(0.5, 0.3),
        )
    session.close()  # the client leaves during the hold
    time.sleep(1.3)
    assert braze_sandbox.delivery_counts()["external_user_id:u1"] == delivered


def test_refuse_answers_then_refuses_new_connections_until_reopened(braze_sandbox, session):
    port = braze_sandbox.add_port()
    braze_sandbox.inject(Fault(kind="refuse"))
    assert post(session, port.url, "c", "u1").status_code == 201
    with pytest.raises(requests.ConnectionError) as refused:
        post(session, port.url, "c", "u2")
    assert "refused" in str(refused.value).lower()
    port.open()
    assert post(session, port.url, "c", "u3").status_code == 201
    assert braze_sandbox.delivery_counts() == {"external_user_id:u1": 1, "external_user_id:u3": 1}


def test_connect_timeout_answers_then_black_holes_new_connections(braze_sandbox, session):
    port = braze_sandbox.add_port()
    braze_sandbox.inject(Fault(kind="connect_timeout"))
    assert post(session, port.url, "c", "u1").status_code == 201
    with pytest.raises(requests.ConnectTimeout):
        post(session, port.url, "c", "u2")
    requests.post(braze_sandbox.url + "/_sandbox/ports/open", json={"port": port.port}, timeout=2)
    assert post(session, port.url, "c", "u3").status_code == 201
    assert braze_sandbox.delivery_counts() == {"external_user_id:u1": 1, "external_user_id:u3": 1}


def test_tls_cut_processes_then_breaks_the_tls_layer_mid_answer(braze_sandbox, session, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    port = braze_sandbox.add_port(tls=server_context(cert, key))
    assert port.url.startswith("https://127.0.0.1:")
    assert post(session, port.url, "c", "u0", verify=str(cert)).status_code == 201
    braze_sandbox.inject(Fault(kind="tls_cut"))
    with pytest.raises(requests.exceptions.SSLError):
        post(session, port.url, "c", "u1", verify=str(cert))
    assert braze_sandbox.delivery_counts()["external_user_id:u1"] == 1


def test_port_down_before_a_send(session):
    with BrazeSandbox() as sandbox:
        port = sandbox.add_port()
        port.refuse()
        with pytest.raises(requests.ConnectionError):
            post(session, port.url, "c", "u1")
        port.open()
        assert post(session, port.url, "c", "u1").status_code == 201
