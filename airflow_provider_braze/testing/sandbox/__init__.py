"""The Braze sandbox: a local fake Braze REST API for tests, demos and benchmarks."""

from __future__ import annotations

from airflow_provider_braze.testing.sandbox.cdi_api import RunScript
from airflow_provider_braze.testing.sandbox.config import DEFAULT_API_KEY, Fault, SandboxConfig
from airflow_provider_braze.testing.sandbox.server import BrazeSandbox

__all__ = ["DEFAULT_API_KEY", "BrazeSandbox", "Fault", "RunScript", "SandboxConfig"]
