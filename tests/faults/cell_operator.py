"""The operator of one fault-matrix cell: ``BrazeTriggerCampaignOperator`` plus the client-side faults a
server cannot produce (a killed or terminated worker, a failing resume store, a raising outcome writer)
and a log of each try's end for the oracle.

Only try 1 meets the fault; Airflow's retry (try 2) runs the operator untouched.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from typing import Any

from airflow_provider_braze.operators import BrazeTriggerCampaignOperator
from tests.faults.matrix import BATCHES, REQUEST_OF_PHASE, SIGTERM_GRACE


def _control(url: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read() or b"null")


def _accepted_count(record: dict[str, Any]) -> int:
    return sum(end - start for start, end in record.get("accepted", []))


class FailingStore:
    """A resume store whose writes fail from a chosen write on, for the rest of the try.

    :param store: the real store (reads and earlier writes go there).
    :param phase: ``before`` (the first write after the record was opened, before batch 1 is sent),
        ``mid`` (the first write that records an acceptance while the send runs) or ``after`` (the
        final write that closes the record).
    :param log: called with a description when the failure starts.
    """

    def __init__(self, store: Any, phase: str, log: Any) -> None:
        self.store = store
        self.phase = phase
        self.log = log
        self.writes = 0
        self.failing = False

    def load(self, key: str) -> Any:
        return self.store.load(key)

    def save(self, key: str, record: dict[str, Any]) -> None:
        self.writes += 1
        if not self.failing:
            if self.phase == "before":
                self.failing = True
            elif self.phase == "mid":
                self.failing = _accepted_count(record) > 0 and not record.get("clean")
            else:
                self.failing = bool(record.get("clean")) or _accepted_count(record) >= BATCHES
            if self.failing:
                self.log(f"resume-store failure from write {self.writes} (accepted={_accepted_count(record)})")
        if self.failing:
            raise OSError("injected resume-store failure (the disk or bucket is unavailable)")
        self.store.save(key, record)


class FakeOutcomeWriter:
    """An outcome writer (no warehouse) that raises on its ``fail_on``-th settled batch (0: never)."""

    table = "fault_matrix_outcomes"

    def __init__(self, fail_on: int, log: Any) -> None:
        self.fail_on = fail_on
        self.log = log
        self.batches = 0
        self.written = 0

    def batch(self, number: int, body: Any, status: str, **kwargs: Any) -> None:
        self.batches += 1
        if self.batches == self.fail_on:
            self.log(f"outcome-writer failure on settled batch {self.batches} (batch {number}, {status})")
            raise RuntimeError("injected outcome-writer failure (the warehouse rejected the insert)")
        self.written += len(body.get("recipients") or ())

    def rejected(self, row: Any, reason: Any) -> None:
        return

    def ensure_table(self) -> None:
        return

    def flush(self) -> None:
        return


class FaultCellOperator(BrazeTriggerCampaignOperator):
    """One cell's send (see ``tests/faults/matrix.py``).

    :param cell: the cell, as ``Cell.to_json()`` gives it.
    """

    def __init__(self, *, cell: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cell = json.loads(cell)

    # -- the log the oracle reads -------------------------------------------------------------

    def _event(self, **event: Any) -> None:
        with open(self.cell["results_file"], "a") as out:
            out.write(json.dumps({"at": time.time(), **event}, default=str) + "\n")

    def _fault_note(self, message: str) -> None:
        self._event(event="fault", note=message)

    # -- the try -------------------------------------------------------------------------------

    def execute(self, context: Any) -> Any:
        try_number = int(getattr(context["ti"], "try_number", 1) or 1)
        self._try = try_number
        self._event(event="start", try_number=try_number, pid=os.getpid())
        if try_number > 1 and self.cell.get("reopen_port"):
            _control(self.cell["control_url"], "/_sandbox/ports/open", {"port": self.cell["reopen_port"]})
        fault = self.cell["fault"]
        try:
            if try_number == 1 and fault in ("sigkill", "sigterm"):
                result = self._run_in_killed_worker(context, fault)
            else:
                result = super().execute(context)
        except BaseException as error:
            self._event(event="failed", try_number=try_number, error=f"{type(error).__name__}: {str(error)[:600]}")
            raise
        summary = {k: result.get(k) for k in ("batches", "recipients", "unknown_outcome_batches", "resumed_batches")}
        self._event(event="success", try_number=try_number, result=summary)
        return result

    def resume_ledger(self, context: Any, plan: Any, concurrency: int) -> Any:
        ledger = super().resume_ledger(context, plan, concurrency)
        if ledger is not None and self._try == 1 and self.cell["fault"] == "resume_store":
            ledger.store = FailingStore(ledger.store, self.cell["phase"], self._fault_note)
        return ledger

    def outcome_writer(self, context: Any, plan: Any) -> Any:
        if self.cell["fault"] != "outcome_writer":
            return super().outcome_writer(context, plan)
        fail_on = REQUEST_OF_PHASE[self.cell["phase"]] if self._try == 1 else 0
        writer = FakeOutcomeWriter(fail_on, self._fault_note)
        self._outcome_writer = writer  # type: ignore[assignment]
        return writer

    # -- a worker killed (SIGKILL) or terminated (SIGTERM) mid-try -----------------------------

    def _run_in_killed_worker(self, context: Any, fault: str) -> Any:
        """Run this try in a forked worker, kill it when the sandbox holds the cell's request, and fail
        the try as Airflow does for a lost worker (Airflow then retries)."""
        from airflow.exceptions import AirflowException

        # Talk to the task runner here: a forked worker cannot use its in-process API (it would hang).
        from airflow_provider_braze.operators.base import push_dashboard_url

        _ = self.hook.params
        push_dashboard_url(context, self.hook, self.dashboard_target(), self.log)
        pid = os.fork()
        if pid == 0:  # the worker
            self._in_worker = True
            code = 1
            import faulthandler

            stuck = open(self.cell["results_file"] + ".worker-stack.txt", "w")  # noqa: SIM115 - os._exit ends it
            faulthandler.dump_traceback_later(20, file=stuck)  # a worker that hangs says where
            try:
                signal.signal(signal.SIGTERM, self._on_sigterm)
                super().execute(context)
                code = 0
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        label = self.cell["id"]
        deadline = time.monotonic() + 30
        fired = False
        while time.monotonic() < deadline:
            if label in _control(self.cell["control_url"], "/_sandbox/fired"):
                fired = True
                break
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        if not fired:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AirflowException("fault matrix: the worker finished before its fault struck (cell not exercised)")
        time.sleep(0.1)  # the held request and the others in flight are at Braze
        reaped = False
        if fault == "sigkill":
            os.kill(pid, signal.SIGKILL)
            self._fault_note("worker SIGKILLed while Braze held its request")
        else:
            os.kill(pid, signal.SIGTERM)
            self._fault_note("worker sent SIGTERM while Braze held its request")
            end = time.monotonic() + SIGTERM_GRACE
            while time.monotonic() < end:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    reaped = True
                    self._fault_note("worker ended within the grace period after SIGTERM")
                    break
                time.sleep(0.02)
            if not reaped:
                os.kill(pid, signal.SIGKILL)  # the grace period is over (Airflow escalates too)
                self._fault_note(f"worker still running {SIGTERM_GRACE} s after SIGTERM: SIGKILLed")
        if not reaped:
            os.waitpid(pid, 0)
        raise AirflowException(f"fault matrix: the worker running try 1 was lost ({fault})")

    def dashboard_target(self) -> Any:
        if getattr(self, "_in_worker", False):  # the parent pushed the link before the fork
            return None
        return super().dashboard_target()

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        """What Airflow's task runner does on SIGTERM: ``on_kill()``; Airflow 2 then raises in the task."""
        self.on_kill()
        from airflow_provider_braze.version_compat import AIRFLOW_V_3_0_PLUS

        if not AIRFLOW_V_3_0_PLUS:
            from airflow.exceptions import AirflowTaskTerminated

            raise AirflowTaskTerminated("Task received SIGTERM signal")


