"""Every public method of the hooks documents each of its arguments with ``:param:``."""

from __future__ import annotations

import inspect

import pytest

from airflow_provider_braze.hooks.braze import BrazeHook
from airflow_provider_braze.hooks.braze_async import BrazeAsyncHook
from airflow_provider_braze.hooks.transactional import BrazeTransactionalHook

HOOKS = (BrazeHook, BrazeAsyncHook, BrazeTransactionalHook)


def _undocumented(hook: type) -> list[str]:
    missing = []
    for name, member in vars(hook).items():
        function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
        if name.startswith("_") or not inspect.isfunction(function):
            continue
        doc = inspect.getdoc(function) or ""
        if not doc:
            missing.append(f"{hook.__name__}.{name}: no docstring")
        for parameter in list(inspect.signature(function).parameters)[1 if member is function else 0 :]:
            if parameter not in ("self", "cls") and f":param {parameter}:" not in doc:
                missing.append(f"{hook.__name__}.{name}({parameter})")
    return missing


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.__name__)
def test_every_public_hook_method_documents_its_arguments(hook: type) -> None:
    assert _undocumented(hook) == []


def test_the_check_sees_an_undocumented_argument() -> None:
    class Hook:
        def send(self, *, campaign_id: str, broadcast: bool) -> None:
            """Send.

            :param campaign_id: the campaign.
            """

    assert _undocumented(Hook) == ["Hook.send(broadcast)"]
