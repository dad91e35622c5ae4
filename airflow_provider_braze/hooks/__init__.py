"""Braze hooks. ``from airflow_provider_braze.hooks import BrazeHook`` imports lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_braze.hooks.braze import BrazeHook
    from airflow_provider_braze.hooks.braze_async import BrazeAsyncHook

__all__ = ["BrazeAsyncHook", "BrazeHook"]

_LAZY = {
    "BrazeHook": "airflow_provider_braze.hooks.braze",
    "BrazeAsyncHook": "airflow_provider_braze.hooks.braze_async",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
