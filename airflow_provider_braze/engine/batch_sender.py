"""Sending a :class:`~airflow_provider_braze.engine.send_plan.SendPlan`: batches in flight concurrently on the
hook's pooled session (paced by its rate limiter), progress in the log, a resume record kept, and the
answers summed into a small, JSON-serialisable result for XCom."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.transport.concurrency import ConcurrencyController
from airflow_provider_braze.engine.outcome_writer import OutcomeStatus
from airflow_provider_braze.engine.resume_ledger import BatchState, BrazeResumeStoreError, BrazeResumeSupersededError
from airflow_provider_braze.engine.send_options import OnUnknownOutcome
from airflow_provider_braze.exceptions import BrazeAPIError, BrazeError, BrazeValidationError

if TYPE_CHECKING:
    from airflow_provider_braze.client.transport.responses import BrazeResponse
    from airflow_provider_braze.engine.resume_ledger import ResumeLedger
    from airflow_provider_braze.engine.send_plan import PlannedRequest, SendPlan
    from airflow_provider_braze.hooks.braze import BrazeHook

#: At most this many ids, minor errors and batch numbers are listed in a result (counts are complete).
MAX_LISTED_IN_RESULT = 100


class BrazeBatchError(BrazeError):
    """A batch failed; the send stopped.

    :param accepted_batches: batches Braze accepted (in this try and earlier ones).
    :param total_batches: batches in the send.
    :param outcome_unknown: the failing batch may have been processed.
    """

    def __init__(self, message: str, *, accepted_batches: int, total_batches: int, outcome_unknown: bool) -> None:
        super().__init__(message)
        self.accepted_batches = accepted_batches
        self.total_batches = total_batches
        self.outcome_unknown = outcome_unknown


class BrazeSendInterruptedError(BrazeError):
    """The send stopped for a reason that is not Braze's answer (the resume store, the outcome
    write-back, a newer try owning the record, an unexpected error); everything sent is recorded.

    :param outcome: what was settled before the send stopped.
    """

    def __init__(self, message: str, *, outcome: SendOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


class BrazeUnknownOutcomeBatchesError(BrazeError):
    """Every batch was sent except those whose outcome is unknown (``on_unknown_outcome="fail"``).

    :param outcome: the send's outcome; ``outcome.unknown_outcome_batches`` names the batches.
    """

    def __init__(self, message: str, *, outcome: SendOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class SendOutcome:
    """What Braze answered for every batch of a send."""

    endpoint: str
    total_batches: int = 0
    total_recipients: int = 0
    batches: int = 0
    recipients: int = 0
    dispatch_ids_by_batch: dict[int, str] = field(default_factory=dict)
    schedule_ids_by_batch: dict[int, str] = field(default_factory=dict)
    send_ids: list[str] = field(default_factory=list)
    minor_errors: list[Any] = field(default_factory=list)
    minor_error_count: int = 0
    queued_batches: int = 0
    notices: list[str] = field(default_factory=list)
    unknown_outcome_batches: list[int] = field(default_factory=list)
    unknown_outcome_recipients: int = 0
    resumed_batches: int = 0
    resumed_recipients: int = 0
    seconds: float = 0.0

    @property
    def dispatch_ids(self) -> list[str]:
        """Dispatch ids in batch order."""
        return [self.dispatch_ids_by_batch[n] for n in sorted(self.dispatch_ids_by_batch)]

    @property
    def schedule_ids(self) -> list[str]:
        """Schedule ids in batch order (one per batch)."""
        return [self.schedule_ids_by_batch[n] for n in sorted(self.schedule_ids_by_batch)]

    def add(self, response: BrazeResponse, recipients: int, number: int = 0) -> None:
        """Count one accepted batch (``number``: its position in the plan)."""
        self.batches += 1
        self.recipients += recipients
        self.queued_batches += int(response.queued)
        if response.dispatch_id:
            self.dispatch_ids_by_batch[number or self.batches] = response.dispatch_id
        if response.schedule_id:
            self.schedule_ids_by_batch[number or self.batches] = response.schedule_id
        if response.send_id and response.send_id not in self.send_ids:
            self.send_ids.append(response.send_id)
        if response.minor_errors:
            self.minor_error_count += len(response.minor_errors)
            room = MAX_LISTED_IN_RESULT - len(self.minor_errors)
            self.minor_errors.extend(response.minor_errors[: max(0, room)])
        if response.notice and response.notice not in self.notices:
            self.notices.append(response.notice)

    def to_result(self, hook: BrazeHook | None = None) -> dict[str, Any]:
        """The XCom result: ids capped at 100 each, with complete counts."""
        result: dict[str, Any] = {
            "endpoint": self.endpoint,
            "batches": self.batches,
            "recipients": self.recipients,
            "dispatch_ids": self.dispatch_ids[:MAX_LISTED_IN_RESULT],
            "dispatch_id_count": len(self.dispatch_ids_by_batch),
            "minor_errors": self.minor_errors,
            "minor_error_count": self.minor_error_count,
            "queued_batches": self.queued_batches,
            "unknown_outcome_batches": self.unknown_outcome_batches[:MAX_LISTED_IN_RESULT],
            "unknown_outcome_count": len(self.unknown_outcome_batches),
            "unknown_outcome_recipients": self.unknown_outcome_recipients,
            "seconds": round(self.seconds, 3),
        }
        if self.resumed_batches:
            result["resumed_batches"] = self.resumed_batches
            result["resumed_recipients"] = self.resumed_recipients
        if hook is not None:
            stats = hook.rate_limiter.stats
            result["retried_attempts"] = hook.retries
            result["rate_limited_responses"] = stats.throttled_responses
            result["rate_limit_wait_seconds"] = round(stats.paced_seconds, 3)
        if self.schedule_ids_by_batch:
            result["schedule_ids"] = self.schedule_ids  # every id: the only handle to cancel a schedule
            result["schedule_id_count"] = len(self.schedule_ids_by_batch)
        if self.send_ids:
            result["send_ids"] = self.send_ids[:MAX_LISTED_IN_RESULT]
        if self.notices:
            result["notices"] = self.notices
        return result


class Progress:
    """Progress lines at a steady cadence: counts, rate, ETA, waits, retries; never recipient data."""

    def __init__(
        self,
        log: Any,
        hook: BrazeHook,
        outcome: SendOutcome,
        every: float,
        in_flight: Callable[[], int] = lambda: 0,
        controller: ConcurrencyController | None = None,
    ) -> None:
        self.log = log
        self.in_flight = in_flight
        self.controller = controller
        self.hook = hook
        self.outcome = outcome
        self.every = every
        self.started = time.monotonic()
        self.last = self.started

    def tick(self, *, final: bool = False) -> None:
        """Log a line if ``every`` seconds passed (always when ``final``)."""
        now = time.monotonic()
        if not final and now - self.last < self.every:
            return
        self.last = now
        o = self.outcome
        elapsed = max(now - self.started, 1e-9)
        sent = o.recipients
        rate = sent / elapsed
        total = o.total_recipients - o.resumed_recipients
        eta = (total - sent) / rate if rate > 0 and total > sent else 0.0
        stats = self.hook.rate_limiter.stats
        latency = self.hook.latency.seconds
        self.log.info(
            "Braze %s%s: %d/%d recipients, %d/%d batches, %.0f recipients/s, ETA %.0f s, "
            "in flight %d (limit %d), latency %.0f ms, "
            "rate-limit waits %.1f s (%d x 429), retries %d, unknown outcomes %d",
            o.endpoint,
            " (done)" if final else "",
            sent,
            total,
            o.batches,
            o.total_batches - o.resumed_batches,
            rate,
            eta,
            self.in_flight(),
            self.controller.target() if self.controller else 0,
            (latency or 0.0) * 1000,
            stats.paced_seconds,
            stats.throttled_responses,
            self.hook.retries,
            len(o.unknown_outcome_batches),
        )


class _StoppedError(Exception):
    """The send stopped before this batch's request was started (certainly not sent)."""


