from __future__ import annotations

from airflow_provider_braze.transport.rate_limit import RateLimitInfo


def test_headers_are_read_case_insensitively():
    lower = RateLimitInfo.from_headers(
        {"x-ratelimit-limit": "250000", "x-ratelimit-remaining": "17", "x-ratelimit-reset": "1795791600"}
    )
    mixed = RateLimitInfo.from_headers(
        {"X-RateLimit-Limit": "250000", "X-RATELIMIT-REMAINING": "17", "X-Ratelimit-Reset": "1795791600"}
    )
    assert lower == mixed == RateLimitInfo(limit=250000, remaining=17, reset_at=1795791600.0)


def test_missing_or_garbled_headers_are_none():
    assert RateLimitInfo.from_headers({"X-RateLimit-Reset": "soon"}) == RateLimitInfo()
