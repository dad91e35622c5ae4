"""BrazeSandbox: a local fake Braze REST server, standard library only.

Start it in-process (``with BrazeSandbox() as sandbox:``) or as a command
(``python -m airflow_provider_braze.testing.sandbox --port 4010``). It checks requests the way
Braze does (auth, permissions, routes, content type, JSON, size, rate limits, then each endpoint's
rules), answers like Braze, and remembers every request and every per-recipient delivery so tests can
assert on exactly what reached "Braze". A control API under ``/_sandbox/`` (no auth) exposes the
same to other processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_braze.testing.sandbox import rules
from airflow_provider_braze.testing.sandbox.analytics_api import AnalyticsModel
from airflow_provider_braze.testing.sandbox.braze_api import BrazeAPI
from airflow_provider_braze.testing.sandbox.cdi_api import CDIAPI, RunScript
from airflow_provider_braze.testing.sandbox.config import DEFAULT_API_KEY, Fault, SandboxConfig
from airflow_provider_braze.testing.sandbox.state import RecordedRequest, SandboxState, StoredSchedule
from airflow_provider_braze.testing.sandbox.summary import render_summary
from airflow_provider_braze.testing.sandbox.transactional_api import TransactionalModel
from airflow_provider_braze.testing.sandbox.users_export_api import UsersExportModel
from airflow_provider_braze.testing.sandbox.validation import Rejection

GATEWAY_HTML = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
)

#: A 2xx answer from something in front of Braze (a captive proxy, a CDN's maintenance page).
PROXY_HTML = "<html><head><title>Request received</title></head><body>Your request is being processed.</body></html>"

_STATUS_MESSAGES = {
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    507: "Insufficient Storage",
    520: "Web Server Returned an Unknown Error",
    524: "A Timeout Occurred",
}


class _Reply:
    """What the handler writes back."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None, *, html: bool = False):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.html = html
        self.delay = 0.0
        #: How the handler ends the exchange instead of a plain answer: ``drop`` (reset, no answer),
        #: ``tls_cut`` (answer cut by undecryptable bytes), ``abandon`` (the client left: write nothing).
        self.action: str | None = None
        #: After answering, the port stops taking connections: ``refuse`` or ``connect_timeout``.
        self.port_action: str | None = None
        #: A ``stall``: seconds to hold before :attr:`resume` processes the request.
        self.resume: Callable[[bool], _Reply] | None = None

    def payload(self) -> tuple[bytes, str]:
        if self.html:
            return str(self.body).encode(), "text/html"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


class _SandboxHTTPServer(ThreadingHTTPServer):
    """A deep listen backlog, like a real gateway's: a send opening a hundred connections at once must
    not have some dropped by the kernel after the request was written (the stdlib's default is 5)."""

    request_queue_size = 1024


