"""BrazeBatchSendOperator: the base of every operator that messages listed users (sends, triggers,
schedule creates and transactional email): connection, recipient sources and sending options."""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_braze.client import payload_validation as pv
from airflow_provider_braze.engine.send_options import (
    DEFAULT_RETENTION_DAYS,
    OnDuplicate,
    OnEmpty,
    OnInvalid,
    OnUnknownOutcome,
)
from airflow_provider_braze.operators.base import execute_plan, log_dry_run, plan_or_fail
from airflow_provider_braze.operators.rendered_fields import parse_flag, parse_rendered

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_braze.engine.batch_sender import SendOutcome
    from airflow_provider_braze.engine.outcome_writer import OutcomeWriter
    from airflow_provider_braze.engine.resume_ledger import ResumeLedger
    from airflow_provider_braze.engine.send_plan import PlannedRequest, RecipientSource, SendPlan, SpoolOptions
    from airflow_provider_braze.hooks.braze import BrazeHook

# The engine's spool, sender, resume record and outcome writer are imported in the methods that run
# when a task runs: a DAG file that only builds operators never loads them.

#: Template fields every batch-send operator adds.
SOURCE_TEMPLATE_FIELDS = (
    "outcome_table",
    "outcome_conn_id",
    "sql",
    "sql_conn_id",
    "sql_parameters",
    "max_recipients",
    "shard_count",
    "shard_index",
    "on_invalid",
    "on_duplicate",
    "on_empty",
    "on_unknown_outcome",
)


