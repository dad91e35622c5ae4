"""Property-based tests: what the client validates is what it sends, and it sends nothing Braze refuses.

For every sending and scheduling endpoint, Hypothesis generates valid bodies and mutates them
(dropped, duplicated, retyped, out-of-range and added fields, nulls, empty strings, unicode, NaN and
±Infinity). Each case is judged by the client (the operator's planning, before any request) and by
the sandbox (real HTTP):

1. validation never raises anything but :class:`BrazeValidationError`;
2. what the client accepts it can serialise, and the sandbox accepts every request it sends;
3. what the sandbox refuses, the client refuses before sending (or sends nothing at all);
4. planning the bodies the client sends again yields the same bodies (normalisation is idempotent).

Seeded (``derandomize``): the same cases on every run. ``BRAZE_HYPOTHESIS_EXAMPLES`` sets the
examples per endpoint (default 300: 1,800 mutated cases plus 222 valid ones). The sandbox judges
with its own rule table (``testing/sandbox/rules.py``, written from Braze's docs), not the client's
``payload_validation``: properties 2 and 3 compare two independent readings of the docs.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_braze.client.payload_validation import normalise_messages, normalise_recipient
from airflow_provider_braze.engine.recipient_rows import is_row
from airflow_provider_braze.engine.send_plan import SendPlan
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators.rendered_fields import parse_flag, parse_rendered
from airflow_provider_braze.testing.sandbox import BrazeSandbox
from airflow_provider_braze.testing.sandbox.config import SandboxConfig
from tests.property.strategies import ENDPOINTS, EndpointCase, mutated

EXAMPLES = int(os.environ.get("BRAZE_HYPOTHESIS_EXAMPLES", "300"))

PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)

#: Cases per endpoint and verdict, printed at the end of the module (for the issue's closing note).
TALLY: Counter[tuple[str, str]] = Counter()


@pytest.fixture(scope="module")
def judge() -> Iterator[BrazeSandbox]:
    """A sandbox without rate limits that keeps no request log (thousands of requests)."""
    config = SandboxConfig(broadcast_rate_limit=10**9, rate_limit=10**9, record_bodies=False)
    with BrazeSandbox(config=config) as sandbox:
        yield sandbox
    print("\nGenerated cases per endpoint and verdict:")
    for (endpoint, verdict), count in sorted(TALLY.items()):
        print(f"  {endpoint:40} {verdict:28} {count}")


@pytest.fixture(scope="module")
def session(judge: BrazeSandbox) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {judge.api_key}"
        yield s


def _plan(case: EndpointCase, kwargs: dict[str, Any]) -> SendPlan | BrazeValidationError:
    """The client's verdict: its plan, or the validation error. Anything else fails the test (property 1)."""
    # A required argument left out is Airflow's TypeError when the DAG is parsed: here it is None,
    # as a template rendering to nothing gives it.
    required = {
        field: None
        for field in ("campaign_id", "canvas_id", "messages", "schedule")
        if field in case.fields and field not in case.optional
    }
    operator = case.operator(task_id="property", **{**required, **kwargs})
    try:
        return operator.plan_or_fail()
    except BrazeValidationError as error:
        return error


def _bodies(plan: SendPlan) -> list[dict[str, Any]]:
    return [request.body for request in plan.requests()]


def _post(
    session: requests.Session, judge: BrazeSandbox, case: EndpointCase, body: Any, *, strict: bool
) -> requests.Response:
    """POST ``body`` to the sandbox. ``strict``: as the hook writes it (non-finite numbers raise);
    otherwise Python's lenient JSON (NaN written as ``NaN``, which Braze's parser refuses)."""
    url = judge.url + case.endpoint.path
    if strict:
        return session.post(url, json=body, timeout=10)
    data = json.dumps(body, default=str).encode()
    return session.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=10)


