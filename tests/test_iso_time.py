"""One ISO 8601 parser (on pendulum) for schedule times, broadcast times, CDI run times and receipts.

It reads the extended calendar form only, refuses what pendulum (or Python 3.11's ``fromisoformat``)
would read leniently, and each caller keeps what a zone-less time meant to it before.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_braze.client import broadcast_matching, cdi_runs
from airflow_provider_braze.client.iso_time import IsoTimeError, parse_iso_time
from airflow_provider_braze.client.payload_validation import PayloadRuleError, parse_time
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.operators import BrazeScheduleCampaignOperator
from tests.conftest import run_operator

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T10:00:00Z", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("2026-01-01T10:00:00z", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("2026-01-01t10:00:00z", datetime(2026, 1, 1, 10, tzinfo=UTC)),  # RFC 3339: a lowercase "t" too
        ("  2026-01-01T10:00:00+00:00 ", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("2026-01-01T10:00:00+02:00", datetime(2026, 1, 1, 10, tzinfo=timezone(timedelta(hours=2)))),
        ("2026-01-01T10:00:00-0530", datetime(2026, 1, 1, 10, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
        ("2026-01-01 10:00:00.5Z", datetime(2026, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-01-01T10:00:00.1234567Z", datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)),  # CDI: 7 digits
        ("2026-01-01T10:00:00", datetime(2026, 1, 1, 10)),
        ("2026-01-01T10:00", datetime(2026, 1, 1, 10)),
        ("2026-01-01", datetime(2026, 1, 1)),  # a date alone was read as its midnight before: still is
    ],
)
def test_the_extended_form_is_read_as_a_standard_datetime(text, expected):
    parsed = parse_iso_time(text, naive="keep")
    assert parsed == expected
    assert parsed.tzinfo == expected.tzinfo
    assert type(parsed) is datetime  # not a pendulum DateTime leaking into results and XCom
    assert parsed.tzinfo is None or type(parsed.tzinfo) is timezone


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-01",
        "2026-02-30T10:00:00",
        "2026-01-01T24:00:00",
        "2026-01-01T10:00:60",
        "tomorrow",
        "now",
        "12/01/2026",
        "01.12.2026 10:00",
        "20260101T100000",  # basic form: Python 3.11's fromisoformat and pendulum read it
        "2026-W01-1T10:00:00",  # week date: likewise
        "2026-001T10:00:00",  # ordinal date: pendulum reads it
        "10:00",  # a bare time: pendulum returns a Time
        "P1D",  # a duration: pendulum returns a Duration
        "2026-01-01T10:00:00+25:00",
        "2026-01-01Z",
        "",
        "   ",
    ],
)
def test_lenient_and_impossible_forms_are_refused(text):
    with pytest.raises(IsoTimeError):
        parse_iso_time(text, naive="keep")
    with pytest.raises(PayloadRuleError, match=r"^schedule\.time: "):
        parse_time(text, "schedule.time")
    assert cdi_runs.parse_time(text) is None
    assert broadcast_matching.parse_send_time(text) is None


@pytest.mark.parametrize("value", [None, 1767225600, b"2026-01-01T10:00:00Z", ["2026-01-01"]])
def test_a_value_that_is_not_a_string_is_refused(value):
    with pytest.raises(IsoTimeError, match="must be an ISO 8601 time string"):
        parse_iso_time(value, naive="utc")


def test_each_caller_keeps_what_a_time_without_a_zone_meant_to_it():
    naive = "2026-01-01T10:00:00"
    utc = datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_time(naive, "schedule.time") == datetime(2026, 1, 1, 10)  # naive: the schedule rules decide
    assert cdi_runs.parse_time(naive) == utc  # CDI run times: UTC
    assert broadcast_matching.parse_send_time(naive) == utc
    # a zone-less next_send_time of a local-time broadcast stays a wall-clock time (UTC+14 to UTC-12)
    first, last = broadcast_matching.send_window({"next_send_time": naive, "schedule_type": "local_time_zones"})
    assert last - first == timedelta(hours=26)
    assert cdi_runs.parse_time(datetime(2026, 1, 1, 10)) == utc
    assert parse_iso_time(datetime(2026, 1, 1, 10), naive="keep").tzinfo is None


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))])))
def test_an_isoformat_time_reads_back_as_itself(moment):
    for spec in ("seconds", "microseconds", "auto"):
        parsed = parse_iso_time(moment.isoformat(timespec=spec), naive="keep")
        assert parsed == moment.replace(microsecond=parsed.microsecond)
        assert parsed.utcoffset() == moment.utcoffset()


def test_a_schedule_time_in_a_lenient_form_fails_naming_the_field_before_any_request(sandbox):
    op = BrazeScheduleCampaignOperator(
        task_id="t", campaign_id="c", broadcast=True, schedule={"time": "2027-W01-1T10:00:00Z"}
    )
    with pytest.raises(BrazeValidationError) as err:
        run_operator(op)
    assert err.value.field == "schedule.time"
    assert "could not be parsed as an ISO 8601 time: '2027-W01-1T10:00:00Z'" in err.value.rule
    assert sandbox.requests == []


def test_importing_the_parser_or_the_rules_does_not_import_pendulum():
    code = (
        "import sys; import airflow_provider_braze.client.payload_validation, "
        "airflow_provider_braze.client.cdi_runs, airflow_provider_braze.client.broadcast_matching; "
        "print('pendulum' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
