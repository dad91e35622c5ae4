"""What reached a running sandbox since the last look, in one line (``make demo`` prints it per DAG).

``python -m airflow_provider_braze.testing.sandbox.activity --state FILE`` reads the sandbox's control
API at ``$BRAZE_SANDBOX_URL`` (set by ``python -m airflow_provider_braze.testing.sandbox -- ...``),
describes the requests that arrived after those counted in ``FILE`` and writes the new count there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from airflow_provider_braze.testing.sandbox.summary import recipient_count

#: What a request to each path does, in a newcomer's words.
_ACTIONS = {
    "/messages/send": "message send",
    "/campaigns/trigger/send": "campaign trigger",
    "/canvas/trigger/send": "Canvas trigger",
    "/messages/schedule/create": "message schedule",
    "/campaigns/trigger/schedule/create": "campaign schedule",
    "/canvas/trigger/schedule/create": "Canvas schedule",
    "/messages/schedule/update": "schedule update",
    "/campaigns/trigger/schedule/update": "schedule update",
    "/canvas/trigger/schedule/update": "schedule update",
    "/messages/schedule/delete": "schedule deletion",
    "/campaigns/trigger/schedule/delete": "schedule deletion",
    "/canvas/trigger/schedule/delete": "schedule deletion",
    "/sends/id/create": "send id",
    "/messages/scheduled_broadcasts": "broadcast lookup",
    "/campaigns/data_series": "campaign analytics export",
    "/sends/data_series": "send analytics export",
    "/cdi/integrations": "CDI integration lookup",
}
#: Paths with an id in them: (prefix, suffix) -> action.
_ACTION_PATTERNS = {
    ("/cdi/integrations/", "/job_sync_status"): "CDI sync status check",
    ("/cdi/integrations/", "/sync"): "CDI sync start",
    ("/transactional/v1/campaigns/", "/send"): "transactional email",
}


def _action(method: str, path: str) -> str:
    if path in _ACTIONS:
        return _ACTIONS[path]
    for (prefix, suffix), action in _ACTION_PATTERNS.items():
        if path.startswith(prefix) and path.endswith(suffix):
            return action
    return f"{method} {path} request"


def describe(requests: list[dict[str, Any]]) -> str:
    """One line for ``requests`` (the control API's request records): what they did, and for how many.

    :param requests: records from ``GET /_sandbox/requests``.
    """
    if not requests:
        return "no Braze request"
    actions: Counter[str] = Counter()
    recipients = 0
    refused: Counter[int] = Counter()
    for request in requests:
        actions[_action(request["method"], request["path"])] += 1
        if request.get("processed"):
            recipients += recipient_count(request.get("body"))
        elif request.get("status", 0) >= 400:
            refused[request["status"]] += 1
    parts = [f"{n} {action}{'s' if n > 1 else ''}" for action, n in actions.most_common()]
    line = ", ".join(parts)
    if recipients:
        line += f"; {recipients:,} listed recipient{'s' if recipients > 1 else ''} accepted"
    if refused:
        line += "; answered with an error: " + ", ".join(f"{n}x HTTP {status}" for status, n in sorted(refused.items()))
    return line


def main(argv: list[str] | None = None) -> int:
    """Print what arrived since the count in ``--state``; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, required=True, help="file with the count of requests already described")
    args = parser.parse_args(argv)
    url = os.environ.get("BRAZE_SANDBOX_URL")
    if not url:
        sys.stderr.write("BRAZE_SANDBOX_URL is not set: run this under the sandbox CLI (`-- command`)\n")
        return 2
    with urllib.request.urlopen(f"{url}/_sandbox/requests", timeout=30) as response:
        records = [r for r in json.loads(response.read()) if not r["path"].startswith("/_sandbox")]
    seen = int(args.state.read_text()) if args.state.exists() else 0
    sys.stdout.write(describe(records[seen:]) + "\n")
    args.state.write_text(str(len(records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