class SandboxPort:
    """One listening port of a sandbox (plain HTTP or TLS), which faults can take down and tests reopen.

    :param owner: the sandbox answering on the port.
    :param host: the address to listen on.
    :param port: the port (0 picks a free one).
    :param tls: a server ``ssl.SSLContext``: the port speaks HTTPS.
    """

    def __init__(self, owner: BrazeSandbox, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.owner = owner
        self.host = host
        self.port = port
        self.tls = tls
        #: ``open``, ``refuse`` (nothing listens) or ``connect_timeout`` (connections are never accepted).
        self.state = "closed"
        self._server: ThreadingHTTPServer | None = None
        self._hole: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The REST endpoint of this port, e.g. ``https://127.0.0.1:40123``."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def down(self) -> bool:
        """Whether the port refuses or black-holes new connections."""
        return self.state in ("refuse", "connect_timeout")

    def open(self) -> None:
        """Listen and answer (again)."""
        with self._lock:
            self._close_hole()
            if self._server is not None:
                self.state = "open"
                return
            port_owner = self

            class Handler(_Handler):
                owner = self.owner
                sandbox_port = port_owner

            server = _SandboxHTTPServer((self.host, self.port), Handler, bind_and_activate=True)
            server.daemon_threads = True
            if self.tls is not None:
                server.socket = self.tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
            self.port = int(server.server_address[1])
            self._server = server
            self.state = "open"
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"braze-sandbox-{self.port}",
                daemon=True,
            ).start()

    def refuse(self) -> None:
        """Stop listening: new connections are refused (open ones finish their exchange)."""
        with self._lock:
            self._close_listener()
            self.state = "refuse"  # answers from now on close their connection: the next one is refused
            self._stop_server()
            self._close_hole()

    def black_hole(self) -> None:
        """Listen but never accept, with the accept queue full: new connections time out connecting."""
        with self._lock:
            self._close_listener()
            self._close_hole()
            hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            hole.bind((self.host, self.port))
            hole.listen(0)
            self._hole = [hole]
            for _ in range(2):  # fill the accept queue (backlog 0 holds one); later SYNs are dropped
                filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect((self.host, self.port))
                self._hole.append(filler)
            time.sleep(0.05)
            self.state = "connect_timeout"  # answers from now on close their connection
            self._stop_server()

    def take_down(self, how: str) -> None:
        """``refuse`` or ``connect_timeout`` (see :meth:`refuse` and :meth:`black_hole`)."""
        if how == "refuse":
            self.refuse()
        elif how == "connect_timeout":
            self.black_hole()
        else:
            raise ValueError(f"a port goes down by 'refuse' or 'connect_timeout', not {how!r}")

    def close(self) -> None:
        """Stop for good."""
        with self._lock:
            self._stop_server()
            self._close_hole()
            self.state = "closed"

    def _close_listener(self) -> None:
        """Stop listening at once (the accept loop notices later): new connections are refused from here,
        none is left half-accepted in the backlog to be reset."""
        if self._server is not None:
            listener = self._server.socket
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # Linux: leaves LISTEN now, even while the loop polls it
            listener.close()

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _close_hole(self) -> None:
        for sock in self._hole:
            sock.close()
        self._hole = []