class BrazeBatchSendOperator(BaseOperator):
    """Base of the operators that message listed recipients: where they come from and how they are sent.

    A subclass implements :meth:`build_plan` and :meth:`dashboard_target`.

    Recipients come from the operator's list argument (any iterable, e.g. an upstream task's XCom)
    or from a SQL query (``sql`` + ``sql_conn_id``), streamed. The whole source is validated before
    the first request; batches of 50 are then sent concurrently at the rate limit, and a task retry
    resumes: batches Braze accepted in an earlier try are not sent again.

    :param braze_conn_id: the Braze connection (templated).
    :param dry_run: validate, batch and log the payloads (recipient data redacted) without sending;
        return what would have been sent. Templated (as the attribute ``braze_dry_run``, since
        ``BaseOperator.dry_run`` is a method).
    :param sql: a SELECT whose rows are the recipients (see the row convention in the docs). Order
        it: a retry resumes only if the query yields the same rows in the same order. Templated;
        ``.sql`` files work.
    :param sql_conn_id: an Airflow connection whose hook is a common.sql ``DbApiHook``.
    :param sql_parameters: query parameters (templated).
    :param on_invalid: ``"fail"`` (default): any invalid row fails the task before anything is sent,
        naming row numbers and rules; ``"skip"``: send the valid rows and report the rejected ones.
    :param on_duplicate: ``"fail"`` (default): a user listed more than once anywhere in the source (a
        join fan-out) fails the task before anything is sent, naming the row numbers; ``"first"``:
        send each user's first row only and report the others (``duplicate_count``/``duplicate_rows``).
        Braze collapses repeats only within one request, so across batches they would be messaged twice.
    :param on_empty: ``"warn"`` (default): a source without any valid recipient succeeds with a
        "0 recipients" result (``empty_source: true``) and a warning; ``"fail"``: fail the task.
    :param max_recipients: refuse, before the first request, a source with more valid recipients
        (the guard against a query bug messaging the whole user base). Counted over the whole
        source: with shards, every shard task checks the total, not its share.
    :param shard_count: split the recipients into this many shards by a stable hash of each
        identifier, for fan-out with dynamic task mapping (``.expand(shard_index=range(n))``).
    :param shard_index: the shard this task sends (0-based). Each of N shards paces itself at 1/N of
        the connection's rate limits, so N shard tasks running at once share the workspace's budget.
    :param on_unknown_outcome: batches whose outcome is unknown (a timeout after sending, a worker
        killed while they were in flight): ``"fail"`` (default) sends every other batch, then fails
        the task naming them (they are not sent again; the result XCom and the outcome table list
        them); ``"skip"`` accepts them with a warning; ``"resend"`` sends them again (Braze may then
        deliver twice) — the documented follow-up once you decided they were not delivered.
    :param reconcile_unknown_outcomes: when a try ends with batches whose outcome is unknown, look their
        recipients up in Braze's user export (``POST /users/export/ids``; the key needs the
        ``users.export.ids`` permission) and report per batch whether the campaign or Canvas shows as
        received since the send started (``unknown_outcome_reconciliation`` in the result XCom and the
        failure message; counts only in the log). An aid only: nothing is re-sent and the task's
        outcome does not change. Default True.
    :param resume_retention_days: how long the resume record is kept (default 30 days): within it a
        cleared successful task sends nothing again.
    :param max_concurrency: a fixed number of batches in flight (default: the connection's
        ``max_concurrency``; unset, the send adapts to Braze's latency up to ``concurrency_cap``).
    :param resume_store: where the record of accepted batches lives: ``"variable"`` (default, an
        Airflow Variable per task instance), a path or object-storage URL (``s3://bucket/prefix``),
        or ``None`` to keep no record (a retry then sends everything again).
    :param outcome_table: write one row per recipient and batch to this warehouse table once Braze
        answers (created if missing; see ``docs/outcome-write-back.md`` for the columns).
    :param outcome_conn_id: the warehouse connection of ``outcome_table`` (default: ``sql_conn_id``).
    """

    template_fields: Sequence[str] = ("braze_conn_id", "braze_dry_run", *SOURCE_TEMPLATE_FIELDS)
    template_ext: Sequence[str] = (".json", ".sql")
    ui_color = "#f7e4ff"

    def __init__(
        self,
        *,
        braze_conn_id: str = "braze_default",
        dry_run: bool = False,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        sql_parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        on_invalid: OnInvalid | str = OnInvalid.FAIL,
        on_duplicate: OnDuplicate | str = OnDuplicate.FAIL,
        on_empty: OnEmpty | str = OnEmpty.WARN,
        max_recipients: int | None = None,
        shard_count: int = 1,
        shard_index: int = 0,
        on_unknown_outcome: OnUnknownOutcome | str = OnUnknownOutcome.FAIL,
        max_concurrency: int | None = None,
        resume_store: str | None = "variable",
        outcome_table: str | None = None,
        outcome_conn_id: str | None = None,
        resume_retention_days: float = DEFAULT_RETENTION_DAYS,
        reconcile_unknown_outcomes: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.braze_conn_id = braze_conn_id
        self.braze_dry_run = dry_run  # BaseOperator.dry_run() is a method (``airflow tasks test --dry-run``)
        self.reconcile_unknown_outcomes = reconcile_unknown_outcomes
        self._reconcile: tuple[SendPlan, float] | None = None  # the plan and its start, set when sending
        self._reconciliation: dict[str, Any] | None = None
        self.resume_retention_days = resume_retention_days
        self._stop: threading.Event | None = None  # made when the send starts (operators are deep-copied)
        self.outcome_table = outcome_table
        self.outcome_conn_id = outcome_conn_id
        self._outcome_writer: OutcomeWriter | None = None
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.sql_parameters = sql_parameters
        self.on_invalid = on_invalid
        self.on_duplicate = on_duplicate
        self.on_empty = on_empty
        self.max_recipients = max_recipients
        self.shard_count = shard_count
        self.shard_index = shard_index
        self.on_unknown_outcome = on_unknown_outcome
        self.max_concurrency = max_concurrency
        self.resume_store = resume_store

    @cached_property
    def hook(self) -> BrazeHook:
        """The Braze hook of ``braze_conn_id``, pacing itself at this shard's share of the rate limits."""
        from airflow_provider_braze.hooks.braze import BrazeHook  # a task-time import: DAG files parse fast

        return BrazeHook(braze_conn_id=self.braze_conn_id, rate_share=self.rate_share())

    def rate_share(self) -> float:
        """The share of the connection's rate limits this task may use: N shard tasks run side by side,
        so each paces itself at 1/N of the workspace's limits."""
        return 1.0 / (_int(self.shard_count, "shard_count") or 1)

    @abstractmethod
    def build_plan(self) -> SendPlan:
        """Validate the rendered arguments and plan the requests (no I/O)."""

    @abstractmethod
    def dashboard_target(self) -> tuple[str, str] | None:
        """``("campaign", id)`` or ``("canvas", id)`` for the extra link, if the task has one."""

    def plan_or_fail(self) -> SendPlan:
        """:meth:`build_plan`, with rule violations turned into ``BrazeValidationError``."""
        return plan_or_fail(self.build_plan)

    def log_dry_run(self, plan: SendPlan) -> dict[str, Any]:
        """Log the planned payloads, redacted, and return what would have been sent."""
        return log_dry_run(plan, self.log)

    # -- sources ----------------------------------------------------------------------------

    def sql_source(self, list_given: bool, list_field: str) -> RecipientSource | None:
        """The SQL source, if ``sql`` is set (refused together with a list argument)."""
        if not self.sql:
            return None
        if list_given:
            raise pv.PayloadRuleError("sql", f"give recipients as {list_field} or as sql, not both")
        if not self.sql_conn_id:
            raise pv.PayloadRuleError("sql_conn_id", "is required with sql")
        from airflow_provider_braze.engine.recipient_sources import iter_sql_rows
        from airflow_provider_braze.engine.send_plan import rows_source

        return rows_source(iter_sql_rows(self.sql_conn_id, self.sql, self.sql_parameters))

    def listed_source(self, value: Any, field: str) -> RecipientSource | None:
        """A list argument (a list, a JSON string or an iterable such as an XCom), or the SQL rows."""
        if isinstance(value, str):
            value = parse_rendered(value, field, kinds=(list,))
        sql = self.sql_source(value is not None, field)
        if sql is not None:
            return sql
        from airflow_provider_braze.engine.send_plan import list_source

        return list_source(value, field)

    def spool_options(self) -> SpoolOptions:
        """The validated spooling options."""
        from airflow_provider_braze.engine.send_plan import SpoolOptions

        return SpoolOptions(
            on_invalid=self.on_invalid,
            max_recipients=_int(self.max_recipients, "max_recipients"),
            shard_count=_int(self.shard_count, "shard_count") or 1,
            shard_index=_int(self.shard_index, "shard_index") or 0,
            on_duplicate=self.on_duplicate,
            on_empty=self.on_empty,
        )

    # -- sending ----------------------------------------------------------------------------

    def send_options(self, context: Context, plan: SendPlan) -> dict[str, Any]:
        """Concurrency, unknown-outcome policy and the resume record."""
        on_unknown_outcome = OnUnknownOutcome.parse(self.on_unknown_outcome, "on_unknown_outcome")
        concurrency = _int(self.max_concurrency, "max_concurrency") or self.hook.params.settings.max_concurrency
        writer = self.outcome_writer(context, plan)
        started = time.time()
        reconcile = parse_flag(self.reconcile_unknown_outcomes, "reconcile_unknown_outcomes")  # checked up front
        ledger = self.resume_ledger(context, plan, concurrency)
        since = min(started, ledger.created) if ledger and ledger.created else started  # the first try's start
        self._reconcile = (plan, since) if reconcile else None
        return {
            "concurrency": concurrency,
            "on_unknown_outcome": on_unknown_outcome,
            "ledger": ledger,
            "on_settled": writer_callback(writer) if writer else None,
            "stop": self._stop_event(),
        }

    def _stop_event(self) -> threading.Event:
        if self._stop is None:
            self._stop = threading.Event()
        return self._stop

    def on_kill(self) -> None:
        """Stop dispatching further batches (those in flight are settled and recorded by the sender)."""
        if self._stop is not None:
            self._stop.set()

    def outcome_writer(self, context: Context, plan: SendPlan) -> OutcomeWriter | None:
        """The outcome write-back of this run, with the table ensured and rejected rows recorded."""
        if not self.outcome_table:
            return None
        conn_id = self.outcome_conn_id or self.sql_conn_id
        if not conn_id:
            raise pv.PayloadRuleError("outcome_conn_id", "is required with outcome_table (or give sql_conn_id)")
        from airflow.providers.common.compat.sdk import BaseHook

        from airflow_provider_braze.engine.outcome_writer import OutcomeWriter

        ti = context.get("ti") if hasattr(context, "get") else None
        writer = OutcomeWriter(
            BaseHook.get_connection(conn_id).get_hook(),
            str(self.outcome_table),
            run_id=str(context.get("run_id") or "manual") if hasattr(context, "get") else "manual",
            dag_id=str(getattr(ti, "dag_id", None) or self.dag_id or "none"),
            task_id=str(getattr(ti, "task_id", None) or self.task_id),
            map_index=_map_index(ti),
            try_number=int(getattr(ti, "try_number", 1) or 1),
        )
        writer.ensure_table()
        if plan.spool is not None:
            for rejected in plan.spool.all_rejected():
                writer.rejected(rejected.row, rejected.reason)
        self._outcome_writer = writer
        return writer

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """The result, with ``unknown_outcome_reconciliation`` when batches' outcome is unknown."""
        result = outcome.to_result(self.hook)
        summary = self.reconcile_unknown(outcome)
        if summary is not None:
            result["unknown_outcome_reconciliation"] = summary
        return result

    def reconcile_unknown(self, outcome: SendOutcome) -> dict[str, Any] | None:
        """Look the unknown batches up in Braze's user export (once per try; None when not applicable)."""
        if self._reconciliation is not None:
            return self._reconciliation
        stopping = self._stop is not None and self._stop.is_set()  # on_kill: make no further request
        if not outcome.unknown_outcome_batches or self._reconcile is None or stopping:
            return None
        plan, since = self._reconcile
        from airflow_provider_braze.engine.unknown_outcome_reconciliation import reconcile_unknown_batches

        try:
            summary = reconcile_unknown_batches(self.hook, plan, outcome.unknown_outcome_batches, since=since)
        except Exception as error:  # an aid: it must never hide the send's own outcome
            self.log.warning("Braze: could not reconcile the unknown-outcome batches: %s", type(error).__name__)
            return None
        self.log.info(
            "Braze %s: unknown-outcome batches in the user export: %d received, %d partly received, "
            "%d no trace, %d not checkable (%d export request(s))",
            plan.endpoint.path,
            summary["received_count"],
            summary["partly_received_count"],
            summary["no_trace_count"],
            summary["not_checkable_count"],
            summary["export_requests"] or 0,
        )
        self._reconciliation = summary
        return summary

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate the whole source, send every batch (or, in a dry run, only log them), then write the
        last buffered outcome rows (also when the send failed)."""
        from airflow_provider_braze.engine.batch_sender import (
            BrazeSendInterruptedError,
            BrazeUnknownOutcomeBatchesError,
        )
        from airflow_provider_braze.engine.unknown_outcome_reconciliation import describe

        self._reconciliation = None
        try:
            plan = self.plan_or_fail()
            result = execute_plan(
                context,
                plan,
                hook=self.hook,
                log=self.log,
                dry_run=self.braze_dry_run,
                dashboard_target=self.dashboard_target(),
                make_result=self.make_result,
                log_dry_run=self.log_dry_run,
                send_options=lambda: self.send_options(context, plan),
            )
            if self._reconciliation is not None:  # accepted (on_unknown_outcome="skip"): say what was found
                self.log.warning("Braze: %s", describe(self._reconciliation))
            return result
        except (BrazeUnknownOutcomeBatchesError, BrazeSendInterruptedError) as error:
            if self._reconciliation is not None and error.args:
                error.args = (f"{error.args[0]} {describe(self._reconciliation)}", *error.args[1:])
            raise
        finally:
            writer, self._outcome_writer = self._outcome_writer, None
            if writer is not None:
                try:
                    writer.flush()
                    self.log.info("Wrote %d outcome row(s) to %s", writer.written, writer.table)
                except Exception:
                    self.log.exception("Could not write the send outcomes to %s", writer.table)

    def resume_ledger(self, context: Context, plan: SendPlan, concurrency: int | None) -> ResumeLedger | None:
        """The resume record of this task instance, opened (None without a store or a task instance)."""
        ti = context.get("ti") if hasattr(context, "get") else None
        run_id = context.get("run_id") if hasattr(context, "get") else None
        if not self.resume_store or ti is None or not run_id or plan.total_requests < 1:
            return None
        from airflow_provider_braze.engine.resume_ledger import (
            PathResumeStore,
            ResumeLedger,
            VariableResumeStore,
            resume_key,
        )

        store = VariableResumeStore() if self.resume_store == "variable" else PathResumeStore(str(self.resume_store))
        key = resume_key(ti.dag_id, ti.task_id, str(run_id), _map_index(ti))
        ledger = ResumeLedger(
            store,
            key,
            plan.fingerprint,
            owner=int(getattr(ti, "try_number", None) or 1),
            retention_days=float(self.resume_retention_days),
        )
        ledger.open(plan.total_requests)
        if ledger.previous is not None:
            self.log.info(
                "Resuming from try %d (record '%s'): %d batch(es) already accepted, %d with unknown outcome",
                ledger.tries - 1,
                key,
                ledger.accepted_count,
                len(ledger.unknown),
            )
        return ledger


def writer_callback(writer: OutcomeWriter) -> Callable[[PlannedRequest, str, Any, Any], None]:
    """The ``on_settled`` callback that records a settled batch's recipients."""

    def record(request: PlannedRequest, status: str, response: Any, error: Any) -> None:
        detail = None
        if response is not None and response.minor_errors:
            detail = "; ".join(str(e) for e in response.minor_errors)
        elif error is not None:
            detail = str(error)
        writer.batch(
            request.number,
            request.body,
            status,
            dispatch_id=response.dispatch_id if response is not None else None,
            schedule_id=response.schedule_id if response is not None else None,
            error=detail,
        )

    return record


def _map_index(ti: Any) -> int:
    """The task instance's map index (-1 when not mapped; 0 is a real index)."""
    value = getattr(ti, "map_index", None)
    return -1 if value is None else int(value)


def _int(value: Any, field: str) -> int | None:
    """A rendered whole-number argument (templates render strings)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise pv.PayloadRuleError(field, "must be a whole number")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise pv.PayloadRuleError(field, f"must be a whole number (got {value!r})") from None
