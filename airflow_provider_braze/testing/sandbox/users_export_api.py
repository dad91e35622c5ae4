"""The sandbox's user export by identifier: ``POST /users/export/ids``.

Answered from what the sandbox **actually processed**: a user's ``campaigns_received`` lists each
campaign a processed campaign trigger (or ``/messages/send`` with a ``campaign_id``) delivered to
them, with ``api_campaign_id`` and ``last_received`` (the time the request was processed);
``canvases_received`` lists each Canvas a processed Canvas trigger entered them in (``api_canvas_id``,
``last_entered``, ``last_received_message``). A request processed and then answered with a fault
(a timeout, a dropped connection) counts: the message went out. A request refused before processing
does not.

The sandbox has no user base of its own: an ``external_id`` it was ever asked to message (in any
recorded request) is a user; any other is listed in ``invalid_user_ids``, as Braze lists unknown
identifiers. Only ``external_ids`` are supported (no aliases, device ids, emails or phones).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_braze.testing.sandbox import rules
from airflow_provider_braze.testing.sandbox.rules import refuse
from airflow_provider_braze.testing.sandbox.state import SandboxState
from airflow_provider_braze.testing.sandbox.transactional_api import campaign_digest

Answer = tuple[int, dict[str, Any]]
#: ``POST /users/export/ids`` (braze-docs ``post_users_identifier.md``: key permission ``users.export.ids``).
USERS_EXPORT_IDS = rules.Route("POST", "/users/export/ids", "users.export.ids")
rules.register(USERS_EXPORT_IDS)
#: At most this many ``external_ids`` per request.
MAX_IDS = 50
_CAMPAIGN_SENDS = (rules.TRIGGER_CAMPAIGN.path, rules.SEND_MESSAGE.path)
_SENDS = (*_CAMPAIGN_SENDS, rules.TRIGGER_CANVAS.path)
#: The ``fields_to_export`` braze-docs lists for ``/users/export/ids``.
EXPORT_FIELDS = (
    "apps",
    "attributed_campaign",
    "attributed_source",
    "attributed_adgroup",
    "attributed_ad",
    "braze_id",
    "campaigns_received",
    "canvases_received",
    "cards_clicked",
    "country",
    "created_at",
    "custom_attributes",
    "custom_events",
    "devices",
    "dob",
    "email",
    "email_subscribe",
    "external_id",
    "first_name",
    "gender",
    "home_city",
    "language",
    "last_coordinates",
    "last_name",
    "phone",
    "purchases",
    "push_subscribe",
    "push_tokens",
    "random_bucket",
    "time_zone",
    "total_revenue",
    "uninstalled_at",
    "user_aliases",
)
_SANDBOX_FIELDS = ("external_id", "braze_id", "campaigns_received", "canvases_received")


@dataclass
class UsersExportMemory:
    """Counts of the export requests answered (for the sandbox summary)."""

    requests: int = 0
    users: int = 0

    def summary_lines(self) -> list[str]:
        """Lines of the sandbox summary."""
        if not self.requests:
            return []
        return [f"User exports answered: {self.requests} request(s), {self.users} user(s)"]


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _external_ids(body: dict[str, Any]) -> Iterator[str]:
    for recipient in body.get("recipients") or []:
        if isinstance(recipient, dict) and isinstance(recipient.get("external_user_id"), str):
            yield recipient["external_user_id"]
    for value in body.get("external_user_ids") or []:
        if isinstance(value, str):
            yield value


class UsersExportModel:
    """``POST /users/export/ids`` of one sandbox.

    :param state: the sandbox's memory (its request log is what the profiles are derived from).
    """

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.routes: dict[tuple[str, str], Callable[[dict[str, Any], datetime], Answer]] = {
            ("POST", USERS_EXPORT_IDS.path): self.export_ids,
        }

    def _memory(self) -> UsersExportMemory:
        memory = self.state.extensions.get("users_export")
        if not isinstance(memory, UsersExportMemory):
            memory = self.state.extensions["users_export"] = UsersExportMemory()
        return memory

    @staticmethod
    def _check(payload: dict[str, Any]) -> tuple[list[str], list[str]]:
        ids = payload.get("external_ids")
        if not isinstance(ids, list) or not ids:
            raise refuse("external_ids", "is required (the sandbox exports by external_ids only)")
        if len(ids) > MAX_IDS:
            raise refuse("external_ids", f"at most {MAX_IDS} per request (got {len(ids)})")
        for index, value in enumerate(ids):
            if not isinstance(value, str) or not value:
                raise refuse(f"external_ids[{index}]", "must be a non-empty string")
        fields = payload.get("fields_to_export")
        if fields is None:
            return ids, list(_SANDBOX_FIELDS)
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise refuse("fields_to_export", "must be an array of strings")
        unknown = [f for f in fields if f not in EXPORT_FIELDS]
        if unknown:
            raise refuse("fields_to_export", f"unknown field(s): {', '.join(unknown)}")
        return ids, fields

    def export_ids(self, payload: dict[str, Any], now: datetime) -> Answer:
        """Answer an export request (``message``, ``users``, ``invalid_user_ids``)."""
        ids, fields = self._check(payload)
        wanted = set(ids)
        seen: set[str] = set()
        campaigns: dict[str, dict[str, float]] = {}  # user -> campaign -> last received
        canvases: dict[str, dict[str, float]] = {}
        for request in self.state.requests:
            body = request.body
            if request.path not in _SENDS or not isinstance(body, dict):
                continue
            users = [u for u in _external_ids(body) if u in wanted]
            seen.update(users)
            if not users or not request.processed:  # refused: not sent; processed then lost: sent
                continue
            if request.path in _CAMPAIGN_SENDS and isinstance(body.get("campaign_id"), str):
                for user in users:
                    campaigns.setdefault(user, {})[body["campaign_id"]] = request.at
            elif request.path == rules.TRIGGER_CANVAS.path and isinstance(body.get("canvas_id"), str):
                for user in users:
                    canvases.setdefault(user, {})[body["canvas_id"]] = request.at
        exported = []
        for user in dict.fromkeys(ids):
            if user not in seen:
                continue
            profile = {
                "external_id": user,
                "braze_id": f"braze-{campaign_digest(user)}",
                "campaigns_received": [
                    {
                        "name": f"Campaign {campaign_id}",
                        "api_campaign_id": campaign_id,
                        "last_received": _when(at),
                        "engaged": {"opened_email": False},
                        "converted": False,
                    }
                    for campaign_id, at in sorted(campaigns.get(user, {}).items())
                ],
                "canvases_received": [
                    {
                        "name": f"Canvas {canvas_id}",
                        "api_canvas_id": canvas_id,
                        "last_entered": _when(at),
                        "last_received_message": _when(at),
                    }
                    for canvas_id, at in sorted(canvases.get(user, {}).items())
                ],
            }
            # the least data possible: fields not asked for, and empty lists, are left out
            exported.append({k: v for k, v in profile.items() if k in fields and v != []})
        invalid = [user for user in dict.fromkeys(ids) if user not in seen]
        memory = self._memory()
        memory.requests += 1
        memory.users += len(exported)
        answer: dict[str, Any] = {"message": "success", "users": exported}
        if invalid:
            answer["invalid_user_ids"] = invalid
        return 200, answer
