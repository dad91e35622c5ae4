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


@pytest.fixture(scope="session")
def airflow_cli(tmp_path_factory: pytest.TempPathFactory):
    """Run the ``airflow`` CLI of this environment in a fresh, migrated AIRFLOW_HOME (once per session)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    home = tmp_path_factory.mktemp("airflow-home")
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    base_env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).parent.parent / "example_dags"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    }
    migrated = subprocess.run([airflow, "db", "migrate"], env=base_env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [airflow, *args], env={**base_env, **(env or {})}, capture_output=True, text=True, timeout=timeout
        )

    run.env = base_env  # type: ignore[attr-defined]
    return run


def run_operator(operator, context: dict | None = None):
    """Render an operator's templates with ``context`` and execute it, as a worker would."""
    context = dict(context or {})
    operator.render_template_fields(context)
    return operator.execute(context)