def _as_sent(case: EndpointCase, body: dict[str, Any]) -> dict[str, Any] | None:
    """The body the operator arguments ``body`` stand for, in Braze's wire format, under the
    documented input conventions (None/"" optional arguments are not given; "true"/"false" flags;
    JSON text for objects; null keys in recipients, messages and schedules are not sent; a string
    recipient is an external_user_id; a bare schedule string is its time). None when an input
    convention does not apply (a row, or a string that is not JSON)."""
    out: dict[str, Any] = {}
    for field, value in body.items():
        if value is None or (field in case.optional and isinstance(value, str) and not value.strip()):
            continue
        if field in case.flags and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = parse_flag(value, field)
            if value is None:
                continue
        if field in case.objects and isinstance(value, str):
            try:
                value = parse_rendered(value, field)
            except ValueError:
                return None
            if value is None:
                continue
        out[field] = value
    if isinstance(out.get("messages"), dict):
        out["messages"] = normalise_messages(out["messages"])
    if isinstance(out.get("recipients"), list):
        listed = []
        for item in out["recipients"]:
            if isinstance(item, str):
                item = {"external_user_id": item}
            if isinstance(item, dict):
                if is_row(item):
                    return None
                item = normalise_recipient(item)
            listed.append(item)
        out["recipients"] = listed
    schedule = out.get("schedule")
    if isinstance(schedule, str):
        out["schedule"] = {"time": schedule}
    elif isinstance(schedule, dict):
        out["schedule"] = {k: v for k, v in schedule.items() if v is not None}
    return out


def _replanned(case: EndpointCase, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Operator arguments that stand for the bodies a plan sends (its batches joined back)."""
    kwargs = {k: v for k, v in bodies[0].items() if k not in case.listed}
    for field in case.listed:
        joined = [item for body in bodies for item in body.get(field, [])]
        if any(field in body for body in bodies):
            kwargs[field] = joined
    return kwargs


@pytest.mark.parametrize("case", ENDPOINTS, ids=lambda c: c.name)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_the_client_refuses_before_sending_what_braze_refuses(case, judge, session, data):
    body, mutations = data.draw(mutated(case), label="body")
    kwargs = {field: value for field, value in body.items() if field in case.fields}
    verdict = _plan(case, kwargs)  # property 1: only BrazeValidationError
    accepted = isinstance(verdict, SendPlan)
    try:
        sent = _bodies(verdict) if accepted else []
        # Property 2: every request the client would send serialises as the hook writes it and is accepted.
        for request_body in sent:
            answer = _post(session, judge, case, request_body, strict=True)
            assert answer.status_code in (200, 201), (mutations, answer.status_code, answer.text)
        # Property 4: the bodies sent, given again, plan the same bodies.
        if sent:
            again = _plan(case, _replanned(case, sent))
            assert isinstance(again, SendPlan), (mutations, again)
            try:
                assert _bodies(again) == sent
            finally:
                again.close()
    finally:
        if accepted:
            verdict.close()
    # Property 3: what the sandbox refuses, the client refuses (or sends nothing).
    wire = _as_sent(case, body)
    if wire is None:
        TALLY[(case.name, "input convention (skipped 3)")] += 1
        return
    judged = _post(session, judge, case, wire, strict=False)
    assert judged.status_code in (200, 201, 400), (mutations, judged.status_code, judged.text)
    if judged.status_code == 400:
        assert not sent, f"the sandbox refused {judged.json()} but the client would send it ({mutations})"
    verdict_name = "accepted" if sent else "refused" if not accepted else "accepted, nothing to send"
    if not accepted and judged.status_code != 400:  # the client is stricter: which rule (no data)
        assert isinstance(verdict, BrazeValidationError)
        verdict_name += f" ({verdict.rule.split(':')[0][:50]})"
    TALLY[(case.name, f"client {verdict_name}, sandbox {judged.status_code}")] += 1


@pytest.mark.parametrize("case", ENDPOINTS, ids=lambda c: c.name)
@settings(PROPERTY_SETTINGS, max_examples=max(20, EXAMPLES // 8))
@given(data=st.data())
def test_valid_bodies_are_accepted_by_both(case, judge, session, data):
    """Unmutated bodies: a guard against the property test above passing by refusing everything."""
    body = data.draw(case.bodies, label="body")
    verdict = _plan(case, dict(body))
    assert isinstance(verdict, SendPlan), verdict
    try:
        for request_body in _bodies(verdict):
            answer = _post(session, judge, case, request_body, strict=True)
            assert answer.status_code in (200, 201), answer.text
    finally:
        verdict.close()
    TALLY[(case.name, "valid body, both accept")] += 1
