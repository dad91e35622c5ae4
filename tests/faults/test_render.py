"""The delivery-guarantees page renderer: one row per fault, one column per phase, the totals."""

from __future__ import annotations

import pytest

from tests.faults import render
from tests.faults.matrix import FAULTS, PHASES

pytestmark = pytest.mark.faults


def verdict(fault: str, phase: str, outcome: str = "delivered", **changes) -> dict:
    base = {
        "fault": fault,
        "phase": phase,
        "outcome": outcome,
        "exercised": True,
        "recipients": 400,
        "duplicates": 50 if outcome == "duplicates" else 0,
        "lost": 0,
        "final_try": "success",
    }
    return {**base, **changes}


def test_each_cell_shows_its_outcome_and_the_totals_count_the_broken_promises():
    verdicts = [verdict(f, p) for f in FAULTS for p in PHASES]
    verdicts[0] = verdict("refused", "before", "duplicates")
    verdicts[1] = verdict("refused", "mid", "named", final_try="failed")
    verdicts[2] = verdict("refused", "after", exercised=False)
    page = render.render(verdicts)
    row = next(line for line in page.splitlines() if line.startswith("| connection refused |"))
    assert row == (
        "| connection refused | **DUPLICATES** | delivered once or named maybe-sent; task failed "
        "| fault did not strike |"
    )
    assert f"Cells: {len(verdicts)}; recipients: {400 * len(verdicts)}; recipients delivered twice: 50;" in page
    assert "cells breaking the promise: 2." in page
    rows = [line for line in page.splitlines() if line.startswith("| ")]  # headers and rows of both tables
    assert len(rows) == 1 + len(render.CLASSIFICATION_ROWS) + 1 + len(FAULTS)


def test_a_cell_missing_from_the_run_is_shown_as_not_run():
    page = render.render([verdict("http_500", "before")])
    assert "| 500 | delivered once | not run | not run |" in page
