"""Sending a :class:`~airflow_provider_braze.send_plan.SendPlan` through the hook, batch by batch,
and summing the answers into a small, JSON-serialisable result for XCom."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_braze.exceptions import BrazeAPIError, BrazeError

if TYPE_CHECKING:
    from airflow_provider_braze.hooks.braze import BrazeHook
    from airflow_provider_braze.send_plan import SendPlan
    from airflow_provider_braze.transport.responses import BrazeResponse

#: At most this many ids and minor errors are kept in a result (counts are always complete).
MAX_LISTED_IN_RESULT = 100


class BrazeBatchError(BrazeError):
    """A batch failed after earlier batches of the same send were accepted.

    :param accepted_batches: batches Braze accepted before the failure.
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
    batches: int = 0
    recipients: int = 0
    dispatch_ids: list[str] = field(default_factory=list)
    schedule_ids: list[str] = field(default_factory=list)
    send_ids: list[str] = field(default_factory=list)
    minor_errors: list[Any] = field(default_factory=list)
    minor_error_count: int = 0
    queued_batches: int = 0
    notices: list[str] = field(default_factory=list)
    retried_attempts: int = 0
    seconds: float = 0.0

    def add(self, response: BrazeResponse, recipients: int) -> None:
        """Count one accepted batch."""
        self.batches += 1
        self.recipients += recipients
        self.retried_attempts += response.attempts - 1
        self.queued_batches += int(response.queued)
        for value, bucket in (
            (response.dispatch_id, self.dispatch_ids),
            (response.schedule_id, self.schedule_ids),
            (response.send_id, self.send_ids),
        ):
            if value:
                bucket.append(value)
        if response.minor_errors:
            self.minor_error_count += len(response.minor_errors)
            room = MAX_LISTED_IN_RESULT - len(self.minor_errors)
            self.minor_errors.extend(response.minor_errors[: max(0, room)])
        if response.notice and response.notice not in self.notices:
            self.notices.append(response.notice)

    def to_result(self) -> dict[str, Any]:
        """The XCom result: ids capped at 100 each, with complete counts."""
        result: dict[str, Any] = {
            "endpoint": self.endpoint,
            "batches": self.batches,
            "recipients": self.recipients,
            "dispatch_ids": self.dispatch_ids[:MAX_LISTED_IN_RESULT],
            "dispatch_id_count": len(self.dispatch_ids),
            "minor_errors": self.minor_errors,
            "minor_error_count": self.minor_error_count,
            "queued_batches": self.queued_batches,
            "retried_attempts": self.retried_attempts,
        }
        if self.schedule_ids:
            result["schedule_ids"] = self.schedule_ids[:MAX_LISTED_IN_RESULT]
            result["schedule_id_count"] = len(self.schedule_ids)
        if self.send_ids:
            result["send_ids"] = self.send_ids[:MAX_LISTED_IN_RESULT]
        if self.notices:
            result["notices"] = self.notices
        return result


def send_plan(hook: BrazeHook, plan: SendPlan, log: logging.Logger | Any) -> SendOutcome:
    """Send every request of ``plan`` in order; stop at the first failure.

    :raises BrazeBatchError: when a batch fails after others were accepted (the message says how
        many were, and whether the failing one may have been sent).
    :raises BrazeError: when the first batch fails.
    """
    outcome = SendOutcome(endpoint=plan.endpoint.path)
    total = len(plan.requests)
    started = time.monotonic()
    for request in plan.requests:
        try:
            response = hook.request(plan.endpoint.method, plan.endpoint.path, json=request.body)
        except BrazeError as error:
            unknown = bool(getattr(error, "outcome_unknown", False))
            if outcome.batches == 0 and total == 1:
                raise
            maybe = " and may have been sent" if unknown else " and was not sent"
            status = f"HTTP {error.status}: " if isinstance(error, BrazeAPIError) else ""
            raise BrazeBatchError(
                f"Batch {request.number} of {total} to {plan.endpoint.path} failed{maybe} ({status}{error}). "
                f"{outcome.batches} earlier batch(es) ({outcome.recipients} recipients) were accepted by Braze; "
                f"{total - request.number} later batch(es) were not sent.",
                accepted_batches=outcome.batches,
                total_batches=total,
                outcome_unknown=unknown,
            ) from error
        outcome.add(response, request.recipients)
        if total > 1:
            log.info(
                "Braze %s: batch %d/%d accepted (%d recipients so far)",
                plan.endpoint.path,
                request.number,
                total,
                outcome.recipients,
            )
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome
