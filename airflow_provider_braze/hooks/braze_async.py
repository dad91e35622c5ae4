"""BrazeAsyncHook: the async twin of :class:`~airflow_provider_braze.hooks.braze.BrazeHook` for triggers.

Same connection resolution, retry policy and error model as the sync hook; it never blocks the
event loop (aiohttp, ``asyncio.sleep``, async connection lookup).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from airflow_provider_braze import endpoints as ep
from airflow_provider_braze.exceptions import BrazeError
from airflow_provider_braze.hooks.braze import advice_for_status, cdi_path, format_end_time
from airflow_provider_braze.transport.connection_params import BrazeConnectionParams, resolve_connection_params
from airflow_provider_braze.transport.rate_limit_headers import RateLimitInfo
from airflow_provider_braze.transport.responses import (
    BrazeResponse,
    build_error,
    build_transport_error,
    parse_success,
    retry_outcome,
)
from airflow_provider_braze.transport.retry_policy import (
    Outcome,
    classify_aiohttp_exception,
    plan_retry,
)


async def _get_connection(conn_id: str) -> Any:
    try:
        from airflow.providers.common.compat.connection import get_async_connection
    except ImportError:  # pragma: no cover - older common-compat
        from asgiref.sync import sync_to_async

        return await sync_to_async(BaseHook.get_connection)(conn_id)
    return await get_async_connection(conn_id)


class BrazeAsyncHook(BaseHook):
    """Async access to Braze's read endpoints, for triggers.

    :param braze_conn_id: the Airflow connection of type ``braze``.
    :param settings: client settings overriding the connection's extras.
    """

    conn_name_attr = "braze_conn_id"
    default_conn_name = "braze_default"
    conn_type = "braze"
    hook_name = "Braze (async)"

    def __init__(self, braze_conn_id: str = default_conn_name, *, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.braze_conn_id = braze_conn_id
        self._settings_overrides = dict(settings or {})
        self._params: BrazeConnectionParams | None = None
        self.last_rate_limit = RateLimitInfo()

    async def get_params(self) -> BrazeConnectionParams:
        """Resolve the connection once, without blocking the event loop."""
        if self._params is None:
            conn = await _get_connection(self.braze_conn_id)
            self._params = resolve_connection_params(
                conn_id=self.braze_conn_id,
                host=conn.host,
                port=conn.port,
                password=conn.password,
                extras=conn.extra_dejson,
                overrides=self._settings_overrides,
            )
            mask_secret(self._params.api_key)
        return self._params

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> BrazeResponse:
        """Send one request with the same retry policy and error model as ``BrazeHook.request``."""
        conn = await self.get_params()
        settings = conn.settings
        timeout = aiohttp.ClientTimeout(sock_connect=settings.connect_timeout, sock_read=settings.timeout)
        deadline = time.monotonic() + settings.retry_deadline
        attempt = 0
        async with aiohttp.ClientSession(headers=conn.headers(), timeout=timeout) as session:
            while True:
                attempt += 1
                reset_at: float | None = None
                error: BrazeError
                try:
                    async with session.request(
                        method, f"{conn.base_url}{endpoint}", json=json, params=params
                    ) as response:
                        text = await response.text()
                        headers = dict(response.headers)
                        status = response.status
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    outcome = classify_aiohttp_exception(exc)
                    error = build_transport_error(
                        reason=type(exc).__name__,
                        outcome_unknown=outcome is Outcome.UNKNOWN,
                        method=method,
                        endpoint=endpoint,
                        attempts=attempt,
                        base_url=conn.base_url,
                    )
                else:
                    self.last_rate_limit = RateLimitInfo.from_headers(headers)
                    if 200 <= status < 300:
                        return parse_success(
                            status=status,
                            method=method,
                            endpoint=endpoint,
                            headers=headers,
                            text=text,
                            attempts=attempt,
                        )
                    error = build_error(
                        status=status,
                        method=method,
                        endpoint=endpoint,
                        headers=headers,
                        text=text,
                        advice=advice_for_status(status, endpoint, conn),
                    )
                    outcome = retry_outcome(status, error)
                    reset_at = self.last_rate_limit.reset_at
                delay = plan_retry(
                    outcome,
                    method=method,
                    retry_number=attempt,
                    max_retries=settings.max_retries,
                    retry_unknown_outcome=settings.retry_unknown_outcome,
                    time_left=deadline - time.monotonic(),
                    reset_at=reset_at,
                    now=time.time(),
                    backoff_base=settings.backoff_base,
                    backoff_max=settings.backoff_max,
                )
                if delay is None:
                    raise error
                self.log.warning("Braze %s %s attempt %d failed; retrying in %.1f s", method, endpoint, attempt, delay)
                await asyncio.sleep(delay)

    async def get_scheduled_broadcasts(self, *, end_time: datetime | str) -> BrazeResponse:
        """``GET /messages/scheduled_broadcasts`` (see ``BrazeHook.get_scheduled_broadcasts``)."""
        return await self.request(
            ep.SCHEDULED_BROADCASTS.method,
            ep.SCHEDULED_BROADCASTS.path,
            params={"end_time": format_end_time(end_time)},
        )

    async def get_cdi_job_sync_status(self, *, integration_id: str, cursor: str | None = None) -> BrazeResponse:
        """``GET /cdi/integrations/{integration_id}/job_sync_status`` (see ``BrazeHook.get_cdi_job_sync_status``)."""
        return await self.request(
            "GET",
            cdi_path(ep.CDI_JOB_SYNC_STATUS, integration_id),
            params={"cursor": cursor} if cursor else None,
        )