def survive_task_timeouts_in_airflow2_dag_test() -> None:
    """Let one ``airflow dags test`` run every cell on Airflow 2.

    Airflow 2's ``AirflowTaskTimeout`` is a ``BaseException``: after marking the try failed (up for
    retry), ``_run_raw_task`` re-raises it so that the task's process ends; ``dag.test()`` runs every
    task in its own process and catches only ``Exception``, so the first ``execution_timeout`` would end
    the whole matrix. Here it ends only that try, as a worker process ending does in production (the
    try is already recorded; Airflow's retry follows). Airflow 3 raises an ``Exception`` and needs nothing.
    """
    from airflow_provider_braze.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        return
    import airflow.models.dag as dag_module
    from airflow.exceptions import AirflowTaskTimeout

    run_task = dag_module._run_task
    if getattr(run_task, "survives_task_timeouts", False):
        return

    def run_task_ending_the_try(*args: Any, **kwargs: Any) -> Any:
        try:
            return run_task(*args, **kwargs)
        except AirflowTaskTimeout:
            dag_module.log.warning("[fault matrix] the try ended by execution_timeout; Airflow retries it")
            return None

    run_task_ending_the_try.survives_task_timeouts = True  # type: ignore[attr-defined]
    dag_module._run_task = run_task_ending_the_try
