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


def _find_pg_bin(name: str) -> str | None:
    import glob
    import shutil

    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """A throwaway PostgreSQL server on loopback, started from the OS's binaries (session scope).

    Yields the Airflow connection JSON of its ``braze`` database. Skips where PostgreSQL is not
    installed, except in CI, where that is a failure.
    """
    import json
    import pwd
    import shutil
    import socket
    import subprocess

    initdb, pg_ctl = _find_pg_bin("initdb"), _find_pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        message = "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="braze-postgres-"))  # not under pytest's 0700 root-owned tree
    data = base / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the package's postgres user
        user = pwd.getpwnam("postgres")
        shutil.chown(base, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -h 127.0.0.1 -k {base}"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "CREATE DATABASE braze"],
            check=True,
            capture_output=True,
        )
        yield json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": port, "login": "postgres", "schema": "braze"}
        )
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
