"""Extra links from a Braze task to the campaign or Canvas in the dashboard of the connection's instance.

The operator pushes the URL to XCom while it runs (it knows the rendered id and the connection);
the link reads it back, so it works for templated ids and mapped tasks, on Airflow 2 and 3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

#: The XCom key the operators push the dashboard URL under.
DASHBOARD_URL_XCOM_KEY = "braze_dashboard_url"


class BrazeDashboardLink(BaseOperatorLink):
    """Link to the Braze dashboard page of the task's campaign or Canvas."""

    name = "Braze dashboard"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """Return the URL the task pushed, or an empty string before it ran."""
        url = XCom.get_value(key=DASHBOARD_URL_XCOM_KEY, ti_key=ti_key)
        return str(url) if url else ""


class BrazeCampaignLink(BrazeDashboardLink):
    """Link to the campaign in the Braze dashboard."""

    name = "Braze campaign"


class BrazeCanvasLink(BrazeDashboardLink):
    """Link to the Canvas in the Braze dashboard."""

    name = "Braze Canvas"


class BrazeCDIIntegrationLink(BrazeDashboardLink):
    """Link to the Cloud Data Ingestion integration in the Braze dashboard."""

    name = "Braze CDI integration"