class BrazeSandbox:
    """A fake Braze REST API on loopback.

    :param host: the address to listen on (loopback only is sensible).
    :param port: the port; 0 picks a free one (see :attr:`url`).
    :param config: behaviour knobs; change its attributes live (under :attr:`lock`) or via
        :meth:`configure`.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.state = SandboxState()
        self.api = BrazeAPI(self.state, self.config)
        self.cdi = CDIAPI()
        self.transactional = TransactionalModel(self.state)
        self.analytics = AnalyticsModel(self.state, self.transactional)
        self.users_export = UsersExportModel(self.state)
        self._faults: list[Fault] = []
        self._scoped: list[list[Any]] = []  # [fault, matching requests seen]
        self._fired: list[tuple[str, float]] = []
        self._random = random.Random(self.config.seed)
        self._host = host
        self._main = SandboxPort(self, host, port)
        self.ports: list[SandboxPort] = [self._main]

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> BrazeSandbox:
        """Start serving in a background thread."""
        self._main.open()
        return self

    def stop(self) -> None:
        """Stop serving and close the sockets (extra ports included)."""
        for port in self.ports:
            port.close()

    def add_port(self, *, tls: ssl.SSLContext | None = None, port: int = 0) -> SandboxPort:
        """Serve the same sandbox on another loopback port, e.g. with TLS, or to take down alone.

        :param tls: a server ``ssl.SSLContext`` (certificate loaded): the port speaks HTTPS.
        :param port: the port (0 picks a free one).
        """
        extra = SandboxPort(self, self._host, port, tls)
        extra.open()
        self.ports.append(extra)
        return extra

    def port_numbered(self, number: int) -> SandboxPort:
        """The sandbox port listening on ``number``."""
        for port in self.ports:
            if port.port == number:
                return port
        raise KeyError(f"the sandbox has no port {number}")

    def __enter__(self) -> BrazeSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def lock(self) -> threading.RLock:
        """The lock guarding state and config."""
        return self.state.lock

    @property
    def port(self) -> int:
        """The port served on."""
        if self._main.state == "closed":
            raise RuntimeError("the sandbox is not running")
        return self._main.port

    @property
    def url(self) -> str:
        """The REST endpoint to put in the Braze connection, e.g. ``http://127.0.0.1:4010``."""
        return f"http://{self._host}:{self.port}"

    @property
    def api_key(self) -> str:
        """The first accepted key (``sandbox-rest-api-key`` by default)."""
        return next(iter(self.config.api_keys), DEFAULT_API_KEY)

    def connection_json(self, *, api_key: str | None = None, extra: Mapping[str, Any] | None = None) -> str:
        """The Braze connection as ``AIRFLOW_CONN_*`` JSON."""
        conn: dict[str, Any] = {"conn_type": "braze", "host": self.url, "password": api_key or self.api_key}
        if extra:
            conn["extra"] = dict(extra)
        return json.dumps(conn)

    def airflow_env(self, conn_id: str = "braze_default", **kwargs: Any) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": ...}`` for a subprocess or ``monkeypatch.setenv``."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json(**kwargs)}

    # -- knobs --------------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change config attributes, e.g. ``configure(latency=0.05, rate_limit=70, rate_limit_window=1)``."""
        with self.lock:
            for name, value in changes.items():
                if not hasattr(self.config, name):
                    raise AttributeError(f"SandboxConfig has no setting {name!r}")
                setattr(self.config, name, value)
            self._random = random.Random(self.config.seed)

    def inject(self, *faults: Fault) -> None:
        """Queue faults: unscoped ones are consumed by the next API requests, in order; scoped ones
        (``match``/``on_request``) wait for their request."""
        with self.lock:
            for fault in faults:
                if fault.scoped:
                    self._scoped.append([fault, 0])
                else:
                    self._faults.append(fault)

    @property
    def fired(self) -> list[str]:
        """The labels (or kinds) of the faults that struck, in order."""
        with self.lock:
            return [label for label, _ in self._fired]

    @property
    def fired_at(self) -> dict[str, float]:
        """When each labelled fault struck (epoch seconds; the first time, for repeated labels)."""
        with self.lock:
            when: dict[str, float] = {}
            for label, at in self._fired:
                when.setdefault(label, at)
            return when

    def rate_limit_burst(self, count: int, reset_in: float = 1.0) -> None:
        """Answer the next ``count`` API requests with 429, resetting ``reset_in`` seconds ahead."""
        self.inject(*[Fault(kind="rate_limit", status=429, seconds=reset_in)] * count)

    def add_broadcast(
        self,
        *,
        broadcast_id: str,
        name: str,
        next_send_time: datetime | str,
        broadcast_type: str = "Campaign",
        tags: Iterable[str] = (),
        schedule_type: str = "UTC",
    ) -> None:
        """Seed a dashboard-scheduled broadcast for ``GET /messages/scheduled_broadcasts``."""
        when = (
            next_send_time if isinstance(next_send_time, str) else next_send_time.astimezone(timezone.utc).isoformat()
        )
        with self.lock:
            self.state.broadcasts.append(
                {
                    "name": name,
                    "id": broadcast_id,
                    "type": broadcast_type,
                    "tags": list(tags),
                    "next_send_time": when,
                    "schedule_type": schedule_type,
                }
            )

    def add_cdi_integration(
        self,
        integration_id: str | None = None,
        *,
        name: str = "integration",
        runs: list[RunScript] | None = None,
        default_run: RunScript | None = None,
    ) -> str:
        """Create a CDI integration; ``runs`` script how its next triggered runs end. Returns its id."""
        integration = self.cdi.add_integration(integration_id, name)
        integration.scripts = list(runs or [])
        if default_run is not None:
            integration.default_script = default_run
        return integration.integration_id

    def add_cdi_run(self, integration_id: str, **kwargs: Any) -> dict[str, Any]:
        """Record a run of an integration (e.g. a scheduled one); see ``CDIAPI.add_run``."""
        return self.cdi.add_run(integration_id, **kwargs)

    def cdi_runs(self, integration_id: str) -> list[dict[str, Any]]:
        """The integration's runs, newest first (as the API shows them)."""
        with self.cdi.lock:
            integration = self.cdi.integrations[integration_id]
            self.cdi._advance(integration)
            return [self.cdi._public(run) for run in integration.runs]

    def set_clock_skew(self, seconds: float) -> None:
        """Make the sandbox's (Braze's) clock run ``seconds`` ahead of this machine's (negative: behind)."""
        self.cdi.clock_skew = seconds

    def reset(self) -> None:
        """Forget requests, deliveries, schedules, send ids, broadcasts and queued faults."""
        with self.lock:
            self.state.reset()
            self._faults.clear()
            self._scoped.clear()
            self._fired.clear()

    # -- introspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request received (control requests excluded), in arrival order."""
        with self.lock:
            return list(self.state.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The API requests to one endpoint path."""
        return [r for r in self.requests if r.path == path]

    def delivery_counts(self, path: str | None = None) -> Counter[str]:
        """How many times each recipient was accepted for delivery (``external_user_id:u1`` → 1)."""
        with self.lock:
            if path is None:
                return Counter(self.state.deliveries)
            return Counter({k: n for (p, k), n in self.state.deliveries_by_endpoint.items() if p == path})

    @property
    def schedules(self) -> dict[str, StoredSchedule]:
        """Active schedules by id."""
        with self.lock:
            return dict(self.state.schedules)

    @property
    def deleted_schedules(self) -> dict[str, StoredSchedule]:
        """Deleted schedules by id."""
        with self.lock:
            return dict(self.state.deleted_schedules)

    def summary(self) -> str:
        """A readable account of what reached the sandbox."""
        with self.lock:
            return render_summary(self.state)

    # -- request processing -------------------------------------------------------------------

    def _rate_headers(self, bucket: str, now: float, *, take: bool) -> tuple[bool, dict[str, str]]:
        if bucket == "broadcast":
            window = self.state.window("broadcast", self.config.broadcast_rate_limit, 60)
        elif bucket in self.config.cdi_rate_limits:
            window = self.state.window(bucket, self.config.cdi_rate_limits[bucket], 60)
        else:
            window = self.state.window("shared", self.config.rate_limit, self.config.rate_limit_window)
        if take:
            allowed, remaining, reset = window.take(now)
        else:
            allowed = True
            remaining, reset = window.peek(now)
        headers = {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }
        return allowed, headers

    def _next_fault(self, payload: Mapping[str, Any]) -> Fault | None:
        fault = self._pick_fault(payload)
        if fault is not None:
            self._fired.append((fault.label or fault.kind, time.time()))
        return fault

    def _pick_fault(self, payload: Mapping[str, Any]) -> Fault | None:
        self.state.api_request_count += 1
        n = self.state.api_request_count
        config = self.config
        striking: Fault | None = None
        for entry in list(self._scoped):
            fault = entry[0]
            if not fault.matches(payload):
                continue
            entry[1] += 1
            if striking is None and entry[1] >= (fault.on_request or 1):
                striking = fault
                self._scoped.remove(entry)
        if striking is not None:
            return striking
        if self._faults:
            return self._faults.pop(0)
        if n in config.fail_on_requests or (config.fail_every_n and n % config.fail_every_n == 0):
            return Fault(status=config.fail_status)
        if config.fail_probability and self._random.random() < config.fail_probability:
            return Fault(status=config.fail_status)
        if config.html_502_every_n and n % config.html_502_every_n == 0:
            return Fault(kind="html", status=502)
        if config.slow_every_n and n % config.slow_every_n == 0:
            return Fault(kind="slow", seconds=config.slow_seconds)
        return None

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, str],
        raw_body: bytes | None,
        client_gone: Callable[[], bool] = lambda: False,
    ) -> _Reply:
        """Answer one API request (called by the HTTP handler thread).

        :param client_gone: tells whether the client closed its connection (a ``stall`` checks it).
        """
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        now = time.time()
        with self.lock:
            record = RecordedRequest(
                seq=len(self.state.requests) + 1,
                at=now,
                method=method,
                path=path,
                query=query,
                headers={k: ("<redacted>" if k.lower() == "authorization" else v) for k, v in headers.items()},
            )
            self.state.requests.append(record)
            reply = self._process(method, path, query, headers, raw_body, now, record)
        while reply.resume is not None:  # a stall: hold outside the lock, then process
            resume = reply.resume
            left = _wait_unless(client_gone, reply.delay)
            with self.lock:
                reply = resume(left)
        with self.lock:
            record.status = reply.status
            record.response = None if reply.html else reply.body
        reply.delay += self.config.latency
        return reply

    def _process(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        raw_body: bytes | None,
        now: float,
        record: RecordedRequest,
    ) -> _Reply:
        _, peek_headers = self._rate_headers("shared", now, take=False)
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        key = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if key is None or key not in self.config.api_keys:
            return _Reply(401, {"message": "Unauthorized"}, peek_headers)
        endpoint = rules.route_for(path)
        handler = (
            self.api.routes.get((method, path))
            or self.transactional.route(method, path)
            or self.analytics.routes.get((method, path))
            or self.users_export.routes.get((method, path))
        )
        is_cdi = endpoint in rules.CDI_ROUTES and endpoint is not None and endpoint.method == method
        if endpoint is None or (handler is None and not is_cdi):
            return _Reply(404, {"message": "Not Found"}, peek_headers)
        permissions = self.config.api_keys[key]
        if permissions is not None and endpoint.permission not in permissions:
            return _Reply(403, {"message": "Access Denied"}, peek_headers)
        payload: dict[str, Any] = query
        if method == "POST":
            content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
            if content_type.split(";")[0].strip().lower() != "application/json":
                return _Reply(415, {"message": "Unsupported Media Type"}, peek_headers)
            if raw_body is None:
                return _Reply(413, {"message": "Request Entity Too Large"}, peek_headers)
            try:
                payload = json.loads(raw_body.decode("utf-8"), parse_constant=_not_json) if raw_body else {}
            except (UnicodeDecodeError, ValueError):
                return _Reply(
                    400,
                    {
                        "message": "Bad Request",
                        "error": "Error while parsing request body. Please check your syntax.",
                    },
                    peek_headers,
                )
            if not isinstance(payload, dict):
                return _Reply(
                    400, {"message": "Bad Request", "errors": ["the body must be a JSON object"]}, peek_headers
                )
            if self.config.record_bodies:
                record.body = payload
        bucket = rules.rate_bucket(endpoint, payload)
        bucket = bucket if bucket in ("broadcast", *rules.CDI_RATE_LIMITS_PER_MINUTE) else "shared"
        allowed, rate_headers = self._rate_headers(bucket, now, take=True)
        if not allowed:
            return _Reply(429, {"message": "Rate Limited"}, rate_headers)
        fault = self._next_fault(payload)
        if fault is not None and fault.kind == "stall":
            stalled = _Reply(0, None)
            stalled.delay = fault.seconds

            def resume(client_left: bool) -> _Reply:
                if client_left and fault.abandon_if_client_left:
                    abandoned = _Reply(499, {"message": "client closed the request before it was processed"})
                    abandoned.action = "abandon"
                    return abandoned
                return self._take_effect(
                    is_cdi, endpoint, handler, path, query, payload, now, record, rate_headers, None
                )

            stalled.resume = resume
            return stalled
        if fault is not None and not fault.processes_first:
            return self._fault_reply(fault, rate_headers, now)
        return self._take_effect(is_cdi, endpoint, handler, path, query, payload, now, record, rate_headers, fault)

    def _take_effect(
        self,
        is_cdi: bool,
        endpoint: Any,
        handler: Any,
        path: str,
        query: dict[str, str],
        payload: dict[str, Any],
        now: float,
        record: RecordedRequest,
        rate_headers: dict[str, str],
        fault: Fault | None,
    ) -> _Reply:
        """Process the request (messages "sent"), then answer it, or answer ``fault`` after processing."""
        if is_cdi:
            try:
                status, answer, extra_headers = self.cdi.handle(endpoint, path, query)
            except Rejection as rejection:
                return _Reply(rejection.status, {"message": rejection.message}, rate_headers)
            record.processed = True
            return _Reply(status, answer, {**rate_headers, **extra_headers})
        assert handler is not None
        try:
            status, answer = handler(payload, datetime.fromtimestamp(now, timezone.utc))
        except Rejection as rejection:
            return _Reply(rejection.status, rejection.body(), rate_headers)
        record.processed = True
        self.state.processed_counts[path] += 1
        if fault is not None and fault.kind in ("refuse", "connect_timeout"):
            reply = _Reply(status, answer, rate_headers)
            reply.port_action = fault.kind
            return reply
        if fault is not None:
            return self._fault_reply(fault, rate_headers, now, answer)
        queue_every_n = self.config.queue_every_n
        if queue_every_n and "dispatch_id" in answer and self.state.processed_counts[path] % queue_every_n == 0:
            return _Reply(202, {"message": "queued"}, rate_headers)
        return _Reply(status, answer, rate_headers)

    @staticmethod
    def _fault_reply(
        fault: Fault, rate_headers: dict[str, str], now: float, answer: dict[str, Any] | None = None
    ) -> _Reply:
        if fault.kind == "rate_limit":
            headers = {**rate_headers, "X-RateLimit-Remaining": "0"}
            if fault.reset:
                # Braze's Reset is whole epoch seconds: round up so the wait covers the whole burst window.
                headers["X-RateLimit-Reset"] = str(int(now + fault.seconds) + 1)
            else:
                headers.pop("X-RateLimit-Reset", None)
            return _Reply(429, {"message": "Rate Limited"}, headers)
        if fault.kind == "html":
            return _Reply(fault.status, GATEWAY_HTML, rate_headers, html=True)
        if fault.kind == "non_json":
            return _Reply(fault.status if 200 <= fault.status < 300 else 200, PROXY_HTML, rate_headers, html=True)
        if fault.kind == "bad_encoding":  # e.g. a proxy that compresses, or labels, the answer wrongly
            status = fault.status if 200 <= fault.status < 300 else 201
            reply = _Reply(status, answer or {"dispatch_id": "undecodable", "message": "success"}, rate_headers)
            reply.headers["Content-Encoding"] = "gzip"
            return reply
        if fault.kind in ("slow", "drop", "tls_cut", "stall"):
            reply = _Reply(201, answer or {"dispatch_id": "late", "message": "success"}, rate_headers)
            if fault.kind == "slow":
                reply.delay = fault.seconds
            elif fault.kind != "stall":
                reply.action = fault.kind
            return reply
        if fault.kind in ("refuse", "connect_timeout"):  # struck before processing: answer, then go down
            reply = _Reply(503, {"message": "Service Unavailable", "errors": []}, rate_headers)
            reply.port_action = fault.kind
            return reply
        message = _STATUS_MESSAGES.get(fault.status, "Server Error")
        return _Reply(fault.status, {"message": message, "errors": []}, rate_headers)

    def control(self, method: str, path: str, raw_body: bytes) -> _Reply:
        """The ``/_sandbox/`` control API for other processes."""
        body = json.loads(raw_body.decode() or "null") if raw_body else None
        if (method, path) == ("GET", "/_sandbox/summary"):
            return _Reply(200, self.summary())
        if (method, path) == ("GET", "/_sandbox/requests"):
            return _Reply(200, [r.to_dict() for r in self.requests])
        if (method, path) == ("GET", "/_sandbox/deliveries"):
            return _Reply(200, dict(self.delivery_counts()))
        if (method, path) == ("POST", "/_sandbox/reset"):
            self.reset()
            return _Reply(200, {"message": "reset"})
        if (method, path) == ("POST", "/_sandbox/broadcasts"):
            for item in body if isinstance(body, list) else [body or {}]:
                self.add_broadcast(**item)
            return _Reply(200, {"message": "added"})
        if (method, path) == ("POST", "/_sandbox/faults"):
            self.inject(*(Fault(**item) for item in body or []))
            return _Reply(200, {"message": "queued"})
        if (method, path) == ("GET", "/_sandbox/fired"):
            return _Reply(200, self.fired)
        if (method, path) == ("GET", "/_sandbox/ports"):
            return _Reply(200, [{"port": p.port, "url": p.url, "state": p.state} for p in self.ports])
        if (method, path) == ("POST", "/_sandbox/ports/open"):
            self.port_numbered(int((body or {})["port"])).open()
            return _Reply(200, {"message": "open"})
        if (method, path) == ("POST", "/_sandbox/config"):
            self.configure(**(body or {}))
            return _Reply(200, {"message": "configured"})
        return _Reply(404, {"message": "Not Found"})


def _not_json(constant: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON: Braze's parser refuses the body."""
    raise ValueError(f"{constant} is not a JSON value")


def _wait_unless(client_gone: Callable[[], bool], seconds: float) -> bool:
    """Sleep ``seconds``, returning early (True) when the client closed its connection."""
    deadline = time.monotonic() + seconds
    while True:
        if client_gone():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.05, left))


