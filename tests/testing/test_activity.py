from __future__ import annotations

import pytest

from airflow_provider_braze.testing.sandbox.activity import main


def test_each_call_describes_only_what_arrived_since_the_previous_one(sandbox, hook, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BRAZE_SANDBOX_URL", sandbox.url)
    state = tmp_path / "seen"
    hook.request(
        "POST",
        "/campaigns/trigger/send",
        json={"campaign_id": "c1", "recipients": [{"external_user_id": "u1"}, {"external_user_id": "u2"}]},
    )
    hook.request(
        "POST", "/campaigns/trigger/send", json={"campaign_id": "c1", "recipients": [{"external_user_id": "u3"}]}
    )
    capsys.readouterr()  # the hook's own log lines (Airflow 2 logs to stdout)
    assert main(["--state", str(state)]) == 0
    assert capsys.readouterr().out == "2 campaign triggers; 3 listed recipients accepted\n"

    hook.request("POST", "/sends/id/create", json={"campaign_id": "c1"})
    capsys.readouterr()
    assert main(["--state", str(state)]) == 0
    assert capsys.readouterr().out == "1 send id\n"

    assert main(["--state", str(state)]) == 0
    assert capsys.readouterr().out == "no Braze request\n"


def test_without_a_sandbox_url_it_says_how_to_run_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BRAZE_SANDBOX_URL", raising=False)
    assert main(["--state", str(tmp_path / "seen")]) == 2
    assert "BRAZE_SANDBOX_URL" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])


def test_errors_are_counted_by_status_and_paths_with_ids_are_named():
    from airflow_provider_braze.testing.sandbox.activity import describe

    records = [
        {"method": "GET", "path": "/cdi/integrations/abc/job_sync_status", "status": 200, "processed": True},
        {"method": "POST", "path": "/transactional/v1/campaigns/t1/send", "status": 400, "processed": False},
        {"method": "POST", "path": "/unknown/thing", "status": 404, "processed": False},
    ]
    assert describe(records) == (
        "1 CDI sync status check, 1 transactional email, 1 POST /unknown/thing request; "
        "answered with an error: 1x HTTP 400, 1x HTTP 404"
    )
