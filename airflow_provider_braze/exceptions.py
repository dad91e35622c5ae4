"""Errors raised by the Braze provider.

Every error names the endpoint and Braze's own ``message``/``errors``; none carries the API key,
request headers or the request body (which holds recipient data).
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.providers.common.compat.sdk import AirflowException


class BrazeError(AirflowException):
    """Base class of every error raised by this provider."""


class BrazeConfigurationError(BrazeError, ValueError):
    """The Braze connection or a client setting is unusable (host, key, extras)."""


class BrazeValidationError(BrazeError, ValueError):
    """A request was refused before sending because a field breaks one of Braze's rules.

    :param field: the offending field, as a dotted path (``recipients[3].external_user_id``).
    :param rule: the rule it breaks, in words.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class BrazeAPIError(BrazeError):
    """Braze answered with an error status.

    :param status: the HTTP status code.
    :param method: the HTTP method.
    :param endpoint: the endpoint path, e.g. ``/campaigns/trigger/send``.
    :param message: Braze's ``message`` field (or a description when the body had none).
    :param errors: Braze's ``errors`` list, if any.
    """

    #: True when Braze may have processed the request although an error came back.
    outcome_unknown = False

    def __init__(
        self,
        *,
        status: int,
        method: str,
        endpoint: str,
        message: str,
        errors: Sequence[object] = (),
        advice: str = "",
    ) -> None:
        self.status = status
        self.method = method
        self.endpoint = endpoint
        self.message = message
        self.errors = list(errors)
        self.advice = advice
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"Braze {self.method} {self.endpoint} failed with HTTP {self.status}: {self.message}"
        if self.errors:
            shown = "; ".join(str(e) for e in self.errors[:5])
            more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
            text += f" (errors: {shown}{more})"
        if self.advice:
            text += f". {self.advice}"
        return text


class BrazeBadRequestError(BrazeAPIError):
    """HTTP 400: Braze refused the payload; nothing was sent."""


class BrazeAuthenticationError(BrazeAPIError):
    """HTTP 401: wrong key, or a key from another instance or workspace."""


class BrazePermissionError(BrazeAPIError):
    """HTTP 403: the key lacks the endpoint's permission, or the plan lacks the feature."""


class BrazeNotFoundError(BrazeAPIError):
    """HTTP 404: the URL is wrong (check the REST endpoint)."""


class BrazePayloadTooLargeError(BrazeAPIError):
    """HTTP 413: the request body is over Braze's size limit."""


class BrazeUnsupportedMediaTypeError(BrazeAPIError):
    """HTTP 415: missing or wrong ``Content-Type``."""


class BrazeRateLimitError(BrazeAPIError):
    """HTTP 429 that could not be waited out within the retry deadline.

    :param reset_at: the ``X-RateLimit-Reset`` epoch seconds, if Braze sent one.
    """

    def __init__(self, *, reset_at: float | None = None, **kwargs: object) -> None:
        self.reset_at = reset_at
        super().__init__(**kwargs)  # type: ignore[arg-type]


class BrazeCDIJobInProgressError(BrazeAPIError):
    """HTTP 429 "Another job is in progress": a CDI sync of the integration is already running.

    Not a rate limit: waiting for ``X-RateLimit-Reset`` does not help; wait for the running job.
    """


class BrazeClientError(BrazeAPIError):
    """Any other 4xx status."""


class BrazeServerError(BrazeAPIError):
    """HTTP 5xx that was not retried successfully."""


class BrazeUnknownOutcomeError(BrazeServerError):
    """The request was sent but no usable answer came back (read timeout, dropped connection, a TLS
    error while reading, any 5xx other than 502/503).

    Braze may have processed it: the message may have been sent. It is not retried by default,
    because Braze's messaging endpoints have no idempotency key and a retry could send twice.
    """

    outcome_unknown = True


class BrazeInvalidResponseError(BrazeAPIError):
    """Braze (or a gateway in front of it) answered with a body that is not Braze JSON."""


class BrazeTransportError(BrazeError):
    """The request could not be delivered to Braze (connection refused, DNS, TLS).

    Raised only when the request certainly did not reach Braze, after retries ran out.
    """


class BrazeCDISyncError(BrazeError):
    """A Cloud Data Ingestion sync failed, could not be found, or did not finish in time."""


class BrazeBroadcastWaitError(BrazeError):
    """Waiting for a scheduled broadcast failed: it left the list, or its wait could not go on."""


_BY_STATUS: dict[int, type[BrazeAPIError]] = {
    400: BrazeBadRequestError,
    401: BrazeAuthenticationError,
    403: BrazePermissionError,
    404: BrazeNotFoundError,
    413: BrazePayloadTooLargeError,
    415: BrazeUnsupportedMediaTypeError,
    429: BrazeRateLimitError,
}


def error_class_for_status(status: int) -> type[BrazeAPIError]:
    """Return the :class:`BrazeAPIError` subclass for an HTTP status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return BrazeServerError
    return BrazeClientError
