"""Braze operators. ``from airflow_provider_braze.operators import BrazeTriggerCampaignOperator`` imports lazily."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_braze.operators.cdi_sync import BrazeCDISyncOperator
    from airflow_provider_braze.operators.schedule import (
        BrazeScheduleCampaignOperator,
        BrazeScheduleCanvasOperator,
        BrazeScheduleMessageOperator,
    )
    from airflow_provider_braze.operators.schedule_changes import (
        BrazeDeleteScheduleOperator,
        BrazeUpdateScheduleOperator,
    )
    from airflow_provider_braze.operators.send_id import BrazeCreateSendIdOperator
    from airflow_provider_braze.operators.send_message import BrazeSendMessageOperator
    from airflow_provider_braze.operators.transactional import BrazeSendTransactionalEmailOperator
    from airflow_provider_braze.operators.trigger import BrazeTriggerCampaignOperator, BrazeTriggerCanvasOperator

_MODULES = {
    "BrazeCDISyncOperator": "cdi_sync",
    "BrazeSendMessageOperator": "send_message",
    "BrazeTriggerCampaignOperator": "trigger",
    "BrazeTriggerCanvasOperator": "trigger",
    "BrazeScheduleMessageOperator": "schedule",
    "BrazeScheduleCampaignOperator": "schedule",
    "BrazeScheduleCanvasOperator": "schedule",
    "BrazeUpdateScheduleOperator": "schedule_changes",
    "BrazeDeleteScheduleOperator": "schedule_changes",
    "BrazeCreateSendIdOperator": "send_id",
    "BrazeSendTransactionalEmailOperator": "transactional",
}

__all__ = [
    "BrazeCDISyncOperator",
    "BrazeCreateSendIdOperator",
    "BrazeDeleteScheduleOperator",
    "BrazeScheduleCampaignOperator",
    "BrazeScheduleCanvasOperator",
    "BrazeScheduleMessageOperator",
    "BrazeSendMessageOperator",
    "BrazeSendTransactionalEmailOperator",
    "BrazeTriggerCampaignOperator",
    "BrazeTriggerCanvasOperator",
    "BrazeUpdateScheduleOperator",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
