"""Progress lines and concurrency of the batch sender, against the sandbox."""

from __future__ import annotations

import logging
import threading
import time

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.engine.batch_sender import send_plan
from airflow_provider_braze.engine.send_plan import list_source, plan_trigger
from airflow_provider_braze.operators import (
    BrazeTriggerCampaignOperator,
)  # imported in the main thread, as Airflow does


def _plan(n: int):
    return plan_trigger(
        endpoint=ep.TRIGGER_CAMPAIGN,
        id_field="campaign_id",
        id_value="c",
        properties_field="trigger_properties",
        properties=None,
        source=list_source([f"secret-user-{i}" for i in range(n)]),
        broadcast=None,
        audience=None,
    )


def test_progress_lines_have_counts_rate_eta_and_no_recipient_data(hook, sandbox, logs):
    sandbox.configure(latency=0.02)
    plan = _plan(500)
    outcome = send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=4, progress_every=0.05)
    plan.close()
    text = logs()
    lines = [line for line in text.splitlines() if "recipients/s" in line]
    assert len(lines) >= 2
    assert "500/500 recipients, 10/10 batches" in lines[-1]
    assert "(done)" in lines[-1]
    assert "ETA" in lines[0]
    assert "rate-limit waits" in lines[0]
    assert "retries" in lines[0]
    assert "secret-user" not in text
    assert outcome.recipients == 500


def test_batches_really_run_concurrently(hook, sandbox):
    sandbox.configure(latency=0.2)
    plan = _plan(400)  # 8 batches of 0.2 s each
    outcome = send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=8)
    plan.close()
    assert outcome.seconds < 0.2 * 8 / 2  # well under the sequential 1.6 s
    by_first_recipient = {
        r.body["recipients"][0]["external_user_id"]: r.response["dispatch_id"] for r in sandbox.requests
    }
    assert outcome.dispatch_ids == [by_first_recipient[f"secret-user-{50 * k}"] for k in range(8)]  # batch order


# -- a send is settled, never abandoned ------------------------------------------------------------


class _Timeout(BaseException):
    """Like Airflow's AirflowTaskTimeout / AirflowTaskTerminated: raised in the main thread by a signal."""


def _resumable(recipients, tmp_path, **kwargs):
    return BrazeTriggerCampaignOperator(
        task_id="send", campaign_id="c", recipients=recipients, resume_store=str(tmp_path / "resume"), **kwargs
    )


def _context(try_number: int) -> dict:
    from types import SimpleNamespace

    return {"ti": SimpleNamespace(dag_id="dag", task_id="send", map_index=-1, try_number=try_number), "run_id": "r"}


def _assert_never_twice_and_never_lost(sandbox, recipients, unknown_batches):
    counts = sandbox.delivery_counts()
    assert max(counts.values()) == 1, "a recipient was messaged twice"
    named = {recipients[i] for n in unknown_batches for i in range((n - 1) * 50, min(n * 50, len(recipients)))}
    missing = [r for r in recipients if f"external_user_id:{r}" not in counts and r not in named]
    assert missing == [], f"{len(missing)} recipient(s) neither delivered nor named as maybe sent"


