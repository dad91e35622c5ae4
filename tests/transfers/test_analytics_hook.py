"""The analytics hook methods against the sandbox: lists (every page), details, series parameters."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_braze.exceptions import BrazeAPIError


def test_list_campaigns_reads_every_page_and_details_name_them(hook, sandbox):
    for i in range(150):  # two pages of 100
        hook.send_transactional_email(campaign_id=f"c-{i:03d}", recipient={"external_user_id": "u"})
    hook.trigger_canvas(canvas_id="canvas-1", recipients=[{"external_user_id": "u"}])
    campaigns = hook.list_campaigns()
    assert [c["id"] for c in campaigns] == [f"c-{i:03d}" for i in range(150)]
    assert [int(r.query["page"]) for r in sandbox.requests_to("/campaigns/list")] == [0, 1]
    assert [c["id"] for c in hook.list_canvases()] == ["canvas-1"]
    details = hook.get_campaign_details(campaign_id="c-007")
    assert details["name"] == "Sandbox campaign c-007"
    assert [m["channel"] for m in details["messages"].values()] == ["email"]
    assert hook.get_canvas_details(canvas_id="canvas-1")["steps"][0]["id"].startswith("step-")
    with pytest.raises(BrazeAPIError, match="Campaign does not exist"):
        hook.get_campaign_details(campaign_id="nope")


def test_series_parameters_reach_braze_as_documented(hook, sandbox):
    end = datetime(2026, 11, 30, 23, 59, 59, tzinfo=timezone.utc)
    hook.get_canvas_data_series(canvas_id="cv", ending_at=end, length=14)
    [request] = sandbox.requests_to("/canvas/data_series")
    assert request.query == {
        "canvas_id": "cv",
        "ending_at": "2026-11-30T23:59:59Z",
        "length": "14",
        "include_variant_breakdown": "true",
        "include_step_breakdown": "true",
        "include_deleted_step_data": "true",
    }
    with pytest.raises(BrazeAPIError, match="length"):  # Canvas series take at most 14 days
        hook.get_canvas_data_series(canvas_id="cv", ending_at=end, length=15)
    answer = hook.get_send_data_series(campaign_id="c", send_id="s", length=2, ending_at="2026-11-30T23:59:59Z")
    assert [day["time"] for day in answer["data"]] == ["2026-11-29", "2026-11-30"]
    assert "Analytics exports answered: 1x /canvas/data_series, 1x /sends/data_series" in sandbox.summary()
