"""The Braze messaging endpoints this provider speaks: path, method, key permission, rate bucket.

Pure data with no Airflow imports; the hook, the operators and the sandbox all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """One Braze REST endpoint.

    :param method: ``GET`` or ``POST``.
    :param path: the path, e.g. ``/campaigns/trigger/send``.
    :param permission: the REST API key permission it needs.
    :param bucket: the rate-limit budget it draws on: ``shared`` (250,000/hour for the workspace),
        ``send`` (shared when recipients are listed, 250/minute broadcast budget for segment or
        audience sends) or ``send_id`` (100/day).
    """

    method: str
    path: str
    permission: str
    bucket: str = "shared"


SEND_MESSAGE = Endpoint("POST", "/messages/send", "messages.send", "send")
TRIGGER_CAMPAIGN = Endpoint("POST", "/campaigns/trigger/send", "campaigns.trigger.send", "send")
TRIGGER_CANVAS = Endpoint("POST", "/canvas/trigger/send", "canvas.trigger.send", "send")
CREATE_MESSAGE_SCHEDULE = Endpoint("POST", "/messages/schedule/create", "messages.schedule.create")
UPDATE_MESSAGE_SCHEDULE = Endpoint("POST", "/messages/schedule/update", "messages.schedule.update")
DELETE_MESSAGE_SCHEDULE = Endpoint("POST", "/messages/schedule/delete", "messages.schedule.delete")
CREATE_CAMPAIGN_SCHEDULE = Endpoint(
    "POST", "/campaigns/trigger/schedule/create", "campaigns.trigger.schedule.create", "send"
)
UPDATE_CAMPAIGN_SCHEDULE = Endpoint("POST", "/campaigns/trigger/schedule/update", "campaigns.trigger.schedule.update")
DELETE_CAMPAIGN_SCHEDULE = Endpoint("POST", "/campaigns/trigger/schedule/delete", "campaigns.trigger.schedule.delete")
CREATE_CANVAS_SCHEDULE = Endpoint("POST", "/canvas/trigger/schedule/create", "canvas.trigger.schedule.create", "send")
UPDATE_CANVAS_SCHEDULE = Endpoint("POST", "/canvas/trigger/schedule/update", "canvas.trigger.schedule.update")
DELETE_CANVAS_SCHEDULE = Endpoint("POST", "/canvas/trigger/schedule/delete", "canvas.trigger.schedule.delete")
CREATE_SEND_ID = Endpoint("POST", "/sends/id/create", "sends.id.create", "send_id")
SCHEDULED_BROADCASTS = Endpoint("GET", "/messages/scheduled_broadcasts", "messages.schedule_broadcasts")

MESSAGING_ENDPOINTS: tuple[Endpoint, ...] = (
    SEND_MESSAGE,
    TRIGGER_CAMPAIGN,
    TRIGGER_CANVAS,
    CREATE_MESSAGE_SCHEDULE,
    UPDATE_MESSAGE_SCHEDULE,
    DELETE_MESSAGE_SCHEDULE,
    CREATE_CAMPAIGN_SCHEDULE,
    UPDATE_CAMPAIGN_SCHEDULE,
    DELETE_CAMPAIGN_SCHEDULE,
    CREATE_CANVAS_SCHEDULE,
    UPDATE_CANVAS_SCHEDULE,
    DELETE_CANVAS_SCHEDULE,
    CREATE_SEND_ID,
    SCHEDULED_BROADCASTS,
)

#: Cloud Data Ingestion: list integrations (50/min), trigger a sync (20/min), list its runs (100/min).
CDI_INTEGRATIONS = Endpoint("GET", "/cdi/integrations", "cdi.integration_list", "cdi_list")
CDI_SYNC = Endpoint("POST", "/cdi/integrations/{integration_id}/sync", "cdi.integration_sync", "cdi_sync")
CDI_JOB_SYNC_STATUS = Endpoint(
    "GET", "/cdi/integrations/{integration_id}/job_sync_status", "cdi.integration_job_status", "cdi_status"
)
CDI_ENDPOINTS: tuple[Endpoint, ...] = (CDI_INTEGRATIONS, CDI_SYNC, CDI_JOB_SYNC_STATUS)

#: Per-minute budgets of the CDI endpoints (Braze defaults).
CDI_RATE_LIMITS_PER_MINUTE = {"cdi_list": 50, "cdi_sync": 20, "cdi_status": 100}

#: Transactional email: one recipient per request, the campaign id in the path. No per-endpoint limit
#: is documented; Braze's newest docs count it toward the workspace's shared hourly pool (429 beyond).
TRANSACTIONAL_EMAIL = Endpoint("POST", "/transactional/v1/campaigns/{campaign_id}/send", "transactional.send")
TEMPLATED_ENDPOINTS: tuple[Endpoint, ...] = (*CDI_ENDPOINTS, TRANSACTIONAL_EMAIL)

#: Analytics exports and the lists/details that name what they report on (all read-only). The
#: campaign series has its own 50,000/minute limit at Braze; paced here in the shared pool (safe side).
SEND_DATA_SERIES = Endpoint("GET", "/sends/data_series", "sends.data_series")
CAMPAIGN_DATA_SERIES = Endpoint("GET", "/campaigns/data_series", "campaigns.data_series")
CANVAS_DATA_SERIES = Endpoint("GET", "/canvas/data_series", "canvas.data_series")
CAMPAIGN_LIST = Endpoint("GET", "/campaigns/list", "campaigns.list")
CAMPAIGN_DETAILS = Endpoint("GET", "/campaigns/details", "campaigns.details")
CANVAS_LIST = Endpoint("GET", "/canvas/list", "canvas.list")
CANVAS_DETAILS = Endpoint("GET", "/canvas/details", "canvas.details")
ANALYTICS_ENDPOINTS: tuple[Endpoint, ...] = (
    SEND_DATA_SERIES,
    CAMPAIGN_DATA_SERIES,
    CANVAS_DATA_SERIES,
    CAMPAIGN_LIST,
    CAMPAIGN_DETAILS,
    CANVAS_LIST,
    CANVAS_DETAILS,
)

#: The user export by identifier (read-only; up to 50 external ids a request). Braze gives it its own
#: limit (250/minute for workspaces onboarded since 22 Aug 2024; 2,500/minute before); paced here in
#: the shared pool, a 429 is waited out like any other.
USERS_EXPORT_IDS = Endpoint("POST", "/users/export/ids", "users.export.ids")
#: At most this many ``external_ids`` per export request.
USERS_EXPORT_MAX_IDS = 50
#: The ``fields_to_export`` Braze documents for ``/users/export/ids``.
USERS_EXPORT_FIELDS = (
    "apps",
    "attributed_campaign",
    "attributed_source",
    "attributed_adgroup",
    "attributed_ad",
    "braze_id",
    "campaigns_received",
    "canvases_received",
    "cards_clicked",
    "country",
    "created_at",
    "custom_attributes",
    "custom_events",
    "devices",
    "dob",
    "email",
    "email_subscribe",
    "external_id",
    "first_name",
    "gender",
    "home_city",
    "language",
    "last_coordinates",
    "last_name",
    "phone",
    "purchases",
    "push_subscribe",
    "push_tokens",
    "random_bucket",
    "time_zone",
    "total_revenue",
    "uninstalled_at",
    "user_aliases",
)
USER_EXPORT_ENDPOINTS: tuple[Endpoint, ...] = (USERS_EXPORT_IDS,)

BY_PATH: dict[str, Endpoint] = {e.path: e for e in (*MESSAGING_ENDPOINTS, *ANALYTICS_ENDPOINTS, *USER_EXPORT_ENDPOINTS)}


def transactional_path(campaign_id: str) -> str:
    """The concrete transactional send path of one campaign (the id is URL-quoted)."""
    from urllib.parse import quote

    return TRANSACTIONAL_EMAIL.path.replace("{campaign_id}", quote(campaign_id, safe=""))


def match(path: str) -> Endpoint | None:
    """The endpoint a concrete path belongs to (``/cdi/integrations/abc/sync`` → ``CDI_SYNC``)."""
    if path in BY_PATH:
        return BY_PATH[path]
    parts = path.strip("/").split("/")
    for endpoint in TEMPLATED_ENDPOINTS:
        template = endpoint.path.strip("/").split("/")
        if len(template) == len(parts) and all(
            t.startswith("{") or t == p for t, p in zip(template, parts, strict=True)
        ):
            return endpoint
    return None


def permission_for(path: str) -> str | None:
    """Return the key permission an endpoint path needs, or None for an unknown path."""
    endpoint = match(path)
    return endpoint.permission if endpoint else None


def rate_budget(endpoint: Endpoint, body: dict[str, Any] | None) -> str:
    """The rate-limit budget one request draws on: ``broadcast``, ``send_id`` or ``shared``.

    Send endpoints use the per-minute broadcast budget when they target a segment or audience
    rather than listed users; everything else shares the workspace's hourly pool.
    """
    if endpoint.bucket in ("send_id", *CDI_RATE_LIMITS_PER_MINUTE):
        return endpoint.bucket
    if endpoint.bucket == "send" and body is not None:
        listed = body.get("recipients") or body.get("external_user_ids") or body.get("user_aliases")
        if body.get("broadcast") or (not listed and (body.get("segment_id") or body.get("audience"))):
            return "broadcast"
    return "shared"
