"""Sending a :class:`~airflow_provider_braze.send_plan.SendPlan`: batches in flight concurrently on the
hook's pooled session (paced by its rate limiter), progress in the log, a resume record kept, and the
answers summed into a small, JSON-serialisable result for XCom."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_braze import endpoints as ep
from airflow_provider_braze.exceptions import BrazeAPIError, BrazeError
from airflow_provider_braze.transport.concurrency import ConcurrencyController

if TYPE_CHECKING:
    from airflow_provider_braze.hooks.braze import BrazeHook
    from airflow_provider_braze.resume_ledger import ResumeLedger
    from airflow_provider_braze.send_plan import PlannedRequest, SendPlan
    from airflow_provider_braze.transport.responses import BrazeResponse

#: At most this many ids, minor errors and batch numbers are listed in a result (counts are complete).
MAX_LISTED_IN_RESULT = 100
ON_UNKNOWN_OUTCOME = ("skip", "resend")


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
            result["schedule_ids"] = self.schedule_ids[:MAX_LISTED_IN_RESULT]
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


def _send_one(hook: BrazeHook, plan: SendPlan, request: PlannedRequest, resend_unknown: bool) -> BrazeResponse:
    try:
        return hook.request(plan.endpoint.method, plan.endpoint.path, json=request.body)
    except BrazeError as error:
        if resend_unknown and getattr(error, "outcome_unknown", False):
            return hook.request(plan.endpoint.method, plan.endpoint.path, json=request.body, retry_unknown_outcome=True)
        raise


def send_plan(
    hook: BrazeHook,
    plan: SendPlan,
    log: logging.Logger | Any,
    *,
    concurrency: int | None = 1,
    ledger: ResumeLedger | None = None,
    on_unknown_outcome: str = "skip",
    progress_every: float = 10.0,
    on_settled: Callable[[PlannedRequest, str, BrazeResponse | None, BrazeError | None], None] | None = None,
) -> SendOutcome:
    """Send the plan's batches, up to ``concurrency`` in flight; stop at the first definite failure.

    ``concurrency=None`` adapts the number in flight to the rate budget and Braze's measured latency
    (:class:`~airflow_provider_braze.transport.concurrency.ConcurrencyController`, at most the
    connection's ``concurrency_cap``); either way never more than the rate-limit window admits.

    Batches an earlier try got accepted are not sent again. Batches whose outcome is unknown are,
    by ``on_unknown_outcome``, reported as "may have been sent" (``skip``, the default) or sent
    again (``resend``).

    :param on_settled: called once per batch settled in this try with ``(request, status, response,
        error)``; status is ``accepted``, ``failed`` or ``unknown-outcome`` (the outcome write-back).
    :raises BrazeBatchError: when a batch failed (the message says how many were accepted, and
        whether the failing one may have been sent).
    """
    settled = on_settled or (lambda request, status, response, error: None)
    outcome = SendOutcome(
        endpoint=plan.endpoint.path, total_batches=plan.total_requests, total_recipients=plan.recipients
    )
    controller = ConcurrencyController(
        hook.rate_limiter, hook.latency, cap=hook.params.settings.in_flight_cap, fixed=concurrency
    )
    progress = Progress(log, hook, outcome, progress_every, lambda: len(pending), controller)
    resend_unknown = on_unknown_outcome == "resend"
    pending: dict[Future[BrazeResponse], PlannedRequest] = {}
    failure: tuple[PlannedRequest, BrazeError] | None = None
    started = time.monotonic()

    def settle(done: set[Future[BrazeResponse]]) -> None:
        nonlocal failure
        for future in done:
            request = pending.pop(future)
            try:
                response = future.result()
            except BrazeError as error:
                if getattr(error, "outcome_unknown", False):
                    outcome.unknown_outcome_batches.append(request.number)
                    settled(request, "unknown-outcome", None, error)
                    if ledger:
                        ledger.mark_unknown(request.number)
                    log.warning(
                        "Braze %s: batch %d (%d recipients) may have been sent: %s",
                        plan.endpoint.path,
                        request.number,
                        request.recipients,
                        type(error).__name__,
                    )
                    continue
                settled(request, "failed", None, error)
                if ledger:
                    ledger.mark_failed(request.number)
                if failure is None or request.number < failure[0].number:
                    failure = (request, error)
                continue
            outcome.add(response, request.recipients, request.number)
            settled(request, "accepted", response, None)
            if ledger:
                ledger.accept(request.number)

    workers = max(1, concurrency or controller.cap)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="braze-send") as pool:
        try:
            for request in plan.requests():
                state = ledger.state_of(request.number) if ledger else None
                if state == "accepted":
                    outcome.resumed_batches += 1
                    outcome.resumed_recipients += request.recipients
                    continue
                if state == "unknown" and not resend_unknown:
                    outcome.unknown_outcome_batches.append(request.number)
                    settled(request, "unknown-outcome", None, None)
                    continue
                if not pending:  # the budget this send draws on (all its batches share it)
                    controller.budget = ep.rate_budget(plan.endpoint, request.body)
                while len(pending) >= controller.limit(len(pending)):
                    done, _ = wait(pending, timeout=progress_every, return_when=FIRST_COMPLETED)
                    settle(done)
                    progress.tick()
                if failure is not None:
                    break
                if ledger:
                    ledger.dispatching(request.number)
                pending[pool.submit(_send_one, hook, plan, request, resend_unknown)] = request
            while pending:
                done, _ = wait(pending, timeout=progress_every, return_when=FIRST_COMPLETED)
                settle(done)
                progress.tick()
        finally:
            if ledger:
                ledger.close()
    outcome.seconds = time.monotonic() - started
    if outcome.total_batches > 1 or failure is not None:
        progress.tick(final=True)
    if outcome.unknown_outcome_batches:
        log.warning(
            "Braze %s: %d batch(es) may have been sent (outcome unknown): %s. They were not sent again "
            "(on_unknown_outcome='%s').",
            plan.endpoint.path,
            len(outcome.unknown_outcome_batches),
            outcome.unknown_outcome_batches[:20],
            on_unknown_outcome,
        )
    if failure is not None:
        request, error = failure
        if outcome.batches == 0 and plan.total_requests == 1:
            raise error
        status = f"HTTP {error.status}: " if isinstance(error, BrazeAPIError) else ""
        accepted = outcome.batches + outcome.resumed_batches
        raise BrazeBatchError(
            f"Batch {request.number} of {plan.total_requests} to {plan.endpoint.path} failed and was not sent "
            f"({status}{error}). {accepted} batch(es) were accepted by Braze "
            f"({outcome.recipients + outcome.resumed_recipients} recipients); the rest were not sent. "
            "A retry of the task sends only the batches not accepted.",
            accepted_batches=accepted,
            total_batches=plan.total_requests,
            outcome_unknown=False,
        ) from error
    return outcome
