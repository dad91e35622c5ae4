"""``[core] hostname_callable`` of the deployment test: each Celery worker reports its own name.

Both workers run on one machine, so the FQDN cannot tell them apart; ``E2E_WORKER_NAME`` does, as
separate machines' hostnames would.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """The worker's name from ``E2E_WORKER_NAME``, else this machine's FQDN."""
    return os.environ.get("E2E_WORKER_NAME") or socket.getfqdn()
