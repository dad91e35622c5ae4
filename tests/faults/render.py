"""Render ``docs/delivery-guarantees.md`` from a fault-matrix run.

``python -m tests.faults.render <results.json>`` prints the page for the results a run saved with
``BRAZE_FAULT_MATRIX_RESULTS=<results.json>``; the matrix test checks the committed page against its
own run (``BRAZE_WRITE_DOCS=1`` rewrites it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.faults.matrix import (
    BATCH_SIZE,
    BATCHES,
    CONCURRENCY,
    EXECUTION_TIMEOUT,
    FAULTS,
    PHASE_TITLES,
    PHASES,
    SIGTERM_GRACE,
)

OUTCOME_TEXT = {
    "delivered": "delivered once",
    "named": "delivered once or named maybe-sent",
    "duplicates": "**DUPLICATES**",
    "lost": "**LOST** (not delivered, not named)",
}

#: (Braze's answer or its absence, what it means, what the provider does)
CLASSIFICATION_ROWS = (
    (
        "any 2xx (200, 201, 202 `queued`), JSON or not, its body readable or not",
        "accepted",
        "recorded as accepted; a body that is not JSON, or cannot be decoded, is logged",
    ),
    ("429", "not processed", "waits (until `X-RateLimit-Reset` when given, else backoff) and retries"),
    ("502, 503", "not processed (the gateway did not reach Braze)", "retried with backoff"),
    ("connection refused, connect timeout, DNS failure", "not sent", "retried with backoff"),
    ("500, 501, 504, 507, 520, 524 and every other 5xx", "maybe sent", 'not retried; named "may have been sent"'),
    (
        "read timeout, dropped connection, TLS error after the request was written, any other error "
        "but those raised while the request was prepared (an invalid URL or header)",
        "maybe sent",
        'not retried; named "may have been sent"',
    ),
    (
        "worker killed, SIGTERM, `execution_timeout`, an error while batches are in flight",
        "maybe sent (the batches in flight)",
        'never sent again by the next try; named "may have been sent"',
    ),
    ("400, 401, 403, 404, 413, 415, other 4xx", "rejected, not sent", "the send stops; a retry sends the rest"),
)
CLASSIFICATION = (
    "\n".join(
        ["| Braze's answer (or its absence) | Means | What the provider does |", "|---|---|---|"]
        + [f"| {answer} | {meaning} | {action} |" for answer, meaning, action in CLASSIFICATION_ROWS]
    )
    + "\n"
)


def _cell_text(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return "not run"
    if not verdict.get("exercised"):
        return "fault did not strike"
    text = OUTCOME_TEXT[verdict["outcome"]]
    if verdict.get("final_try") == "failed":
        text += "; task failed"
    return text


def render(verdicts: list[dict[str, Any]]) -> str:
    """The page for a run's cell verdicts."""
    by_cell = {(v["fault"], v["phase"]): v for v in verdicts}
    recipients = sum(v["recipients"] for v in verdicts)
    duplicates = sum(v["duplicates"] for v in verdicts)
    lost = sum(v["lost"] for v in verdicts)
    failing = sum(1 for v in verdicts if v["duplicates"] or v["lost"] or not v.get("exercised"))
    lines = [
        "# Delivery guarantees",
        "",
        "<!-- Generated from the fault matrix (tests/faults/test_fault_matrix.py) by tests/faults/render.py."
        " Do not edit: run `BRAZE_WRITE_DOCS=1 pytest tests/faults/test_fault_matrix.py`. -->",
        "",
        "The promise: **every recipient reaches Braze at most once**, across faults and Airflow retries,",
        'and a recipient that may not have been reached is in a batch the provider names as "may have',
        "been sent\" (the task's result `unknown_outcome_batches`, the resume record, the outcome table).",
        "",
        "One bound applies: two tries of one task running at once (a zombie try still sending while its",
        "retry started). The older try stops before its next request once it sees the newer try's claim,",
        "and checks at least every 25th record write and every second, so it may send a few more batches",
        "in that second; `ResumeLedger(owner_check_every=1)` makes the check strict (see",
        "[data-driven sends](data-driven-sends.md#never-lost-never-twice), \"One owner per record\").",
        "",
        "## How Braze's answers are classified",
        "",
        "Braze has no idempotency key, so a request whose outcome is unknown is never sent again blindly.",
        "",
        CLASSIFICATION,
        "## The fault matrix",
        "",
        f"Each cell is a send of {BATCHES} batches of {BATCH_SIZE} recipients ({CONCURRENCY} in flight) by "
        "a task with `retries=1`, against the",
        "sandbox, with the fault injected at the phase of the column; Airflow's own retry follows when the task fails.",
        "The oracle is the sandbox's per-recipient delivery record: no recipient delivered twice, and every recipient",
        "either delivered or in a batch the resume record names as maybe sent. Worker faults strike while "
        "Braze holds a",
        "request: unprocessed (first request: the request is dropped when the worker dies; mid-send: it is "
        "processed anyway)",
        f"or processed with the answer pending (after acceptance). `execution_timeout` is {EXECUTION_TIMEOUT} s; "
        f"SIGTERM is followed by SIGKILL after {SIGTERM_GRACE:g} s",
        "as Airflow 3 escalates (the worker runs Airflow's SIGTERM handling: `on_kill()`, and on Airflow 2 an "
        "`AirflowTaskTerminated` raised in the task).",
        "Connection refused and connect timeouts last until the retry starts. Client-side faults: the resume "
        "store fails from its first write",
        "after the record is opened (before), from the first write recording an acceptance mid-send (mid), or "
        "at the final write (after);",
        "the outcome writer raises on the 1st, 4th or 8th settled batch.",
        "",
        "| Fault | " + " | ".join(PHASE_TITLES[p] for p in PHASES) + " |",
        "|---|" + "---|" * len(PHASES),
    ]
    for fault, (title, _kind) in FAULTS.items():
        lines.append(f"| {title} | " + " | ".join(_cell_text(by_cell.get((fault, p))) for p in PHASES) + " |")
    lines += [
        "",
        f"Cells: {len(verdicts)}; recipients: {recipients}; recipients delivered twice: {duplicates}; "
        f"recipients lost: {lost}; cells breaking the promise: {failing}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    results = json.loads(Path(argv[1]).read_text())
    sys.stdout.write(render(results["cells"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
