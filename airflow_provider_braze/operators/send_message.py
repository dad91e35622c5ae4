"""BrazeSendMessageOperator: send message content given in the task (``POST /messages/send``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.links import BrazeCampaignLink
from airflow_provider_braze.operators.batch_send import SOURCE_TEMPLATE_FIELDS, BrazeBatchSendOperator
from airflow_provider_braze.operators.rendered_fields import parse_flag, parse_rendered

if TYPE_CHECKING:
    from airflow_provider_braze.engine.send_plan import RecipientSource, SendPlan
    from airflow_provider_braze.operators.schedule import BrazeScheduleMessageOperator

_JSON = "json"


class BrazeSendMessageOperator(BrazeBatchSendOperator):
    """Send messages whose content is in the request (``POST /messages/send``).

    Target listed users (``external_user_ids`` and ``user_aliases``, any number: batched by 50 per
    request together), or a segment or connected audience with the explicit ``broadcast=True``.
    Returns ``{"dispatch_ids": [...], "recipients": n, "batches": k, "minor_errors": [...], ...}``.

    .. seealso:: https://www.braze.com/docs/api/endpoints/messaging/send_messages/post_send_messages/

    Example:

    .. code-block:: python

        BrazeSendMessageOperator(
            task_id="email_vips",
            external_user_ids="{{ ti.xcom_pull('select_vips') }}",
            messages="messages/vip_email.json",
        )

    :param messages: message objects by channel (``email``, ``apple_push``, ``android_push``,
        ``sms``, ``webhook``, ``content_card``, ``web_push``, ``kindle_push``, ``whats_app``).
        Templated; a ``.json`` file works.
    :param external_user_ids: external ids of users to message (any iterable; batched by 50 with the aliases).
    :param user_aliases: ``{"alias_name", "alias_label"}`` objects of users to message. Or give
        ``sql`` + ``sql_conn_id``: rows with ``external_user_id`` or ``user_alias_name`` +
        ``user_alias_label`` (see ``BrazeBatchSendOperator`` for every source and sending option).
    :param segment_id: a dashboard segment (with ``broadcast=True``, or intersected with listed users).
    :param audience: a connected audience filter.
    :param broadcast: ``True`` to send to a whole segment or audience; an explicit opt-in, refused
        together with listed users.
    :param campaign_id: an API campaign for analytics; every message object then needs its
        ``message_variation_id``.
    :param send_id: a send id (ASCII, ≤ 64) created for ``campaign_id``; refused without ``campaign_id``.
    :param override_frequency_capping: ignore the campaign's frequency capping.
    :param recipient_subscription_state: ``opted_in``, ``subscribed`` (Braze default) or ``all``.
    :param braze_conn_id: the Braze connection (templated).
    :param dry_run: validate and log without sending.
    """

    template_fields: Sequence[str] = (
        "messages",
        "external_user_ids",
        "user_aliases",
        "segment_id",
        "audience",
        "broadcast",
        "campaign_id",
        "send_id",
        "override_frequency_capping",
        "recipient_subscription_state",
        "braze_conn_id",
        "braze_dry_run",
        *SOURCE_TEMPLATE_FIELDS,
    )
    template_fields_renderers = {
        "messages": _JSON,
        "audience": _JSON,
        "external_user_ids": _JSON,
        "user_aliases": _JSON,
    }
    operator_extra_links = (BrazeCampaignLink(),)

    def __init__(
        self,
        *,
        messages: Mapping[str, Any] | str,
        external_user_ids: Iterable[str] | str | None = None,
        user_aliases: Iterable[Mapping[str, str]] | str | None = None,
        segment_id: str | None = None,
        audience: Mapping[str, Any] | str | None = None,
        broadcast: bool | str = False,
        campaign_id: str | None = None,
        send_id: str | None = None,
        override_frequency_capping: bool | str | None = None,
        recipient_subscription_state: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.messages = messages
        self.external_user_ids = external_user_ids
        self.user_aliases = user_aliases
        self.segment_id = segment_id
        self.audience = audience
        self.broadcast = broadcast
        self.campaign_id = campaign_id
        self.send_id = send_id
        self.override_frequency_capping = override_frequency_capping
        self.recipient_subscription_state = recipient_subscription_state

    def dashboard_target(self) -> tuple[str, str] | None:
        """The API campaign's dashboard page, when a campaign is given."""
        return ("campaign", str(self.campaign_id)) if self.campaign_id else None

    def build_plan(self) -> SendPlan:
        """Validate and batch."""
        kwargs = message_plan_kwargs(self)
        frequency = parse_flag(self.override_frequency_capping, "override_frequency_capping")
        from airflow_provider_braze.engine.send_plan import plan_message  # task time: DAG files parse fast

        return plan_message(
            endpoint=ep.SEND_MESSAGE, frequency_flag="override_frequency_capping", frequency_value=frequency, **kwargs
        )


def message_plan_kwargs(op: BrazeSendMessageOperator | BrazeScheduleMessageOperator) -> dict[str, Any]:
    """The rendered message arguments of a send or a schedule create, validated."""
    if op.send_id and not op.campaign_id:
        raise PayloadRuleError(
            "send_id",
            "needs campaign_id: a send id is created for a campaign (/sends/id/create) and tracks that "
            "campaign's sends",
        )
    ids = op.external_user_ids
    aliases = op.user_aliases
    if isinstance(ids, str):
        ids = parse_rendered(ids, "external_user_ids", kinds=(list,))
    if isinstance(aliases, str):
        aliases = parse_rendered(aliases, "user_aliases", kinds=(list,))
    sql = op.sql_source(ids is not None or aliases is not None, "external_user_ids/user_aliases")
    from airflow_provider_braze.engine.send_plan import users_source  # task time: DAG files parse fast

    source: RecipientSource | None = sql if sql is not None else users_source(ids, aliases)
    return {
        "messages": parse_rendered(op.messages, "messages", kinds=(dict,)),
        "source": source,
        "segment_id": op.segment_id,
        "audience": parse_rendered(op.audience, "audience", kinds=(dict,)),
        "broadcast": parse_flag(op.broadcast, "broadcast"),
        "campaign_id": op.campaign_id,
        "send_id": op.send_id,
        "recipient_subscription_state": op.recipient_subscription_state,
        "options": op.spool_options(),
    }
