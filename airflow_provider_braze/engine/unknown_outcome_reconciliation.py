"""What Braze shows about batches whose outcome is unknown: the user export, compared with the send.

Braze has no per-request lookup for the messaging endpoints. What it does offer is the user export by
identifier (``POST /users/export/ids``): per user, the campaigns (``campaigns_received``:
``api_campaign_id``, ``last_received``) and Canvases (``canvases_received``: ``api_canvas_id``,
``last_entered``, ``last_received_message``) that reached them. For each unknown batch of a
campaign or Canvas trigger (or a ``/messages/send`` carrying a ``campaign_id``), the recipients with
an ``external_user_id`` are looked up, 50 per request, and the batch is classified:

* ``received``: every looked-up recipient shows that campaign/Canvas at or after the send started;
* ``partly_received``: some do;
* ``no_trace``: none does (not sent, or not yet visible in the export: it lags behind the send);
* ``not_checkable``: nothing to look up (only aliases, no campaign or Canvas id, a schedule
  request, or the export failed).

It is an aid, never a decision: nothing is sent again and the task's outcome does not change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.iso_time import IsoTimeError, parse_iso_time
from airflow_provider_braze.client.str_enum import StrEnum
from airflow_provider_braze.exceptions import BrazeError

if TYPE_CHECKING:
    from airflow_provider_braze.engine.send_plan import SendPlan
    from airflow_provider_braze.hooks.braze import BrazeHook


class ReconciliationVerdict(StrEnum):
    """What the user export shows about one unknown batch (see the module docstring)."""

    RECEIVED = "received"
    PARTLY_RECEIVED = "partly_received"
    NO_TRACE = "no_trace"
    NOT_CHECKABLE = "not_checkable"


RECEIVED = ReconciliationVerdict.RECEIVED
PARTLY_RECEIVED = ReconciliationVerdict.PARTLY_RECEIVED
NO_TRACE = ReconciliationVerdict.NO_TRACE
NOT_CHECKABLE = ReconciliationVerdict.NOT_CHECKABLE
CLASSES = tuple(ReconciliationVerdict)
#: Seconds of clock difference tolerated between this worker and Braze (a receipt this long before the
#: send started still counts as this send's).
CLOCK_TOLERANCE_SECONDS = 60.0
#: At most this many export requests (of 50 users each) per reconciliation; batches beyond are not checked.
MAX_EXPORT_REQUESTS = 40
#: Seconds the look-ups may take in all (Braze unreachable: the task fails with its own error soon).
TIME_BUDGET_SECONDS = 60.0
#: At most this many batch numbers are listed per class (counts are complete).
MAX_LISTED = 100
EXPORT_FIELDS = ("external_id", "campaigns_received", "canvases_received")
_CHECKABLE = {ep.TRIGGER_CAMPAIGN.path: "campaign", ep.SEND_MESSAGE.path: "campaign", ep.TRIGGER_CANVAS.path: "canvas"}

log = logging.getLogger(__name__)


def _external_ids(body: dict[str, Any]) -> list[str]:
    ids = [
        r["external_user_id"]
        for r in body.get("recipients") or []
        if isinstance(r, dict) and isinstance(r.get("external_user_id"), str)
    ]
    ids += [v for v in body.get("external_user_ids") or [] if isinstance(v, str)]
    return list(dict.fromkeys(ids))


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso_time(value, naive="utc").timestamp()
    except (IsoTimeError, OverflowError):
        return None


def _received(user: dict[str, Any]) -> dict[tuple[str, str], float]:
    """``(kind, id) -> latest receipt`` of one exported user."""
    found: dict[tuple[str, str], float] = {}
    for campaign in user.get("campaigns_received") or []:
        at = _epoch(campaign.get("last_received")) if isinstance(campaign, dict) else None
        if at is not None and isinstance(campaign.get("api_campaign_id"), str):
            found[("campaign", campaign["api_campaign_id"])] = at
    for canvas in user.get("canvases_received") or []:
        if not isinstance(canvas, dict) or not isinstance(canvas.get("api_canvas_id"), str):
            continue
        times = [_epoch(canvas.get(k)) for k in ("last_entered", "last_received_message")]
        known = [t for t in times if t is not None]
        if known:
            found[("canvas", canvas["api_canvas_id"])] = max(known)
    return found


def reconcile_unknown_batches(
    hook: BrazeHook,
    plan: SendPlan,
    batch_numbers: Iterable[int],
    *,
    since: float,
    time_budget: float = TIME_BUDGET_SECONDS,
) -> dict[str, Any]:
    """Classify the unknown batches of a send by what the user export shows (see the module docstring).

    :param hook: the hook of the send (its key needs the ``users.export.ids`` permission).
    :param plan: the send's plan (the batches' recipients and campaign or Canvas are read from it).
    :param batch_numbers: the batches whose outcome is unknown.
    :param since: epoch seconds the send started (the first try's start, when resumed).
    :param time_budget: seconds all look-ups may take (retries included); then the rest is not checked.
    :return: a JSON-serialisable summary (batch numbers and counts, never recipient data).
    """
    wanted = set(batch_numbers)
    classes: dict[ReconciliationVerdict, list[int]] = {name: [] for name in CLASSES}
    targets: dict[int, tuple[tuple[str, str], list[str]]] = {}
    left = set(wanted)
    for request in plan.requests():
        if not left:
            break  # the rest of the spool holds none of them
        if request.number not in left:
            continue
        left.discard(request.number)
        kind = _CHECKABLE.get(plan.endpoint.path)
        target_id = request.body.get(f"{kind}_id") if kind else None
        ids = _external_ids(request.body)
        if kind is None or not isinstance(target_id, str) or not ids:
            classes[NOT_CHECKABLE].append(request.number)
            continue
        targets[request.number] = ((kind, target_id), ids)
    users = list(dict.fromkeys(u for _, ids in targets.values() for u in ids))
    chunks = [users[i : i + ep.USERS_EXPORT_MAX_IDS] for i in range(0, len(users), ep.USERS_EXPORT_MAX_IDS)]
    error: str | None = None
    if len(chunks) > MAX_EXPORT_REQUESTS:
        error = f"more than {MAX_EXPORT_REQUESTS * ep.USERS_EXPORT_MAX_IDS} recipients to look up: not checked"
        chunks = []
    receipts: dict[str, dict[tuple[str, str], float]] = {}
    out_of_time = threading.Event()
    timer = threading.Timer(time_budget, out_of_time.set)
    timer.daemon = True
    timer.start()
    try:
        for chunk in chunks:
            if out_of_time.is_set():
                error = f"the look-ups took longer than {time_budget:.0f} s: not finished"
                break
            try:
                answer = hook.export_users_by_ids(
                    external_ids=chunk, fields_to_export=list(EXPORT_FIELDS), cancel=out_of_time
                )
            except BrazeError as exc:  # e.g. the key lacks users.export.ids: say so, change nothing
                error = f"{ep.USERS_EXPORT_IDS.path} failed: {type(exc).__name__}: {exc}"
                break
            for user in answer.get("users") or []:
                if isinstance(user, dict) and isinstance(user.get("external_id"), str):
                    receipts[user["external_id"]] = _received(user)
    finally:
        timer.cancel()
    cutoff = since - CLOCK_TOLERANCE_SECONDS
    recipients_with_trace = 0
    for number, (target, ids) in sorted(targets.items()):
        if error is not None:
            classes[NOT_CHECKABLE].append(number)
            continue
        hits = sum(1 for u in ids if receipts.get(u, {}).get(target, float("-inf")) >= cutoff)
        recipients_with_trace += hits
        classes[RECEIVED if hits == len(ids) else PARTLY_RECEIVED if hits else NO_TRACE].append(number)
    summary: dict[str, Any] = {
        "since": datetime.fromtimestamp(since, timezone.utc).isoformat(timespec="seconds"),
        "export_requests": len(chunks) if error is None else None,
        "recipients_looked_up": len(users) if error is None else 0,
        "recipients_with_trace": recipients_with_trace,
        **{f"{name}_count": len(classes[name]) for name in CLASSES},
        **{f"{name}_batches": sorted(classes[name])[:MAX_LISTED] for name in CLASSES},
    }
    if error is not None:
        summary["error"] = error
    return summary


def describe(summary: dict[str, Any]) -> str:
    """One sentence for a failure message or a warning (counts only)."""
    text = (
        f"Braze's user export (since {summary['since']}): {summary['received_count']} of those batch(es) show "
        f"as received, {summary['partly_received_count']} partly, {summary['no_trace_count']} show no trace, "
        f"{summary['not_checkable_count']} cannot be checked"
    )
    if summary.get("error"):
        text += f" ({summary['error']})"
    return text + " (the export lags behind sends: 'no trace' is not proof that nothing was sent)."
