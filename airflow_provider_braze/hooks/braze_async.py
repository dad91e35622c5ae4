"""BrazeAsyncHook: the async twin of :class:`~airflow_provider_braze.hooks.braze.BrazeHook` for triggers.

It is the http provider's ``HttpAsyncHook`` with Braze's connection (``config``: REST endpoint, key,
timeouts) and the sync hook's transport rules: the same :class:`RetryPolicy` (tenacity's
``AsyncRetrying``), the same rate limiter and the same error model. It never blocks the event loop
(aiohttp, ``asyncio.sleep``, async connection lookup; a rate-limit wait runs in a worker thread).

Inside ``async with BrazeAsyncHook(...) as hook:`` (a trigger run) every request shares one aiohttp
session; outside it, each request opens its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from functools import cached_property
from typing import Any

import aiohttp
from airflow.providers.common.compat.sdk import BaseHook, mask_secret
from airflow.providers.http.hooks.http import HttpAsyncHook, SessionConfig

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.transport.connection_params import BrazeConnectionParams, params_from_connection
from airflow_provider_braze.client.transport.rate_limit_headers import RateLimitInfo
from airflow_provider_braze.client.transport.rate_limiter import RateLimiter, RateLimitWaitTooLongError
from airflow_provider_braze.client.transport.responses import BrazeResponse, failed_transport
from airflow_provider_braze.client.transport.retry_policy import (
    FailedAttempt,
    RetryPolicy,
    classify_aiohttp_exception,
    retry_logger,
)
from airflow_provider_braze.hooks.braze import (
    Dispatch,
    build_rate_limiter,
    cdi_path,
    format_end_time,
    paused_too_long,
    read_answer,
)


async def _get_connection(conn_id: str) -> Any:
    try:
        from airflow.providers.common.compat.connection import get_async_connection
    except ImportError:  # pragma: no cover - older common-compat
        from asgiref.sync import sync_to_async

        return await sync_to_async(BaseHook.get_connection)(conn_id)
    return await get_async_connection(conn_id)


class BrazeAsyncHook(HttpAsyncHook):
    """Async access to Braze, for triggers: ``HttpAsyncHook`` with Braze's connection and transport rules.

    :param braze_conn_id: the Airflow connection of type ``braze``.
    :param settings: client settings overriding the connection's extras.
    """

    conn_name_attr = "braze_conn_id"
    default_conn_name = "braze_default"
    conn_type = "braze"
    hook_name = "Braze (async)"

    def __init__(self, braze_conn_id: str = default_conn_name, *, settings: Mapping[str, Any] | None = None) -> None:
        # One attempt per HttpAsyncHook call: the retries are Braze's policy (HttpAsyncHook's own would
        # resend a POST after a 500, whose outcome is unknown).
        super().__init__(method="GET", http_conn_id=braze_conn_id, retry_limit=1)
        self.braze_conn_id = braze_conn_id
        self._settings_overrides = dict(settings or {})
        self._params: BrazeConnectionParams | None = None
        self._client: aiohttp.ClientSession | None = None
        #: The ``X-RateLimit-*`` headers of the latest response.
        self.last_rate_limit = RateLimitInfo()

    async def get_params(self) -> BrazeConnectionParams:
        """Resolve the connection once, without blocking the event loop."""
        if self._params is None:
            conn = await _get_connection(self.braze_conn_id)
            self._params = params_from_connection(conn, conn_id=self.braze_conn_id, overrides=self._settings_overrides)
            mask_secret(self._params.api_key)
        return self._params

    async def config(self) -> SessionConfig:
        """``HttpAsyncHook``'s session configuration: the REST endpoint, the JSON headers and the timeouts.

        The Braze connection's extras are client settings, not headers. Requests are sent on the hook's
        own aiohttp session with this configuration (not through ``AsyncHttpSession.run``, whose
        ``raise_for_status`` would drop Braze's error body and ``X-RateLimit-*`` headers before 6.3).
        """
        if self._config is None:
            params = await self.get_params()
            settings = params.settings
            self._config = SessionConfig(
                base_url=params.base_url,
                headers=params.headers(),  # the key is added per request: it stays out of the config's repr
                extra_options={
                    "timeout": aiohttp.ClientTimeout(sock_connect=settings.connect_timeout, sock_read=settings.timeout),
                },
            )
        return self._config

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """The pacing of this hook's requests (one trigger run), by the sync hook's rules."""
        if self._params is None:
            raise RuntimeError("BrazeAsyncHook.rate_limiter is available once the connection is resolved")
        return build_rate_limiter(self._params.settings)

    async def __aenter__(self) -> BrazeAsyncHook:
        """Open the aiohttp session every request of this hook shares until :meth:`close`."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the shared aiohttp session, if one is open."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The hook's shared aiohttp session (inside ``async with hook``), or a new one for one request."""
        if self._client is not None:
            yield self._client
            return
        async with aiohttp.ClientSession() as client:
            yield client

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> BrazeResponse:
        """Send one request with the same retry policy, rate limiter and error model as ``BrazeHook.request``.

        :param method: ``GET`` or ``POST``.
        :param endpoint: the path, e.g. ``/messages/scheduled_broadcasts``.
        :param json: the JSON body of a POST.
        :param params: query parameters.
        """
        conn = await self.get_params()
        settings = conn.settings
        limiter = self.rate_limiter
        known = ep.match(endpoint.split("?", 1)[0])
        budget = ep.rate_budget(known, dict(json) if json is not None else None) if known else "shared"
        config = await self.config()
        url = f"{config.base_url}{endpoint}"
        headers = {**(config.headers or {}), "Authorization": f"Bearer {conn.api_key}"}
        policy = RetryPolicy.from_settings(settings, method=method, braze_now=lambda: time.time() + limiter.skew.offset)
        attempts = 0

        async with self._session() as client:

            async def attempt() -> BrazeResponse | FailedAttempt:
                nonlocal attempts
                attempts += 1
                try:
                    ticket = await asyncio.to_thread(limiter.acquire, budget, deadline=policy.deadline)
                except RateLimitWaitTooLongError as wait:
                    raise paused_too_long(method, endpoint, wait, attempts) from None
                sent_wall = time.time()
                try:
                    async with client.request(
                        method, url, params=params, json=json, headers=headers, **(config.extra_options or {})
                    ) as answer:
                        text, status, answer_headers = await answer.text(), answer.status, answer.headers
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    return failed_transport(
                        classify_aiohttp_exception(exc), exc, method, endpoint, attempts, conn.base_url
                    )
                self.last_rate_limit, result = read_answer(
                    limiter,
                    Dispatch(budget, ticket, sent_wall, time.time(), attempts),
                    method=method,
                    endpoint=endpoint,
                    status=status,
                    headers=answer_headers,
                    text=text,
                    params=conn,
                )
                return result

            return await policy.run_async(attempt, before_sleep=retry_logger(self.log, method, endpoint))

    async def get_scheduled_broadcasts(self, *, end_time: datetime | str) -> BrazeResponse:
        """``GET /messages/scheduled_broadcasts`` (see ``BrazeHook.get_scheduled_broadcasts``).

        :param end_time: list broadcasts due before this time.
        """
        return await self.request(
            ep.SCHEDULED_BROADCASTS.method,
            ep.SCHEDULED_BROADCASTS.path,
            params={"end_time": format_end_time(end_time)},
        )

    async def get_cdi_job_sync_status(self, *, integration_id: str, cursor: str | None = None) -> BrazeResponse:
        """``GET /cdi/integrations/{integration_id}/job_sync_status`` (see ``BrazeHook.get_cdi_job_sync_status``).

        :param integration_id: the integration.
        :param cursor: the opaque cursor of a ``Link`` URL, for later pages.
        """
        return await self.request(
            "GET",
            cdi_path(ep.CDI_JOB_SYNC_STATUS, integration_id),
            params={"cursor": cursor} if cursor else None,
        )
