"""Hypothesis strategies: valid request bodies of every sending and scheduling endpoint, and mutations.

A *body* is what Braze receives (its wire format). Each endpoint knows which operator sends it and
how a body becomes that operator's arguments, so one generated body can be judged twice: by the
client (the operator's planning, before any request) and by the sandbox (a real HTTP request).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.operators import (
    BrazeScheduleCampaignOperator,
    BrazeScheduleCanvasOperator,
    BrazeScheduleMessageOperator,
    BrazeSendMessageOperator,
    BrazeTriggerCampaignOperator,
    BrazeTriggerCanvasOperator,
)
from airflow_provider_braze.operators.base import BrazeBaseOperator
from airflow_provider_braze.operators.batch_send import BrazeBatchSendOperator

# -- leaves -------------------------------------------------------------------------------------------

ascii_ids = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=16)
unicode_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=12)
ids = st.one_of(ascii_ids, unicode_text.filter(lambda t: t.strip() != ""))
finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), finite_floats, unicode_text)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(unicode_text, children, max_size=3)),
    max_leaves=6,
)
json_objects = st.dictionaries(unicode_text, json_values, max_size=3)

#: Values a mutation may put anywhere: every JSON type, the non-finite numbers, empty and odd strings.
odd_values = st.one_of(
    st.none(),
    st.just(""),
    st.just(" "),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.5, -1e308]),
    unicode_text,
    st.text(min_size=60, max_size=80),
    st.lists(json_leaves, max_size=3),
    st.dictionaries(unicode_text, json_leaves, max_size=3),
    st.just({}),
    st.just([]),
    st.sampled_from(["true", "false", "2030-01-01T10:00:00", "9999-12-31T23:59:59", "0001-01-01T00:00:00+05:00"]),
)


def _alias() -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({"alias_name": ids, "alias_label": ids})


# -- recipients ------------------------------------------------------------------------------------------


@st.composite
def recipients(draw: st.DrawFn, properties_field: str) -> dict[str, Any]:
    """A valid recipient object of a trigger endpoint."""
    kind = draw(st.sampled_from(["external_user_id", "user_alias", "braze_id", "email"]))
    recipient: dict[str, Any]
    if kind == "user_alias":
        recipient = {"user_alias": draw(_alias())}
    elif kind == "email":
        recipient = {
            "email": draw(ids) + "@example.com",
            "prioritization": draw(st.lists(st.sampled_from(["identified", "most_recently_updated"]), min_size=1)),
        }
    else:
        recipient = {kind: draw(ids)}
    if draw(st.booleans()):
        recipient[properties_field] = draw(json_objects)
    if draw(st.booleans()):
        recipient["attributes"] = draw(json_objects)
    if kind != "user_alias" and "attributes" in recipient and draw(st.booleans()):
        recipient["send_to_existing_only"] = draw(st.booleans())
    elif draw(st.integers(0, 4)) == 0 and kind != "user_alias":
        recipient["send_to_existing_only"] = True
    return recipient


def _unique_by_identifier(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = json.dumps(
            {k: v for k, v in item.items() if k in ("external_user_id", "user_alias", "braze_id", "email")}
        )
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# -- messages ----------------------------------------------------------------------------------------------

_PUSH_EXTRA = st.one_of(st.none(), st.dictionaries(ascii_ids, st.one_of(ascii_ids, st.integers(0, 9)), max_size=2))


@st.composite
def message_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A valid ``messages`` object (one to three channels)."""
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "apple_push": lambda: {"alert": draw(unicode_text.filter(bool)), "badge": draw(st.integers(0, 9))},
        "android_push": lambda: {"alert": draw(unicode_text.filter(bool)), "title": draw(unicode_text.filter(bool))},
        "kindle_push": lambda: {"alert": draw(ascii_ids), "title": draw(ascii_ids)},
        "web_push": lambda: {"alert": draw(ascii_ids), "title": draw(ascii_ids)},
        "email": lambda: {
            "app_id": draw(ascii_ids),
            "from": "Shop <shop@example.com>",
            "body": draw(unicode_text.filter(bool)),
        },
        "sms": lambda: {"subscription_group_id": draw(ascii_ids), "body": draw(ascii_ids), "app_id": draw(ascii_ids)},
        "webhook": lambda: {
            "url": "https://example.com/hook",
            "request_method": draw(st.sampled_from(["POST", "GET"])),
        },
        "content_card": lambda: {
            "type": "CLASSIC",
            "title": draw(ascii_ids),
            "description": draw(ascii_ids),
            "time_to_live": 3600,
        },
    }
    channels = draw(st.lists(st.sampled_from(sorted(builders)), min_size=1, max_size=3, unique=True))
    messages = {channel: builders[channel]() for channel in channels}
    for channel in ("apple_push", "android_push"):
        if channel in messages:
            extra = draw(_PUSH_EXTRA)
            if extra is not None:
                messages[channel]["extra"] = extra
    return messages


