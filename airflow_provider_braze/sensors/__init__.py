"""Braze sensors. ``from airflow_provider_braze.sensors import BrazeScheduledBroadcastSensor`` imports lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_braze.sensors.scheduled_broadcast import BrazeScheduledBroadcastSensor

__all__ = ["BrazeScheduledBroadcastSensor"]


def __getattr__(name: str) -> Any:
    if name == "BrazeScheduledBroadcastSensor":
        from airflow_provider_braze.sensors.scheduled_broadcast import BrazeScheduledBroadcastSensor

        return BrazeScheduledBroadcastSensor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
