"""The sandbox's knobs: keys, latency, rate limits and injected faults."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The REST API key the sandbox accepts unless told otherwise. It is not a secret.
DEFAULT_API_KEY = "sandbox-rest-api-key"


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by the next API request.

    :param kind: ``status`` (answer ``status`` with a Braze JSON error), ``html`` (answer ``status``
        with a gateway's HTML page), ``slow`` (answer after ``seconds``, long enough for the client to
        time out) or ``rate_limit`` (a 429 whose ``X-RateLimit-Reset`` is ``seconds`` ahead).
    :param status: the HTTP status of ``status`` and ``html`` faults.
    :param seconds: the delay of ``slow`` faults; how far ahead a ``rate_limit`` fault resets.
    :param after_processing: the request is processed (messages "sent") before the fault is
        answered. Defaults to True for 500, 504 and ``slow`` (the unknown-outcome cases), False
        otherwise.
    """

    kind: str = "status"
    status: int = 503
    seconds: float = 0.0
    after_processing: bool | None = None

    @property
    def processes_first(self) -> bool:
        """Whether the request is processed before the fault is answered."""
        if self.after_processing is not None:
            return self.after_processing
        return self.kind == "slow" or (self.kind == "status" and self.status in (500, 504))


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
