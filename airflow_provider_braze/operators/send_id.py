"""BrazeCreateSendIdOperator: create a send id for analytics (``POST /sends/id/create``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client import payload_validation as pv
from airflow_provider_braze.links import BrazeCampaignLink
from airflow_provider_braze.operators.base import BrazeBaseOperator

if TYPE_CHECKING:
    from airflow_provider_braze.engine.batch_sender import SendOutcome
    from airflow_provider_braze.engine.send_plan import SendPlan


class BrazeCreateSendIdOperator(BrazeBaseOperator):
    """Create a send id to group a campaign's sends in analytics (``POST /sends/id/create``).

    Braze allows 100 send ids a day per workspace, and each ``campaign_id`` + ``send_id`` combination
    created counts (Braze's page makes no exception for a pair created before), so every run of this
    task spends one of the 100: create a send id once and reuse it across sends of the campaign to
    group their analytics. Returns ``{"send_id": ..., "campaign_id": ...}``; pass it on with
    ``send_id="{{ ti.xcom_pull('create_send_id')['send_id'] }}"`` together with the same
    ``campaign_id`` (a send id without its campaign is refused).

    Example:

    .. code-block:: python

        BrazeCreateSendIdOperator(
            task_id="create_send_id",
            campaign_id="c",
            send_id="spring-{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}",  # any run kind
        )

    :param campaign_id: the API campaign (templated).
    :param send_id: the id to create (ASCII, ≤ 64; templated); Braze generates one when omitted.
    """

    template_fields: Sequence[str] = ("campaign_id", "send_id", "braze_conn_id", "braze_dry_run")
    operator_extra_links = (BrazeCampaignLink(),)

    def __init__(self, *, campaign_id: str, send_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.campaign_id = campaign_id
        self.send_id = send_id

    def dashboard_target(self) -> tuple[str, str] | None:
        """The campaign's dashboard page."""
        return ("campaign", str(self.campaign_id))

    def build_plan(self) -> SendPlan:
        """Validate the ids."""
        pv.check_required_id(self.campaign_id, "campaign_id")
        send_id = self.send_id or None
        pv.check_send_id(send_id)
        from airflow_provider_braze.engine.send_plan import SendPlan  # task time: DAG files parse fast
        from airflow_provider_braze.hooks.braze import BrazeHook

        body = BrazeHook.create_send_id_body(campaign_id=self.campaign_id, send_id=send_id)
        return SendPlan(ep.CREATE_SEND_ID, fixed=[body])

    def make_result(self, outcome: SendOutcome) -> dict[str, Any]:
        """``{"send_id", "campaign_id"}``."""
        return {"send_id": outcome.send_ids[0] if outcome.send_ids else self.send_id, "campaign_id": self.campaign_id}
