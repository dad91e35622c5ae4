"""The sandbox stands on its own: it imports nothing of the provider outside its own package.

Like moto, the fake Braze judges requests with its own rule table (``testing/sandbox/rules.py``,
written from Braze's documentation); importing the client's validation would make a wrong rule
wrong on both sides and every comparison pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_braze.testing.sandbox as sandbox_package

SANDBOX = Path(sandbox_package.__file__).parent
OWN = "airflow_provider_braze.testing.sandbox"


def _provider_imports(path: Path) -> list[str]:
    """Every ``airflow_provider_braze`` module ``path`` imports (top level or inside functions)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import stays inside the sandbox package
                continue
            module = node.module or ""
            found += [
                f"{module}.{alias.name}" if module == "airflow_provider_braze" else module for alias in node.names
            ]
    return [name for name in found if name.startswith("airflow_provider_braze")]


def test_the_sandbox_imports_only_itself() -> None:
    modules = sorted(SANDBOX.glob("*.py"))
    assert len(modules) >= 10  # the scan sees the package
    outside = {
        f"{path.name}: {name}"
        for path in modules
        for name in _provider_imports(path)
        if name != OWN and not name.startswith(f"{OWN}.")
    }
    assert not outside, sorted(outside)


def test_the_scan_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The check can fail: a module importing the client's validation is reported."""
    module = tmp_path / "bad.py"
    module.write_text(
        "from airflow_provider_braze.client import payload_validation as pv\n"
        "def f():\n    from airflow_provider_braze.client.payload_rules import MAX_USERS_PER_REQUEST\n"
    )
    assert _provider_imports(module) == [
        "airflow_provider_braze.client",
        "airflow_provider_braze.client.payload_rules",
    ]
