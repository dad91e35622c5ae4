"""The sync and the async hook read a Braze connection through one function, to the same result."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from airflow_provider_braze.client.transport.connection_params import params_from_connection
from airflow_provider_braze.exceptions import BrazeConfigurationError
from airflow_provider_braze.hooks.braze import BrazeHook
from airflow_provider_braze.hooks.braze_async import BrazeAsyncHook


def test_both_hooks_resolve_a_connection_to_the_same_params(braze_connection, monkeypatch):
    extras = {"timeout": 7, "extra__braze__max_retries": 2, "rate_share": 0.5}
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_TWIN",
        json.dumps({"conn_type": "braze", "host": braze_connection.url, "password": "k-123", "extra": extras}),
    )
    sync = BrazeHook(braze_conn_id="braze_twin", settings={"max_concurrency": 3}).params
    async_params = asyncio.run(BrazeAsyncHook(braze_conn_id="braze_twin", settings={"max_concurrency": 3}).get_params())
    assert sync == async_params
    assert sync.base_url == braze_connection.url.rstrip("/")
    assert (sync.settings.timeout, sync.settings.max_retries, sync.settings.max_concurrency) == (7, 2, 3)


def test_a_connection_without_a_key_is_refused_naming_it():
    conn = SimpleNamespace(host="US-05", port=None, password=" ", extra_dejson={})
    with pytest.raises(BrazeConfigurationError, match="Connection 'crm' has no REST API key"):
        params_from_connection(conn, conn_id="crm")
    conn.password = "secret-key"
    params = params_from_connection(conn, conn_id="crm", overrides={"timeout": 3})
    assert params.base_url == "https://rest.iad-05.braze.com"
    assert params.settings.timeout == 3
    assert "secret-key" not in repr(params)
