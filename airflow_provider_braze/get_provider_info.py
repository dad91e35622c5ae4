"""Provider registration, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_braze import __version__

_INTEGRATION = "Braze"

#: Connection extras shown as form fields (Airflow 3 declarative form).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Read timeout (s)",
        "description": "Seconds to wait for Braze's answer once a request is sent (default 30).",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "connect_timeout": {
        "label": "Connect timeout (s)",
        "description": "Seconds to wait for a connection (default 10).",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of one request on 429, 502, 503 and refused connections (default 5).",
        "schema": {"type": ["integer", "null"], "minimum": 0},
    },
    "retry_deadline": {
        "label": "Retry deadline (s)",
        "description": "Total seconds one request may take, waits included (default 300).",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "retry_unknown_outcome": {
        "label": "Retry unknown outcomes",
        "description": "Retry after a read timeout, 500 or 504 on a send. Off by default: it may send twice.",
        "schema": {"type": ["boolean", "null"]},
    },
    "max_concurrency": {
        "label": "Max concurrency",
        "description": "A fixed number of requests in flight per batched send (default: adaptive, "
        "rate x measured latency).",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
    "concurrency_cap": {
        "label": "Concurrency cap",
        "description": "Most requests an adaptive send keeps in flight (default: enough for requests_per_hour "
        "at 1 s latency).",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
    "requests_per_hour": {
        "label": "Requests per hour",
        "description": "The workspace's shared hourly rate limit (Braze default 250,000).",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
    "broadcast_requests_per_minute": {
        "label": "Broadcast requests per minute",
        "description": "Segment and audience sends per minute (Braze default 250).",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    # port stays visible: see BrazeHook.get_ui_field_behaviour (Airflow 3.3's Test button)
    "hidden-fields": ["schema", "login"],
    "relabeling": {"host": "REST endpoint", "password": "REST API key"},
    "placeholders": {
        "host": "https://rest.iad-01.braze.com or an instance name such as US-01 or EU-02",
        "password": "REST API key from Settings > APIs and Identifiers",
        "port": "443 (optional; lets Airflow 3.3's Test button work)",
        "extra": '{"timeout": 30, "max_retries": 5, "retry_unknown_outcome": false}',
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata (hooks, operators, sensors, triggers, connection type)."""
    return {
        "package-name": "airflow-provider-braze-messaging",
        "name": "Braze",
        "description": "Send Braze messages from Airflow: campaigns, Canvases, messages, schedules, send ids, "
        "Cloud Data Ingestion syncs, transactional email, and analytics copied to SQL.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://www.braze.com/docs/api/endpoints/messaging/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_braze.hooks.braze",
                    "airflow_provider_braze.hooks.braze_async",
                    "airflow_provider_braze.hooks.transactional",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_braze.operators.send_message",
                    "airflow_provider_braze.operators.trigger",
                    "airflow_provider_braze.operators.schedule",
                    "airflow_provider_braze.operators.schedule_changes",
                    "airflow_provider_braze.operators.send_id",
                    "airflow_provider_braze.operators.cdi_sync",
                    "airflow_provider_braze.operators.transactional",
                ],
            }
        ],
        "transfers": [
            {
                "source-integration-name": _INTEGRATION,
                "target-integration-name": "Common SQL",
                "python-module": "airflow_provider_braze.transfers.analytics_to_sql",
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["airflow_provider_braze.sensors.scheduled_broadcast"],
            }
        ],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_braze.triggers.scheduled_broadcast",
                    "airflow_provider_braze.triggers.cdi_sync",
                ],
            }
        ],
        "extra-links": [
            "airflow_provider_braze.links.BrazeCampaignLink",
            "airflow_provider_braze.links.BrazeCanvasLink",
            "airflow_provider_braze.links.BrazeCDIIntegrationLink",
        ],
        "connection-types": [
            {
                "connection-type": "braze",
                "hook-class-name": "airflow_provider_braze.hooks.braze.BrazeHook",
                "hook-name": "Braze",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
