"""Turning rendered template values back into JSON objects.

A ``.json`` template file, or a Jinja expression rendered without ``render_template_as_native_obj``,
reaches ``execute()`` as a string. These helpers parse such strings (JSON first, then a Python
literal, which is what ``{{ ti.xcom_pull(...) }}`` renders to) and leave native objects alone.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_braze.client.payload_validation import PayloadRuleError


def parse_rendered(value: Any, field: str, *, kinds: tuple[type, ...] = (dict, list)) -> Any:
    """Return ``value`` as a native object; strings are parsed as JSON or a Python literal.

    :param value: the rendered value (None passes through).
    :param field: the operator argument, for errors.
    :param kinds: the types the result may have.
    """
    if value is None or not isinstance(value, str):
        result = value
    else:
        text = value.strip()
        if not text:
            return None
        try:
            result = json.loads(text)
        except (ValueError, RecursionError):
            try:
                result = ast.literal_eval(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                raise PayloadRuleError(
                    field, "is a string that is not JSON: give a native object, JSON, or a .json template file"
                ) from None
    if result is not None and not isinstance(result, kinds):
        names = " or ".join("an object" if k is dict else "a list" if k is list else k.__name__ for k in kinds)
        raise PayloadRuleError(field, f"must be {names} (got {type(result).__name__})")
    return result


def parse_flag(value: Any, field: str) -> bool | None:
    """A rendered boolean: ``True``/``False`` or the strings ``"true"``/``"false"`` (any case)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise PayloadRuleError(field, f"must be true or false (got {value!r})")


def schedule_argument(value: Any) -> Any:
    """The rendered ``schedule`` argument: a JSON object string (a ``.json`` file or a rendered dict) parsed,
    a time string, datetime or dict as given; the hook's
    :meth:`~airflow_provider_braze.hooks.braze.BrazeHook.schedule_object` turns it into Braze's object."""
    if isinstance(value, str) and value.strip().startswith("{"):
        return parse_rendered(value, "schedule", kinds=(dict,))
    return value


def schedule_with_flags(value: Any, *, in_local_time: bool | None, at_optimal_time: bool | None) -> Any:
    """An operator's rendered ``schedule`` with its separate ``in_local_time``/``at_optimal_time``
    arguments folded in, for the hook to validate and normalise (a flag given here overrides the
    dict's; None leaves it as it is).

    :param value: the rendered schedule (:func:`schedule_argument`): a dict, a datetime or a string.
    :param in_local_time: the operator's ``in_local_time`` (None: not given).
    :param at_optimal_time: the operator's ``at_optimal_time`` (None: not given).
    """
    flags = {
        name: flag
        for name, flag in (("in_local_time", in_local_time), ("at_optimal_time", at_optimal_time))
        if flag is not None
    }
    if not flags:
        return value
    if isinstance(value, Mapping):
        return {**value, **flags}
    return {"time": value, **flags}
