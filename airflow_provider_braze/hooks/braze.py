"""BrazeHook: every Braze messaging endpoint over one reused, authenticated HTTP session."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

import requests
from airflow.providers.common.compat.sdk import mask_secret
from airflow.providers.http.hooks.http import HttpHook
from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.structures import CaseInsensitiveDict
from requests.utils import default_headers

from airflow_provider_braze.client import endpoints as ep
from airflow_provider_braze.client.transport.concurrency import LatencyMeter
from airflow_provider_braze.client.transport.connection_params import BrazeConnectionParams, params_from_connection
from airflow_provider_braze.client.transport.rate_limit_headers import RateLimitInfo
from airflow_provider_braze.client.transport.rate_limiter import (
    RateLimiter,
    RateLimitWaitCancelledError,
    RateLimitWaitTooLongError,
    Ticket,
)
from airflow_provider_braze.client.transport.responses import (
    BrazeResponse,
    failed_answer,
    failed_transport,
    parse_success,
)
from airflow_provider_braze.client.transport.retry_policy import (
    FailedAttempt,
    Outcome,
    RetryPolicy,
    classify_requests_exception,
    retry_logger,
)
from airflow_provider_braze.client.transport.settings import BrazeClientSettings
from airflow_provider_braze.exceptions import (
    BrazeAPIError,
    BrazeAuthenticationError,
    BrazeConfigurationError,
    BrazeError,
    BrazePermissionError,
    BrazeRateLimitError,
    BrazeTransportError,
    BrazeValidationError,
)

JSONDict = dict[str, Any]
#: A schedule as the hook takes it: Braze's schedule dict, an aware datetime or an ISO 8601 string
#: (:meth:`BrazeHook.schedule_object` turns it into the object sent).
ScheduleArgument = Mapping[str, Any] | datetime | str
_P = ParamSpec("_P")
_R = TypeVar("_R")


def refused_as_braze_error(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """An endpoint method whose arguments break a Braze rule raises :class:`BrazeValidationError`
    (a ``BrazeError`` and a ``ValueError``) naming the field, before any request."""

    @functools.wraps(method)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from airflow_provider_braze.client.payload_validation import PayloadRuleError

        try:
            return method(*args, **kwargs)
        except PayloadRuleError as error:
            raise BrazeValidationError(error.field, error.rule) from error

    return checked


def compact(**fields: Any) -> JSONDict:
    """Return the keyword arguments that are not None, as a request body."""
    return {name: value for name, value in fields.items() if value is not None}


def advice_for_status(status: int, endpoint: str, params: BrazeConnectionParams) -> str:
    """Advice to append to an error of ``status`` on ``endpoint`` (401, 403, 404)."""
    if status == 401:
        return (
            f"Braze rejected the REST API key at {params.instance_label}. Either the key is wrong, or it "
            "belongs to a workspace on another Braze instance (a key only works on its own instance): "
            "check the key and that the connection's REST endpoint is the one shown under "
            "Settings > APIs and Identifiers"
        )
    if status == 403:
        permission = ep.permission_for(endpoint)
        needed = f"the '{permission}' permission" if permission else "the permission for this endpoint"
        return (
            f"The REST API key lacks {needed} (or the workspace's plan lacks the feature). Key permissions "
            "cannot be edited: create a key that has it under Settings > APIs and Identifiers"
        )
    if status == 404 and ep.match(endpoint.split("?", 1)[0]) in ep.CDI_ENDPOINTS:
        return "No such integration: check integration_id (BrazeHook.list_cdi_integrations() lists them)"
    if status == 404:
        return f"No such endpoint at {params.base_url}: check the connection's REST endpoint"
    return ""


def build_rate_limiter(settings: BrazeClientSettings, *, share: float = 1.0) -> RateLimiter:
    """The pacing of one hook's requests, from the connection's rate limits.

    :param settings: the connection's client settings.
    :param share: the share of the limits this hook may use (1/N for each of N shard tasks).
    """
    return RateLimiter(
        {
            "shared": settings.requests_per_hour / 3600.0 * share,
            "broadcast": settings.broadcast_requests_per_minute / 60.0 * share,
            "cdi_list": settings.cdi_list_requests_per_minute / 60.0 * share,
            "cdi_sync": settings.cdi_sync_requests_per_minute / 60.0 * share,
            "cdi_status": settings.cdi_status_requests_per_minute / 60.0 * share,
        },
        share=share,
    )


@dataclass(frozen=True)
class Dispatch:
    """One attempt as the rate limiter saw it.

    :param budget: the rate-limit budget it drew on.
    :param ticket: its slot from :meth:`RateLimiter.acquire`.
    :param sent: local epoch time it was sent.
    :param received: local epoch time its answer arrived.
    :param attempts: its number (1 for the first attempt).
    """

    budget: str
    ticket: Ticket
    sent: float
    received: float
    attempts: int


def answer_text(response: requests.Response, method: str, endpoint: str, log: Any) -> str:
    """Read an answer's body as text, then release the connection.

    A body whose bytes cannot be decoded (e.g. labelled ``Content-Encoding: gzip`` but not gzip) is
    read as a short text that is not JSON, with a warning: Braze has answered, so its status decides
    as for any body that is not JSON (a 2xx to a POST is accepted, a GET's is an error), rather than
    an exception that would hide that the request was processed. Errors while reading the body (a
    timeout, a dropped connection) propagate: their outcome is unknown.

    :param response: a response requested with ``stream=True``.
    :param method: the request's method (for the warning).
    :param endpoint: the request's endpoint (for the warning).
    :param log: where the warning goes.
    """
    try:
        return response.text
    except requests.exceptions.ContentDecodingError as exc:
        log.warning(
            "Braze %s %s: HTTP %s whose body could not be decoded (%s); read as a body that is not JSON",
            method,
            endpoint,
            response.status_code,
            type(exc).__name__,
        )
        return f"<the answer's body could not be decoded: {type(exc).__name__}>"
    finally:
        response.close()


def read_answer(
    limiter: RateLimiter,
    dispatch: Dispatch,
    *,
    method: str,
    endpoint: str,
    status: int,
    headers: Mapping[str, str],
    text: str,
    params: BrazeConnectionParams,
) -> tuple[RateLimitInfo, BrazeResponse | FailedAttempt]:
    """Feed an HTTP answer to the rate limiter and turn it into a response or a failed attempt.

    :param headers: the answer's headers, as requests or aiohttp give them (case-insensitive).
    :param params: the connection (for the advice of a 401, 403 or 404).
    """
    info = RateLimitInfo.from_headers(headers, now=dispatch.received)
    result: BrazeResponse | FailedAttempt
    if 200 <= status < 300:
        result = parse_success(
            status=status, method=method, endpoint=endpoint, headers=headers, text=text, attempts=dispatch.attempts
        )
    else:
        result = failed_answer(
            status=status,
            method=method,
            endpoint=endpoint,
            headers=headers,
            text=text,
            advice=advice_for_status(status, endpoint, params),
            reset_at=info.reset_at,
        )
    limiter.observe(
        dispatch.budget,
        info,
        rate_limited=isinstance(result, FailedAttempt) and result.outcome is Outcome.RATE_LIMITED,
        ticket=dispatch.ticket,
        sent=dispatch.sent,
        received=dispatch.received,
    )
    return info, result


def paused_too_long(method: str, endpoint: str, wait: RateLimitWaitTooLongError, attempts: int) -> BrazeError:
    """The error of a request not sent because its budget stays paused past its deadline."""
    return BrazeRateLimitError(
        status=429,
        method=method,
        endpoint=endpoint,
        message=f"not sent: {wait}, beyond this request's retry_deadline (attempt {attempts})",
        advice="The request was not sent. Raise retry_deadline or send when the rate-limit window resets",
    )


class BrazeKeyAuth(AuthBase):
    """Braze's REST API key as ``Authorization: Bearer`` (the key is never in its repr).

    :param api_key: the REST API key.
    """

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request

    def __repr__(self) -> str:
        return "BrazeKeyAuth(<REST API key>)"


class BrazeHook(HttpHook):
    """Interact with Braze's messaging REST API.

    One ``requests.Session`` is created per hook and reused for every request (connection pooling,
    one TLS handshake). Every endpoint method sends through :meth:`request`, which applies the retry
    policy: connection failures before sending, 429 (waits until ``X-RateLimit-Reset``), 502 and 503
    are retried with exponential backoff and jitter within a total deadline; a read timeout, a 500 or
    a 504 after a POST is an *unknown outcome* (Braze may have sent the message) and is not retried
    unless ``retry_unknown_outcome`` is set.

    .. seealso:: https://www.braze.com/docs/api/endpoints/messaging/

    Example:

    .. code-block:: python

        hook = BrazeHook()
        hook.trigger_campaign(campaign_id="...", recipients=[{"external_user_id": "u1"}])

    :param braze_conn_id: the Airflow connection of type ``braze`` (host: REST endpoint or instance
        name such as ``US-05``; password: REST API key; extras: client settings).
    :param settings: client settings overriding the connection's extras (``timeout``,
        ``max_retries``, ``retry_deadline``, ``retry_unknown_outcome``, ...; see
        :class:`~airflow_provider_braze.client.transport.settings.BrazeClientSettings`).
    :param rate_share: the share of the connection's rate limits this hook paces itself to (default 1;
        each of N shard tasks sending side by side uses ``1/N``).
    """

    conn_name_attr = "braze_conn_id"
    default_conn_name = "braze_default"
    conn_type = "braze"
    hook_name = "Braze"

    def __init__(
        self,
        braze_conn_id: str = default_conn_name,
        *,
        settings: Mapping[str, Any] | None = None,
        rate_share: float = 1.0,
    ) -> None:
        super().__init__(method="POST", http_conn_id=braze_conn_id, auth_type=self._key_auth)
        self.braze_conn_id = braze_conn_id
        self._settings_overrides = dict(settings or {})
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        #: The ``X-RateLimit-*`` headers of the latest response.
        self.last_rate_limit = RateLimitInfo()
        #: The share of the connection's rate limits this hook may use (1/N for each of N shards).
        self.rate_share = rate_share
        #: Attempts after the first, across all requests of this hook.
        self.retries = 0
        #: Transactional emails Braze answered "already queued" (its 24-hour ``external_send_id``
        #: de-duplication), returned as accepted by :meth:`send_transactional_email`.
        self.deduplicated = 0
        self._retries_lock = threading.Lock()

    # -- connection -------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel and hide connection form fields (Airflow 2.x forms).

        ``port`` stays visible: Airflow 3.3's *Test* button sends ``port: 0`` for a connection without
        one, which its API refuses as a different endpoint (fixed upstream, apache/airflow#73298).
        """
        import copy

        from airflow_provider_braze.get_provider_info import UI_FIELD_BEHAVIOUR

        # one definition, in get_provider_info; Airflow 2's form wants underscores in the key names
        return {key.replace("-", "_"): copy.deepcopy(value) for key, value in UI_FIELD_BEHAVIOUR.items()}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form on Airflow 2 (Airflow 3 reads ``conn-fields``)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, IntegerField, StringField
        from wtforms.validators import NumberRange, Optional

        from airflow_provider_braze.get_provider_info import CONN_FIELDS

        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            label, kinds = lazy_gettext(spec["label"]), spec["schema"]["type"]
            if "boolean" in kinds:
                widgets[name] = BooleanField(label, description=spec["description"], default=False)
            elif "integer" in kinds:
                widgets[name] = IntegerField(
                    label,
                    description=spec["description"],
                    validators=[Optional(), NumberRange(min=spec["schema"].get("minimum", 0))],
                    widget=BS3TextFieldWidget(),
                )
            else:
                widgets[name] = StringField(label, description=spec["description"], widget=BS3TextFieldWidget())
        return widgets

    @cached_property
    def params(self) -> BrazeConnectionParams:
        """The resolved connection: REST base URL, key, instance and settings."""
        conn = self.get_connection(self.braze_conn_id)
        params = params_from_connection(conn, conn_id=self.braze_conn_id, overrides=self._settings_overrides)
        mask_secret(params.api_key)
        return params

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """Return the hook's ``requests.Session``: made once by ``HttpHook.get_conn``, then reused.

        ``HttpHook`` builds it (auth through ``auth_type``: the key as ``Authorization: Bearer``; the
        pooled adapter; the connection's ``proxies``/``verify``/``cert`` options). The Braze
        connection's other extras are client settings, not headers, so none is sent; the base URL is
        the REST endpoint the host names (an instance name such as ``US-05`` included).

        :param headers: headers to add to the session.
        :param extra_options: ``HttpHook`` session options (``proxies``, ``verify``, ``cert``, ...).
        """
        with self._session_lock:
            if self._session is None:
                params = self.params
                # Room for every request an adaptive send may keep in flight (or the fixed number).
                pool = max(10, params.settings.max_concurrency or params.settings.in_flight_cap)
                self.adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0)
                session = super().get_conn(extra_options=extra_options)
                self.base_url = params.base_url
                for scheme in ("https://", "http://"):  # HttpHook mounts it for the host's scheme only
                    session.mount(scheme, self.adapter)
                session.headers = CaseInsensitiveDict(default_headers())  # the extras are settings, not headers
                session.headers.update(params.headers())
                # Read proxies and CA bundle from the environment once, not on every request (requests
                # scans os.environ per call: a third of its CPU per request); no .netrc.
                if session.trust_env:
                    environment = session.merge_environment_settings(
                        params.base_url, session.proxies, None, session.verify, session.cert
                    )
                    session.proxies.update(environment["proxies"])
                    session.verify = environment["verify"]
                    session.cert = environment["cert"]
                    session.trust_env = False
                self._session = session
            if headers:
                self._session.headers.update(headers)
            return self._session

    def _key_auth(self, *_login_password: str) -> BrazeKeyAuth:
        """``HttpHook``'s ``auth_type``: the resolved REST API key (the connection's password) as a bearer token."""
        return BrazeKeyAuth(self.params.api_key)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """The pacing shared by every request (and thread) of this hook, from the connection's limits."""
        return build_rate_limiter(self.params.settings, share=self.rate_share)

    @cached_property
    def latency(self) -> LatencyMeter:
        """The moving average of Braze's answer latency, fed by every request of this hook."""
        return LatencyMeter()

    def close(self) -> None:
        """Close the pooled session (a new one is made on the next request)."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    # -- the single transport path ----------------------------------------------------------

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
        """Send one request to Braze with the retry policy and rate limiting, and parse the answer.

        :param method: ``GET`` or ``POST``.
        :param endpoint: the path, e.g. ``/messages/send``.
        :param json: the JSON body of a POST.
        :param params: query parameters of a GET.
        :param retry_unknown_outcome: override the connection's ``retry_unknown_outcome`` for this request.
        :param cancel: once set (the task is stopping), no further attempt is made: the last error is raised.
        :param before_send: called once, after the rate limiter granted the first attempt's slot and right
            before the request is written (the send engine records the batch as in flight there); an
            exception from it means nothing was sent.
        :return: the parsed answer (202 ``queued`` and partial successes included).
        :raises BrazeAPIError: on an error status (a subclass per status family).
        :raises BrazeUnknownOutcomeError: when the request was sent but its outcome is unknown.
        :raises BrazeTransportError: when the request could not be delivered.
        """
        session = self.get_conn()
        settings = self.params.settings
        url = self.url_from_endpoint(endpoint)
        known = ep.match(endpoint.split("?", 1)[0])
        budget = ep.rate_budget(known, dict(json) if json is not None else None) if known else "shared"
        limiter = self.rate_limiter
        latency = self.latency
        policy = RetryPolicy.from_settings(
            settings,
            method=method,
            retry_unknown_outcome=retry_unknown_outcome,
            braze_now=lambda: time.time() + limiter.skew.offset,
        )
        attempts = 0

        def attempt() -> BrazeResponse | FailedAttempt:
            nonlocal attempts, before_send
            attempts += 1
            try:
                ticket = limiter.acquire(budget, deadline=policy.deadline, cancel=cancel)
            except RateLimitWaitTooLongError as wait:
                raise paused_too_long(method, endpoint, wait, attempts) from None
            except RateLimitWaitCancelledError as stopped:
                raise BrazeTransportError(
                    f"Braze {method} {endpoint}: not sent, the task is stopping ({stopped})"
                ) from None
            occupied_since = time.monotonic()  # a slot is taken from here: the record's write-ahead counts too
            if before_send is not None:
                before_send()
                before_send = None
            sent_at = time.monotonic()
            sent_wall = time.time()
            try:
                response = session.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    timeout=(settings.connect_timeout, settings.timeout),
                    stream=True,  # the body is read by answer_text: an undecodable one keeps its status
                )
                text = answer_text(response, method, endpoint, self.log)
            except requests.RequestException as exc:
                return failed_transport(
                    classify_requests_exception(exc), exc, method, endpoint, attempts, self.params.base_url
                )
            elapsed = time.monotonic() - sent_at
            latency.observe(time.monotonic() - occupied_since)  # what sizes the requests in flight
            received_wall = sent_wall + elapsed
            self.last_rate_limit, result = read_answer(
                limiter,
                Dispatch(budget, ticket, sent_wall, received_wall, attempts),
                method=method,
                endpoint=endpoint,
                status=response.status_code,
                headers=response.headers,
                text=text,
                params=self.params,
            )
            if isinstance(result, BrazeResponse):
                self._log_success(method, endpoint, result, elapsed)
            return result

        return policy.run(
            attempt, before_sleep=retry_logger(self.log, method, endpoint, self._count_retry), cancel=cancel
        )

    def _count_retry(self) -> None:
        with self._retries_lock:
            self.retries += 1

    def _log_success(self, method: str, endpoint: str, result: BrazeResponse, elapsed: float) -> None:
        self.log.debug("Braze %s %s: HTTP %d in %.3f s", method, endpoint, result.status, elapsed)
        if result.unparsed_body:
            self.log.warning(
                "Braze %s %s answered HTTP %d with a body that is not Braze JSON: counted as accepted (a 2xx "
                "means Braze processed it), without ids",
                method,
                endpoint,
                result.status,
            )
        if result.queued and ep.match(endpoint.split("?", 1)[0]) not in ep.CDI_ENDPOINTS:  # CDI's 202 is success
            self.log.warning(
                "Braze queued %s %s (HTTP 202): it was accepted and will be processed later", method, endpoint
            )
        if result.minor_errors:
            self.log.warning(
                "Braze accepted %s %s with %d minor error(s); messages not affected were sent. "
                "The errors are in the task result.",
                method,
                endpoint,
                len(result.minor_errors),
            )
        if result.notice:
            self.log.warning("Braze notice for %s %s: %s", method, endpoint, result.notice)

    def _post(
        self,
        endpoint: ep.Endpoint,
        body: JSONDict,
        *,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        return self.request(
            endpoint.method,
            endpoint.path,
            json=body,
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    # -- request bodies: one builder per endpoint -------------------------------------------

    @staticmethod
    def schedule_object(schedule: ScheduleArgument | None, *, field: str = "schedule") -> JSONDict:
        """Braze's schedule object for ``schedule``, validated and normalised (pure, no connection).

        The one place a schedule is checked: every schedule create and update body is built with it,
        whether an operator or a direct call asks. See :mod:`airflow_provider_braze.client.schedules`:
        a time with an offset or ``Z`` is sent in UTC with ``Z``; a time string without one is UTC and
        gets ``Z``; with ``in_local_time`` or ``at_optimal_time`` the wall-clock time is sent without a
        designator; false flags are left out; a naive ``datetime`` object without a flag, a time in the
        past or more than 90 days ahead, and keys other than ``time``, ``in_local_time`` and
        ``at_optimal_time`` are refused. Normalising a normalised object changes nothing.

        :param schedule: Braze's schedule dict, an aware datetime or an ISO 8601 string.
        :param field: the field name used in errors.
        :raises PayloadRuleError: naming the field (``schedule.time``, ...) and the rule, before any request.
        """
        from airflow_provider_braze.client.schedules import build_schedule

        return build_schedule(schedule, field=field)

    @staticmethod
    def trigger_shared_body(
        *,
        id_field: str,
        id_value: Any,
        listed: bool,
        properties_field: str = "trigger_properties",
        properties: Mapping[str, Any] | None = None,
        broadcast: bool | None = None,
        audience: Mapping[str, Any] | None = None,
        send_id: str | None = None,
        attachments: Sequence[Mapping[str, Any]] | None = None,
        schedule: ScheduleArgument | None = None,
    ) -> JSONDict:
        """The fields of a campaign or Canvas trigger body every batch repeats, validated (pure, no connection).

        The body of ``/campaigns/trigger/send``, ``/canvas/trigger/send`` and their
        ``/trigger/schedule/create`` endpoints is this plus the batch's ``recipients``
        (:meth:`batch_body`). None and ``""`` mean "not given"; ``broadcast=False`` is left out.

        :param id_field: ``campaign_id`` or ``canvas_id``.
        :param id_value: the campaign or Canvas API identifier.
        :param listed: recipients are listed (``broadcast`` must then not be true).
        :param properties_field: ``trigger_properties`` (campaigns), ``context`` or
            ``canvas_entry_properties`` (Canvases).
        :param properties: the personalisation every recipient shares.
        :param broadcast: target the campaign's or Canvas's whole audience (explicit opt-in).
        :param audience: a connected audience filter.
        :param send_id: the send id to track the send by (campaigns).
        :param attachments: email attachments (campaigns).
        :param schedule: the schedule (schedule-create endpoints), normalised by :meth:`schedule_object`.
        :raises PayloadRuleError: naming the field and the rule, before any request.
        """
        from airflow_provider_braze.client import payload_validation as pv

        if schedule is not None:
            schedule = BrazeHook.schedule_object(schedule)
        send_id, audience, attachments = given(send_id), given(audience), given(attachments)
        pv.check_required_id(id_value, id_field)
        pv.check_send_id(send_id)
        pv.check_properties(properties, properties_field)
        pv.check_targets(
            broadcast=broadcast, listed=listed, audience=audience, attachments=attachments, broadcast_alone_targets=True
        )
        body = compact(
            **{id_field: id_value},
            send_id=send_id,
            **{properties_field: properties},
            broadcast=broadcast or None,
            audience=audience,
            attachments=attachments,
            schedule=schedule,
        )
        pv.check_finite(body, "body")
        return body

    @staticmethod
    def message_shared_body(
        *,
        messages: Mapping[str, Any] | None,
        listed: bool,
        segment_id: str | None = None,
        audience: Mapping[str, Any] | None = None,
        broadcast: bool | None = None,
        campaign_id: str | None = None,
        send_id: str | None = None,
        recipient_subscription_state: str | None = None,
        frequency_flag: str = "override_frequency_capping",
        frequency_value: bool | None = None,
        schedule: ScheduleArgument | None = None,
    ) -> JSONDict:
        """The fields of a ``/messages/send`` or ``/messages/schedule/create`` body every batch repeats,
        validated (pure, no connection); the body is this plus the batch's users (:meth:`batch_body`).

        :param messages: the message objects; null channels and null keys are removed first.
        :param listed: users are listed (``broadcast`` must then not be true).
        :param segment_id: the segment to send to (with ``broadcast``).
        :param audience: a connected audience filter.
        :param broadcast: send to a segment or audience (explicit opt-in).
        :param campaign_id: the API campaign to track the send by.
        :param send_id: the send id (needs ``campaign_id``).
        :param recipient_subscription_state: ``opted_in``, ``subscribed`` or ``all``.
        :param frequency_flag: ``override_frequency_capping`` (send) or ``override_messaging_limits``
            (schedule create), as Braze spells it per endpoint.
        :param frequency_value: the flag's value (left out when None).
        :param schedule: the schedule (schedule create), normalised by :meth:`schedule_object`.
        :raises PayloadRuleError: naming the field and the rule, before any request.
        """
        from airflow_provider_braze.client import payload_rules as rules
        from airflow_provider_braze.client import payload_validation as pv

        if schedule is not None:
            schedule = BrazeHook.schedule_object(schedule)
        segment_id, audience = given(segment_id), given(audience)
        campaign_id, send_id = given(campaign_id), given(send_id)
        recipient_subscription_state = given(recipient_subscription_state)
        messages = pv.normalise_messages(messages)
        pv.check_targets(
            broadcast=broadcast, listed=listed, segment_id=segment_id, audience=audience, broadcast_alone_targets=False
        )
        if campaign_id is not None:
            pv.check_required_id(campaign_id, "campaign_id")
        pv.check_send_id(send_id)
        pv.check_enum(recipient_subscription_state, "recipient_subscription_state", rules.RECIPIENT_SUBSCRIPTION_STATES)
        if frequency_value is not None and not isinstance(frequency_value, bool):
            raise pv.PayloadRuleError(frequency_flag, "must be true or false")
        pv.check_messages(messages, campaign_id=campaign_id)
        body = compact(
            broadcast=broadcast or None,
            segment_id=segment_id,
            audience=audience,
            campaign_id=campaign_id,
            send_id=send_id,
            recipient_subscription_state=recipient_subscription_state,
            schedule=schedule,
            messages=messages,
            **{frequency_flag: frequency_value},
        )
        pv.check_finite(body, "body")
        return body

    @staticmethod
    def batch_body(shared: Mapping[str, Any], batch: Sequence[Mapping[str, Any]], *, users_style: bool) -> JSONDict:
        """The body of one batch of a data-driven send: the shared fields plus the batch's users.

        Pure (no connection): every endpoint method that lists recipients or users builds its body
        with it, and the send engine's dry runs show it.

        :param shared: the body fields every request of the send repeats (from :meth:`trigger_shared_body`
            or :meth:`message_shared_body`).
        :param batch: the batch's recipient objects, as spooled.
        :param users_style: list the users as ``external_user_ids``/``user_aliases``
            (``/messages/send`` and ``/messages/schedule/create``) instead of ``recipients``.
        """
        body = dict(shared)
        if not users_style:
            body["recipients"] = list(batch)
            return body
        body.update(BrazeHook.users_fields(batch))
        return body

    @staticmethod
    def users_fields(batch: Sequence[Mapping[str, Any]]) -> JSONDict:
        """A batch of user objects as ``/messages/send``'s ``external_user_ids`` and ``user_aliases``
        (an empty list is left out).

        :param batch: ``{"external_user_id"}`` or ``{"user_alias"}`` objects.
        """
        ids = [r["external_user_id"] for r in batch if "external_user_id" in r]
        aliases = [r["user_alias"] for r in batch if "user_alias" in r]
        return compact(external_user_ids=ids or None, user_aliases=aliases or None)

    @staticmethod
    def _users(
        external_user_ids: Sequence[str] | None, user_aliases: Sequence[Mapping[str, str]] | None
    ) -> list[dict[str, Any]] | None:
        """``/messages/send``'s two user lists as one batch of user objects (None: no users listed)."""
        if external_user_ids is None and user_aliases is None:
            return None
        return [{"external_user_id": u} for u in external_user_ids or ()] + [
            {"user_alias": a} for a in user_aliases or ()
        ]

    # -- sending one batch of a data-driven send --------------------------------------------

    def send_batch(
        self,
        endpoint: ep.Endpoint,
        shared: Mapping[str, Any],
        batch: Sequence[Mapping[str, Any]] | None = None,
        *,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """Send one request of a data-driven send through ``endpoint``'s method (``trigger_campaign``, ...).

        :param endpoint: the endpoint of the send.
        :param shared: the endpoint method's arguments every request repeats (the shared body fields,
            which are its keyword arguments), or the whole arguments of a request without a batch.
        :param batch: the batch's recipient or user objects (None: none listed).
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        known = ep.match(endpoint.path)
        name = _BATCH_METHODS.get(known) if known is not None else None
        if name is None:
            raise BrazeConfigurationError(f"{endpoint.path}: not an endpoint of a data-driven send")
        arguments: dict[str, Any] = dict(shared)
        if known is ep.TRANSACTIONAL_EMAIL:
            arguments["campaign_id"] = endpoint_campaign_id(endpoint.path)
        if batch is not None and known in _USERS_ENDPOINTS:
            arguments.update(self.users_fields(batch))
        elif batch is not None:
            arguments["recipients"] = list(batch)
        method: Callable[..., BrazeResponse] = getattr(self, name)
        return method(**arguments, retry_unknown_outcome=retry_unknown_outcome, cancel=cancel, before_send=before_send)

    # -- /messages/send and triggers --------------------------------------------------------

    @refused_as_braze_error
    def send_message(
        self,
        *,
        messages: Mapping[str, Any],
        external_user_ids: Sequence[str] | None = None,
        user_aliases: Sequence[Mapping[str, str]] | None = None,
        segment_id: str | None = None,
        audience: Mapping[str, Any] | None = None,
        broadcast: bool | None = None,
        campaign_id: str | None = None,
        send_id: str | None = None,
        override_frequency_capping: bool | None = None,
        recipient_subscription_state: str | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /messages/send``: send message content given in the request, now.

        The body is built and validated by :meth:`message_shared_body` and :meth:`batch_body`.

        :param messages: the message objects, by channel.
        :param external_user_ids: users by external id.
        :param user_aliases: users by alias.
        :param segment_id: the segment to send to (with ``broadcast``).
        :param audience: a connected audience filter.
        :param broadcast: send to a segment or audience (explicit opt-in).
        :param campaign_id: the API campaign to track the send by.
        :param send_id: the send id (needs ``campaign_id``).
        :param override_frequency_capping: ignore frequency capping.
        :param recipient_subscription_state: ``opted_in``, ``subscribed`` or ``all``.
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        users = self._users(external_user_ids, user_aliases)
        shared = self.message_shared_body(
            messages=messages,
            listed=users is not None,
            segment_id=segment_id,
            audience=audience,
            broadcast=broadcast,
            campaign_id=campaign_id,
            send_id=send_id,
            recipient_subscription_state=recipient_subscription_state,
            frequency_flag="override_frequency_capping",
            frequency_value=override_frequency_capping,
        )
        body = shared if users is None else self.batch_body(shared, users, users_style=True)
        return self._post(
            ep.SEND_MESSAGE, body, retry_unknown_outcome=retry_unknown_outcome, cancel=cancel, before_send=before_send
        )

    @refused_as_braze_error
    def trigger_campaign(
        self,
        *,
        campaign_id: str,
        send_id: str | None = None,
        trigger_properties: Mapping[str, Any] | None = None,
        broadcast: bool | None = None,
        audience: Mapping[str, Any] | None = None,
        recipients: Sequence[Mapping[str, Any]] | None = None,
        attachments: Sequence[Mapping[str, Any]] | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /campaigns/trigger/send``: trigger an API-triggered campaign now.

        The body is built and validated by :meth:`trigger_shared_body` and :meth:`batch_body`.

        :param campaign_id: the API-triggered campaign.
        :param send_id: the send id to track the send by.
        :param trigger_properties: personalisation every recipient shares.
        :param broadcast: target the campaign's whole audience (explicit opt-in).
        :param audience: a connected audience filter.
        :param recipients: recipient objects (up to 50).
        :param attachments: email attachments.
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        shared = self.trigger_shared_body(
            id_field="campaign_id",
            id_value=campaign_id,
            listed=recipients is not None,
            properties=trigger_properties,
            broadcast=broadcast,
            audience=audience,
            send_id=send_id,
            attachments=attachments,
        )
        body = shared if recipients is None else self.batch_body(shared, recipients, users_style=False)
        return self._post(
            ep.TRIGGER_CAMPAIGN,
            body,
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @refused_as_braze_error
    def trigger_canvas(
        self,
        *,
        canvas_id: str,
        context: Mapping[str, Any] | None = None,
        canvas_entry_properties: Mapping[str, Any] | None = None,
        broadcast: bool | None = None,
        audience: Mapping[str, Any] | None = None,
        recipients: Sequence[Mapping[str, Any]] | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /canvas/trigger/send``: trigger an API-triggered Canvas now.

        The body is built and validated by :meth:`trigger_shared_body` and :meth:`batch_body`.

        :param canvas_id: the API-triggered Canvas.
        :param context: entry properties every recipient shares.
        :param canvas_entry_properties: the older name of ``context``, sent under that name (give one).
        :param broadcast: enter the Canvas's whole audience (explicit opt-in).
        :param audience: a connected audience filter.
        :param recipients: recipient objects (up to 50).
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        shared = self.trigger_shared_body(
            id_field="canvas_id",
            id_value=canvas_id,
            listed=recipients is not None,
            **canvas_properties(context, canvas_entry_properties),
            broadcast=broadcast,
            audience=audience,
        )
        body = shared if recipients is None else self.batch_body(shared, recipients, users_style=False)
        return self._post(
            ep.TRIGGER_CANVAS, body, retry_unknown_outcome=retry_unknown_outcome, cancel=cancel, before_send=before_send
        )

    # -- schedules --------------------------------------------------------------------------

    @refused_as_braze_error
    def create_message_schedule(
        self,
        *,
        schedule: ScheduleArgument,
        messages: Mapping[str, Any],
        external_user_ids: Sequence[str] | None = None,
        user_aliases: Sequence[Mapping[str, str]] | None = None,
        segment_id: str | None = None,
        audience: Mapping[str, Any] | None = None,
        broadcast: bool | None = None,
        campaign_id: str | None = None,
        send_id: str | None = None,
        override_messaging_limits: bool | None = None,
        recipient_subscription_state: str | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /messages/schedule/create``: schedule message content for later.

        The body is built and validated by :meth:`message_shared_body` and :meth:`batch_body`.

        :param schedule: Braze's schedule object (``time``, ``in_local_time``, ``at_optimal_time``), an aware
            datetime or an ISO string; validated and normalised by :meth:`schedule_object`.
        :param messages: the message objects, by channel.
        :param external_user_ids: users by external id.
        :param user_aliases: users by alias.
        :param segment_id: the segment to send to (with ``broadcast``).
        :param audience: a connected audience filter.
        :param broadcast: send to a segment or audience (explicit opt-in).
        :param campaign_id: the API campaign to track the send by.
        :param send_id: the send id (needs ``campaign_id``).
        :param override_messaging_limits: ignore frequency capping and rate limits.
        :param recipient_subscription_state: ``opted_in``, ``subscribed`` or ``all``.
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        _check_schedule_given(schedule)
        users = self._users(external_user_ids, user_aliases)
        shared = self.message_shared_body(
            messages=messages,
            listed=users is not None,
            segment_id=segment_id,
            audience=audience,
            broadcast=broadcast,
            campaign_id=campaign_id,
            send_id=send_id,
            recipient_subscription_state=recipient_subscription_state,
            frequency_flag="override_messaging_limits",
            frequency_value=override_messaging_limits,
            schedule=schedule,
        )
        body = shared if users is None else self.batch_body(shared, users, users_style=True)
        return self._post(
            ep.CREATE_MESSAGE_SCHEDULE,
            body,
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @refused_as_braze_error
    def update_message_schedule(
        self,
        *,
        schedule_id: str,
        schedule: ScheduleArgument | None = None,
        messages: Mapping[str, Any] | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /messages/schedule/update``: replace a message schedule's time and/or messages.

        :param schedule_id: the schedule to update.
        :param schedule: the new schedule (replaces the old one entirely; normalised by :meth:`schedule_object`).
        :param messages: the new message objects.
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        return self._post(
            ep.UPDATE_MESSAGE_SCHEDULE,
            self.update_message_schedule_body(schedule_id=schedule_id, schedule=schedule, messages=messages),
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @staticmethod
    def update_message_schedule_body(
        *, schedule_id: str, schedule: ScheduleArgument | None = None, messages: Mapping[str, Any] | None = None
    ) -> JSONDict:
        """The body of ``POST /messages/schedule/update`` (pure, no connection).

        :param schedule_id: the schedule to update.
        :param schedule: the new schedule (normalised by :meth:`schedule_object`); left out when None.
        :param messages: the new message objects, checked as for a create (null channels and keys are
            not sent); left out when None.
        """
        from airflow_provider_braze.client import payload_validation as pv

        _check_ids(schedule_id=schedule_id)
        if schedule is not None:
            schedule = BrazeHook.schedule_object(schedule)
        if messages is not None:
            messages = pv.normalise_messages(messages)
            pv.check_messages(messages)
        return compact(schedule_id=schedule_id, schedule=schedule, messages=messages)

    @refused_as_braze_error
    def delete_message_schedule(
        self,
        *,
        schedule_id: str,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /messages/schedule/delete``: cancel a scheduled message.

        :param schedule_id: the schedule to cancel.
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        body = self.delete_message_schedule_body(schedule_id=schedule_id)
        return self._post(
            ep.DELETE_MESSAGE_SCHEDULE,
            body,
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @staticmethod
    def delete_message_schedule_body(*, schedule_id: str) -> JSONDict:
        """The body of ``POST /messages/schedule/delete``.

        :param schedule_id: the schedule to cancel.
        """
        _check_ids(schedule_id=schedule_id)
        return {"schedule_id": schedule_id}

    @refused_as_braze_error
    def create_campaign_schedule(
        self,
        *,
        campaign_id: str,
        schedule: ScheduleArgument,
        send_id: str | None = None,
        recipients: Sequence[Mapping[str, Any]] | None = None,
        audience: Mapping[str, Any] | None = None,
        broadcast: bool | None = None,
        trigger_properties: Mapping[str, Any] | None = None,
        attachments: Sequence[Mapping[str, Any]] | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /campaigns/trigger/schedule/create``: schedule an API-triggered campaign.

        The body is built and validated by :meth:`trigger_shared_body` and :meth:`batch_body`.

        :param campaign_id: the API-triggered campaign.
        :param schedule: Braze's schedule object (``time``, ``in_local_time``, ``at_optimal_time``), an aware
            datetime or an ISO string; validated and normalised by :meth:`schedule_object`.
        :param send_id: the send id to track the send by.
        :param recipients: recipient objects (up to 50).
        :param audience: a connected audience filter.
        :param broadcast: target the campaign's whole audience (explicit opt-in).
        :param trigger_properties: personalisation every recipient shares.
        :param attachments: email attachments.
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        _check_schedule_given(schedule)
        shared = self.trigger_shared_body(
            id_field="campaign_id",
            id_value=campaign_id,
            listed=recipients is not None,
            properties=trigger_properties,
            broadcast=broadcast,
            audience=audience,
            send_id=send_id,
            attachments=attachments,
            schedule=schedule,
        )
        body = shared if recipients is None else self.batch_body(shared, recipients, users_style=False)
        return self._post(
            ep.CREATE_CAMPAIGN_SCHEDULE,
            body,
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @refused_as_braze_error
    def update_campaign_schedule(
        self,
        *,
        campaign_id: str,
        schedule_id: str,
        schedule: ScheduleArgument,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /campaigns/trigger/schedule/update``: replace a campaign schedule entirely.

        :param campaign_id: the campaign the schedule belongs to.
        :param schedule_id: the schedule to update.
        :param schedule: the new schedule (validated and normalised by :meth:`schedule_object`).
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        return self._post(
            ep.UPDATE_CAMPAIGN_SCHEDULE,
            self.update_campaign_schedule_body(campaign_id=campaign_id, schedule_id=schedule_id, schedule=schedule),
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @staticmethod
    def update_campaign_schedule_body(*, campaign_id: str, schedule_id: str, schedule: ScheduleArgument) -> JSONDict:
        """The body of ``POST /campaigns/trigger/schedule/update``.

        :param campaign_id: the campaign the schedule belongs to.
        :param schedule_id: the schedule to update.
        :param schedule: the new schedule (validated and normalised by :meth:`schedule_object`).
        """
        _check_ids(campaign_id=campaign_id, schedule_id=schedule_id)
        return {"campaign_id": campaign_id, "schedule_id": schedule_id, "schedule": BrazeHook.schedule_object(schedule)}

    @refused_as_braze_error
    def delete_campaign_schedule(
        self,
        *,
        campaign_id: str,
        schedule_id: str,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /campaigns/trigger/schedule/delete``: cancel a scheduled campaign.

        :param campaign_id: the campaign the schedule belongs to.
        :param schedule_id: the schedule to cancel.
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        return self._post(
            ep.DELETE_CAMPAIGN_SCHEDULE,
            self.delete_campaign_schedule_body(campaign_id=campaign_id, schedule_id=schedule_id),
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @staticmethod
    def delete_campaign_schedule_body(*, campaign_id: str, schedule_id: str) -> JSONDict:
        """The body of ``POST /campaigns/trigger/schedule/delete``.

        :param campaign_id: the campaign the schedule belongs to.
        :param schedule_id: the schedule to cancel.
        """
        _check_ids(campaign_id=campaign_id, schedule_id=schedule_id)
        return {"campaign_id": campaign_id, "schedule_id": schedule_id}

    @refused_as_braze_error
    def create_canvas_schedule(
        self,
        *,
        canvas_id: str,
        schedule: ScheduleArgument,
        recipients: Sequence[Mapping[str, Any]] | None = None,
        audience: Mapping[str, Any] | None = None,
        broadcast: bool | None = None,
        context: Mapping[str, Any] | None = None,
        canvas_entry_properties: Mapping[str, Any] | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /canvas/trigger/schedule/create``: schedule an API-triggered Canvas.

        The body is built and validated by :meth:`trigger_shared_body` and :meth:`batch_body`.

        :param canvas_id: the API-triggered Canvas.
        :param schedule: Braze's schedule object (``time``, ``in_local_time``, ``at_optimal_time``), an aware
            datetime or an ISO string; validated and normalised by :meth:`schedule_object`.
        :param recipients: recipient objects (up to 50).
        :param audience: a connected audience filter.
        :param broadcast: enter the Canvas's whole audience (explicit opt-in).
        :param context: entry properties every recipient shares.
        :param canvas_entry_properties: the older name of ``context``, sent under that name (give one).
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        _check_schedule_given(schedule)
        shared = self.trigger_shared_body(
            id_field="canvas_id",
            id_value=canvas_id,
            listed=recipients is not None,
            **canvas_properties(context, canvas_entry_properties),
            broadcast=broadcast,
            audience=audience,
            schedule=schedule,
        )
        body = shared if recipients is None else self.batch_body(shared, recipients, users_style=False)
        return self._post(
            ep.CREATE_CANVAS_SCHEDULE,
            body,
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @refused_as_braze_error
    def update_canvas_schedule(
        self,
        *,
        canvas_id: str,
        schedule_id: str,
        schedule: ScheduleArgument,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /canvas/trigger/schedule/update``: replace a Canvas schedule entirely.

        :param canvas_id: the Canvas the schedule belongs to.
        :param schedule_id: the schedule to update.
        :param schedule: the new schedule (validated and normalised by :meth:`schedule_object`).
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        return self._post(
            ep.UPDATE_CANVAS_SCHEDULE,
            self.update_canvas_schedule_body(canvas_id=canvas_id, schedule_id=schedule_id, schedule=schedule),
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @staticmethod
    def update_canvas_schedule_body(*, canvas_id: str, schedule_id: str, schedule: ScheduleArgument) -> JSONDict:
        """The body of ``POST /canvas/trigger/schedule/update``.

        :param canvas_id: the Canvas the schedule belongs to.
        :param schedule_id: the schedule to update.
        :param schedule: the new schedule (validated and normalised by :meth:`schedule_object`).
        """
        _check_ids(canvas_id=canvas_id, schedule_id=schedule_id)
        return {"canvas_id": canvas_id, "schedule_id": schedule_id, "schedule": BrazeHook.schedule_object(schedule)}

    @refused_as_braze_error
    def delete_canvas_schedule(
        self,
        *,
        canvas_id: str,
        schedule_id: str,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /canvas/trigger/schedule/delete``: cancel a scheduled Canvas.

        :param canvas_id: the Canvas the schedule belongs to.
        :param schedule_id: the schedule to cancel.
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        return self._post(
            ep.DELETE_CANVAS_SCHEDULE,
            self.delete_canvas_schedule_body(canvas_id=canvas_id, schedule_id=schedule_id),
            retry_unknown_outcome=retry_unknown_outcome,
            cancel=cancel,
            before_send=before_send,
        )

    @staticmethod
    def delete_canvas_schedule_body(*, canvas_id: str, schedule_id: str) -> JSONDict:
        """The body of ``POST /canvas/trigger/schedule/delete``.

        :param canvas_id: the Canvas the schedule belongs to.
        :param schedule_id: the schedule to cancel.
        """
        _check_ids(canvas_id=canvas_id, schedule_id=schedule_id)
        return {"canvas_id": canvas_id, "schedule_id": schedule_id}

    # -- send ids and scheduled broadcasts --------------------------------------------------

    @refused_as_braze_error
    def create_send_id(
        self,
        *,
        campaign_id: str,
        send_id: str | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /sends/id/create``: create a send id for analytics (100 a day per workspace).

        :param campaign_id: the campaign the send id belongs to.
        :param send_id: the send id to create (Braze makes one when None).
        :param retry_unknown_outcome: see :meth:`request`.
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        body = self.create_send_id_body(campaign_id=campaign_id, send_id=send_id)
        return self._post(
            ep.CREATE_SEND_ID, body, retry_unknown_outcome=retry_unknown_outcome, cancel=cancel, before_send=before_send
        )

    @staticmethod
    def create_send_id_body(*, campaign_id: str, send_id: str | None = None) -> JSONDict:
        """The body of ``POST /sends/id/create`` (pure, no connection).

        :param campaign_id: the campaign the send id belongs to.
        :param send_id: the send id to create; left out when empty.
        """
        from airflow_provider_braze.client import payload_validation as pv

        pv.check_required_id(campaign_id, "campaign_id")
        pv.check_send_id(send_id or None)
        return compact(campaign_id=campaign_id, send_id=send_id or None)

    def get_scheduled_broadcasts(self, *, end_time: datetime | str) -> BrazeResponse:
        """``GET /messages/scheduled_broadcasts``: dashboard-scheduled campaigns and Canvases.

        :param end_time: list broadcasts due before this time (Braze treats it as midnight UTC of
            its date); a datetime or an ISO 8601 string.
        """
        return self.request(
            ep.SCHEDULED_BROADCASTS.method,
            ep.SCHEDULED_BROADCASTS.path,
            params={"end_time": format_end_time(end_time)},
        )

    # -- Cloud Data Ingestion -------------------------------------------------------------------

    def list_cdi_integrations(self, *, max_pages: int = 100) -> list[dict[str, Any]]:
        """``GET /cdi/integrations``, following the ``Link: rel="next"`` pages (10 per page).

        :param max_pages: stop after this many pages.
        """
        integrations: list[dict[str, Any]] = []
        path: str | None = ep.CDI_INTEGRATIONS.path
        for _ in range(max_pages):
            if path is None:
                break
            response = self.request("GET", path)
            integrations.extend(response.get("results") or [])
            path = response.links.get("next")
        return integrations

    def trigger_cdi_sync(self, *, integration_id: str) -> BrazeResponse:
        """``POST /cdi/integrations/{integration_id}/sync``: start a sync (202; Braze returns no run id).

        :param integration_id: the CDI integration.
        :raises BrazeCDIJobInProgressError: when a sync of the integration is already running.
        """
        return self.request("POST", cdi_path(ep.CDI_SYNC, integration_id))

    def get_cdi_job_sync_status(self, *, integration_id: str, cursor: str | None = None) -> BrazeResponse:
        """``GET /cdi/integrations/{integration_id}/job_sync_status``: one page (10) of its runs.

        :param cursor: the opaque cursor of a ``Link`` URL, for later pages.
        :param integration_id: the CDI integration.
        """
        return self.request(
            "GET", cdi_path(ep.CDI_JOB_SYNC_STATUS, integration_id), params={"cursor": cursor} if cursor else None
        )

    # -- transactional email ----------------------------------------------------------------

    @staticmethod
    def transactional_shared_body(*, trigger_properties: Mapping[str, Any] | None = None) -> JSONDict:
        """What every email of a transactional send shares, validated (pure, no connection).

        :param trigger_properties: personalisation for every email (each recipient's own win).
        :raises PayloadRuleError: naming the field and the rule, before any request.
        """
        from airflow_provider_braze.client import payload_validation as pv

        pv.check_properties(trigger_properties, "trigger_properties")
        body: JSONDict = {"trigger_properties": dict(trigger_properties)} if trigger_properties else {}
        pv.check_finite(body, "body")
        return body

    @staticmethod
    def transactional_email_arguments(shared: Mapping[str, Any], item: Mapping[str, Any]) -> JSONDict:
        """The :meth:`send_transactional_email` arguments (and :meth:`transactional_email_body`'s) of one
        recipient of a transactional send: its identifier and attributes, its ``external_send_id``, and
        the shared ``trigger_properties`` merged under its own.

        :param shared: from :meth:`transactional_shared_body`.
        :param item: the recipient object, with its ``external_send_id``.
        """
        from airflow_provider_braze.client.transactional import TRANSACTIONAL_RECIPIENT_KEYS

        properties = {**(shared.get("trigger_properties") or {}), **(item.get("trigger_properties") or {})}
        return {
            "recipient": {k: v for k, v in item.items() if k in TRANSACTIONAL_RECIPIENT_KEYS},
            "external_send_id": item["external_send_id"],
            "trigger_properties": properties or None,
        }

    @staticmethod
    def transactional_email_body(
        *,
        recipient: Mapping[str, Any],
        external_send_id: str | None = None,
        trigger_properties: Mapping[str, Any] | None = None,
    ) -> JSONDict:
        """The body of ``POST /transactional/v1/campaigns/{campaign_id}/send`` (pure, no connection).

        :param recipient: ``{"external_user_id"}`` or ``{"user_alias"}``, optional ``attributes``.
        :param external_send_id: Braze's 24-hour de-duplication key of this email.
        :param trigger_properties: personalisation for the email; left out when None.
        """
        body = compact(external_send_id=external_send_id, trigger_properties=trigger_properties)
        body["recipient"] = dict(recipient)
        return body

    @refused_as_braze_error
    def send_transactional_email(
        self,
        *,
        campaign_id: str,
        recipient: Mapping[str, Any],
        external_send_id: str | None = None,
        trigger_properties: Mapping[str, Any] | None = None,
        retry_unknown_outcome: bool | None = None,
        cancel: threading.Event | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> BrazeResponse:
        """``POST /transactional/v1/campaigns/{campaign_id}/send``: one email to one recipient.

        Braze's answer to an ``external_send_id`` it saw in the last 24 hours ("The external reference
        has been queued") is returned as an acceptance (``queued`` and ``get("deduplicated")`` true),
        not raised: the email was already sent; :attr:`deduplicated` counts them. Give an ``external_send_id`` (see
        :func:`~airflow_provider_braze.engine.transactional_plan.derive_external_send_id`) to make repeats safe.

        :param recipient: ``{"external_user_id"}`` or ``{"user_alias"}``, optional ``attributes``.
        :param campaign_id: the Transactional Email campaign.
        :param external_send_id: Braze's 24-hour de-duplication key of this email.
        :param trigger_properties: personalisation for the email.
        :param retry_unknown_outcome: retry after a timeout/500/504 (safe with an ``external_send_id``).
        :param cancel: see :meth:`request`.
        :param before_send: see :meth:`request`.
        """
        from airflow_provider_braze.client.transactional import already_queued_response, check_external_send_id

        if external_send_id is not None:
            check_external_send_id(external_send_id)
        body = self.transactional_email_body(
            recipient=recipient, external_send_id=external_send_id, trigger_properties=trigger_properties
        )
        path = ep.transactional_path(campaign_id)
        try:
            return self.request(
                "POST",
                path,
                json=body,
                retry_unknown_outcome=retry_unknown_outcome,
                cancel=cancel,
                before_send=before_send,
            )
        except BrazeAPIError as error:
            accepted = already_queued_response(error)
            if accepted is None:
                raise
            with self._retries_lock:
                self.deduplicated += 1
            self.log.debug("Braze %s: already sent within 24 h (external_send_id de-duplicated)", path)
            return accepted

    # -- analytics exports ------------------------------------------------------------------

    def _get(self, endpoint: ep.Endpoint, params: Mapping[str, Any]) -> BrazeResponse:
        query = {k: _query_value(v) for k, v in params.items() if v is not None}
        return self.request(endpoint.method, endpoint.path, params=query)

    def get_send_data_series(
        self, *, campaign_id: str, send_id: str, length: int, ending_at: datetime | str | None = None
    ) -> BrazeResponse:
        """``GET /sends/data_series``: daily stats of one send id (Braze keeps them 14 days).

        :param length: days before ``ending_at`` (1-100).
        :param ending_at: the last day (default: now).
        :param campaign_id: the campaign of the send.
        :param send_id: the send id.
        """
        return self._get(
            ep.SEND_DATA_SERIES,
            {"campaign_id": campaign_id, "send_id": send_id, "length": length, "ending_at": ending_at},
        )

    def get_campaign_data_series(
        self, *, campaign_id: str, length: int, ending_at: datetime | str | None = None
    ) -> BrazeResponse:
        """``GET /campaigns/data_series``: daily stats per channel and variation (``length`` 1-100).

        :param campaign_id: the campaign.
        :param length: days before ``ending_at`` (1-100).
        :param ending_at: the last day (default: now).
        """
        return self._get(
            ep.CAMPAIGN_DATA_SERIES, {"campaign_id": campaign_id, "length": length, "ending_at": ending_at}
        )

    def get_canvas_data_series(
        self,
        *,
        canvas_id: str,
        ending_at: datetime | str,
        length: int | None = None,
        starting_at: datetime | str | None = None,
        include_variant_breakdown: bool = True,
        include_step_breakdown: bool = True,
        include_deleted_step_data: bool = True,
    ) -> BrazeResponse:
        """``GET /canvas/data_series``: daily Canvas stats (give ``length`` 1-14 or ``starting_at``).

        :param canvas_id: the Canvas.
        :param ending_at: the last day.
        :param length: days before ``ending_at`` (1-14); or give ``starting_at``.
        :param starting_at: the first day, instead of ``length``.
        :param include_variant_breakdown: include the stats per variant.
        :param include_step_breakdown: include the stats per step.
        :param include_deleted_step_data: include the stats of deleted steps.
        """
        return self._get(
            ep.CANVAS_DATA_SERIES,
            {
                "canvas_id": canvas_id,
                "ending_at": ending_at,
                "length": length,
                "starting_at": starting_at,
                "include_variant_breakdown": include_variant_breakdown,
                "include_step_breakdown": include_step_breakdown,
                "include_deleted_step_data": include_deleted_step_data,
            },
        )

    def _list(self, endpoint: ep.Endpoint, key: str, include_archived: bool, max_pages: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(max_pages):
            found = self._get(endpoint, {"page": page, "include_archived": include_archived}).get(key) or []
            items.extend(found)
            if len(found) < 100:  # 100 per page; Braze gives no cursor or total
                break
        return items

    def list_campaigns(self, *, include_archived: bool = False, max_pages: int = 100) -> list[dict[str, Any]]:
        """``GET /campaigns/list``, every page (``[{"id", "name", "last_edited", "is_api_campaign", "tags"}]``).

        :param include_archived: list archived campaigns too.
        :param max_pages: read at most this many pages of 100.
        """
        return self._list(ep.CAMPAIGN_LIST, "campaigns", include_archived, max_pages)

    def list_canvases(self, *, include_archived: bool = False, max_pages: int = 100) -> list[dict[str, Any]]:
        """``GET /canvas/list``, every page (``[{"id", "name", "last_edited", "tags"}]``).

        :param include_archived: list archived Canvases too.
        :param max_pages: read at most this many pages of 100.
        """
        return self._list(ep.CANVAS_LIST, "canvases", include_archived, max_pages)

    def get_campaign_details(self, *, campaign_id: str) -> BrazeResponse:
        """``GET /campaigns/details``: name, state, channels, message variations.

        :param campaign_id: the campaign.
        """
        return self._get(ep.CAMPAIGN_DETAILS, {"campaign_id": campaign_id})

    def get_canvas_details(self, *, canvas_id: str) -> BrazeResponse:
        """``GET /canvas/details``: name, state, variants, steps.

        :param canvas_id: the Canvas.
        """
        return self._get(ep.CANVAS_DETAILS, {"canvas_id": canvas_id})

    # -- user export ------------------------------------------------------------------------

    def export_users_by_ids(
        self,
        *,
        external_ids: Sequence[str],
        fields_to_export: Sequence[str] | None = None,
        cancel: threading.Event | None = None,
    ) -> BrazeResponse:
        """``POST /users/export/ids``: the profiles of up to 50 users by ``external_id`` (read-only).

        The answer holds ``users`` (one object per known user, only the fields asked for) and
        ``invalid_user_ids`` (the ids Braze does not know). A timeout is retried (nothing is sent).

        :param external_ids: 1 to 50 non-empty external ids.
        :param fields_to_export: the fields to export (see ``endpoints.USERS_EXPORT_FIELDS``); Braze
            exports every field without it, which is slow: name the ones you need.
        :param cancel: once set, no further attempt is made (see :meth:`request`).
        :raises BrazeValidationError: for a bad argument, before any request.
        """
        from airflow_provider_braze.exceptions import BrazeValidationError

        ids = [external_ids] if isinstance(external_ids, str) else list(external_ids)
        if not 1 <= len(ids) <= ep.USERS_EXPORT_MAX_IDS:
            raise BrazeValidationError("external_ids", f"must list 1 to {ep.USERS_EXPORT_MAX_IDS} ids (got {len(ids)})")
        for index, value in enumerate(ids):
            if not isinstance(value, str) or not value.strip():
                raise BrazeValidationError(f"external_ids[{index}]", "must be a non-empty string")
        body: JSONDict = {"external_ids": ids}
        if fields_to_export is not None:
            fields = [fields_to_export] if isinstance(fields_to_export, str) else list(fields_to_export)
            unknown = [f for f in fields if f not in ep.USERS_EXPORT_FIELDS]
            if not fields or unknown:
                raise BrazeValidationError(
                    "fields_to_export",
                    f"must list fields of {', '.join(ep.USERS_EXPORT_FIELDS)}"
                    + (f" (unknown: {', '.join(map(str, unknown))})" if unknown else " (got none)"),
                )
            body["fields_to_export"] = fields
        endpoint = ep.USERS_EXPORT_IDS
        return self.request(endpoint.method, endpoint.path, json=body, retry_unknown_outcome=True, cancel=cancel)

    # -- connection test --------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Make a cheap read-only call and turn the answer into advice for the UI and CLI."""
        try:
            params = self.params
        except BrazeConfigurationError as err:
            return False, str(err)
        probe = BrazeHook(
            self.braze_conn_id, settings={**self._settings_overrides, "max_retries": 1, "retry_deadline": 30}
        )
        try:
            probe.get_scheduled_broadcasts(end_time=datetime.now(timezone.utc) + timedelta(days=1))
        except BrazeAuthenticationError:
            return False, advice_for_status(401, ep.SCHEDULED_BROADCASTS.path, params) + "."
        except BrazePermissionError:
            return False, (
                "The REST API key is valid but lacks the 'messages.schedule_broadcasts' permission, which "
                "the connection test and BrazeScheduledBroadcastSensor use. Sends may still work if the "
                "key has their permissions (messages.send, campaigns.trigger.send, canvas.trigger.send, "
                "the schedule permissions, sends.id.create)."
            )
        except BrazeError as err:
            return False, str(err)
        finally:
            probe.close()
        return True, f"Connected to Braze {params.instance_label}: the REST API key is valid."


def _check_ids(**ids: Any) -> None:
    """Each identifier is a non-empty string (raises PayloadRuleError naming it), before any request."""
    from airflow_provider_braze.client import payload_validation as pv

    for name, value in ids.items():
        pv.check_required_id(value, name)


def _check_schedule_given(schedule: Any) -> None:
    """A schedule create's ``schedule`` is given (None would build a body without one)."""
    from airflow_provider_braze.client import payload_validation as pv

    if schedule is None:
        raise pv.PayloadRuleError("schedule", "is required (a schedule object with a time)")


def given(value: Any) -> Any:
    """An optional argument as given: None and ``""`` (an unset template) mean "not given"; anything
    else is kept for the checks (``[]`` or ``0`` are not silently dropped)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def canvas_properties(context: Mapping[str, Any] | None, canvas_entry_properties: Mapping[str, Any] | None) -> JSONDict:
    """A Canvas trigger's shared properties as :meth:`BrazeHook.trigger_shared_body` arguments: ``context``,
    or ``canvas_entry_properties`` (its older name) under its own name; never both."""
    from airflow_provider_braze.client import payload_validation as pv

    if context is not None and canvas_entry_properties is not None:
        raise pv.PayloadRuleError("canvas_entry_properties", "is the older name of context: give only one of them")
    if canvas_entry_properties is not None:
        return {"properties_field": "canvas_entry_properties", "properties": canvas_entry_properties}
    return {"properties_field": "context", "properties": context}


def endpoint_campaign_id(path: str) -> str:
    """The campaign id of a transactional send's path (``/transactional/v1/campaigns/{id}/send``)."""
    from urllib.parse import unquote

    return unquote(path.split("/")[4])


#: The hook method that sends one request of a data-driven send, per endpoint.
_BATCH_METHODS: dict[ep.Endpoint, str] = {
    ep.SEND_MESSAGE: "send_message",
    ep.TRIGGER_CAMPAIGN: "trigger_campaign",
    ep.TRIGGER_CANVAS: "trigger_canvas",
    ep.CREATE_MESSAGE_SCHEDULE: "create_message_schedule",
    ep.UPDATE_MESSAGE_SCHEDULE: "update_message_schedule",
    ep.DELETE_MESSAGE_SCHEDULE: "delete_message_schedule",
    ep.CREATE_CAMPAIGN_SCHEDULE: "create_campaign_schedule",
    ep.UPDATE_CAMPAIGN_SCHEDULE: "update_campaign_schedule",
    ep.DELETE_CAMPAIGN_SCHEDULE: "delete_campaign_schedule",
    ep.CREATE_CANVAS_SCHEDULE: "create_canvas_schedule",
    ep.UPDATE_CANVAS_SCHEDULE: "update_canvas_schedule",
    ep.DELETE_CANVAS_SCHEDULE: "delete_canvas_schedule",
    ep.CREATE_SEND_ID: "create_send_id",
    ep.TRANSACTIONAL_EMAIL: "send_transactional_email",
}
#: Endpoints listing users as ``external_user_ids``/``user_aliases`` rather than ``recipients``.
_USERS_ENDPOINTS = (ep.SEND_MESSAGE, ep.CREATE_MESSAGE_SCHEDULE)


def cdi_path(endpoint: ep.Endpoint, integration_id: str) -> str:
    """The concrete path of a CDI endpoint for one integration (the id is URL-quoted)."""
    if not isinstance(integration_id, str) or not integration_id.strip():
        raise BrazeConfigurationError("integration_id: is required and must be a non-empty string")
    return endpoint.path.replace("{integration_id}", quote(integration_id.strip(), safe=""))


def format_end_time(end_time: datetime | str) -> str:
    """Format ``end_time`` for ``/messages/scheduled_broadcasts`` (ISO 8601, UTC for aware times)."""
    if isinstance(end_time, str):
        return end_time
    if end_time.tzinfo is not None:
        end_time = end_time.astimezone(timezone.utc)
        return end_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return end_time.strftime("%Y-%m-%dT%H:%M:%S")


def _query_value(value: Any) -> str:
    """A query parameter as Braze reads it: ISO 8601 UTC times, ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value.tzinfo else value.strftime("%Y-%m-%dT%H:%M:%S")
    return str(value)
