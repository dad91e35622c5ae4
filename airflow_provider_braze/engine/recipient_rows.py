"""From a warehouse row (or a recipient dict) to a Braze recipient object.

A dict given in a recipients list is either Braze's recipient object or a row, decided by its keys:

* it is a **recipient object** when it has a key only Braze's object has (``user_alias``,
  ``trigger_properties``, ``context``, ``canvas_entry_properties``); every other key must then be
  one of Braze's recipient keys, or it is refused naming the key (a typo is never re-read as data);
* otherwise it is a **row**: its extra keys become personalisation, except that a key that looks
  like a misspelt recipient key (``trigger_propertes``, ``send_to_existing_onyl``) is refused as
  ambiguous, naming it. Rows from ``sql`` are always rows.

Row convention (the reserved column names match in any case; every other name keeps its case):

* identifier: ``external_user_id``; or ``user_alias_name`` + ``user_alias_label``; or
  ``braze_id``; or ``email`` (+ ``prioritization``, a JSON array or a comma-separated string);
* optional ``send_to_existing_only`` (boolean) and ``attributes`` (a JSON object, or JSON text);
* every other column becomes that recipient's ``trigger_properties`` (campaigns) or ``context``
  (Canvases). A column whose value is None is left out.

Database types are converted to JSON faithfully: integral decimals to integers, other decimals to
floats, dates and datetimes to ISO 8601 (aware datetimes keep their offset), times to ISO, UUIDs to
strings; JSON columns (dicts and lists) pass through. No Airflow imports.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from airflow_provider_braze.client import payload_rules as rules
from airflow_provider_braze.client.payload_validation import PayloadRuleError, normalise_recipient, unknown_key_hint

ALIAS_COLUMNS = ("user_alias_name", "user_alias_label")
RESERVED_COLUMNS = {
    "external_user_id",
    "braze_id",
    "email",
    "prioritization",
    "send_to_existing_only",
    "attributes",
    *ALIAS_COLUMNS,
}
#: Recipient-object keys a dict may already carry (recipients given as objects, not rows).
RECIPIENT_KEYS = set(rules.RECIPIENT_KEYS)
#: Keys only Braze's recipient object has: a dict with one of them is a recipient object.
OBJECT_ONLY_KEYS = ("user_alias", *rules.RECIPIENT_PROPERTY_FIELDS)
#: Names a row column is compared with to catch a misspelt recipient key.
_LOOKALIKE_TARGETS = sorted(RECIPIENT_KEYS | set(ALIAS_COLUMNS))


def to_json_value(value: Any, column: str) -> Any:
    """A database value as JSON (see the module doc); raises for types with no faithful JSON form."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PayloadRuleError(column, "is not a finite number")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v, f"{column}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{column}[{i}]") for i, v in enumerate(value)]
    raise PayloadRuleError(column, f"has a {type(value).__name__} value, which has no JSON form")


def _json_object(value: Any, column: str) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise PayloadRuleError(column, "must be a JSON object (the text is not JSON)") from None
    if value is not None and not isinstance(value, Mapping):
        raise PayloadRuleError(column, "must be a JSON object")
    return to_json_value(value, column)


def _flag(value: Any, column: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "t", "f"):
        return value.strip().lower() in ("true", "1", "t")
    raise PayloadRuleError(column, "must be true or false")


def _prioritization(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return _json_object_or_list(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return to_json_value(value, "prioritization")


def _json_object_or_list(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise PayloadRuleError("prioritization", "must be a JSON array or a comma-separated list") from None


def is_row(item: Mapping[str, Any]) -> bool:
    """True when ``item`` uses the row convention rather than Braze's recipient-object shape (see the
    module doc): it has no key only a recipient object has, and some key that is not a recipient key."""
    keys = {str(k).lower() for k in item}
    if keys & set(OBJECT_ONLY_KEYS):
        return False
    return bool(keys & set(ALIAS_COLUMNS)) or bool(keys - RECIPIENT_KEYS)


def recipient_from_dict(item: Mapping[str, Any], properties_field: str) -> dict[str, Any]:
    """A dict from a recipients list as Braze's recipient object (see the module doc for the rule).

    :raises PayloadRuleError: naming a key that makes the dict ambiguous or is not a recipient key.
    """
    if {str(k).lower() for k in item} & set(OBJECT_ONLY_KEYS):
        for key in item:
            if key not in RECIPIENT_KEYS:
                raise PayloadRuleError(
                    str(key),
                    f"is not a recipient-object key{unknown_key_hint(str(key), rules.RECIPIENT_KEYS)}. A dict with "
                    f"{'/'.join(OBJECT_ONLY_KEYS)} is Braze's recipient object: put per-recipient data in "
                    f"{properties_field}",
                )
        return normalise_recipient(item)
    if not is_row(item):
        return normalise_recipient(item)
    for key in item:
        name = str(key)
        if name.lower() in RECIPIENT_KEYS or name.lower() in ALIAS_COLUMNS:
            continue
        hint = unknown_key_hint(name, _LOOKALIKE_TARGETS, cutoff=0.8)
        if hint:
            raise PayloadRuleError(
                name,
                f"is ambiguous: it looks like a misspelt recipient key{hint}. Rename it, or pass the data in "
                f"{properties_field}",
            )
    return row_to_recipient(item, properties_field)


def _reserved_columns(row: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(reserved columns by lower-case name, other columns by their own name)``."""
    reserved: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for key, value in row.items():
        name = str(key)
        lower = name.lower()
        if lower in RESERVED_COLUMNS:
            if lower in reserved:
                raise PayloadRuleError(name, f"is given twice (as two columns named {lower} in different case)")
            reserved[lower] = value
        else:
            others[name] = value
    return reserved, others


def row_to_recipient(row: Mapping[str, Any], properties_field: str) -> dict[str, Any]:
    """Build a recipient object from a row (see the module doc for the convention)."""
    columns, others = _reserved_columns(row)
    recipient: dict[str, Any] = {}
    for column in ("external_user_id", "braze_id", "email"):
        if columns.get(column) not in (None, ""):
            recipient[column] = str(to_json_value(columns[column], column))
    name, label = columns.get("user_alias_name"), columns.get("user_alias_label")
    if name not in (None, "") or label not in (None, ""):
        recipient["user_alias"] = {"alias_name": name, "alias_label": label}
    if columns.get("prioritization") is not None:
        recipient["prioritization"] = _prioritization(columns["prioritization"])
    if columns.get("send_to_existing_only") is not None:
        recipient["send_to_existing_only"] = _flag(columns["send_to_existing_only"], "send_to_existing_only")
    if columns.get("attributes") is not None:
        recipient["attributes"] = _json_object(columns["attributes"], "attributes")
    properties = {column: to_json_value(value, column) for column, value in others.items() if value is not None}
    if properties:
        recipient[properties_field] = properties
    return recipient


def identifier_key(recipient: Mapping[str, Any]) -> str:
    """A stable string naming the recipient (for sharding), e.g. ``external_user_id:u1``."""
    for key in ("external_user_id", "braze_id", "email"):
        if recipient.get(key):
            return f"{key}:{recipient[key]}"
    alias = recipient.get("user_alias") or {}
    return f"user_alias:{alias.get('alias_label')}:{alias.get('alias_name')}"
