"""The fault matrix: every fault x phase, each followed by Airflow's own retry, checked against the
sandbox's per-recipient delivery record.

For every cell: no recipient delivered twice, and every recipient either delivered or in a batch the
provider names as "may have been sent" (the resume record's ``unknown``/``in_flight`` batches after
the last try). All cells run in one ``airflow dags test`` of ``tests/dags/braze_fault_matrix.py`` (one
task per cell); the results also render ``docs/delivery-guarantees.md`` (see ``tests/faults/render.py``).

``BRAZE_FAULT_MATRIX_ONLY=<fault,...>`` runs some faults only; ``BRAZE_FAULT_MATRIX_RESULTS=<file>``
keeps the run's results; ``BRAZE_WRITE_DOCS=1`` rewrites the docs page from this run instead of
checking it.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_braze.testing.sandbox import BrazeSandbox
from tests.faults import render
from tests.faults.matrix import BATCH_SIZE, BATCHES, FAULTS, Cell, all_cells, arm, connection_json
from tests.faults.tls import self_signed_cert, server_context

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(1200)]

ROOT = Path(__file__).parents[2]
DAGS = ROOT / "tests" / "dags"
DOCS_PAGE = ROOT / "docs" / "delivery-guarantees.md"
#: ``BRAZE_FAULT_MATRIX_ONLY=sigkill,http_500`` runs only those faults (a quicker loop while debugging).
ONLY = [f for f in os.environ.get("BRAZE_FAULT_MATRIX_ONLY", "").split(",") if f]
CELLS = [c for c in all_cells() if not ONLY or c.fault in ONLY]


def _named_batches(record: dict[str, Any] | None) -> set[int]:
    """Batches the provider lists as "may have been sent": ``unknown`` and ``in_flight`` of the record."""
    if not record:
        return set()
    named: set[int] = set()
    for name in ("unknown", "in_flight"):
        for item in record.get(name) or ():
            if isinstance(item, (list, tuple)) and len(item) == 2:  # a [start, end) range
                named.update(range(int(item[0]), int(item[1])))
            else:
                named.add(int(item))
    return named


def _read_record(resume_dir: Path) -> dict[str, Any] | None:
    files = sorted(resume_dir.glob("**/*.json"))
    return json.loads(files[0].read_text()) if files else None


def _events(results_file: Path) -> list[dict[str, Any]]:
    if not results_file.exists():
        return []
    return [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]


def _struck_in_first_try(cell: Cell, events: list[dict[str, Any]], fired_at: float | None) -> bool:
    """Whether the cell's fault struck during try 1 (a fault that waited for try 2 proves nothing)."""
    second = [e["at"] for e in events if e["event"] == "start" and e.get("try_number", 1) > 1]
    before_retry = min(second, default=float("inf"))
    first_failed = [e for e in events if e["event"] == "failed" and e.get("try_number") == 1]
    if cell.fault == "execution_timeout":  # the timeout struck while Braze held the request
        held = fired_at is not None and fired_at < before_retry
        return held and any("Timeout" in e.get("error", "") for e in first_failed)
    if FAULTS[cell.fault][1] in ("worker", "client"):  # the task noted its own fault
        return any(e["event"] == "fault" and e["at"] < before_retry for e in events)
    if FAULTS[cell.fault][1] == "port" and cell.phase == "before":
        return bool(first_failed)  # refused (or black-holed) from the start
    return fired_at is not None and fired_at < before_retry


