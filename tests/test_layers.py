"""The layers of the package hold: ``client/`` imports nothing above it, ``engine/`` no Airflow-facing module.

``client/`` is the Braze API without Airflow (the hooks speak it); ``engine/`` plans and sends data-driven
sends through the hook. A reversed import would make the layers in CONTRIBUTING.md untrue, and a cycle
between them only a matter of time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import airflow_provider_braze

PACKAGE = Path(airflow_provider_braze.__file__).parent
NAME = "airflow_provider_braze"

#: What each layer must never import (anywhere in the module, function bodies included).
FORBIDDEN = {
    "client": ("engine", "hooks", "operators", "sensors", "triggers", "transfers", "testing"),
    "engine": ("operators", "sensors", "triggers", "transfers", "testing"),
}


def _imports(path: Path) -> list[str]:
    """Every ``airflow_provider_braze`` module (or ``module.name``) ``path`` imports."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return [name for name in found if name.startswith(f"{NAME}.")]


def _violations(layer: str) -> list[str]:
    banned = tuple(f"{NAME}.{other}" for other in FORBIDDEN[layer])
    return sorted(
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / layer).rglob("*.py")
        for name in _imports(path)
        if name.startswith(banned)
    )


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_below_it(layer: str) -> None:
    assert len(list((PACKAGE / layer).rglob("*.py"))) >= 5  # the scan sees the package
    assert _violations(layer) == []


def test_the_scan_sees_a_reversed_import(tmp_path: Path) -> None:
    """The check can fail: a client module importing the engine inside a function is reported."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from airflow_provider_braze.engine.send_plan import SendPlan\n")
    assert _imports(module) == ["airflow_provider_braze.engine.send_plan.SendPlan"]
