"""What every Braze operator shares: the steps of a run (plan, dry run, send, result) as functions, and
:class:`BrazeBaseOperator`, the base of the operators that make a few fixed requests.

The operators that message listed recipients have their own base,
:class:`~airflow_provider_braze.operators.batch_send.BrazeBatchSendOperator`; both run a plan with
:func:`execute_plan`, so every public operator is at most two classes below ``BaseOperator``.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_braze.client.instances import dashboard_link
from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.links import DASHBOARD_URL_XCOM_KEY
from airflow_provider_braze.operators.rendered_fields import parse_flag

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_braze.engine.batch_sender import SendOutcome
    from airflow_provider_braze.engine.send_plan import SendPlan
    from airflow_provider_braze.hooks.braze import BrazeHook

_T = TypeVar("_T")
#: Planned requests shown in full (redacted) in a dry run's log.
DRY_RUN_LOGGED_REQUESTS = 5


def validated(step: Callable[[], _T]) -> _T:
    """Run ``step`` (a check of rendered arguments), with rule violations turned into
    :class:`BrazeValidationError` (the task fails with a Braze error naming the argument)."""
    try:
        return step()
    except PayloadRuleError as err:
        raise BrazeValidationError(err.field, err.rule) from None


def plan_or_fail(build_plan: Callable[[], SendPlan]) -> SendPlan:
    """Run ``build_plan`` (pure: validate rendered arguments into requests), with rule violations turned
    into :class:`BrazeValidationError`."""
    return validated(build_plan)


def execute_plan(
    context: Context,
    plan: SendPlan,
    *,
    hook: BrazeHook,
    log: Any,
    dry_run: Any,
    dashboard_target: tuple[str, str] | None,
    make_result: Callable[[SendOutcome], dict[str, Any]],
    log_dry_run: Callable[[SendPlan], dict[str, Any]],
    send_options: Callable[[], Mapping[str, Any]] = dict,
) -> dict[str, Any]:
    """Send every batch of ``plan`` (or, in a dry run, only log them) and return the task's result.

    :param dry_run: the rendered ``dry_run`` argument.
    :param dashboard_target: ``("campaign" | "canvas", id)`` for the extra link, or None.
    :param make_result: the XCom result of an outcome.
    :param log_dry_run: logs the planned requests and returns the dry run's result.
    :param send_options: keyword arguments of
        :func:`~airflow_provider_braze.engine.batch_sender.send_plan` (asked for once the plan is final).
    """
    # The sender is a task-time import: a DAG file that only builds operators never loads it.
    from airflow_provider_braze.engine.batch_sender import (
        BrazeSendInterruptedError,
        BrazeUnknownOutcomeBatchesError,
        send_plan,
    )

    try:
        if validated(lambda: parse_flag(dry_run, "dry_run")):
            return log_dry_run(plan)
        options = validated(send_options)  # options checked only for a real send (e.g. on_unknown_outcome)
        push_dashboard_url(context, hook, dashboard_target, log)
        try:
            outcome = send_plan(hook, plan, log, **options)
        except (BrazeUnknownOutcomeBatchesError, BrazeSendInterruptedError) as error:
            push_failed_result(context, {**make_result(error.outcome), **plan.rejections()}, log)
            raise
        result = {**make_result(outcome), **plan.rejections()}
    finally:
        plan.close()
    log.info(
        "Braze %s: %d batch(es) accepted, %d recipient(s), %d dispatch id(s), %d minor error(s), %d queued, "
        "%d rejected row(s), %d unknown outcome(s)",
        plan.endpoint.path,
        outcome.batches,
        outcome.recipients,
        len(outcome.dispatch_ids_by_batch),
        outcome.minor_error_count,
        outcome.queued_batches,
        result.get("rejected_count", 0),
        len(outcome.unknown_outcome_batches),
    )
    return result


def push_failed_result(context: Context, result: dict[str, Any], log: Any) -> None:
    """Push the result of a send that ends in failure (e.g. naming batches that may have been sent)."""
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is None or not hasattr(ti, "xcom_push"):
        return
    try:
        ti.xcom_push(key="return_value", value=result)
    except Exception as error:  # the failure itself must still surface
        log.warning("Could not push the result of the failed send: %s", type(error).__name__)


def log_dry_run(plan: SendPlan, log: Any) -> dict[str, Any]:
    """Log the planned payloads, redacted, and return what would have been sent."""
    from airflow_provider_braze.engine.send_plan import redact

    summary = plan.summary()
    log.info(
        "Dry run: would send %d request(s) to %s with %d recipient(s); nothing is sent",
        summary["requests"],
        summary["endpoint"],
        summary["recipients"],
    )
    for request in plan.requests():
        if request.number > DRY_RUN_LOGGED_REQUESTS:
            break
        log.info(
            "Dry run request %d/%d: %s",
            request.number,
            plan.total_requests,
            json.dumps(redact(request.body), default=str),
        )
    if plan.total_requests > DRY_RUN_LOGGED_REQUESTS:
        log.info("Dry run: %d more request(s) not shown", plan.total_requests - DRY_RUN_LOGGED_REQUESTS)
    return {"dry_run": True, **summary}


def push_dashboard_url(context: Context, hook: BrazeHook, target: tuple[str, str] | None, log: Any) -> None:
    """Push the campaign's or Canvas's dashboard URL for the extra link (never fails the task)."""
    ti = context.get("ti") if hasattr(context, "get") else None
    if target is None or ti is None:
        return
    try:
        url = dashboard_link(hook.params.base_url, *target)
        ti.xcom_push(key=DASHBOARD_URL_XCOM_KEY, value=url)
    except Exception as err:
        log.debug("No Braze dashboard link: %s", type(err).__name__)


class BrazeBaseOperator(BaseOperator):
    """Base of the Braze operators that make a few fixed requests (send ids, schedule updates and
    deletes): render, validate, call the hook, return a small result.

    A subclass implements :meth:`build_plan` and :meth:`make_result`.

    :param braze_conn_id: the Braze connection (templated).
    :param dry_run: validate and log the payloads without sending; return what would have been sent.
        Templated (as the attribute ``braze_dry_run``, since ``BaseOperator.dry_run`` is a method).
    """

    template_fields: Sequence[str] = ("braze_conn_id",)
    template_ext: Sequence[str] = (".json",)
    ui_color = "#f7e4ff"

    def __init__(self, *, braze_conn_id: str = "braze_default", dry_run: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.braze_conn_id = braze_conn_id
        # Stored under another name: BaseOperator.dry_run() is a method Airflow 2's
        # ``airflow tasks test --dry-run`` calls.
        self.braze_dry_run = dry_run

    @cached_property
    def hook(self) -> BrazeHook:
        """The Braze hook of ``braze_conn_id``."""
        from airflow_provider_braze.hooks.braze import BrazeHook  # a task-time import: DAG files parse fast

        return BrazeHook(braze_conn_id=self.braze_conn_id)

    @abstractmethod
    def build_plan(self) -> SendPlan:
        """Validate the rendered arguments and plan the requests (no I/O)."""

    @abstractmethod
    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """The XCom result of a send."""

    @abstractmethod
    def dashboard_target(self) -> tuple[str, str] | None:
        """``("campaign", id)`` or ``("canvas", id)`` for the extra link, if the task has one."""

    def plan_or_fail(self) -> SendPlan:
        """:meth:`build_plan`, with rule violations turned into :class:`BrazeValidationError`."""
        return plan_or_fail(self.build_plan)

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate everything, then send (or, in a dry run, only log the requests)."""
        return execute_plan(
            context,
            self.plan_or_fail(),
            hook=self.hook,
            log=self.log,
            dry_run=self.braze_dry_run,
            dashboard_target=self.dashboard_target(),
            make_result=self.make_result,
            log_dry_run=lambda plan: log_dry_run(plan, self.log),
        )
