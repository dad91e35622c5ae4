from __future__ import annotations

import pytest

from airflow_provider_braze.client.instances import (
    INSTANCES,
    BrazeEndpointError,
    instance_for_url,
    resolve_rest_endpoint,
)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://rest.iad-05.braze.com", "https://rest.iad-05.braze.com"),
        ("https://rest.iad-05.braze.com/", "https://rest.iad-05.braze.com"),
        ("rest.iad-05.braze.com", "https://rest.iad-05.braze.com"),
        ("US-05", "https://rest.iad-05.braze.com"),
        ("us-05", "https://rest.iad-05.braze.com"),
        ("iad-05", "https://rest.iad-05.braze.com"),
        ("EU-02", "https://rest.fra-02.braze.eu"),
        ("fra-02", "https://rest.fra-02.braze.eu"),
        ("EU-01", "https://rest.fra-01.braze.eu"),
        ("US-10", "https://rest.us-10.braze.com"),
        ("iad-10", "https://rest.us-10.braze.com"),
        ("AU-01", "https://rest.au-01.braze.com"),
        ("KR-01", "https://rest.kr-01.braze.com"),
        (" https://rest.fra-02.braze.eu ", "https://rest.fra-02.braze.eu"),
    ],
)
def test_hosts_and_instance_names_resolve_to_the_rest_endpoint(host, expected):
    assert resolve_rest_endpoint(host) == expected


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("http://127.0.0.1:4010", None, "http://127.0.0.1:4010"),
        ("localhost", 4010, "http://localhost:4010"),
        ("127.0.0.1:4011", None, "http://127.0.0.1:4011"),
        ("http://[::1]:4010", None, "http://[::1]:4010"),
        ("https://localhost:8443", None, "https://localhost:8443"),
    ],
)
def test_loopback_hosts_may_use_plain_http(host, port, expected):
    assert resolve_rest_endpoint(host, port=port) == expected


@pytest.mark.parametrize(
    ("host", "advice"),
    [
        ("https://dashboard-05.braze.com", "use https://rest.iad-05.braze.com"),
        ("dashboard-02.braze.eu", "use https://rest.fra-02.braze.eu"),
        ("https://dashboard.us-10.braze.com/app", "use https://rest.us-10.braze.com"),
        ("https://sdk.iad-03.braze.com", "use https://rest.iad-03.braze.com"),
        ("https://rest.fra-02.braze.com", "served at https://rest.fra-02.braze.eu"),
        ("https://rest.iad-99.braze.com", "not a known Braze instance"),
        ("US-09", "not a Braze REST endpoint or instance name"),
        ("http://rest.iad-01.braze.com", "must use https://"),
        ("http://braze-proxy.example.com", "must use https://"),
        ("", "has no host"),
        (None, "has no host"),
    ],
)
def test_wrong_hosts_are_refused_with_advice(host, advice):
    with pytest.raises(BrazeEndpointError) as err:
        resolve_rest_endpoint(host)
    assert advice in str(err.value)


def test_other_https_hosts_such_as_proxies_are_taken_as_given():
    assert resolve_rest_endpoint("https://braze-egress.corp.example.com/braze/") == (
        "https://braze-egress.corp.example.com/braze"
    )


def test_every_instance_round_trips_by_name_and_url():
    assert len(INSTANCES) == 15
    for instance in INSTANCES:
        assert resolve_rest_endpoint(instance.name) == instance.rest_url
        assert instance_for_url(instance.rest_url) is instance
        assert instance.rest_url.endswith(".braze.eu") == instance.name.startswith("EU-")


def test_the_docs_call_dashboard_links_best_effort_and_give_the_documented_search():
    """Issue 15 item 11: Braze documents no dashboard deep links; it documents the Campaigns page
    search filter ``api_id:<id>``. The operator docs must say the link is best effort and name it."""
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "operators.md").read_text(encoding="utf-8")
    links = docs[docs.index("Extra links:") :].split("\n\n", 1)[0]
    assert "best effort" in links
    assert "api_id:<campaign id>" in links
