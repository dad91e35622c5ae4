"""pytest fixtures for testing DAGs that use the Braze provider, against the Braze sandbox.

Enable them in a ``conftest.py``::

    pytest_plugins = ["airflow_provider_braze.testing.pytest_plugin"]
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_braze.testing.sandbox import BrazeSandbox


@pytest.fixture
def braze_sandbox() -> Iterator[BrazeSandbox]:
    """A fresh Braze sandbox on a free loopback port, stopped after the test."""
    with BrazeSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def braze_connection(braze_sandbox: BrazeSandbox, monkeypatch: pytest.MonkeyPatch) -> BrazeSandbox:
    """The sandbox, with ``AIRFLOW_CONN_BRAZE_DEFAULT`` pointing at it for the test."""
    for name, value in braze_sandbox.airflow_env().items():
        monkeypatch.setenv(name, value)
    return braze_sandbox
