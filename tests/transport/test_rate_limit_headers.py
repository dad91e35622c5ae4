from __future__ import annotations

import logging
import time

import pytest

from airflow_provider_braze.client.transport import rate_limit_headers as rate_limit
from airflow_provider_braze.client.transport.rate_limit_headers import RateLimitInfo, parse_http_date

NOW = 1_795_791_000.0


def test_headers_are_read_case_insensitively_as_requests_and_aiohttp_give_them():
    from multidict import CIMultiDict
    from requests.structures import CaseInsensitiveDict

    lower = RateLimitInfo.from_headers(  # HTTP/2 lower-cases header names
        CaseInsensitiveDict(
            {"x-ratelimit-limit": "250000", "x-ratelimit-remaining": "17", "x-ratelimit-reset": "1795791600"}
        ),
        now=NOW,
    )
    mixed = RateLimitInfo.from_headers(
        CIMultiDict({"X-RateLimit-Limit": "250000", "X-RATELIMIT-REMAINING": "17", "X-Ratelimit-Reset": "1795791600"}),
        now=NOW,
    )
    assert lower == mixed == RateLimitInfo(limit=250000, remaining=17, reset_at=1795791600.0)


def test_missing_or_garbled_headers_are_none():
    assert RateLimitInfo.from_headers({"X-RateLimit-Reset": "soon"}, now=NOW) == RateLimitInfo()


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-RateLimit-Reset", "inf"),
        ("X-RateLimit-Reset", "nan"),
        ("X-RateLimit-Reset", "-1"),
        ("X-RateLimit-Reset", str(int(NOW * 1000) + 5000)),  # a millisecond epoch: years ahead
        ("X-RateLimit-Reset", "30"),  # a relative delay, not an epoch time
        ("X-RateLimit-Remaining", "-3"),
        ("X-RateLimit-Remaining", "nan"),
        ("X-RateLimit-Limit", "Infinity"),
        ("X-RateLimit-Limit", "1e400"),
    ],
)
def test_untrustworthy_values_are_ignored_with_a_warning(header, value, caplog, monkeypatch):
    monkeypatch.setattr(rate_limit, "_warned", set())
    with caplog.at_level(logging.WARNING, logger=rate_limit.__name__):
        info = RateLimitInfo.from_headers({header: value}, now=NOW)
    assert info == RateLimitInfo()
    assert header in caplog.text
    assert "Ignoring" in caplog.text


def test_a_bad_header_warns_once_not_on_every_response(caplog, monkeypatch):
    monkeypatch.setattr(rate_limit, "_warned", set())
    with caplog.at_level(logging.WARNING, logger=rate_limit.__name__):
        for _ in range(50):
            RateLimitInfo.from_headers({"X-RateLimit-Reset": "inf"}, now=NOW)
    assert caplog.text.count("Ignoring") == 1


def test_reset_is_judged_against_braze_date_not_the_local_clock():
    # Braze's clock is an hour and a half ahead of ours: its Reset is valid on its own clock.
    headers = {"Date": "Sat, 28 Nov 2026 12:00:00 GMT", "X-RateLimit-Reset": str(1795867200 + 60)}
    info = RateLimitInfo.from_headers(headers, now=1795867200 - 5400)
    assert info.server_date == 1795867200.0
    assert info.reset_at == 1795867260.0


def test_http_dates():
    assert parse_http_date("Sat, 28 Nov 2026 12:00:00 GMT") == 1795867200.0
    assert parse_http_date("yesterday") is None
    assert parse_http_date(None) is None


@pytest.fixture
def worker_in_new_york(monkeypatch):
    """The worker's local zone is not UTC (five hours behind in November)."""
    if not hasattr(time, "tzset"):
        pytest.skip("no time.tzset on this platform")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "text",
    [
        "Sat, 28 Nov 2026 12:00:00 GMT",  # the preferred form
        "Saturday, 28-Nov-26 12:00:00 GMT",  # the obsolete RFC 850 form
        "Sat Nov 28 12:00:00 2026",  # the obsolete asctime form: no zone, GMT by definition
        "Sat, 28 Nov 2026 12:00:00 -0000",  # "-0000": no zone information, read as GMT
        "Sat, 28 Nov 2026 13:00:00 +0100",  # an explicit offset is honoured
    ],
)
def test_an_http_date_is_gmt_whatever_the_worker_zone(worker_in_new_york, monkeypatch, text):
    """RFC 9110 5.6.7: an HTTP-date is always GMT. A zoneless one read as local time would put Braze's
    clock five hours off here: the rate limiter would judge Reset against it, and the CDI operator would
    match runs against a trigger time five hours late."""
    monkeypatch.setattr(rate_limit, "_last_date", ("", None))
    assert parse_http_date(text) == 1795867200.0
    assert RateLimitInfo.from_headers({"Date": text}, now=1795867200.0).server_date == 1795867200.0


def test_the_package_reads_http_dates_in_one_place():
    """The rate limiter and the CDI operator share one reader, so they cannot disagree on a Date again."""
    import ast
    from pathlib import Path

    import airflow_provider_braze

    package = Path(airflow_provider_braze.__file__).parent
    readers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if any(
            isinstance(node, ast.Name | ast.Attribute)
            and (node.id if isinstance(node, ast.Name) else node.attr)
            in {"parsedate_to_datetime", "parsedate_tz", "parsedate"}
            for node in ast.walk(ast.parse(path.read_text()))
        )
    )
    assert readers == ["client/transport/rate_limit_headers.py"]