def test_a_timeout_while_batches_are_in_flight_records_them_and_the_retry_does_not_resend(
    sandbox, tmp_path, monkeypatch
):
    import signal

    import pytest

    from airflow_provider_braze.engine.batch_sender import BrazeUnknownOutcomeBatchesError
    from airflow_provider_braze.engine.resume_ledger import PathResumeStore, resume_key
    from tests.conftest import run_operator

    for name, value in sandbox.airflow_env(extra={"timeout": 30}).items():
        monkeypatch.setenv(name, value)
    recipients = [f"user-{i}" for i in range(1000)]  # 20 batches
    sandbox.configure(latency=0.8)  # processed at once, answered 0.8 s later

    def fire(signum, frame):
        raise _Timeout()

    main_thread = threading.main_thread().ident
    assert main_thread is not None

    def alarm_when_batches_are_in_flight() -> None:  # like execution_timeout firing mid-send
        deadline = time.monotonic() + 60
        while len(sandbox.requests) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        # To the main thread itself: a process-wide signal may be taken by another thread, and the main
        # thread then sees it only when its wait ends (here, when the in-flight batches have answered).
        signal.pthread_kill(main_thread, signal.SIGALRM)

    monkeypatch.setattr("airflow_provider_braze.engine.batch_sender.INTERRUPT_GRACE_SECONDS", 0.1)
    previous = signal.signal(signal.SIGALRM, fire)
    trigger = threading.Thread(target=alarm_when_batches_are_in_flight)
    trigger.start()
    try:
        with pytest.raises(_Timeout):
            run_operator(_resumable(recipients, tmp_path, max_concurrency=4), _context(1))
    finally:
        trigger.join()
        signal.signal(signal.SIGALRM, previous)
    record = PathResumeStore(str(tmp_path / "resume")).load(resume_key("dag", "send", "r", -1))
    in_flight = set(record["in_flight"]) | set(record["unknown"])
    assert 1 <= len(in_flight) <= 4  # at most the in-flight window, never a look-ahead
    first_try = len(sandbox.delivery_counts())
    sandbox.configure(latency=0.0)
    with pytest.raises(BrazeUnknownOutcomeBatchesError) as caught:
        run_operator(_resumable(recipients, tmp_path, max_concurrency=4), _context(2))
    assert sorted(caught.value.outcome.unknown_outcome_batches) == sorted(in_flight)
    assert first_try >= 50 * len(in_flight)  # the interrupted batches did reach "Braze"
    _assert_never_twice_and_never_lost(sandbox, recipients, in_flight)


def test_a_failing_outcome_writer_cannot_lose_an_acceptance(hook, sandbox, tmp_path):
    import pytest

    from airflow_provider_braze.engine.batch_sender import BrazeSendInterruptedError
    from airflow_provider_braze.engine.resume_ledger import PathResumeStore, ResumeLedger

    plan = _plan(500)
    store = PathResumeStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", plan.fingerprint)
    ledger.open(plan.total_requests)

    def writer(request, status, response, error):
        if request.number == 3:
            raise OSError("warehouse down")

    with pytest.raises(BrazeSendInterruptedError, match="OSError: warehouse down") as caught:
        send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=2, ledger=ledger, on_settled=writer)
    plan.close()
    record = store.load("k")
    accepted = {n for start, end in record["accepted"] for n in range(start, end)}
    delivered_batches = len(sandbox.requests)
    assert 3 in accepted  # recorded before the side work that failed
    assert len(accepted) == delivered_batches == caught.value.outcome.batches
    assert record["in_flight"] == []
    assert delivered_batches < 10  # the send stopped


def test_an_exception_out_of_a_worker_thread_counts_as_maybe_sent(hook, sandbox, tmp_path, monkeypatch):
    import pytest

    from airflow_provider_braze.engine.batch_sender import BrazeSendInterruptedError
    from airflow_provider_braze.engine.resume_ledger import PathResumeStore, ResumeLedger

    real = hook.request
    calls = []

    def flaky(method, endpoint, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            real(method, endpoint, **kwargs)  # it reached Braze, then something unexpected broke
            raise RuntimeError("a bug after the request")
        return real(method, endpoint, **kwargs)

    monkeypatch.setattr(hook, "request", flaky)
    plan = _plan(300)
    store = PathResumeStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", plan.fingerprint)
    ledger.open(plan.total_requests)
    with pytest.raises(BrazeSendInterruptedError, match="RuntimeError"):
        send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=1, ledger=ledger)
    plan.close()
    assert store.load("k")["unknown"] == [2]


