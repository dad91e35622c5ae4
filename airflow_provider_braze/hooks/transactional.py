"""BrazeTransactionalHook: the hook the transactional operator sends through.

It is :class:`~airflow_provider_braze.hooks.braze.BrazeHook` with one difference on the transactional
endpoint: Braze's answer to a repeated ``external_send_id`` ("The external reference has been
queued", sent within the last 24 hours) is an acceptance, not an error, so the delivery engine
records the email as accepted (``queued``) instead of failing the send.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.transactional import already_queued_response
from airflow_provider_braze.client.transport.responses import BrazeResponse
from airflow_provider_braze.exceptions import BrazeAPIError
from airflow_provider_braze.hooks.braze import BrazeHook


class BrazeTransactionalHook(BrazeHook):
    """A Braze hook that counts the transactional "already queued" answer as accepted.

    :param braze_conn_id: the Braze connection.
    """

    #: Transactional answers that were Braze's de-duplication (the email had been sent already).
    deduplicated: int = 0

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """:meth:`BrazeHook.request`, with the transactional "already queued" answer returned as accepted.

        :param method: ``GET`` or ``POST``.
        :param endpoint: the path, e.g. ``/transactional/v1/campaigns/{campaign_id}/send``.
        :param json: the JSON body of a POST.
        :param params: query parameters of a GET.
        :param retry_unknown_outcome: override the connection's ``retry_unknown_outcome`` for this request.
        :param cancel: once set (the task is stopping), no further attempt is made.
        :param before_send: called once, right before the first attempt is sent (see :meth:`BrazeHook.request`).
        """
        try:
            return super().request(
                method,
                endpoint,
                json=json,
                params=params,
                retry_unknown_outcome=retry_unknown_outcome,
                cancel=cancel,
                before_send=before_send,
            )
        except BrazeAPIError as error:
            if ep.match(endpoint.split("?", 1)[0]) is not ep.TRANSACTIONAL_EMAIL:
                raise
            accepted = already_queued_response(error)
            if accepted is None:
                raise
            with self._retries_lock:
                self.deduplicated += 1
            self.log.debug("Braze %s: already sent within 24 h (external_send_id de-duplicated)", endpoint)
            return accepted
