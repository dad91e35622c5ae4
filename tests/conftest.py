from __future__ import annotations

import os
import tempfile

# Airflow reads its home at import: give the test session its own, before anything imports airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="braze-provider-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

pytest_plugins = ["airflow_provider_braze.testing.pytest_plugin"]

import pytest  # noqa: E402

from airflow_provider_braze.testing.sandbox import BrazeSandbox  # noqa: E402

#: Fast backoff so retry tests take milliseconds; the policy is the same.
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 2, "connect_timeout": 1}


@pytest.fixture
def hook(braze_connection: BrazeSandbox):
    from airflow_provider_braze.hooks.braze import BrazeHook

    h = BrazeHook(settings=FAST)
    yield h
    h.close()


@pytest.fixture
def sandbox(braze_connection: BrazeSandbox) -> BrazeSandbox:
    return braze_connection


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
    """All log text a test produced: stdlib logging (Airflow 2) and structlog's stdout (Airflow 3)."""
    import logging

    caplog.set_level(logging.DEBUG)

    def text() -> str:
        captured = capsys.readouterr()
        text.buffer += caplog.text + captured.out + captured.err  # type: ignore[attr-defined]
        caplog.clear()
        return text.buffer  # type: ignore[attr-defined]

    text.buffer = ""  # type: ignore[attr-defined]
    return text