def _send_one(
    hook: BrazeHook,
    plan: SendPlan,
    request: PlannedRequest,
    resend_unknown: bool,
    ledger: ResumeLedger | None,
    stop: threading.Event,
    written: set[int],
) -> BrazeResponse:
    if stop.is_set():
        raise _StoppedError()

    started = False  # whether the request may have begun: before this, any error means "not sent"

    def in_flight() -> None:  # once the rate limiter grants the slot, right before the request is written
        nonlocal started
        if stop.is_set():  # stopped while waiting for the slot: nothing reserved, nothing sent
            raise _StoppedError()
        started = True
        if ledger is not None:
            ledger.reserve(request.number)  # durably "in flight" before the request may leave the process
        if stop.is_set():
            if ledger is not None:
                ledger.release(request.number)
            raise _StoppedError()
        written.add(request.number)  # from here the request may leave the process

    # through the endpoint's method (hook.trigger_campaign(recipients=batch, ...)): it builds the body.
    # The engine decides about unknown outcomes (on_unknown_outcome), never the connection's
    # retry_unknown_outcome: a batch re-sent inside the hook would be recorded as plainly accepted.
    try:
        return hook.send_batch(
            plan.endpoint,
            request.arguments,
            request.batch,
            retry_unknown_outcome=False,
            cancel=stop,
            before_send=in_flight,
        )
    except _StoppedError:
        raise
    except BrazeError as error:
        if not started and stop.is_set():
            raise _StoppedError() from error  # the wait for a slot was cancelled: not sent
        if resend_unknown and getattr(error, "outcome_unknown", False) and not stop.is_set():
            try:
                return hook.send_batch(
                    plan.endpoint, request.arguments, request.batch, retry_unknown_outcome=True, cancel=stop
                )
            except BrazeError as again:
                if getattr(again, "outcome_unknown", False):
                    raise
                # the re-send was refused or stopped, but the first request may have been delivered:
                # the batch stays "may have been sent", never "not sent"
                raise error from again
        raise
    except Exception as error:
        if started:
            raise  # the request may have been written: settled as "may have been sent"
        if stop.is_set():
            raise _StoppedError() from error
        # Building the request failed before anything was written: certainly not sent, a definite failure.
        raise BrazeValidationError(
            f"batch {request.number}",
            f"its request could not be built ({type(error).__name__}: {error}); it was not sent",
        ) from error


