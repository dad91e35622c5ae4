"""BrazeTrigger: the serialisation every Braze trigger shares."""

from __future__ import annotations

import inspect
from typing import Any

from airflow.triggers.base import BaseTrigger


class BrazeTrigger(BaseTrigger):
    """A trigger whose keyword-only ``__init__`` arguments are all primitives kept as attributes of the
    same name; :meth:`serialize` returns exactly those, so the triggerer rebuilds an equal trigger."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and the ``__init__`` keyword arguments, read back from the attributes."""
        names = [name for name in inspect.signature(type(self).__init__).parameters if name != "self"]
        return f"{type(self).__module__}.{type(self).__qualname__}", {name: getattr(self, name) for name in names}