# -- schedules ---------------------------------------------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, Any]:
    """A valid schedule object, 1 to 80 days ahead: plain UTC, local time or optimal time."""
    ahead = timedelta(days=draw(st.integers(1, 80)), seconds=draw(st.integers(0, 86_399)))
    when = (datetime.now(timezone.utc) + ahead).replace(microsecond=0)
    mode = draw(st.sampled_from(["utc", "local", "optimal"]))
    if mode == "utc":
        return {"time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    flag = "in_local_time" if mode == "local" else "at_optimal_time"
    return {"time": when.strftime("%Y-%m-%dT%H:%M:%S"), flag: True}


# -- bodies per endpoint ---------------------------------------------------------------------------------------


@st.composite
def _message_body(draw: st.DrawFn, frequency_flag: str, scheduled: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": draw(message_objects())}
    if draw(st.integers(0, 3)) == 0:
        body["broadcast"] = True
        target = draw(st.sampled_from(["segment", "audience", "both"]))
        if target in ("segment", "both"):
            body["segment_id"] = draw(ascii_ids)
        if target in ("audience", "both"):
            body["audience"] = {
                "custom_attribute": {"custom_attribute_name": "tier", "comparison": "equals", "value": "gold"}
            }
    else:
        users = draw(st.lists(ids, min_size=0, max_size=6, unique=True))
        aliases = _unique_by_identifier([{"user_alias": a} for a in draw(st.lists(_alias(), max_size=3))])
        if not users and not aliases:
            users = [draw(ids)]
        if users:
            body["external_user_ids"] = users
        if aliases:
            body["user_aliases"] = [a["user_alias"] for a in aliases]
        if draw(st.booleans()):
            body["segment_id"] = draw(ascii_ids)
    if draw(st.booleans()):
        body["campaign_id"] = draw(ascii_ids)
        for message in body["messages"].values():
            message["message_variation_id"] = draw(ascii_ids)
    if "campaign_id" in body and draw(st.booleans()):  # a send id belongs to a campaign
        body["send_id"] = draw(ascii_ids)
    if draw(st.booleans()):
        body[frequency_flag] = draw(st.booleans())
    if draw(st.booleans()):
        body["recipient_subscription_state"] = draw(st.sampled_from(["opted_in", "subscribed", "all"]))
    if scheduled:
        body["schedule"] = draw(schedules())
    return body


@st.composite
def _trigger_body(draw: st.DrawFn, id_field: str, properties_field: str, scheduled: bool) -> dict[str, Any]:
    body: dict[str, Any] = {id_field: draw(ascii_ids)}
    if draw(st.integers(0, 3)) == 0:
        body["broadcast"] = True
        if draw(st.booleans()):
            body["audience"] = {"push_subscription_status": {"comparison": "is", "value": "opted_in"}}
    else:
        listed = draw(st.lists(recipients(properties_field), min_size=1, max_size=4))
        body["recipients"] = _unique_by_identifier(listed)
        if id_field == "campaign_id" and draw(st.integers(0, 4)) == 0:
            body["attachments"] = [{"file_name": "invoice", "url": "https://example.com/invoice.pdf"}]
    if draw(st.booleans()):
        body[properties_field] = draw(json_objects)
    if id_field == "campaign_id" and draw(st.booleans()):
        body["send_id"] = draw(ascii_ids)
    if scheduled:
        body["schedule"] = draw(schedules())
    return body


@dataclass(frozen=True)
class EndpointCase:
    """One sending or scheduling endpoint: how to generate its bodies and which operator sends them.

    :param endpoint: the endpoint.
    :param operator: the operator class that sends it.
    :param bodies: valid bodies.
    :param fields: the body's top-level fields (each is an operator argument of the same name).
    :param optional: fields where None or "" means "not given" (operator-argument convention).
    :param flags: boolean fields (rendered templates may give "true"/"false").
    :param objects: fields parsed from JSON text when given as a string.
    :param listed: the field listing users or recipients.
    """

    endpoint: ep.Endpoint
    operator: type[BrazeBaseOperator | BrazeBatchSendOperator]
    bodies: st.SearchStrategy[dict[str, Any]]
    fields: tuple[str, ...]
    optional: tuple[str, ...]
    flags: tuple[str, ...]
    objects: tuple[str, ...]
    listed: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.endpoint.path


_MESSAGE_FIELDS = (
    "messages",
    "external_user_ids",
    "user_aliases",
    "segment_id",
    "audience",
    "broadcast",
    "campaign_id",
    "send_id",
    "recipient_subscription_state",
)
_MESSAGE_OPTIONAL = ("segment_id", "audience", "campaign_id", "send_id", "recipient_subscription_state")
_CAMPAIGN_FIELDS = (
    "campaign_id",
    "recipients",
    "trigger_properties",
    "broadcast",
    "audience",
    "send_id",
    "attachments",
)
_CANVAS_FIELDS = ("canvas_id", "recipients", "context", "broadcast", "audience")

ENDPOINTS: tuple[EndpointCase, ...] = (
    EndpointCase(
        ep.SEND_MESSAGE,
        BrazeSendMessageOperator,
        _message_body("override_frequency_capping", scheduled=False),
        (*_MESSAGE_FIELDS, "override_frequency_capping"),
        _MESSAGE_OPTIONAL,
        ("broadcast", "override_frequency_capping"),
        ("messages", "audience", "external_user_ids", "user_aliases"),
        ("external_user_ids", "user_aliases"),
    ),
    EndpointCase(
        ep.CREATE_MESSAGE_SCHEDULE,
        BrazeScheduleMessageOperator,
        _message_body("override_messaging_limits", scheduled=True),
        (*_MESSAGE_FIELDS, "override_messaging_limits", "schedule"),
        _MESSAGE_OPTIONAL,
        ("broadcast", "override_messaging_limits"),
        ("messages", "audience", "external_user_ids", "user_aliases"),
        ("external_user_ids", "user_aliases"),
    ),
    EndpointCase(
        ep.TRIGGER_CAMPAIGN,
        BrazeTriggerCampaignOperator,
        _trigger_body("campaign_id", "trigger_properties", scheduled=False),
        _CAMPAIGN_FIELDS,
        ("audience", "send_id", "attachments"),
        ("broadcast",),
        ("recipients", "trigger_properties", "audience", "attachments"),
        ("recipients",),
    ),
    EndpointCase(
        ep.CREATE_CAMPAIGN_SCHEDULE,
        BrazeScheduleCampaignOperator,
        _trigger_body("campaign_id", "trigger_properties", scheduled=True),
        (*_CAMPAIGN_FIELDS, "schedule"),
        ("audience", "send_id", "attachments"),
        ("broadcast",),
        ("recipients", "trigger_properties", "audience", "attachments"),
        ("recipients",),
    ),
    EndpointCase(
        ep.TRIGGER_CANVAS,
        BrazeTriggerCanvasOperator,
        _trigger_body("canvas_id", "context", scheduled=False),
        _CANVAS_FIELDS,
        ("audience",),
        ("broadcast",),
        ("recipients", "context", "audience"),
        ("recipients",),
    ),
    EndpointCase(
        ep.CREATE_CANVAS_SCHEDULE,
        BrazeScheduleCanvasOperator,
        _trigger_body("canvas_id", "context", scheduled=True),
        (*_CANVAS_FIELDS, "schedule"),
        ("audience",),
        ("broadcast",),
        ("recipients", "context", "audience"),
        ("recipients",),
    ),
)

# -- mutations -----------------------------------------------------------------------------------------------

MUTATIONS = ("drop", "null", "empty", "retype", "duplicate", "add", "unicode", "out_of_range")

#: Keys a mutation may add to an object, by where the object sits.
_ADDABLE_RECIPIENT_KEYS = (
    "external_user_id",
    "braze_id",
    "email",
    "user_alias",
    "prioritization",
    "send_to_existing_only",
    "attributes",
    "trigger_properties",
    "context",
    "canvas_entry_properties",
)
_ADDABLE_MESSAGE_KEYS = ("extra", "alert", "title", "message_variation_id", "send_to_sync", "content-available")


def _slots(value: Any, path: tuple[Any, ...] = (), depth: int = 0) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (object keys and list indexes) down to three levels."""
    found: list[tuple[Any, ...]] = []
    if depth >= 3:
        return found
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*path, key))
            found.extend(_slots(child, (*path, key), depth + 1))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*path, index))
            found.extend(_slots(child, (*path, index), depth + 1))
    return found


def _parent(body: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        body = body[step]
    return body


@st.composite
def mutated(draw: st.DrawFn, case: EndpointCase) -> tuple[dict[str, Any], list[str]]:
    """A body of ``case`` with zero to three mutations, and their description."""
    body = copy.deepcopy(draw(case.bodies))
    done: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        slots = _slots(body)
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "add" or not slots:
            containers = [(), *(slot for slot in slots if isinstance(_get(body, slot), dict))]
            where = draw(st.sampled_from(containers))
            target = _get(body, where)
            if where == ():
                key = draw(st.sampled_from(case.fields))
            elif where[0] in ("recipients",) and len(where) == 2:
                key = draw(st.sampled_from(_ADDABLE_RECIPIENT_KEYS))
            elif where[0] == "messages" and len(where) == 2:
                key = draw(st.sampled_from(_ADDABLE_MESSAGE_KEYS))
            else:
                key = draw(ascii_ids)
            target[key] = draw(odd_values)
            done.append(f"add {'.'.join(map(str, (*where, key)))}")
            continue
        path = draw(st.sampled_from(slots))
        parent, key = _parent(body, path), path[-1]
        if kind == "drop":
            del parent[key]
        elif kind == "null":
            parent[key] = None
        elif kind == "empty":
            parent[key] = "" if isinstance(parent[key], str) or draw(st.booleans()) else type(parent[key])()
        elif kind == "retype":
            parent[key] = draw(odd_values)
        elif kind == "duplicate":
            if isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
            else:
                sibling = draw(st.sampled_from(sorted(map(str, parent))))
                parent[key] = copy.deepcopy(parent[sibling])
        elif kind == "unicode":
            parent[key] = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8))
        elif kind == "out_of_range":
            parent[key] = draw(
                st.sampled_from(["x" * 70, 10**20, -1, 2**64, "9999-12-31T23:59:59", [{"external_user_id": "u"}] * 51])
            )
        done.append(f"{kind} {'.'.join(map(str, path))}")
    return body, done


def _get(body: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        body = body[step]
    return body