def judge(cell: Cell, counts: Counter[str], record: dict[str, Any] | None, events: list[dict[str, Any]], fired: bool):
    """The oracle's verdict on one cell, as a JSON-serialisable dict."""
    named = _named_batches(record)
    duplicates, lost, undelivered_named, delivered = [], [], 0, 0
    for index in range(BATCH_SIZE * BATCHES):
        n = counts.get(f"external_user_id:{cell.recipient_id(index)}", 0)
        batch = index // BATCH_SIZE + 1
        if n > 1:
            duplicates.append(index)
        elif n == 1:
            delivered += 1
        elif batch in named:
            undelivered_named += 1
        else:
            lost.append(index)
    ends = [e for e in events if e["event"] in ("success", "failed")]
    final = ends[-1]["event"] if ends else "not run"
    if duplicates:
        outcome = "duplicates"
    elif lost:
        outcome = "lost"
    elif named:
        outcome = "named"
    else:
        outcome = "delivered"
    return {
        "cell": cell.id,
        "fault": cell.fault,
        "phase": cell.phase,
        "outcome": outcome,
        "exercised": fired,
        "recipients": BATCH_SIZE * BATCHES,
        "delivered_once": delivered,
        "duplicates": len(duplicates),
        "duplicate_batches": sorted({i // BATCH_SIZE + 1 for i in duplicates}),
        "lost": len(lost),
        "lost_batches": sorted({i // BATCH_SIZE + 1 for i in lost}),
        "named_batches": sorted(named),
        "named_not_delivered": undelivered_named,
        "tries": len([e for e in events if e["event"] == "start"]),
        "final_try": final,
        "errors": [e.get("error", "")[:300] for e in ends if e["event"] == "failed"],
        "notes": [e["note"] for e in events if e["event"] == "fault"],
    }


@pytest.fixture(scope="module")
def matrix(airflow_cli, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run every cell once (one ``airflow dags test``) and judge each."""
    work = tmp_path_factory.mktemp("fault-matrix")
    cert, key = self_signed_cert(work)
    env: dict[str, str] = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "REQUESTS_CA_BUNDLE": str(cert),  # the TLS port's self-signed certificate
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with BrazeSandbox() as sandbox:
        sandbox.configure(latency=0.05)
        tls = sandbox.add_port(tls=server_context(cert, key))
        cells: list[dict[str, Any]] = []
        for number, cell in enumerate(CELLS):
            url = sandbox.url
            if cell.fault == "tls_cut":
                url = tls.url
            elif FAULTS[cell.fault][1] == "port":
                port = sandbox.add_port()
                url, cell.reopen_port = port.url, port.port
                if cell.phase == "before":
                    port.take_down("refuse" if cell.fault == "refused" else "connect_timeout")
            cell.conn_id = f"braze_fm_{number}"
            cell.resume_dir = str(work / "resume" / cell.id)
            cell.results_file = str(work / "events" / f"{cell.id}.jsonl")
            cell.control_url = sandbox.url
            arm(sandbox, cell)
            env[f"AIRFLOW_CONN_{cell.conn_id.upper()}"] = connection_json(url, sandbox.api_key, cell.extras)
            cells.append({**json.loads(cell.to_json()), "recipients": cell.recipients()})
        (work / "events").mkdir()
        cells_file = work / "cells.json"
        cells_file.write_text(json.dumps(cells))
        env["BRAZE_FAULT_MATRIX_CELLS"] = str(cells_file)
        started = time.monotonic()
        run = airflow_cli("dags", "test", "braze_fault_matrix", env=env, timeout=1100)
        seconds = time.monotonic() - started
        (work / "dags-test.log").write_text(run.stdout + run.stderr)
        counts = sandbox.delivery_counts()
        fired_at = sandbox.fired_at
    verdicts: dict[str, dict[str, Any]] = {}
    for cell in CELLS:
        events = _events(Path(cell.results_file))
        exercised = _struck_in_first_try(cell, events, fired_at.get(cell.id))
        verdicts[cell.id] = judge(cell, counts, _read_record(Path(cell.resume_dir)), events, exercised)
    summary = {"seconds": round(seconds, 1), "log": str(work / "dags-test.log"), "cells": list(verdicts.values())}
    (work / "fault-matrix.json").write_text(json.dumps(summary, indent=1))
    if os.environ.get("BRAZE_FAULT_MATRIX_RESULTS"):  # kept: pytest prunes its old temporary directories
        kept = Path(os.environ["BRAZE_FAULT_MATRIX_RESULTS"])
        summary["log"] = str(kept.with_suffix(".log"))
        kept.with_suffix(".log").write_text(run.stdout + run.stderr)
        kept.write_text(json.dumps(summary, indent=1))
    assert any(e["event"] == "start" for c in CELLS for e in _events(Path(c.results_file))), (run.stdout + run.stderr)[
        -6000:
    ]
    return verdicts


@pytest.mark.parametrize("cell_id", [c.id for c in CELLS])
def test_no_recipient_twice_and_every_one_delivered_or_named(matrix, cell_id):
    verdict = matrix[cell_id]
    assert verdict["exercised"], f"the fault of {cell_id} never struck: {verdict}"
    assert verdict["tries"] >= 1, verdict
    assert verdict["duplicates"] == 0, f"{verdict['duplicates']} recipients delivered twice: {verdict}"
    assert verdict["lost"] == 0, f"{verdict['lost']} recipients neither delivered nor named: {verdict}"


def test_the_delivery_guarantees_page_is_the_one_this_run_renders(matrix):
    if ONLY:
        pytest.skip("BRAZE_FAULT_MATRIX_ONLY ran part of the matrix")
    page = render.render(list(matrix.values()))
    if os.environ.get("BRAZE_WRITE_DOCS"):
        DOCS_PAGE.write_text(page)
    assert DOCS_PAGE.read_text() == page, (
        "docs/delivery-guarantees.md is not what the fault matrix renders: run "
        "BRAZE_WRITE_DOCS=1 pytest tests/faults/test_fault_matrix.py and commit the page"
    )
