"""BrazeSandbox: a local fake Braze REST server, standard library only.

Start it in-process (``with BrazeSandbox() as sandbox:``) or as a command
(``python -m airflow_provider_braze.testing.sandbox --port 4010``). It checks requests the way
Braze does (auth, permissions, routes, content type, JSON, size, rate limits, then each endpoint's
rules), answers like Braze, and remembers every request and every per-recipient delivery so tests can
assert on exactly what reached "Braze". A control API under ``/_sandbox/`` (no auth) exposes the
same to other processes.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_braze import endpoints as ep
from airflow_provider_braze import payload_rules as rules
from airflow_provider_braze.payload_validation import PayloadRuleError
from airflow_provider_braze.testing.sandbox.analytics_api import AnalyticsModel
from airflow_provider_braze.testing.sandbox.braze_api import BrazeAPI
from airflow_provider_braze.testing.sandbox.cdi_api import CDIAPI, RunScript
from airflow_provider_braze.testing.sandbox.config import DEFAULT_API_KEY, Fault, SandboxConfig
from airflow_provider_braze.testing.sandbox.state import RecordedRequest, SandboxState, StoredSchedule
from airflow_provider_braze.testing.sandbox.summary import render_summary
from airflow_provider_braze.testing.sandbox.transactional_api import TransactionalModel
from airflow_provider_braze.testing.sandbox.validation import Rejection

GATEWAY_HTML = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
)

_STATUS_MESSAGES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class _Reply:
    """What the handler writes back."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None, *, html: bool = False):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.html = html
        self.delay = 0.0

    def payload(self) -> tuple[bytes, str]:
        if self.html:
            return str(self.body).encode(), "text/html"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


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
        self._faults: list[Fault] = []
        self._random = random.Random(self.config.seed)
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> BrazeSandbox:
        """Start serving in a background thread."""
        sandbox = self

        class Handler(_Handler):
            owner = sandbox

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="braze-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

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
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return int(self._server.server_address[1])

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
        """Queue faults; each is consumed by the next API request, in order."""
        with self.lock:
            self._faults.extend(faults)

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

    def _next_fault(self) -> Fault | None:
        self.state.api_request_count += 1
        n = self.state.api_request_count
        config = self.config
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

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes | None) -> _Reply:
        """Answer one API request (called by the HTTP handler thread)."""
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
        endpoint = ep.match(path)
        handler = (
            self.api.routes.get((method, path))
            or self.transactional.route(method, path)
            or self.analytics.routes.get((method, path))
        )
        is_cdi = endpoint in ep.CDI_ENDPOINTS and endpoint is not None and endpoint.method == method
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
                payload = json.loads(raw_body.decode("utf-8")) if raw_body else {}
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
        bucket = ep.rate_budget(endpoint, payload)
        bucket = bucket if bucket in ("broadcast", *ep.CDI_RATE_LIMITS_PER_MINUTE) else "shared"
        allowed, rate_headers = self._rate_headers(bucket, now, take=True)
        if not allowed:
            return _Reply(429, {"message": "Rate Limited"}, rate_headers)
        fault = self._next_fault()
        if fault is not None and not fault.processes_first:
            return self._fault_reply(fault, rate_headers, now)
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
        except PayloadRuleError as error:
            return _Reply(400, Rejection.from_rule(error).body(), rate_headers)
        except Rejection as rejection:
            return _Reply(rejection.status, rejection.body(), rate_headers)
        record.processed = True
        self.state.processed_counts[path] += 1
        if fault is not None:
            return self._fault_reply(fault, rate_headers, now)
        queue_every_n = self.config.queue_every_n
        if queue_every_n and "dispatch_id" in answer and self.state.processed_counts[path] % queue_every_n == 0:
            return _Reply(202, {"message": "queued"}, rate_headers)
        return _Reply(status, answer, rate_headers)

    @staticmethod
    def _fault_reply(fault: Fault, rate_headers: dict[str, str], now: float) -> _Reply:
        if fault.kind == "rate_limit":
            # Braze's Reset is whole epoch seconds: round up so the wait covers the whole burst window.
            reset = str(int(now + fault.seconds) + 1)
            headers = {**rate_headers, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
            return _Reply(429, {"message": "Rate Limited"}, headers)
        if fault.kind == "html":
            return _Reply(fault.status, GATEWAY_HTML, rate_headers, html=True)
        if fault.kind == "slow":
            reply = _Reply(201, {"dispatch_id": "late", "message": "success"}, rate_headers)
            reply.delay = fault.seconds
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
        if (method, path) == ("POST", "/_sandbox/config"):
            self.configure(**(body or {}))
            return _Reply(200, {"message": "configured"})
        return _Reply(404, {"message": "Not Found"})


class _Handler(BaseHTTPRequestHandler):
    owner: BrazeSandbox
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, without a 40 ms delayed-ACK stall
    server_version = "BrazeSandbox/1"

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header, on the sandbox's Braze clock (which may be skewed)."""
        return super().date_time_string((timestamp or time.time()) + self.owner.cdi.clock_skew)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # quiet: the request log is kept in memory

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > rules.MAX_REQUEST_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        raw_body = self._read_body()
        path = urlsplit(self.path).path
        if path.startswith("/_sandbox/"):
            reply = self.owner.control(method, path.rstrip("/"), raw_body or b"")
        else:
            reply = self.owner.handle(method, self.path, dict(self.headers.items()), raw_body)
        if reply.delay:
            time.sleep(reply.delay)
        data, content_type = reply.payload()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if raw_body is None:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")
