"""The sandbox validates like Braze: raw HTTP requests, one rule each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_braze.testing.sandbox import BrazeSandbox, Fault


@pytest.fixture
def post(braze_sandbox: BrazeSandbox):
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {braze_sandbox.api_key}"})

    def _post(path: str, body: object, **kwargs) -> requests.Response:
        return session.post(f"{braze_sandbox.url}{path}", json=body, **kwargs)

    return _post


def _time(delta: timedelta, *, offset: bool = True) -> str:
    when = datetime.now(timezone.utc) + delta
    return when.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if offset else "")


EMAIL = {"email": {"app_id": "a", "from": "A <a@example.com>", "body": "hi"}}
USERS_51 = [f"u{i}" for i in range(51)]

RULES = [
    # (path, body, status, message, error fragment)
    (
        "/messages/send",
        {"messages": EMAIL, "external_user_ids": USERS_51},
        400,
        "The max number of external_ids and aliases per request was exceeded",
        None,
    ),
    (
        "/messages/send",
        {
            "messages": EMAIL,
            "external_user_ids": USERS_51[:30],
            "user_aliases": [{"alias_name": f"a{i}", "alias_label": "l"} for i in range(21)],
        },
        400,
        "The max number of external_ids and aliases per request was exceeded",
        None,
    ),
    ("/messages/send", {"messages": EMAIL}, 400, "No Recipients", None),
    ("/messages/send", {"messages": EMAIL, "broadcast": True}, 400, "No Recipients", "segment_id or audience"),
    (
        "/messages/send",
        {"messages": EMAIL, "broadcast": True, "external_user_ids": ["u1"]},
        400,
        "Bad Request",
        "broadcast: cannot be true",
    ),
    ("/messages/send", {"messages": {}, "external_user_ids": ["u1"]}, 400, "No message to send", None),
    (
        "/messages/send",
        {"messages": {"pigeon": {}}, "external_user_ids": ["u1"]},
        400,
        "Bad Request",
        "unknown message type",
    ),
    (
        "/messages/send",
        {"messages": {"email": {"app_id": "a", "body": "x"}}, "external_user_ids": ["u1"]},
        400,
        "Bad Request",
        "messages.email.from: is required",
    ),
    (
        "/messages/send",
        {"messages": {"sms": {"app_id": "a", "body": "x"}}, "external_user_ids": ["u1"]},
        400,
        "Bad Request",
        "messages.sms.subscription_group_id: is required",
    ),
    (
        "/messages/send",
        {"messages": {"webhook": {"url": "https://x", "request_method": "PATCH"}}, "external_user_ids": ["u1"]},
        400,
        "Bad Request",
        "request_method: must be one of",
    ),
    (
        "/messages/send",
        {"messages": {"android_push": {"alert": "a", "title": "t", "extra": "x"}}, "external_user_ids": ["u1"]},
        400,
        "Invalid Extra Push Payload",
        None,
    ),
    (
        "/messages/send",
        {"messages": {"apple_push": {"alert": "x" * 2000}}, "external_user_ids": ["u1"]},
        400,
        "Apple Push Length Exceeded",
        None,
    ),
    (
        "/messages/send",
        {"messages": EMAIL, "campaign_id": "c", "external_user_ids": ["u1"]},
        400,
        "Message Variant Unspecified",
        None,
    ),
    (
        "/messages/send",
        {"messages": EMAIL, "external_user_ids": ["u1"], "send_id": "x" * 65},
        400,
        "Bad Request",
        "at most 64",
    ),
    ("/messages/send", {"messages": EMAIL, "external_user_ids": ["u1"], "send_id": "é"}, 400, "Bad Request", "ASCII"),
    (
        "/messages/send",
        {"messages": EMAIL, "external_user_ids": ["u1"], "recipient_subscription_state": "any"},
        400,
        "Bad Request",
        "recipient_subscription_state: must be one of",
    ),
    (
        "/messages/send",
        {
            "messages": {"content_card": {"type": "BANNER", "title": "t", "description": "d", "time_to_live": 60}},
            "external_user_ids": ["u1"],
        },
        400,
        "Bad Request",
        "image_url: is required",
    ),
    ("/campaigns/trigger/send", {"recipients": [{"external_user_id": "u1"}]}, 400, "Invalid Campaign ID", None),
    (
        "/campaigns/trigger/send",
        {"campaign_id": "c", "segment_id": "s", "broadcast": True},
        400,
        "Bad Request",
        "segment_id: is not supported",
    ),
    (
        "/campaigns/trigger/send",
        {"campaign_id": "c", "recipients": [{"external_user_id": f"u{i}"} for i in range(51)]},
        400,
        "The max number of ids per request was exceeded",
        None,
    ),
    ("/campaigns/trigger/send", {"campaign_id": "c", "recipients": [{}]}, 400, "Bad Request", "exactly one of"),
    (
        "/campaigns/trigger/send",
        {"campaign_id": "c", "recipients": [{"external_user_id": "u", "braze_id": "b"}]},
        400,
        "Bad Request",
        "exactly one of",
    ),
    (
        "/campaigns/trigger/send",
        {"campaign_id": "c", "recipients": [{"email": "a@b.c"}]},
        400,
        "Bad Request",
        "prioritization: is required",
    ),
    (
        "/campaigns/trigger/send",
        {"campaign_id": "c", "recipients": [{"external_user_id": "u", "send_to_existing_only": False}]},
        400,
        "Bad Request",
        "requires attributes",
    ),
    (
        "/campaigns/trigger/send",
        {
            "campaign_id": "c",
            "recipients": [
                {
                    "user_alias": {"alias_name": "n", "alias_label": "l"},
                    "send_to_existing_only": False,
                    "attributes": {},
                }
            ],
        },
        400,
        "Bad Request",
        "cannot be used with user_alias",
    ),
    (
        "/campaigns/trigger/send",
        {"campaign_id": "c", "broadcast": True, "recipients": [{"external_user_id": "u"}]},
        400,
        "Bad Request",
        "broadcast: cannot be true",
    ),
    (
        "/campaigns/trigger/send",
        {"campaign_id": "c", "broadcast": True, "attachments": [{"file_name": "f", "url": "https://x"}]},
        400,
        "Bad Request",
        "attachments: cannot be used with broadcast",
    ),
    (
        "/campaigns/trigger/send",
        {"campaign_id": "c", "broadcast": True, "trigger_properties": {"x": "y" * 52000}},
        400,
        "Bad Request",
        "limit is 51200 bytes",
    ),
    (
        "/canvas/trigger/send",
        {"canvas_id": "c", "recipients": [{"external_user_id": "u", "context": {"x": "y" * 52000}}]},
        400,
        "Bad Request",
        "recipients[0].context",
    ),
    ("/canvas/trigger/send", {"recipients": [{"external_user_id": "u"}]}, 400, "Bad Request", "canvas_id"),
    (
        "/campaigns/trigger/schedule/create",
        {"campaign_id": "c", "broadcast": True},
        400,
        "Bad Request",
        "schedule: is required",
    ),
    (
        "/campaigns/trigger/schedule/create",
        {"campaign_id": "c", "broadcast": True, "schedule": {"time": "soon"}},
        400,
        "Bad Request",
        "could not be parsed",
    ),
    (
        "/campaigns/trigger/schedule/create",
        {"campaign_id": "c", "broadcast": True, "schedule": {"time": _time(-timedelta(hours=1))}},
        400,
        "Bad Request",
        "in the past",
    ),
    (
        "/campaigns/trigger/schedule/create",
        {"campaign_id": "c", "broadcast": True, "schedule": {"time": _time(timedelta(days=91))}},
        400,
        "Bad Request",
        "more than 90 days",
    ),
    (
        "/campaigns/trigger/schedule/create",
        {"campaign_id": "c", "broadcast": True, "schedule": {"time": _time(timedelta(days=2)), "in_local_time": True}},
        400,
        "Bad Request",
        "must not carry a UTC offset",
    ),
    (
        "/campaigns/trigger/schedule/create",
        {
            "campaign_id": "c",
            "broadcast": True,
            "schedule": {"time": _time(-timedelta(hours=13), offset=False), "in_local_time": True},
        },
        400,
        "Bad Request",
        "already passed in every time zone",
    ),
    (
        "/messages/schedule/update",
        {"schedule_id": "nope", "schedule": {"time": _time(timedelta(days=1))}},
        400,
        "Invalid schedule_id",
        None,
    ),
    ("/sends/id/create", {"send_id": "s"}, 400, "Invalid Campaign ID", None),
    # Braze's tables say Boolean; its examples' "false" strings are not booleans (docs/sandbox.md, D1).
    (
        "/campaigns/trigger/send",
        {"campaign_id": "c", "broadcast": "false", "recipients": [{"external_user_id": "u"}]},
        400,
        "Bad Request",
        "broadcast: must be true or false",
    ),
]


@pytest.mark.parametrize(("path", "body", "status", "message", "fragment"), RULES)
def test_each_rule_is_refused_like_braze(braze_sandbox, post, path, body, status, message, fragment):
    response = post(path, body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["message"] == message
    if fragment:
        assert any(fragment in e for e in answer["errors"]), answer
    assert braze_sandbox.delivery_counts() == {}
    assert not braze_sandbox.requests[0].processed


def test_in_local_time_in_the_future_is_accepted(post):
    response = post(
        "/campaigns/trigger/schedule/create",
        {
            "campaign_id": "c",
            "broadcast": True,
            "schedule": {"time": _time(timedelta(hours=2), offset=False), "in_local_time": True},
        },
    )
    assert response.status_code == 201
    assert set(response.json()) == {"dispatch_id", "schedule_id", "message"}


def test_auth_route_content_type_json_and_size_checks(braze_sandbox, post):
    url = braze_sandbox.url
    assert requests.post(f"{url}/messages/send", json={}).status_code == 401
    assert requests.post(f"{url}/messages/send", json={}, headers={"Authorization": "wrong"}).status_code == 401
    assert post("/messages/nope", {}).status_code == 404
    headers = {"Authorization": f"Bearer {braze_sandbox.api_key}"}
    assert requests.post(f"{url}/messages/send", data="{}", headers=headers).status_code == 415
    bad_json = requests.post(
        f"{url}/messages/send", data="{nope", headers={**headers, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert "parsing" in bad_json.json()["error"]
    huge = requests.post(
        f"{url}/messages/send",
        data=b"x" * (4 * 1024 * 1024 + 1),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    for response in (bad_json, huge):
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response.headers)


def test_permissions_give_403_access_denied(braze_sandbox):
    braze_sandbox.configure(api_keys={"k": frozenset({"messages.send"})})
    response = requests.post(
        f"{braze_sandbox.url}/canvas/trigger/send",
        json={"canvas_id": "c", "broadcast": True},
        headers={"Authorization": "Bearer k"},
    )
    assert (response.status_code, response.json()["message"]) == (403, "Access Denied")


def test_send_ids_are_limited_to_100_a_day(braze_sandbox, post):
    for i in range(100):
        assert post("/sends/id/create", {"campaign_id": "c", "send_id": f"s{i}"}).status_code == 201
    # Braze: each combination created counts, one created before included.
    again = post("/sends/id/create", {"campaign_id": "c", "send_id": "s5"})
    assert again.status_code == 429


def test_a_send_id_created_again_counts_toward_the_daily_limit(braze_sandbox, post):
    braze_sandbox.configure(send_ids_per_day=2)
    assert post("/sends/id/create", {"campaign_id": "c", "send_id": "s"}).status_code == 201
    assert post("/sends/id/create", {"campaign_id": "c", "send_id": "s"}).status_code == 201
    assert post("/sends/id/create", {"campaign_id": "c", "send_id": "s"}).status_code == 429


@pytest.mark.parametrize("path", ["/messages/send", "/messages/schedule/create"])
def test_a_send_id_without_campaign_id_is_refused(braze_sandbox, post, path):
    body = {"messages": EMAIL, "external_user_ids": ["u1"], "send_id": "s"}
    if path.endswith("create"):
        body["schedule"] = {"time": (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    response = post(path, body)
    assert response.status_code == 400
    assert "send_id: needs campaign_id" in " ".join(response.json()["errors"])
    assert braze_sandbox.delivery_counts() == {}


def test_broadcast_sends_draw_on_the_per_minute_budget(braze_sandbox, post):
    braze_sandbox.configure(broadcast_rate_limit=2)
    body = {"campaign_id": "c", "broadcast": True}
    assert [post("/campaigns/trigger/send", body).status_code for _ in range(3)] == [201, 201, 429]
    listed = post("/campaigns/trigger/send", {"campaign_id": "c", "recipients": [{"external_user_id": "u"}]})
    assert listed.status_code == 201
    assert listed.headers["X-RateLimit-Limit"] == "250000"


def test_deliveries_are_counted_per_recipient_and_deduplicated_within_a_request(braze_sandbox, post):
    recipients = [
        {"external_user_id": "u1"},
        {"external_user_id": "u1"},
        {"user_alias": {"alias_name": "n", "alias_label": "l"}},
    ]
    assert post("/campaigns/trigger/send", {"campaign_id": "c", "recipients": recipients}).status_code == 201
    assert post("/campaigns/trigger/send", {"campaign_id": "c", "recipients": recipients[:1]}).status_code == 201
    assert braze_sandbox.delivery_counts() == {"external_user_id:u1": 2, "user_alias:l:n": 1}
    dispatch_ids = {r.response["dispatch_id"] for r in braze_sandbox.requests}
    assert all(re.fullmatch(r"[0-9a-f]{32}", d) for d in dispatch_ids)
    assert len(dispatch_ids) == 2


def test_faults_before_processing_deliver_nothing_and_after_processing_deliver(braze_sandbox, post):
    body = {"campaign_id": "c", "recipients": [{"external_user_id": "u1"}]}
    braze_sandbox.inject(Fault(status=503), Fault(status=500))
    assert post("/campaigns/trigger/send", body).status_code == 503
    assert braze_sandbox.delivery_counts() == {}
    assert post("/campaigns/trigger/send", body).status_code == 500
    assert braze_sandbox.delivery_counts() == {"external_user_id:u1": 1}


def test_periodic_faults_and_latency(braze_sandbox, post):
    braze_sandbox.configure(fail_every_n=3, latency=0.05)
    statuses = [post("/campaigns/trigger/send", {"campaign_id": "c", "broadcast": True}).status_code for _ in range(6)]
    assert statuses == [201, 201, 503, 201, 201, 503]
    gaps = [r.at for r in braze_sandbox.requests]
    assert gaps[-1] - gaps[0] >= 5 * 0.05


def test_control_api_for_other_processes(braze_sandbox, post):
    post("/campaigns/trigger/send", {"campaign_id": "c", "recipients": [{"external_user_id": "u1"}]})
    base = f"{braze_sandbox.url}/_sandbox"
    assert requests.get(f"{base}/deliveries").json() == {"external_user_id:u1": 1}
    assert requests.get(f"{base}/requests").json()[0]["path"] == "/campaigns/trigger/send"
    assert "POST /campaigns/trigger/send" in requests.get(f"{base}/summary").text
    requests.post(f"{base}/faults", json=[{"status": 503}])
    assert post("/campaigns/trigger/send", {"campaign_id": "c", "broadcast": True}).status_code == 503
    requests.post(f"{base}/reset")
    assert braze_sandbox.requests == []


def test_command_line_runs_a_command_against_the_sandbox_and_prints_the_summary(tmp_path):
    script = tmp_path / "send.py"
    script.write_text(
        "import json, os, requests\n"
        "conn = json.loads(os.environ['AIRFLOW_CONN_BRAZE_DEFAULT'])\n"
        "r = requests.post(conn['host'] + '/campaigns/trigger/send', json={'campaign_id': 'c', "
        "'recipients': [{'external_user_id': 'u1'}]}, headers={'Authorization': 'Bearer ' + conn['password']})\n"
        "print('status', r.status_code)\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_braze.testing.sandbox",
            "--port",
            "0",
            "--",
            sys.executable,
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    assert "status 201" in result.stdout
    assert "POST /campaigns/trigger/send" in result.stdout
    assert "1x HTTP 201" in result.stdout
    assert "1 distinct recipient(s) accepted" in result.stdout


def test_command_line_serves_and_prints_the_connection(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_braze.testing.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert "Braze sandbox listening on http://127.0.0.1:" in first
        conn = json.loads(second.split("=", 1)[1].strip().strip("'"))
        assert conn["conn_type"] == "braze"
        assert conn["host"].startswith("http://127.0.0.1:")
    finally:
        process.terminate()
        process.wait(10)


def test_local_time_broadcasts_are_listed_without_a_zone_until_the_first_zone_starts(braze_sandbox):
    now = datetime.now(timezone.utc)
    wall = (now + timedelta(hours=20)).replace(tzinfo=None, microsecond=0).isoformat()  # UTC+14 reaches it in 6 h
    started = (now + timedelta(hours=10)).replace(tzinfo=None, microsecond=0).isoformat()  # UTC+14 passed it
    braze_sandbox.add_broadcast(broadcast_id="l1", name="L", next_send_time=wall, schedule_type="local_time_zones")
    braze_sandbox.add_broadcast(broadcast_id="l2", name="L2", next_send_time=started, schedule_type="local_time_zones")
    braze_sandbox.add_broadcast(broadcast_id="u1", name="U", next_send_time=now + timedelta(hours=1))
    end = (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = requests.get(
        f"{braze_sandbox.url}/messages/scheduled_broadcasts",
        params={"end_time": end},
        headers={"Authorization": f"Bearer {braze_sandbox.api_key}"},
    )
    assert response.status_code == 200
    listed = response.json()["scheduled_broadcasts"]
    assert [b["id"] for b in listed] == ["u1", "l1"]
    assert listed[1]["next_send_time"] == wall  # no zone, as Braze lists local-time broadcasts


def test_cancelled_broadcasts_leave_the_list(braze_sandbox):
    braze_sandbox.add_broadcast(
        broadcast_id="b1", name="B", next_send_time=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    braze_sandbox.state.cancel_broadcast("b1")
    now = datetime.now(timezone.utc)
    assert braze_sandbox.state.due_broadcasts(now, now + timedelta(days=2)) == []
    assert [b["id"] for b in braze_sandbox.state.cancelled_broadcasts] == ["b1"]