def test_on_kill_stops_dispatching_and_the_task_does_not_end_as_a_success(sandbox, tmp_path, monkeypatch):
    import pytest

    from airflow_provider_braze.engine.batch_sender import BrazeSendInterruptedError
    from airflow_provider_braze.engine.resume_ledger import PathResumeStore, resume_key
    from tests.conftest import run_operator

    sandbox.configure(latency=0.2)
    recipients = [f"user-{i}" for i in range(1000)]
    op = _resumable(recipients, tmp_path, max_concurrency=2)

    def kill_when_sending() -> None:  # Airflow calls on_kill from its SIGTERM handler
        deadline = time.monotonic() + 60
        while len(sandbox.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        op.on_kill()

    killer = threading.Thread(target=kill_when_sending)
    killer.start()
    with pytest.raises(BrazeSendInterruptedError, match="on_kill"):
        run_operator(op, _context(1))
    killer.join()
    record = PathResumeStore(str(tmp_path / "resume")).load(resume_key("dag", "send", "r", -1))
    accepted = sum(end - start for start, end in record["accepted"])
    assert accepted == len(sandbox.requests) < 20  # stopped early; every batch sent is recorded
    assert record["in_flight"] == []


def test_a_batch_waiting_for_its_rate_limit_slot_is_not_in_flight(braze_connection, tmp_path):
    """A crash while threads wait for the rate limiter names only the requests really on the wire."""
    import pytest

    from airflow_provider_braze.engine.batch_sender import BrazeSendInterruptedError
    from airflow_provider_braze.engine.resume_ledger import PathResumeStore, ResumeLedger
    from airflow_provider_braze.hooks.braze import BrazeHook

    braze_connection.configure(latency=1.5)
    hook = BrazeHook(settings={"requests_per_hour": 7200, "max_concurrency": 8})  # one request per 0.5 s
    plan = _plan(1000)
    store = PathResumeStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", plan.fingerprint, flush_interval=0)
    ledger.open(plan.total_requests)
    stop = threading.Event()
    seen: dict[str, int] = {}

    def crash_snapshot() -> None:  # what the store holds when the worker "dies", 1.2 s in
        time.sleep(1.2)
        seen["on_the_wire"] = len(braze_connection.requests)
        seen["in_flight"] = len(store.load("k")["in_flight"])
        stop.set()

    snapshot = threading.Thread(target=crash_snapshot)
    snapshot.start()
    with pytest.raises(BrazeSendInterruptedError):
        send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=8, ledger=ledger, stop=stop)
    snapshot.join()
    plan.close()
    assert 1 <= seen["in_flight"] <= seen["on_the_wire"] + 1  # not the 8 threads waiting for their slot


def test_a_request_that_could_not_be_built_is_a_definite_failure_not_maybe_sent(hook, sandbox, tmp_path, monkeypatch):
    """The endpoint method builds the body in the worker, before the request is written: an error there
    (a state the sandbox cannot produce, so the builder is made to fail) means the batch was not sent."""
    import pytest

    from airflow_provider_braze.engine.batch_sender import BrazeBatchError
    from airflow_provider_braze.engine.resume_ledger import PathResumeStore, ResumeLedger

    real = hook.trigger_shared_body
    calls = []

    def breaks_on_the_second_batch(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise TypeError("a bug in a builder")
        return real(**kwargs)

    monkeypatch.setattr(hook, "trigger_shared_body", breaks_on_the_second_batch)
    plan = _plan(300)
    store = PathResumeStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", plan.fingerprint)
    ledger.open(plan.total_requests)
    with pytest.raises(BrazeBatchError, match=r"Batch 2 of 6 .* failed and was not sent .*TypeError") as raised:
        send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=1, ledger=ledger)
    plan.close()
    record = store.load("k")
    assert record["unknown"] == []  # nothing named "may have been sent"
    assert record.get("in_flight", []) == []
    assert raised.value.accepted_batches == 1
    assert len(sandbox.requests) == 1  # batch 2 never reached Braze


