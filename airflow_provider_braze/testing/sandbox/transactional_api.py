"""The sandbox's transactional email endpoint (``POST /transactional/v1/campaigns/{campaign_id}/send``).

Modelled on Braze's documentation (see ``docs/transactional-email.md`` for what is documented and
what is the sandbox's choice):

* one ``recipient`` object (``external_user_id`` or ``user_alias``, optional ``attributes``); the old
  ``recipients`` array is refused; ``trigger_properties`` at most 50 KB;
* ``external_send_id`` must match ``^[a-zA-Z0-9-_+/=]+$``;
* **24-hour de-duplication** keyed by ``external_send_id``: a repeat within 24 hours is not sent
  again and is answered with Braze's "The external reference has been queued. Please retry to obtain
  send_id." (HTTP 400 here: Braze does not document the status); after 24 hours the same id sends again;
* a success answers ``{"dispatch_id", "status", "metadata"}`` and counts one delivery for the
  recipient (``delivery_counts`` shows each email once, however often it was requested);
* the postbacks Braze would send (``sent``, ``processed``, ``delivered``, or ``bounced``/``aborted``)
  are available from :meth:`TransactionalModel.postbacks` for users' tests of their webhook code.

The model's clock can be moved forward (:meth:`TransactionalModel.advance`) to test the 24-hour edge.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

from airflow_provider_braze.testing.sandbox import rules
from airflow_provider_braze.testing.sandbox.braze_api import new_dispatch_id, recipient_key
from airflow_provider_braze.testing.sandbox.rules import refuse
from airflow_provider_braze.testing.sandbox.state import SandboxState
from airflow_provider_braze.testing.sandbox.validation import Rejection

ALREADY_QUEUED_MESSAGE = "The external reference has been queued.  Please retry to obtain send_id."
NOT_TRANSACTIONAL_MESSAGE = (
    "The campaign is not a transactional campaign. Only transactional campaigns may use this endpoint"
)
_BODY_KEYS = ("external_send_id", "trigger_properties", "recipient")
_RECIPIENT_KEYS = ("external_user_id", "user_alias", "attributes")


@dataclass
class TransactionalSend:
    """One transactional email the sandbox sent.

    :param dispatch_id: the id answered.
    :param campaign_id: the campaign of the path.
    :param recipient: ``external_user_id:u1`` or ``user_alias:label:name``.
    :param external_send_id: the request's ``external_send_id`` (None when absent).
    :param at: when it was sent, on the model's clock.
    :param trigger_properties: the personalisation sent.
    """

    dispatch_id: str
    campaign_id: str
    recipient: str
    external_send_id: str | None
    at: datetime
    trigger_properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class TransactionalMemory:
    """What the transactional model remembers (kept in the sandbox state, so ``reset`` clears it)."""

    sends: list[TransactionalSend] = field(default_factory=list)
    by_external_send_id: dict[str, TransactionalSend] = field(default_factory=dict)
    deduplicated: int = 0
    clock_offset: timedelta = timedelta(0)

    def summary_lines(self) -> list[str]:
        """Lines of the sandbox summary."""
        if not self.sends and not self.deduplicated:
            return []
        campaigns = len({s.campaign_id for s in self.sends})
        return [
            f"Transactional email: {len(self.sends)} email(s) sent in {campaigns} campaign(s), "
            f"{self.deduplicated} repeat(s) de-duplicated by external_send_id (24 h window)"
        ]


class TransactionalModel:
    """The transactional endpoint of one sandbox.

    :param state: the sandbox's memory.
    :param transactional_campaigns: campaign ids that are Transactional Email campaigns (None: any id).
    """

    def __init__(self, state: SandboxState, transactional_campaigns: set[str] | None = None) -> None:
        self.state = state
        self.transactional_campaigns = transactional_campaigns

    @property
    def memory(self) -> TransactionalMemory:
        """The model's memory inside the sandbox state."""
        with self.state.lock:
            memory = self.state.extensions.get("transactional")
            if not isinstance(memory, TransactionalMemory):
                memory = self.state.extensions["transactional"] = TransactionalMemory()
            return memory

    def route(self, method: str, path: str) -> Callable[[dict[str, Any], datetime], tuple[int, dict[str, Any]]] | None:
        """The handler of a concrete transactional path (bound to its campaign id), else None."""
        if method != "POST" or not rules.TRANSACTIONAL_EMAIL.matches(path):
            return None
        campaign_id = unquote(path.strip("/").split("/")[3])
        return functools.partial(self.send, campaign_id, path)

    def advance(self, hours: float) -> None:
        """Move the model's clock forward (e.g. past the 24-hour de-duplication window)."""
        with self.state.lock:
            self.memory.clock_offset += timedelta(hours=hours)

    # -- the endpoint ---------------------------------------------------------------------------

    def _check(self, campaign_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if "recipients" in body:
            raise refuse("recipients", "is not accepted: the endpoint takes one recipient object")
        for key in body:
            if key not in _BODY_KEYS:
                raise refuse(key, f"is not a field of this endpoint; allowed: {', '.join(_BODY_KEYS)}")
        if self.transactional_campaigns is not None and campaign_id not in self.transactional_campaigns:
            raise Rejection(400, NOT_TRANSACTIONAL_MESSAGE)
        send_id = body.get("external_send_id")
        if send_id is not None and (not isinstance(send_id, str) or not rules.EXTERNAL_SEND_ID_PATTERN.match(send_id)):
            raise refuse("external_send_id", "must match /^[a-zA-Z0-9-_+\\/=]+$/")
        rules.check_properties(body.get("trigger_properties"), "trigger_properties")
        recipient = body.get("recipient")
        if not isinstance(recipient, dict):
            raise refuse("recipient", "is required and must be an object")
        for key in recipient:
            if key not in _RECIPIENT_KEYS:
                raise refuse(f"recipient.{key}", f"is not accepted; allowed: {', '.join(_RECIPIENT_KEYS)}")
        present = [k for k in ("external_user_id", "user_alias") if k in recipient]
        if len(present) != 1:
            raise refuse("recipient", "must have exactly one of external_user_id or user_alias")
        if "user_alias" in recipient:
            rules.check_alias(recipient["user_alias"], "recipient.user_alias")
        elif not isinstance(recipient["external_user_id"], str) or not recipient["external_user_id"]:
            raise refuse("recipient.external_user_id", "must be a non-empty string")
        if "attributes" in recipient and not isinstance(recipient["attributes"], dict):
            raise refuse("recipient.attributes", "must be an object")
        return recipient

    def send(self, campaign_id: str, path: str, body: dict[str, Any], now: datetime) -> tuple[int, dict[str, Any]]:
        """Send one email unless its ``external_send_id`` was seen within 24 hours."""
        recipient = self._check(campaign_id, body)
        memory = self.memory
        at = now + memory.clock_offset
        send_id = body.get("external_send_id")
        if send_id is not None:
            earlier = memory.by_external_send_id.get(send_id)
            if earlier is not None and at - earlier.at < rules.DEDUP_WINDOW:
                memory.deduplicated += 1
                raise Rejection(400, ALREADY_QUEUED_MESSAGE)
        sent = TransactionalSend(
            new_dispatch_id(),
            campaign_id,
            recipient_key(recipient),
            send_id,
            at,
            dict(body.get("trigger_properties") or {}),
        )
        memory.sends.append(sent)
        if send_id is not None:
            memory.by_external_send_id[send_id] = sent
        self.state.record_delivery(path, [sent.recipient])
        metadata = {"external_send_id": send_id} if send_id else {}
        return 201, {"dispatch_id": sent.dispatch_id, "status": "accepted", "metadata": metadata}

    # -- what tests read ------------------------------------------------------------------------

    def postbacks(self, dispatch_id: str | None = None) -> list[dict[str, Any]]:
        """The Transactional Event Status Postbacks Braze would send for the emails (or one of them).

        Every email gets ``sent`` then ``processed``; then ``delivered``, except recipients whose id
        contains ``bounce`` (``bounced`` with an SMTP reason) and ``unemailable`` (``aborted`` after
        ``sent`` is skipped). Timestamps are ISO 8601 with an offset, as in Braze's examples.
        """
        with self.state.lock:
            sends = [s for s in self.memory.sends if dispatch_id is None or s.dispatch_id == dispatch_id]
        events: list[dict[str, Any]] = []
        for send in sends:
            events.extend(self._events(send))
        return events

    @staticmethod
    def _events(send: TransactionalSend) -> list[dict[str, Any]]:
        def stamp(seconds: float) -> str:
            moment = (send.at + timedelta(seconds=seconds)).astimezone(timezone.utc)
            return moment.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")

        def event(status: str, **metadata: Any) -> dict[str, Any]:
            meta: dict[str, Any] = {"campaign_api_id": send.campaign_id}
            if send.external_send_id:
                meta["external_send_id"] = send.external_send_id
            meta.update(metadata)
            return {"dispatch_id": send.dispatch_id, "status": status, "metadata": meta}

        if "unemailable" in send.recipient:
            return [event("aborted", aborted_at=stamp(1), reason="User not emailable")]
        events = [
            event("sent", received_at=stamp(0), enqueued_at=stamp(0), executed_at=stamp(1), sent_at=stamp(1)),
            event("processed", processed_at=stamp(2)),
        ]
        if "bounce" in send.recipient:
            events.append(event("bounced", bounced_at=stamp(3), reason="550 5.1.1 The email account does not exist"))
        else:
            events.append(event("delivered", delivered_at=stamp(3)))
        return events

    def sends_by_day(self) -> dict[tuple[str, str], int]:
        """Emails sent per ``(campaign_id, YYYY-MM-DD)`` (UTC), for the analytics model."""
        counts: dict[tuple[str, str], int] = {}
        with self.state.lock:
            for send in self.memory.sends:
                key = (send.campaign_id, send.at.astimezone(timezone.utc).date().isoformat())
                counts[key] = counts.get(key, 0) + 1
        return counts


def campaign_digest(value: str) -> str:
    """A short stable hex digest (ids of the sandbox's variations and steps)."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]
