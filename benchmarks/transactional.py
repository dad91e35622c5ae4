"""Transactional email throughput against the rate budget (one recipient per request).

The sandbox runs in this process on loopback with a Braze latency and a shared rate limit of R
requests/s (1 s windows); ``BrazeSendTransactionalEmailOperator`` sends N recipients with the default
settings (adaptive concurrency). The ceiling is R recipients/s, since every email is one request.
Prints recipients/s, the ratio to the ceiling, 429s seen and each recipient's delivery count.

Usage: python benchmarks/transactional.py [--recipients 2000] [--rate 70] [--latency 0.25]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="braze-bench-"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=70, help="requests per second (Braze: 250,000/h = 69.4/s)")
    parser.add_argument("--latency", type=float, default=0.25, help="Braze's answer time in seconds")
    args = parser.parse_args()

    from airflow_provider_braze.operators import BrazeSendTransactionalEmailOperator
    from airflow_provider_braze.testing.sandbox import BrazeSandbox, SandboxConfig

    config = SandboxConfig(latency=args.latency, rate_limit=args.rate, rate_limit_window=1, record_bodies=False)
    with BrazeSandbox(config=config) as sandbox:
        extra = {"requests_per_hour": args.rate * 3600}
        os.environ.update(sandbox.airflow_env(extra=extra))
        op = BrazeSendTransactionalEmailOperator(
            task_id="bench",
            campaign_id="bench-transactional",
            recipients=[f"user-{i}" for i in range(args.recipients)],
            business_key="bench",
            resume_store=None,
        )
        result = op.execute({"run_id": "bench"})
        counts = sandbox.delivery_counts()
        throttled = sum(1 for r in sandbox.requests if r.status == 429)
    once = set(counts.values()) == {1} and len(counts) == args.recipients
    rate = result["recipients"] / result["seconds"]
    print(
        f"transactional: {result['recipients']} recipients in {result['seconds']:.1f} s = {rate:.1f} recipients/s; "
        f"rate budget {args.rate} req/s at {args.latency * 1000:.0f} ms latency -> ratio {rate / args.rate:.3f}; "
        f"429s {throttled}; each recipient delivered once: {once}"
    )


if __name__ == "__main__":
    main()
