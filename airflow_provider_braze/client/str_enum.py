"""A closed set of strings as an enum whose members *are* their strings (Python 3.10 has no ``StrEnum``).

A member compares and hashes equal to its value, is written to JSON, XCom, SQL parameters and
f-strings as its value, and ``str()`` of it is its value, so code, stored records and templated
arguments that hold the plain strings keep working unchanged. :meth:`StrEnum.parse` turns a plain
string given by a user into a member, or raises an error naming the argument and the allowed values.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

_E = TypeVar("_E", bound="StrEnum")


class StrEnum(str, enum.Enum):
    """A ``str`` enum: ``Status.DONE == "done"``, ``str(Status.DONE) == f"{Status.DONE}" == "done"``."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(str.__str__(self), format_spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The allowed strings, in declaration order."""
        return tuple(member.value for member in cls)

    @classmethod
    def parse(cls: type[_E], value: Any, argument: str) -> _E:
        """The member whose value is ``value`` (a member or its plain string).

        :param value: what the user gave.
        :param argument: the argument's name, for the error.
        :raises ValueError: (a ``PayloadRuleError`` is a subclass) naming ``argument`` and the allowed values.
        """
        if isinstance(value, str):
            try:
                return cls(str.__str__(value))
            except ValueError:
                pass
        from airflow_provider_braze.client.payload_validation import PayloadRuleError

        raise PayloadRuleError(argument, f"must be one of {', '.join(cls.values())} (got {value!r})")
