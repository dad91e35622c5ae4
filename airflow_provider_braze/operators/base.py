"""BrazeBaseOperator: what every Braze operator shares (connection, dry run, plan, send, result)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_braze.client.instances import dashboard_link
from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.engine.batch_sender import (
    BrazeSendInterruptedError,
    BrazeUnknownOutcomeBatchesError,
    SendOutcome,
    send_plan,
)
from airflow_provider_braze.engine.send_plan import SendPlan, redact
from airflow_provider_braze.exceptions import BrazeValidationError
from airflow_provider_braze.links import DASHBOARD_URL_XCOM_KEY
from airflow_provider_braze.operators.rendered_fields import parse_flag, parse_rendered

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_braze.hooks.braze import BrazeHook

#: Planned requests shown in full (redacted) in a dry run's log.
DRY_RUN_LOGGED_REQUESTS = 5


class BrazeBaseOperator(BaseOperator):
    """Base class of the Braze operators: render, validate, call the hook, return a small result.

    Subclasses implement :meth:`build_plan` (pure: validate rendered arguments into requests) and may
    override :meth:`dashboard_target`.

    :param braze_conn_id: the Braze connection (templated).
    :param dry_run: validate, batch and log the payloads (recipient data redacted) without sending;
        return what would have been sent. Templated (as the attribute ``braze_dry_run``, since
        ``BaseOperator.dry_run`` is a method).
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

    # -- subclass API -------------------------------------------------------------------------

    def build_plan(self) -> SendPlan:
        """Validate the rendered arguments and plan the requests (no I/O)."""
        raise NotImplementedError

    def dashboard_target(self) -> tuple[str, str] | None:
        """``("campaign", id)`` or ``("canvas", id)`` for the extra link, if the task has one."""
        return None

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """The XCom result of a send (override to reshape it)."""
        return outcome.to_result(self.hook)

    # -- helpers for subclasses ---------------------------------------------------------------

    @staticmethod
    def json_arg(value: Any, field: str, kinds: tuple[type, ...] = (dict, list)) -> Any:
        """A rendered object argument (``.json`` files and JSON strings parsed)."""
        return parse_rendered(value, field, kinds=kinds)

    @staticmethod
    def flag_arg(value: Any, field: str) -> bool | None:
        """A rendered boolean argument."""
        return parse_flag(value, field)

    # -- execution ----------------------------------------------------------------------------

    def plan_or_fail(self) -> SendPlan:
        """:meth:`build_plan`, with rule violations turned into :class:`BrazeValidationError`."""
        try:
            return self.build_plan()
        except PayloadRuleError as err:
            raise BrazeValidationError(err.field, err.rule) from None

    def send_options(self, context: Context, plan: SendPlan) -> dict[str, Any]:
        """Keyword arguments of :func:`~airflow_provider_braze.engine.batch_sender.send_plan` (override to add
        concurrency and resuming)."""
        return {}

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate everything, then send every batch (or, in a dry run, only log them)."""
        plan = self.plan_or_fail()
        try:
            if self.flag_arg(self.braze_dry_run, "dry_run"):
                return self.log_dry_run(plan)
            self.push_dashboard_url(context)
            try:
                outcome = send_plan(self.hook, plan, self.log, **self.send_options(context, plan))
            except (BrazeUnknownOutcomeBatchesError, BrazeSendInterruptedError) as error:
                self.push_failed_result(context, {**self.make_result(error.outcome), **plan.rejections()})
                raise
            result = {**self.make_result(outcome), **plan.rejections()}
        finally:
            plan.close()
        self.log.info(
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

    def push_failed_result(self, context: Context, result: dict[str, Any]) -> None:
        """Push the result of a send that ends in failure (e.g. naming batches that may have been sent)."""
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is None or not hasattr(ti, "xcom_push"):
            return
        try:
            ti.xcom_push(key="return_value", value=result)
        except Exception as error:  # the failure itself must still surface
            self.log.warning("Could not push the result of the failed send: %s", type(error).__name__)

    def log_dry_run(self, plan: SendPlan) -> dict[str, Any]:
        """Log the planned payloads, redacted, and return what would have been sent."""
        summary = plan.summary()
        self.log.info(
            "Dry run: would send %d request(s) to %s with %d recipient(s); nothing is sent",
            summary["requests"],
            summary["endpoint"],
            summary["recipients"],
        )
        for request in plan.requests():
            if request.number > DRY_RUN_LOGGED_REQUESTS:
                break
            self.log.info(
                "Dry run request %d/%d: %s",
                request.number,
                plan.total_requests,
                json.dumps(redact(request.body), default=str),
            )
        if plan.total_requests > DRY_RUN_LOGGED_REQUESTS:
            self.log.info("Dry run: %d more request(s) not shown", plan.total_requests - DRY_RUN_LOGGED_REQUESTS)
        return {"dry_run": True, **summary}

    def push_dashboard_url(self, context: Context) -> None:
        """Push the campaign's or Canvas's dashboard URL for the extra link (never fails the task)."""
        target = self.dashboard_target()
        ti = context.get("ti") if hasattr(context, "get") else None
        if target is None or ti is None:
            return
        try:
            url = dashboard_link(self.hook.params.base_url, *target)
            ti.xcom_push(key=DASHBOARD_URL_XCOM_KEY, value=url)
        except Exception as err:
            self.log.debug("No Braze dashboard link: %s", type(err).__name__)
