"""The fault matrix: which faults, at which phase of a send, and how the sandbox is armed for each cell.

Every cell is one small send (``BATCHES`` batches of 50 recipients, ``CONCURRENCY`` in flight) by its
own Airflow task with ``retries=1`` and no retry delay, on its own connection and campaign id, so the
cells of one ``airflow dags test`` run cannot disturb each other. Phases say where the fault strikes:

* ``before`` — on request 1: nothing was accepted yet;
* ``mid`` — on request ``MID_REQUEST``, while other batches are in flight;
* ``after`` — on the last request, after Braze processed it where the fault allows (every fault but
  those that by definition come first: refused, connect timeout, 429, 502, 503): the answer is lost.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_braze.testing.sandbox import BrazeSandbox, Fault

BATCH_SIZE = 50
BATCHES = 8
CONCURRENCY = 3
MID_REQUEST = 4
PHASES = ("before", "mid", "after")
PHASE_TITLES = {
    "before": "before sending (request 1)",
    "mid": f"while in flight (request {MID_REQUEST} of {BATCHES})",
    "after": f"after Braze accepted (request {BATCHES} of {BATCHES})",
}
REQUEST_OF_PHASE = {"before": 1, "mid": MID_REQUEST, "after": BATCHES}

#: Connection extras of every cell: no in-request retries (each fault reaches the task, so Airflow's
#: retry is exercised), fast backoff, short timeouts.
BASE_EXTRAS: dict[str, Any] = {
    "max_retries": 0,
    "backoff_base": 0.01,
    "backoff_max": 0.05,
    "timeout": 1,
    "connect_timeout": 0.3,
    "max_concurrency": CONCURRENCY,
}
#: Worker faults hold a request for this long (released as soon as the client leaves).
HOLD_SECONDS = 6.0
#: ``execution_timeout`` of the execution-timeout cells (it strikes while a request is held).
EXECUTION_TIMEOUT = 2.5
#: Seconds between SIGTERM and the SIGKILL that follows if the task is still running: Airflow 3's
#: supervisor escalates after 5 s (Airflow 2 waits ``killed_task_cleanup_time``, 60 s by default).
SIGTERM_GRACE = 5.0

#: fault id → (title in the docs, what kind of fault, extra arguments)
FAULTS: dict[str, tuple[str, str]] = {
    "refused": ("connection refused", "port"),
    "connect_timeout": ("connect timeout", "port"),
    "read_timeout": ("read timeout (no answer within `timeout`)", "sandbox"),
    "rate_limit_reset": ("429 with `X-RateLimit-Reset`", "sandbox"),
    "rate_limit_no_reset": ("429 without `X-RateLimit-Reset`", "sandbox"),
    "http_500": ("500", "sandbox"),
    "http_501": ("501", "sandbox"),
    "http_502": ("502", "sandbox"),
    "http_503": ("503", "sandbox"),
    "http_504": ("504", "sandbox"),
    "http_507": ("507", "sandbox"),
    "http_520": ("520", "sandbox"),
    "http_524": ("524", "sandbox"),
    "non_json_2xx": ("2xx whose body is not JSON (a proxy page)", "sandbox"),
    "undecodable_2xx": ("2xx whose body cannot be decoded (`Content-Encoding: gzip`, not gzip)", "sandbox"),
    "tls_cut": ("TLS error while reading the answer", "sandbox"),
    "dropped": ("connection dropped without an answer", "sandbox"),
    "sigkill": ("worker killed (SIGKILL)", "worker"),
    "execution_timeout": ("`execution_timeout`", "worker"),
    "sigterm": ("SIGTERM (task cleared or marked)", "worker"),
    "resume_store": ("resume-store write fails", "client"),
    "outcome_writer": ("outcome writer raises", "client"),
}


@dataclass
class Cell:
    """One fault at one phase, sent by its own task.

    :param fault: a key of :data:`FAULTS`.
    :param phase: one of :data:`PHASES`.
    :param conn_id: the cell's Braze connection.
    :param resume_dir: the cell's ``resume_store`` directory (its only record is there).
    :param results_file: where the task appends one JSON line per try event.
    :param control_url: the sandbox's main URL (its control API).
    :param reopen_port: a port a ``port`` fault took down, reopened when the next try starts.
    """

    fault: str
    phase: str
    conn_id: str = ""
    resume_dir: str = ""
    results_file: str = ""
    control_url: str = ""
    reopen_port: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.fault}__{self.phase}"

    @property
    def task_id(self) -> str:
        return f"cell_{self.id}"

    @property
    def campaign_id(self) -> str:
        return f"fm-{self.id}"

    @property
    def request(self) -> int:
        """The request the fault strikes on."""
        return REQUEST_OF_PHASE[self.phase]

    @property
    def kind(self) -> str:
        return FAULTS[self.fault][1]

    def recipient_id(self, index: int) -> str:
        return f"{self.id}-{index}"

    def recipients(self) -> list[dict[str, Any]]:
        return [
            {"external_user_id": self.recipient_id(i), "trigger_properties": {"i": i}}
            for i in range(BATCH_SIZE * BATCHES)
        ]

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "id": self.id})


def all_cells() -> list[Cell]:
    """Every fault x phase."""
    return [Cell(fault, phase) for fault in FAULTS for phase in PHASES]


def sandbox_fault(cell: Cell) -> Fault | None:
    """The fault the sandbox plays for a cell (None: the cell's fault is not the server's)."""
    scope = {"match": {"campaign_id": cell.campaign_id}, "on_request": cell.request, "label": cell.id}
    fault = cell.fault
    if fault == "read_timeout":
        return Fault(kind="slow", seconds=2.5, **scope)
    if fault == "rate_limit_reset":
        return Fault(kind="rate_limit", seconds=1, **scope)
    if fault == "rate_limit_no_reset":
        return Fault(kind="rate_limit", reset=False, **scope)
    if fault.startswith("http_"):
        return Fault(status=int(fault.removeprefix("http_")), **scope)
    if fault == "non_json_2xx":
        return Fault(kind="non_json", **scope)
    if fault == "undecodable_2xx":
        return Fault(kind="bad_encoding", **scope)
    if fault == "tls_cut":
        return Fault(kind="tls_cut", **scope)
    if fault == "dropped":
        return Fault(kind="drop", **scope)
    if fault in ("refused", "connect_timeout"):
        if cell.phase == "before":
            return None  # the port is down from the start
        # the port goes down once the request before the chosen one is answered
        kind = "refuse" if fault == "refused" else "connect_timeout"
        return Fault(kind=kind, **{**scope, "on_request": cell.request - 1 if cell.phase == "mid" else cell.request})
    if fault in ("sigkill", "sigterm", "execution_timeout"):
        # the worker fault strikes while Braze holds a request: before processing it (before, mid)
        # or after (after: accepted, answer pending). A killed client before processing: not processed.
        if cell.phase == "after":
            return Fault(kind="slow", seconds=HOLD_SECONDS, **scope)
        return Fault(kind="stall", seconds=HOLD_SECONDS, abandon_if_client_left=cell.phase == "before", **scope)
    if fault == "resume_store" and cell.phase == "mid":
        # hold request MID_REQUEST a while, so that the record is written while the send runs
        return Fault(kind="stall", seconds=1.2, **scope)
    return None


def arm(sandbox: BrazeSandbox, cell: Cell) -> None:
    """Inject the cell's sandbox fault and set its connection's extras."""
    extras = dict(BASE_EXTRAS)
    if cell.fault in ("sigkill", "sigterm", "execution_timeout"):
        extras["timeout"] = HOLD_SECONDS + 4  # the worker fault, not a read timeout, ends the wait
    cell.extras = extras
    fault = sandbox_fault(cell)
    if fault is not None:
        sandbox.inject(fault)


def connection_json(url: str, api_key: str, extras: dict[str, Any]) -> str:
    return json.dumps({"conn_type": "braze", "host": url, "password": api_key, "extra": extras})
