"""The sandbox's knobs: keys, latency, rate limits and injected faults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The REST API key the sandbox accepts unless told otherwise. It is not a secret.
DEFAULT_API_KEY = "sandbox-rest-api-key"


#: Fault kinds, and whether Braze has processed the request when the fault strikes (None: the
#: kind's ``status`` decides, see :data:`PROCESSED_BEFORE_STATUS`).
FAULT_KINDS: dict[str, bool | None] = {
    "status": None,  # answer ``status`` with a Braze JSON error
    "html": None,  # answer ``status`` with a gateway's HTML page
    "slow": True,  # processed, then answered after ``seconds`` (a read timeout for a short ``timeout``)
    "stall": False,  # held ``seconds`` before processing, then processed (unless the client left, see below)
    "rate_limit": False,  # 429, with ``X-RateLimit-Reset`` ``seconds`` ahead unless ``reset`` is False
    "drop": True,  # processed, then the connection is reset without an answer
    "non_json": True,  # processed, then a 2xx whose body is a proxy's HTML page, not JSON
    "bad_encoding": True,  # processed, then a 2xx labelled ``Content-Encoding: gzip`` whose body is not gzip
    "tls_cut": True,  # processed, then the answer is cut by bytes the client's TLS layer cannot decrypt
    "refuse": True,  # this request is answered; then the port refuses connections until reopened
    "connect_timeout": True,  # this request is answered; then connections to the port time out
}

#: Whether an error status is answered after Braze processed the request (a gateway timing out or
#: failing after the upstream took the request) or before (the upstream was unavailable). 502 and
#: 503 come from a gateway that did not reach a Braze application server; 429 is refused up front.
PROCESSED_BEFORE_STATUS: dict[int, bool] = {
    429: False,
    500: True,
    501: True,
    502: False,
    503: False,
    504: True,
    507: True,
    520: True,
    521: False,
    522: False,
    523: False,
    524: True,
}


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour of the sandbox.

    Unscoped faults (no ``match``, no ``on_request``) are consumed by the next API request, in order.
    A scoped fault waits for its request: the ``on_request``-th request (1-based, counted from the
    injection) whose JSON body (or query) holds every item of ``match``.

    :param kind: see :data:`FAULT_KINDS`: ``status``, ``html``, ``slow``, ``stall``, ``rate_limit``,
        ``drop``, ``non_json``, ``bad_encoding``, ``tls_cut`` (a sandbox port with TLS only), ``refuse``,
        ``connect_timeout``.
    :param status: the HTTP status of ``status``, ``html`` and ``non_json`` faults.
    :param seconds: the delay of ``slow`` and ``stall`` faults; how far ahead a ``rate_limit`` resets.
    :param after_processing: the request is processed (messages "sent") before the fault strikes.
        None: the kind's rule (:data:`FAULT_KINDS`), and for statuses :data:`PROCESSED_BEFORE_STATUS`
        (unlisted 5xx: after processing; other statuses: before).
    :param reset: whether a ``rate_limit`` answer carries ``X-RateLimit-Reset``.
    :param match: only requests whose body (or query) has these top-level items, e.g.
        ``{"campaign_id": "cell-7"}``: the fault of one send among several.
    :param on_request: strike on this matching request (1-based; default: the first).
    :param abandon_if_client_left: a ``stall`` whose client disconnected during the hold is not
        processed (the request never fully reached Braze's application) instead of processed.
    :param label: a name reported in :attr:`BrazeSandbox.fired` when the fault strikes.
    """

    kind: str = "status"
    status: int = 503
    seconds: float = 0.0
    after_processing: bool | None = None
    reset: bool = True
    match: dict[str, Any] | None = None
    on_request: int | None = None
    abandon_if_client_left: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault kind must be one of {sorted(FAULT_KINDS)} (got {self.kind!r})")
        if self.on_request is not None and self.on_request < 1:
            raise ValueError(f"Fault on_request is 1-based (got {self.on_request})")

    @property
    def scoped(self) -> bool:
        """Whether the fault waits for a chosen request instead of taking the next one."""
        return self.match is not None or self.on_request is not None

    @property
    def processes_first(self) -> bool:
        """Whether the request is processed before the fault is answered."""
        if self.after_processing is not None:
            return self.after_processing
        by_kind = FAULT_KINDS[self.kind]
        if by_kind is not None:
            return by_kind
        if self.status in PROCESSED_BEFORE_STATUS:
            return PROCESSED_BEFORE_STATUS[self.status]
        return self.status >= 500

    def matches(self, payload: Mapping[str, Any]) -> bool:
        """Whether a request with this body (or query) is one the fault waits for."""
        return all(payload.get(name) == value for name, value in (self.match or {}).items())


@dataclass
class SandboxConfig:
    """Behaviour of a :class:`~airflow_provider_braze.testing.sandbox.BrazeSandbox`; change it live.

    :param api_keys: accepted REST API keys, each with its permissions (None: every permission).
    :param latency: seconds added to every API answer.
    :param rate_limit: requests per ``rate_limit_window`` in the shared budget (Braze: 250,000/hour).
    :param rate_limit_window: the shared window in whole seconds (3600 resets at the top of the hour).
    :param broadcast_rate_limit: broadcast-style sends per minute (Braze: 250).
    :param send_ids_per_day: new send ids per UTC day (Braze: 100).
    :param fail_every_n: answer every n-th API request with ``fail_status`` (0: never).
    :param fail_status: the status of ``fail_every_n`` faults.
    :param fail_probability: answer this fraction of API requests with ``fail_status`` (seeded).
    :param fail_on_requests: answer these API requests (1-based arrival numbers) with ``fail_status``:
        an outage at a chosen point of a send.
    :param slow_every_n: answer every n-th request after ``slow_seconds`` (processed first).
    :param slow_seconds: the delay of slow answers.
    :param html_502_every_n: answer every n-th request with a gateway's HTML 502 (not processed).
    :param queue_every_n: answer every n-th send with 202 ``queued`` (processed).
    :param minor_errors: non-fatal ``errors`` added to every successful send.
    :param paused_canvas_ids: Canvases that answer success with a "paused" ``notice``.
    :param record_bodies: keep request bodies in the request log (turn off for huge benchmarks).
    :param cdi_rate_limits: per-minute budgets of the CDI endpoints (list 50, sync 20, status 100).
    :param seed: seed of ``fail_probability``.
    """

    api_keys: dict[str, frozenset[str] | None] = field(default_factory=lambda: {DEFAULT_API_KEY: None})
    latency: float = 0.0
    rate_limit: int = 250_000
    rate_limit_window: int = 3600
    broadcast_rate_limit: int = 250
    send_ids_per_day: int = 100
    fail_every_n: int = 0
    fail_status: int = 503
    fail_probability: float = 0.0
    fail_on_requests: frozenset[int] = frozenset()
    slow_every_n: int = 0
    slow_seconds: float = 5.0
    html_502_every_n: int = 0
    queue_every_n: int = 0
    minor_errors: list[str] = field(default_factory=list)
    paused_canvas_ids: set[str] = field(default_factory=set)
    record_bodies: bool = True
    cdi_rate_limits: dict[str, int] = field(default_factory=lambda: {"cdi_list": 50, "cdi_sync": 20, "cdi_status": 100})
    seed: int = 0