class _Handler(BaseHTTPRequestHandler):
    owner: BrazeSandbox
    sandbox_port: SandboxPort | None = None
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, without a 40 ms delayed-ACK stall
    server_version = "BrazeSandbox/1"

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):  # handshake here, not in the accepting thread
            self.request.settimeout(5)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header, on the sandbox's Braze clock (which may be skewed)."""
        return super().date_time_string((timestamp or time.time()) + self.owner.cdi.clock_skew)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # quiet: the request log is kept in memory

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > rules.MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _raw_socket(self) -> socket.socket:
        """The TCP socket under the connection (below TLS), as a separate handle."""
        return socket.socket(fileno=os.dup(self.connection.fileno()))

    def _client_gone(self) -> bool:
        """Whether the client closed (or reset) its end of the connection."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            with self._raw_socket() as raw:
                return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    def _dispatch(self, method: str) -> None:
        raw_body = self._read_body()
        path = urlsplit(self.path).path
        if path.startswith("/_sandbox/"):
            reply = self.owner.control(method, path.rstrip("/"), raw_body or b"")
        else:
            reply = self.owner.handle(method, self.path, dict(self.headers.items()), raw_body, self._client_gone)
        if reply.action == "abandon":
            self.close_connection = True
            return
        if reply.delay and _wait_unless(self._client_gone, reply.delay):
            self.close_connection = True  # the client gave up (a timeout test): nobody to answer
            return
        if reply.action == "drop":
            self._reset_connection()
            return
        port = self.sandbox_port
        closing = raw_body is None or reply.port_action is not None or (port is not None and port.down)
        if reply.port_action is not None and port is not None:
            port.take_down(reply.port_action)  # before answering: the client's next connection meets it
        data, content_type = reply.payload()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if closing:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if reply.action == "tls_cut":
                self._cut_tls(data)
                return
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test)

    def _reset_connection(self) -> None:
        """Close with a TCP reset: the client gets no answer at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _cut_tls(self, data: bytes) -> None:
        """Send half the body over TLS, then bytes that are not a valid TLS record of this session."""
        self.close_connection = True
        if not isinstance(self.connection, ssl.SSLSocket):
            raise RuntimeError("a tls_cut fault needs a TLS port (BrazeSandbox.add_port(tls=...))")
        self.wfile.write(data[: len(data) // 2])
        with self._raw_socket() as raw:
            raw.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))  # application data with a bad MAC
        self._reset_connection()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")
