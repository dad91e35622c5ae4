from __future__ import annotations

import pytest

from airflow_provider_braze.client.transport.settings import BrazeClientSettings, BrazeSettingsError


def test_defaults_match_braze_limits():
    settings = BrazeClientSettings.from_extras({})
    assert settings.requests_per_hour == 250_000
    assert settings.broadcast_requests_per_minute == 250
    assert settings.retry_unknown_outcome is False


def test_string_extras_from_uri_connections_are_coerced():
    settings = BrazeClientSettings.from_extras(
        {"timeout": "12.5", "max_retries": "2", "retry_unknown_outcome": "true", "unrelated": "x"}
    )
    assert settings.timeout == 12.5
    assert settings.max_retries == 2
    assert settings.retry_unknown_outcome is True


@pytest.mark.parametrize(
    ("extras", "message"),
    [
        ({"timeout": "soon"}, "'timeout' must be a number"),
        ({"max_retries": "2.5"}, "'max_retries' must be a whole number"),
        ({"retry_unknown_outcome": "maybe"}, "'retry_unknown_outcome' must be true or false"),
        ({"timeout": 0}, "'timeout' must be a positive number"),
        ({"max_concurrency": 0}, "'max_concurrency' must be 1 or more"),
        ({"concurrency_cap": "0"}, "'concurrency_cap' must be 1 or more"),
        ({"concurrency_cap": "lots"}, "'concurrency_cap' must be a whole number"),
        ({"max_retries": -1}, "'max_retries' must be 0 or more"),
    ],
)
def test_bad_extras_name_the_field_and_rule(extras, message):
    with pytest.raises(BrazeSettingsError) as err:
        BrazeClientSettings.from_extras(extras)
    assert message in str(err.value)


def test_concurrency_adapts_by_default_with_a_cap_sized_for_the_hourly_limit_at_one_second():
    default = BrazeClientSettings.from_extras({})
    assert default.max_concurrency is None  # adaptive
    assert 250_000 / 3600 * 1.0 <= default.in_flight_cap <= 100
    raised = BrazeClientSettings.from_extras({"requests_per_hour": "1080000"})
    assert raised.in_flight_cap >= 300 * 0.6 * 1.25  # 300/s at 600 ms
    assert BrazeClientSettings.from_extras({"requests_per_hour": 10**9}).in_flight_cap == 256  # threads stay few
    explicit = BrazeClientSettings.from_extras({"concurrency_cap": "40", "max_concurrency": "4"})
    assert (explicit.in_flight_cap, explicit.max_concurrency) == (40, 4)