#: Seconds an interrupted send (timeout, SIGTERM, an error elsewhere) waits for batches in flight to
#: answer, so that their outcome is recorded; batches still unanswered stay "in flight" in the record.
INTERRUPT_GRACE_SECONDS = 5.0


def send_plan(
    hook: BrazeHook,
    plan: SendPlan,
    log: logging.Logger | Any,
    *,
    concurrency: int | None = 1,
    ledger: ResumeLedger | None = None,
    on_unknown_outcome: OnUnknownOutcome | str = OnUnknownOutcome.FAIL,
    progress_every: float = 10.0,
    on_settled: Callable[[PlannedRequest, str, BrazeResponse | None, BrazeError | None], None] | None = None,
    stop: threading.Event | None = None,
) -> SendOutcome:
    """Send the plan's batches, up to ``concurrency`` in flight; stop at the first definite failure.

    A send is settled, never abandoned: whatever ends it (success, a failure, a timeout, SIGTERM, an
    exception anywhere), every batch whose request may have left the process is recorded as accepted,
    or as an unknown outcome, or stays listed as in flight, before this function returns or raises.
    Acceptances are recorded before any side work (``on_settled``): a failing side task cannot lose one.

    Batches an earlier try got accepted are not sent again. Batches whose outcome is unknown are, by
    ``on_unknown_outcome``: not sent again, and the send fails at the end naming them (``fail``, the
    default); not sent again and reported with a warning (``skip``); or sent again (``resend``, Braze
    may then deliver twice).

    ``concurrency=None`` adapts the number in flight to the rate budget and Braze's measured latency
    (:class:`~airflow_provider_braze.client.transport.concurrency.ConcurrencyController`, at most the
    connection's ``concurrency_cap``); either way never more than the rate-limit window admits.

    :param on_settled: called once per batch settled in this try with ``(request, status, response,
        error)``; status is ``accepted``, ``failed`` or ``unknown-outcome`` (the outcome write-back).
    :param stop: set it (e.g. from ``on_kill``) to stop dispatching further batches.
    :raises BrazeBatchError: when a batch failed (the message says how many were accepted, and
        whether the failing one may have been sent).
    :raises BrazeUnknownOutcomeBatchesError: with ``on_unknown_outcome="fail"``, when batches may have been sent.
    """
    settled = on_settled or (lambda request, status, response, error: None)
    outcome = SendOutcome(
        endpoint=plan.endpoint.path, total_batches=plan.total_requests, total_recipients=plan.recipients
    )
    controller = ConcurrencyController(
        hook.rate_limiter, hook.latency, cap=hook.params.settings.in_flight_cap, fixed=concurrency
    )
    progress = Progress(log, hook, outcome, progress_every, lambda: len(pending), controller)
    resend_unknown = on_unknown_outcome == OnUnknownOutcome.RESEND
    stop = stop or threading.Event()
    pending: dict[Future[BrazeResponse], PlannedRequest] = {}
    written: set[int] = set()  # batches whose request may have left the process (set by the sending threads)
    failure: tuple[PlannedRequest, BrazeError] | None = None
    side_error: BaseException | None = None  # not Braze's answer: the store, the outcome writer, a bug
    side_work_ok = True
    started = time.monotonic()

    def side_work(request: PlannedRequest, status: str, response: BrazeResponse | None, error: Any) -> None:
        nonlocal side_error, side_work_ok
        if not side_work_ok:
            return
        try:
            settled(request, status, response, error)
        except Exception as exc:  # the write-back failed: the record already holds the batch
            side_work_ok = False
            if side_error is None:
                side_error = exc
            stop.set()
            log.error("Braze %s: recording the outcome of batch %d failed: %s", plan.endpoint.path, request.number, exc)

    def unknown(request: PlannedRequest, error: BaseException | None) -> None:
        outcome.unknown_outcome_batches.append(request.number)
        outcome.unknown_outcome_recipients += request.recipients
        if ledger:
            ledger.mark_unknown(request.number)
        log.warning(
            "Braze %s: batch %d (%d recipients) may have been sent: %s",
            plan.endpoint.path,
            request.number,
            request.recipients,
            type(error).__name__ if error is not None else "outcome unknown",
        )
        side_work(request, OutcomeStatus.UNKNOWN_OUTCOME, None, error if isinstance(error, BrazeError) else None)

    def settle(done: set[Future[BrazeResponse]]) -> None:
        nonlocal failure, side_error
        for future in done:
            request = pending.pop(future)
            try:
                response = future.result()
            except _StoppedError:
                continue  # never started
            except (BrazeResumeSupersededError, BrazeResumeStoreError) as error:  # refused before sending
                if ledger:
                    ledger.release(request.number)
                if side_error is None:
                    side_error = error
                stop.set()
                continue
            except BrazeError as error:
                if getattr(error, "outcome_unknown", False):
                    unknown(request, error)
                    continue
                if ledger:
                    ledger.mark_failed(request.number)
                side_work(request, OutcomeStatus.FAILED, None, error)
                if failure is None or request.number < failure[0].number:
                    failure = (request, error)
                stop.set()
                continue
            except Exception as error:  # not a Braze answer: the request may have been written
                unknown(request, error)
                if side_error is None:
                    side_error = error
                stop.set()
                continue
            if ledger:
                ledger.accept(request.number, schedule_id=response.schedule_id)
            outcome.add(response, request.recipients, request.number)
            side_work(request, OutcomeStatus.ACCEPTED, response, None)

    every_batch_dispatched = False
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency or controller.cap), thread_name_prefix="braze-send")
    try:
        for request in plan.requests():
            state = ledger.state_of(request.number) if ledger else None
            if state == BatchState.ACCEPTED:
                outcome.resumed_batches += 1
                outcome.resumed_recipients += request.recipients
                schedule_id = ledger.schedule_ids.get(request.number) if ledger else None
                if schedule_id:
                    outcome.schedule_ids_by_batch[request.number] = schedule_id
                continue
            if state == BatchState.UNKNOWN and not resend_unknown:
                outcome.unknown_outcome_batches.append(request.number)
                outcome.unknown_outcome_recipients += request.recipients
                side_work(request, OutcomeStatus.UNKNOWN_OUTCOME, None, None)
                continue
            if not pending:  # the budget this send draws on (all its batches share it)
                controller.budget = ep.rate_budget(plan.endpoint, request.body)
            while len(pending) >= controller.limit(len(pending)):
                done, _ = wait(pending, timeout=progress_every, return_when=FIRST_COMPLETED)
                settle(done)
                progress.tick()
            if stop.is_set():
                break
            pending[pool.submit(_send_one, hook, plan, request, resend_unknown, ledger, stop, written)] = request
        else:
            every_batch_dispatched = True
        while pending:
            done, _ = wait(pending, timeout=progress_every, return_when=FIRST_COMPLETED)
            settle(done)
            progress.tick()
    except BaseException:  # a timeout, SIGTERM, a failing source: record what was in flight, then re-raise
        stop.set()
        _settle_interrupted(pending, settle, log, plan.endpoint.path, outcome, written)
        pool.shutdown(wait=False, cancel_futures=True)
        if ledger:
            try:
                ledger.close()
            except BrazeError as error:
                log.error("Braze %s: %s", plan.endpoint.path, error)
        raise
    pool.shutdown(wait=True)
    if ledger:
        ledger.close()
    outcome.seconds = time.monotonic() - started
    if outcome.total_batches > 1 or failure is not None:
        progress.tick(final=True)
    if side_error is None and failure is None and not every_batch_dispatched:  # stopped from outside (on_kill)
        side_error = _StoppedError("the task was stopped (on_kill) before every batch was sent")
    if side_error is not None:
        raise BrazeSendInterruptedError(
            f"The send to {plan.endpoint.path} stopped: {type(side_error).__name__}: {side_error}. "
            f"{outcome.batches + outcome.resumed_batches} batch(es) were accepted by Braze and recorded; "
            f"{len(outcome.unknown_outcome_batches)} may have been sent: {_listed(outcome.unknown_outcome_batches)}. "
            "A retry of the task sends only the batches not accepted.",
            outcome=outcome,
        ) from side_error
    if failure is not None:
        failed_request, failed_error = failure
        if outcome.batches == 0 and plan.total_requests == 1 and not outcome.unknown_outcome_batches:
            raise failed_error
        status = f"HTTP {failed_error.status}: " if isinstance(failed_error, BrazeAPIError) else ""
        accepted = outcome.batches + outcome.resumed_batches
        maybe = (
            f" {len(outcome.unknown_outcome_batches)} batch(es) may have been sent: "
            f"{_listed(outcome.unknown_outcome_batches)}."
            if outcome.unknown_outcome_batches
            else ""
        )
        raise BrazeBatchError(
            f"Batch {failed_request.number} of {plan.total_requests} to {plan.endpoint.path} failed and was not sent "
            f"({status}{failed_error}). {accepted} batch(es) were accepted by Braze "
            f"({outcome.recipients + outcome.resumed_recipients} recipients); the rest were not sent.{maybe} "
            "A retry of the task sends only the batches not accepted.",
            accepted_batches=accepted,
            total_batches=plan.total_requests,
            outcome_unknown=False,
        ) from failed_error
    if outcome.unknown_outcome_batches:
        message = (
            f"Braze {plan.endpoint.path}: {len(outcome.unknown_outcome_batches)} batch(es) "
            f"({outcome.unknown_outcome_recipients} recipients) may have been sent (outcome unknown) and were "
            f"not sent again: {_listed(outcome.unknown_outcome_batches)}."
        )
        if on_unknown_outcome == OnUnknownOutcome.FAIL:
            raise BrazeUnknownOutcomeBatchesError(
                message + " Every other batch was sent. Check them in Braze; to send them again, retry with "
                "on_unknown_outcome='resend'; to accept them, set on_unknown_outcome='skip'.",
                outcome=outcome,
            )
        log.warning("%s (on_unknown_outcome='%s')", message, on_unknown_outcome)
    return outcome


