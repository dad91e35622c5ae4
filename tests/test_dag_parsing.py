"""DAG parsing stays fast and offline: no network, no connection lookups, no heavy imports."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "example_dags"


def _dagbag_class():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag
    return DagBag


def test_example_dags_parse_without_network_or_connection_lookups(monkeypatch):
    from airflow.providers.common.compat.sdk import BaseHook

    def no_network(*args, **kwargs):
        raise AssertionError("network access during DAG parsing")

    def no_connection(*args, **kwargs):
        raise AssertionError("connection lookup during DAG parsing")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(BaseHook, "get_connection", no_connection)
    bag = _dagbag_class()(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert {p.stem for p in EXAMPLES.glob("example_*.py")} == set(bag.dag_ids)


def test_importing_the_package_imports_no_airflow():
    code = "import sys, airflow_provider_braze; assert 'airflow' not in sys.modules, 'airflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    "module",
    ["airflow_provider_braze.operators", "airflow_provider_braze.sensors", "airflow_provider_braze.hooks"],
)
def test_public_packages_import_lazily(module):
    code = (
        f"import sys, {module}; "
        "assert not any(m.startswith('airflow_provider_braze.hooks.braze') for m in sys.modules), 'eager import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_sandbox_starts_without_airflow():
    code = (
        "import sys; from airflow_provider_braze.testing.sandbox import BrazeSandbox; "
        "s = BrazeSandbox().start(); s.stop(); assert 'airflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# Modules a DAG file must not pay for at parse time: loaded only when a task runs (or never, for the sandbox).
TASK_TIME_MODULES = (
    "requests",
    "aiohttp",
    "sqlalchemy",
    "airflow_provider_braze.testing",
    "airflow_provider_braze.hooks.braze",
    "airflow_provider_braze.hooks.braze_async",
    "airflow_provider_braze.triggers.base",
)


def test_every_operator_and_sensor_class_imports_no_task_time_machinery():
    # Compared with what Airflow's own BaseOperator loads (on Airflow 2 it imports requests and SQLAlchemy).
    code = f"""
import sys
from airflow.providers.common.compat.sdk import BaseOperator
heavy = {TASK_TIME_MODULES!r}
def loaded():
    return {{name for name in sys.modules if name.startswith(heavy)}}
before = loaded()
import airflow_provider_braze.operators as operators
import airflow_provider_braze.sensors as sensors
import airflow_provider_braze.transfers as transfers
classes = [getattr(operators, name) for name in operators.__all__] + [sensors.BrazeScheduledBroadcastSensor]
classes += [getattr(transfers, name) for name in transfers.__all__]
assert all(isinstance(c, type) for c in classes)
added = sorted(loaded() - before)
assert not added, f"importing the operators and sensors loaded {{added}}"
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


#: The engine modules a DAG file may load: the package and the option enums the constructors default to.
PARSE_TIME_ENGINE = ("airflow_provider_braze.engine", "airflow_provider_braze.engine.send_options")


def _operator_modules() -> list[str]:
    from airflow_provider_braze import operators

    return sorted(set(operators._MODULES.values()))


@pytest.mark.parametrize(
    "module",
    [f"airflow_provider_braze.operators.{name}" for name in _operator_modules()]
    + ["airflow_provider_braze.sensors.scheduled_broadcast", "airflow_provider_braze.transfers.analytics_to_sql"],
)
def test_an_operator_module_loads_no_spool_sender_or_resume_record(module):
    """The spool, the sources, the sender, the resume record and the outcome writer are task-time machinery:
    a DAG file that only builds operators (every option given as an enum member) must not load them."""
    code = f"""
import sys
import {module}
loaded = sorted(n for n in sys.modules if n.startswith("airflow_provider_braze.engine"))
extra = [n for n in loaded if n not in {PARSE_TIME_ENGINE!r}]
assert not extra, f"importing {module} loaded {{extra}}"
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
