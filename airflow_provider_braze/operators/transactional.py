"""BrazeSendTransactionalEmailOperator: transactional email that cannot double-send within 24 hours."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_braze.client import payload_validation as pv
from airflow_provider_braze.client.transactional import DEDUP_WINDOW_HOURS, redact_transactional
from airflow_provider_braze.engine.send_options import OnUnknownOutcome
from airflow_provider_braze.links import BrazeCampaignLink
from airflow_provider_braze.operators.batch_send import SOURCE_TEMPLATE_FIELDS, BrazeBatchSendOperator
from airflow_provider_braze.operators.rendered_fields import parse_rendered

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_braze.engine.batch_sender import SendOutcome
    from airflow_provider_braze.engine.outcome_writer import OutcomeWriter
    from airflow_provider_braze.engine.send_plan import PlannedRequest, SendPlan
    from airflow_provider_braze.hooks.transactional import BrazeTransactionalHook

_JSON = "json"
#: A resend of unknown outcomes is refused once the DAG run is this old: Braze's de-duplication
#: (24 h from the first attempt, which is after the run started) might no longer cover it.
RESEND_SAFE_HOURS = DEDUP_WINDOW_HOURS - 1


class BrazeSendTransactionalEmailOperator(BrazeBatchSendOperator):
    """Send a Transactional Email campaign to each listed recipient
    (``POST /transactional/v1/campaigns/{campaign_id}/send``, one request per recipient).

    Every email carries an ``external_send_id`` derived from the campaign, the recipient and a
    business key: SHA-256 hex of ``v1|campaign_id|recipient|business_key`` — never the try number,
    the clock or the run id (unless the run has no logical date, see ``business_key``). Braze does
    not send an email whose ``external_send_id`` it saw in the last 24 hours, so a task retry, a
    cleared task or a second DAG run with the same business key within 24 hours cannot
    double-send, **even without the resume record**. Braze's answer to such a repeat ("The external
    reference has been queued") counts as accepted (``queued``/``deduplicated`` in the result).

    Hence unknown outcomes (a timeout after the request left) are re-sent by default
    (``on_unknown_outcome="resend"``): Braze de-duplicates them. Once the DAG run is more than
    23 hours old, the operator falls back to ``"fail"``, because the 24-hour window may have passed.
    After 24 hours Braze forgets the id: only the resume record (kept 30 days) then prevents a
    second email on a cleared task.

    Transactional campaigns send to every user, unsubscribed ones included: filter upstream.
    Everything else is as for the other senders (sources, validation before the first request,
    pacing, resume record, ``outcome_table``, ``shard_count``/``shard_index``); see
    ``docs/transactional-email.md``.

    Example:

    .. code-block:: python

        BrazeSendTransactionalEmailOperator(
            task_id="order_confirmations",
            campaign_id="{{ var.value.order_confirmation_campaign }}",
            sql="SELECT external_user_id, order_id, total FROM orders_to_confirm ORDER BY order_id",
            sql_conn_id="warehouse",
            business_key_field="order_id",
        )

    :param campaign_id: the Transactional Email campaign (templated).
    :param recipients: ``external_user_id`` strings, ``{"external_user_id"}`` or ``{"user_alias"}``
        objects with optional ``attributes`` and ``trigger_properties``, or rows (every other column
        becomes a trigger property). Or give ``sql`` + ``sql_conn_id``. Templated.
    :param trigger_properties: personalisation for every email (each recipient's own win; templated).
    :param business_key: what makes this email distinct besides campaign and recipient (templated).
        Default: the DAG run's logical date (ISO 8601), so a daily DAG sends each user one email per
        day. A run without a logical date (a manual run on Airflow 3) uses its ``run_id`` instead:
        retries of that run are de-duplicated, another manual run sends again.
    :param business_key_field: a per-recipient trigger property (a SQL column) whose value joins the
        business key, e.g. ``order_id``: one email per order, so a user with two orders gets two.
    :param on_unknown_outcome: ``"resend"`` (default; safe within 24 h thanks to Braze's
        de-duplication), ``"fail"`` or ``"skip"`` (see ``BrazeBatchSendOperator``).
    """

    template_fields: Sequence[str] = (
        "campaign_id",
        "recipients",
        "trigger_properties",
        "business_key",
        "business_key_field",
        "braze_conn_id",
        "braze_dry_run",
        *SOURCE_TEMPLATE_FIELDS,
    )
    template_fields_renderers = {"recipients": _JSON, "trigger_properties": _JSON}
    operator_extra_links = (BrazeCampaignLink(),)

    def __init__(
        self,
        *,
        campaign_id: str,
        recipients: Iterable[Mapping[str, Any] | str] | str | None = None,
        trigger_properties: Mapping[str, Any] | str | None = None,
        business_key: str | None = None,
        business_key_field: str | None = None,
        on_unknown_outcome: str = "resend",
        **kwargs: Any,
    ) -> None:
        super().__init__(on_unknown_outcome=on_unknown_outcome, **kwargs)
        self.campaign_id = campaign_id
        self.recipients = recipients
        self.trigger_properties = trigger_properties
        self.business_key = business_key
        self.business_key_field = business_key_field
        self._resolved_business_key: str | None = None

    @cached_property
    def hook(self) -> BrazeTransactionalHook:  # type: ignore[override]
        """The Braze hook, counting Braze's "already queued" answer as accepted."""
        from airflow_provider_braze.hooks.transactional import BrazeTransactionalHook

        return BrazeTransactionalHook(braze_conn_id=self.braze_conn_id, rate_share=self.rate_share())

    def dashboard_target(self) -> tuple[str, str] | None:
        """The campaign's dashboard page."""
        return ("campaign", str(self.campaign_id))

    # -- planning -------------------------------------------------------------------------------

    def resolve_business_key(self, context: Context | Mapping[str, Any]) -> str:
        """The business key: ``business_key``, else the logical date, else the run id."""
        given = self.business_key
        if given is not None and str(given).strip():
            return str(given).strip()
        logical = context.get("logical_date")
        if logical is not None:
            return logical.isoformat() if hasattr(logical, "isoformat") else str(logical)
        run_id = context.get("run_id")
        if run_id:
            self.log.info("The DAG run has no logical date: the business key is its run id (%s)", run_id)
            return f"run:{run_id}"
        raise pv.PayloadRuleError(
            "business_key", "is required when the task runs outside a DAG run (no logical date, no run id)"
        )

    def build_plan(self) -> SendPlan:
        """Validate every recipient and derive each email's ``external_send_id``."""
        source = self.listed_source(self.recipients, "recipients")
        if source is None:
            raise pv.PayloadRuleError("recipients", "are required (a list, an upstream task's output, or sql)")
        field = self.business_key_field
        from airflow_provider_braze.engine.transactional_plan import plan_transactional  # task time

        return plan_transactional(
            campaign_id=self.campaign_id,
            trigger_properties=parse_rendered(self.trigger_properties, "trigger_properties", kinds=(dict,)),
            source=source,
            business_key=self._resolved_business_key or self.resolve_business_key({}),
            business_key_field=str(field).strip() if field else None,
            options=self.spool_options(),
        )

    # -- sending --------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Resolve the business key, then validate everything and send one request per recipient."""
        try:
            self._resolved_business_key = self.resolve_business_key(context)
        except pv.PayloadRuleError as err:
            from airflow_provider_braze.exceptions import BrazeValidationError

            raise BrazeValidationError(err.field, err.rule) from None
        return super().execute(context)

    def send_options(self, context: Context, plan: SendPlan) -> dict[str, Any]:
        """The engine's options, with the 24-hour guard on resends and the transactional write-back."""
        options = super().send_options(context, plan)
        if options["on_unknown_outcome"] == OnUnknownOutcome.RESEND and not _within_dedup_window(context):
            self.log.warning(
                "The DAG run started more than %d hours ago: Braze's 24-hour de-duplication may no longer cover "
                "emails of an earlier try, so emails whose outcome is unknown are not sent again "
                "(on_unknown_outcome='fail' for this try)",
                RESEND_SAFE_HOURS,
            )
            options["on_unknown_outcome"] = OnUnknownOutcome.FAIL
        if self._outcome_writer is not None:
            options["on_settled"] = transactional_writer_callback(self._outcome_writer)
        return options

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """The engine's result, plus the campaign, the business key and Braze's de-duplications."""
        result = outcome.to_result(self.hook)
        result["campaign_id"] = self.campaign_id
        result["business_key"] = self._resolved_business_key
        result["deduplicated"] = self.hook.deduplicated
        return result

    def log_dry_run(self, plan: SendPlan) -> dict[str, Any]:
        """Log the planned emails (recipients and personalisation redacted) without sending."""
        summary = plan.summary()
        summary.pop("batch_sizes", None)
        self.log.info(
            "Dry run: would send %d transactional email(s) to %s (business key %s); nothing is sent",
            summary["requests"],
            summary["endpoint"],
            self._resolved_business_key,
        )
        for request in plan.requests():
            if request.number > 5:
                break
            self.log.info("Dry run email %d: %s", request.number, json.dumps(redact_transactional(request.body)))
        return {"dry_run": True, **summary, "business_key": self._resolved_business_key}


def _within_dedup_window(context: Context | Mapping[str, Any]) -> bool:
    """Whether the DAG run started less than 23 hours ago (unknown: True; a task run outside a DAG run)."""
    dag_run = context.get("dag_run") if hasattr(context, "get") else None
    started = getattr(dag_run, "start_date", None)
    if not isinstance(started, datetime):
        return True
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - started < timedelta(hours=RESEND_SAFE_HOURS)


def transactional_writer_callback(writer: OutcomeWriter) -> Callable[[PlannedRequest, str, Any, Any], None]:
    """The ``on_settled`` callback that records each email's recipient (one row per request)."""

    def record(request: PlannedRequest, status: str, response: Any, error: Any) -> None:
        detail = None
        if response is not None and response.get("deduplicated"):
            detail = "already sent within 24 h (Braze de-duplicated the external_send_id)"
        elif error is not None:
            detail = str(error)
        writer.batch(
            request.number,
            {"recipients": [request.body["recipient"]]},
            status,
            dispatch_id=response.dispatch_id if response is not None else None,
            error=detail,
        )

    return record