def _listed(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in sorted(numbers)[:20])
    return f"batches {shown}{' ...' if len(numbers) > 20 else ''}"


def _settle_interrupted(
    pending: dict[Future[BrazeResponse], PlannedRequest],
    settle: Callable[[set[Future[BrazeResponse]]], None],
    log: Any,
    endpoint: str,
    outcome: SendOutcome,
    written: set[int],
) -> None:
    """After an interruption: record the answers that arrive within the grace; the rest stay in flight.

    Only batches whose request may have left the process are reported as "may have been sent"; one
    still waiting for its rate-limit slot was not sent (and its record does not list it).
    """
    deadline = time.monotonic() + INTERRUPT_GRACE_SECONDS
    try:
        while pending and time.monotonic() < deadline:
            done, _ = wait(pending, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            settle(done)
    except BaseException:  # a second signal: what is unsettled stays "in flight" in the record
        pass
    started = [request for request in pending.values() if request.number in written]
    for request in started:
        outcome.unknown_outcome_batches.append(request.number)
        outcome.unknown_outcome_recipients += request.recipients
    if started:
        log.warning(
            "Braze %s: the send was interrupted with %d batch(es) in flight; they may have been sent and stay "
            "recorded as such: %s",
            endpoint,
            len(started),
            _listed([r.number for r in started]),
        )
