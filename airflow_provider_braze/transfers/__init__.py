"""Braze transfer operators (X-to-Y), imported lazily:
``from airflow_provider_braze.transfers import BrazeAnalyticsToSqlOperator``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_braze.transfers.analytics_to_sql import BrazeAnalyticsToSqlOperator

_MODULES = {"BrazeAnalyticsToSqlOperator": "analytics_to_sql"}

__all__ = ["BrazeAnalyticsToSqlOperator"]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
