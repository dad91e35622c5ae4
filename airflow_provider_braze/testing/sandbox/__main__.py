"""Run the Braze sandbox from the command line.

Serve until interrupted, printing the connection to use::

    python -m airflow_provider_braze.testing.sandbox --port 4010

Or run one command against a fresh sandbox (``AIRFLOW_CONN_BRAZE_DEFAULT`` is set for it) and print
what reached the sandbox when it ends; the exit code is the command's::

    python -m airflow_provider_braze.testing.sandbox --port 0 -- airflow dags test my_dag
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading

from airflow_provider_braze.testing.sandbox.cdi_api import RunScript
from airflow_provider_braze.testing.sandbox.config import DEFAULT_API_KEY, SandboxConfig
from airflow_provider_braze.testing.sandbox.server import BrazeSandbox


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_braze.testing.sandbox",
        description="A local fake Braze REST API. Give a command after '--' to run it against the sandbox.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4010, help="port (0 picks a free one; default 4010)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the REST API key to accept")
    parser.add_argument("--conn-id", default="braze_default", help="connection id exported to the command")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--rate-limit", type=int, default=250_000, help="requests per window (shared budget)")
    parser.add_argument("--rate-limit-window", type=int, default=3600, help="window length in seconds")
    parser.add_argument("--fail-every-n", type=int, default=0, help="answer every n-th request with 503")
    parser.add_argument(
        "--broadcast",
        action="append",
        default=[],
        metavar="ID=NAME@ISO_TIME",
        help="seed a dashboard-scheduled broadcast (repeatable)",
    )
    parser.add_argument(
        "--cdi-integration",
        action="append",
        default=[],
        metavar="NAME",
        help="seed a CDI integration whose syncs succeed after 2 s (repeatable)",
    )
    parser.add_argument("--no-record-bodies", action="store_true", help="keep no request bodies (large runs)")
    parser.add_argument("--quiet", action="store_true", help="print no summary at the end")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then a command to run against the sandbox")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    config = SandboxConfig(
        api_keys={args.api_key: None},
        latency=args.latency,
        rate_limit=args.rate_limit,
        rate_limit_window=args.rate_limit_window,
        fail_every_n=args.fail_every_n,
        record_bodies=not args.no_record_bodies,
    )
    sandbox = BrazeSandbox(host=args.host, port=args.port, config=config).start()
    for spec in args.broadcast:
        broadcast_id, _, rest = spec.partition("=")
        name, _, when = rest.partition("@")
        sandbox.add_broadcast(broadcast_id=broadcast_id, name=name, next_send_time=when)
    for name in args.cdi_integration:
        sandbox.add_cdi_integration(name=name, default_run=RunScript("success", 2.0, rows_synced=1000))
    env_var, conn = next(iter(sandbox.airflow_env(args.conn_id).items()))
    try:
        if not command:
            print(f"Braze sandbox listening on {sandbox.url} (REST API key: {sandbox.api_key})", flush=True)
            print(f"export {env_var}='{conn}'", flush=True)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
            return 0
        env = {**os.environ, env_var: conn, "BRAZE_SANDBOX_URL": sandbox.url}
        return subprocess.call(command, env=env)
    finally:
        if not args.quiet:
            print("\n" + sandbox.summary(), flush=True)
        sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())
