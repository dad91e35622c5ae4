"""A readable account of what reached the sandbox (printed at the end of the demo)."""

from __future__ import annotations

from collections import Counter, defaultdict

from airflow_provider_braze.testing.sandbox.state import SandboxState


def recipient_count(body: object) -> int:
    """Recipients listed in a request body (recipients, external_user_ids, user_aliases)."""
    if not isinstance(body, dict):
        return 0
    listed = len(body.get("recipients") or []) + len(body.get("external_user_ids") or [])
    return listed + len(body.get("user_aliases") or [])


def render_summary(state: SandboxState) -> str:
    """Requests per endpoint and status, recipients accepted, schedules and send ids."""
    per_endpoint: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    recipients: Counter[tuple[str, str]] = Counter()
    for request in state.requests:
        key = (request.method, request.path)
        per_endpoint[key][request.status] += 1
        if request.processed:
            recipients[key] += recipient_count(request.body)
    lines = [f"Braze sandbox: {len(state.requests)} API request(s) received"]
    if not state.requests:
        return lines[0]
    width = max(len(f"{m} {p}") for m, p in per_endpoint)
    for (method, path), statuses in sorted(per_endpoint.items(), key=lambda kv: kv[0][1]):
        by_status = ", ".join(f"{n}x HTTP {s}" for s, n in sorted(statuses.items()))
        listed = recipients[(method, path)]
        tail = f"; {listed} listed recipient(s) accepted" if listed else ""
        lines.append(f"  {method + ' ' + path:<{width}}  {by_status}{tail}")
    unique = sum(1 for k in state.deliveries if not k.startswith("broadcast:"))
    broadcasts = sum(n for k, n in state.deliveries.items() if k.startswith("broadcast:"))
    lines.append(f"Recipients: {unique} distinct recipient(s) accepted, {broadcasts} broadcast send(s)")
    duplicates = sum(1 for k, n in state.deliveries.items() if n > 1 and not k.startswith("broadcast:"))
    if duplicates:
        lines.append(f"  {duplicates} recipient(s) were accepted more than once")
    if state.schedules or state.deleted_schedules:
        lines.append(f"Schedules: {len(state.schedules)} active, {len(state.deleted_schedules)} deleted")
        for schedule in list(state.schedules.values()) + list(state.deleted_schedules.values()):
            status = "deleted" if schedule.schedule_id in state.deleted_schedules else "active"
            when = (schedule.body.get("schedule") or {}).get("time")
            owner = f" {schedule.owner_id}" if schedule.owner_id else ""
            lines.append(f"  {schedule.kind}{owner}: {status}, time {when}, updated {schedule.updates} time(s)")
    if state.send_ids:
        lines.append(f"Send ids created: {len(state.send_ids)}")
    for model in state.extensions.values():  # transactional email, analytics exports
        lines.extend(model.summary_lines())
    return "\n".join(lines)