def test_a_send_stopped_during_a_long_rate_limit_pause_ends_at_once_and_names_nothing_unsent(
    braze_connection, tmp_path
):
    """Braze pauses the budget for 30 s (429 with Reset); the task is stopped 1 s in (on_kill, SIGTERM).
    The threads waiting for their slot stop waiting at once (they slept until the reset, keeping the
    task alive 30 s), and batches that never left the process are not recorded as maybe sent."""
    import pytest

    from airflow_provider_braze.engine.resume_ledger import PathResumeStore, ResumeLedger
    from airflow_provider_braze.exceptions import BrazeError
    from airflow_provider_braze.hooks.braze import BrazeHook
    from airflow_provider_braze.testing.sandbox import Fault

    braze_connection.inject(Fault(kind="rate_limit", seconds=30))
    hook = BrazeHook(settings={"max_concurrency": 4, "retry_deadline": 120})
    plan = _plan(400)  # 8 batches
    store = PathResumeStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", plan.fingerprint, flush_interval=0)
    ledger.open(plan.total_requests)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    started = time.monotonic()
    with pytest.raises(BrazeError):  # the 429 (not processed) or "stopped": either way the send ends
        send_plan(hook, plan, logging.getLogger("braze.test"), concurrency=4, ledger=ledger, stop=stop)
    took = time.monotonic() - started
    plan.close()
    deadline = time.monotonic() + 5
    while any(t.name.startswith("braze-send") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("braze-send")]
    assert took < 10  # not the 30 s pause
    record = store.load("k")
    assert record["in_flight"] == []
    assert record["unknown"] == []
    accepted = sum(end - start for start, end in record["accepted"])
    processed = [r for r in braze_connection.requests if r.status == 201]
    assert accepted == len(processed) < 8
    assert set(braze_connection.delivery_counts().values()) <= {1}


def test_the_connections_retry_unknown_outcome_does_not_resend_a_batch_of_a_batch_send(sandbox, monkeypatch, tmp_path):
    """``retry_unknown_outcome`` in the connection is for direct hook calls: a batch send follows its own
    ``on_unknown_outcome`` ("fail" by default), else a batch re-sent inside the hook would be recorded as
    plainly accepted while Braze delivered it twice."""
    import pytest

    from airflow_provider_braze.engine.batch_sender import BrazeUnknownOutcomeBatchesError
    from airflow_provider_braze.testing.sandbox import Fault
    from tests.conftest import run_operator

    for name, value in sandbox.airflow_env(extra={"timeout": 0.5, "retry_unknown_outcome": True}).items():
        monkeypatch.setenv(name, value)
    sandbox.inject(Fault(kind="slow", seconds=1.5))  # processed, answered after the read timeout
    with pytest.raises(BrazeUnknownOutcomeBatchesError) as caught:
        run_operator(_resumable([f"u{i}" for i in range(120)], tmp_path, max_concurrency=1), _context(1))
    assert caught.value.outcome.unknown_outcome_batches == [1]
    assert set(sandbox.delivery_counts().values()) == {1}
    assert len(sandbox.delivery_counts()) == 120


def test_a_resend_that_fails_leaves_the_batch_maybe_sent_not_failed(sandbox, monkeypatch, tmp_path):
    """on_unknown_outcome="resend": the first request timed out after Braze processed it, the re-send is
    refused (or stopped). The batch was delivered once: it must stay "may have been sent", not be
    recorded as a failure that was not sent."""
    from airflow_provider_braze.engine.resume_ledger import PathResumeStore, resume_key
    from airflow_provider_braze.testing.sandbox import Fault
    from tests.conftest import run_operator

    for name, value in sandbox.airflow_env(extra={"timeout": 0.5, "backoff_base": 0.01}).items():
        monkeypatch.setenv(name, value)
    sandbox.inject(Fault(kind="slow", seconds=1.5), Fault(status=400))
    op = _resumable(["a", "b"], tmp_path, max_concurrency=1, on_unknown_outcome="resend")
    result = run_operator(op, _context(1))
    assert result["unknown_outcome_batches"] == [1]
    assert sandbox.delivery_counts() == {"external_user_id:a": 1, "external_user_id:b": 1}
    record = PathResumeStore(str(tmp_path / "resume")).load(resume_key("dag", "send", "r", -1))
    assert record["unknown"] == [1]
