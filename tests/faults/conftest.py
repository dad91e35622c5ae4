from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # pyproject's marker list belongs to the lead; register ours here (strict markers are on)
    config.addinivalue_line("markers", "faults: the fault matrix and the sandbox fault knobs it needs")
