"""Braze's response envelope, turned into a result or an error.

* 2xx ``{"message": "success"}`` → :class:`BrazeResponse`;
* 202 ``{"message": "queued"}`` → accepted (``queued=True``), not an error;
* ``success`` with a non-empty ``errors`` list → partial success (``minor_errors``);
* 4xx/5xx → a :class:`~airflow_provider_braze.exceptions.BrazeAPIError` subclass;
* a 2xx body that is not JSON (a proxy's page after Braze processed the request) → accepted with
  ``unparsed_body=True`` for a POST (it happened), a clear error for a GET (there is nothing to read);
* a non-2xx body that is not JSON (a gateway's HTML page) → a clear error, never a ``JSONDecodeError``;
* every 5xx other than 502/503 on a POST → :class:`BrazeUnknownOutcomeError` ("may have been sent").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_braze.client.transport.rate_limit_headers import RateLimitInfo
from airflow_provider_braze.client.transport.retry_policy import FailedAttempt, Outcome, classify_status
from airflow_provider_braze.exceptions import (
    BrazeAPIError,
    BrazeCDIJobInProgressError,
    BrazeError,
    BrazeInvalidResponseError,
    BrazeRateLimitError,
    BrazeTransportError,
    BrazeUnknownOutcomeError,
    error_class_for_status,
)

_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class BrazeResponse:
    """A successful (2xx) Braze answer.

    :param status: the HTTP status (200, 201 or 202).
    :param endpoint: the endpoint path that answered.
    :param body: the parsed JSON body.
    :param rate_limit: the ``X-RateLimit-*`` headers of the response.
    :param attempts: how many attempts the request took.
    :param links: the ``Link`` header's URLs by ``rel`` (``next``, ``prev``), for paginated lists.
    :param date: the ``Date`` header: when Braze answered, on Braze's clock.
    :param unparsed_body: the 2xx body was not Braze JSON (e.g. a proxy's page): accepted, no ids.
    """

    status: int
    endpoint: str
    body: dict[str, Any]
    rate_limit: RateLimitInfo = field(default_factory=RateLimitInfo)
    attempts: int = 1
    links: dict[str, str] = field(default_factory=dict)
    date: str | None = None
    unparsed_body: bool = False

    @property
    def message(self) -> str:
        """Braze's ``message`` (``success`` or ``queued``)."""
        return str(self.body.get("message", ""))

    @property
    def queued(self) -> bool:
        """True for 202 ``queued``: Braze accepted the request and will process it later."""
        return self.status == 202 or self.message == "queued"

    @property
    def minor_errors(self) -> list[Any]:
        """Braze's non-fatal ``errors``; messages not affected by them were still sent."""
        errors = self.body.get("errors") or []
        return list(errors) if isinstance(errors, list) else [errors]

    @property
    def dispatch_id(self) -> str | None:
        """The ``dispatch_id`` of a send or schedule."""
        return self.body.get("dispatch_id")

    @property
    def schedule_id(self) -> str | None:
        """The ``schedule_id`` of a created schedule."""
        return self.body.get("schedule_id")

    @property
    def send_id(self) -> str | None:
        """The ``send_id`` of ``/sends/id/create`` or of a tracked broadcast."""
        return self.body.get("send_id")

    @property
    def notice(self) -> str | None:
        """Braze's ``notice`` (e.g. the Canvas is paused and nothing will be sent)."""
        return self.body.get("notice")

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Return a field of the body."""
        return self.body.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """Return the body (a JSON-serialisable dict, fit for XCom)."""
        return dict(self.body)


def _snippet(text: str, limit: int = 120) -> str:
    cleaned = _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()
    return cleaned[:limit] + ("..." if len(cleaned) > limit else "")


def parse_body(text: str) -> dict[str, Any] | None:
    """Return the JSON object in ``text``, or None when it is not a JSON object."""
    try:
        body = json.loads(text) if text.strip() else {}
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def build_error(
    *,
    status: int,
    method: str,
    endpoint: str,
    headers: Mapping[str, str],
    text: str,
    advice: str = "",
) -> BrazeAPIError:
    """Turn a non-2xx answer into the matching :class:`BrazeAPIError` subclass."""
    body = parse_body(text)
    if body is None:
        kind = _content_type(headers) or "no content type"
        message = f"the answer was not Braze JSON ({kind}): {_snippet(text) or '<empty body>'}"
        errors: list[Any] = []
    else:
        message = str(body.get("message") or body.get("error") or "no message")
        raw_errors = body.get("errors") or []
        errors = list(raw_errors) if isinstance(raw_errors, list) else [raw_errors]
    if classify_status(status) is Outcome.UNKNOWN and method.upper() not in ("GET", "HEAD", "OPTIONS"):
        return BrazeUnknownOutcomeError(
            status=status,
            method=method,
            endpoint=endpoint,
            message=message,
            errors=errors,
            advice=advice
            or "Braze may have processed the request, so the message may have been sent; it was not retried",
        )
    if status == 429 and "another job is in progress" in message.lower():
        return BrazeCDIJobInProgressError(
            status=status, method=method, endpoint=endpoint, message=message, errors=errors, advice=advice
        )
    if status == 429:
        return BrazeRateLimitError(
            reset_at=RateLimitInfo.from_headers(headers).reset_at,
            status=status,
            method=method,
            endpoint=endpoint,
            message=message,
            errors=errors,
            advice=advice,
        )
    cls = error_class_for_status(status)
    return cls(status=status, method=method, endpoint=endpoint, message=message, errors=errors, advice=advice)


def parse_success(
    *, status: int, method: str, endpoint: str, headers: Mapping[str, str], text: str, attempts: int
) -> BrazeResponse:
    """Turn a 2xx answer into a :class:`BrazeResponse` (or an error if the body is unusable)."""
    body = parse_body(text)
    unparsed = body is None
    if unparsed and method.upper() not in ("GET", "HEAD", "OPTIONS"):
        body = {}  # any 2xx is an acceptance: Braze processed the request (a proxy rewrote the answer)
    if body is None:
        sent = "" if method.upper() == "GET" else " Braze accepted the request, so it may have been sent."
        raise BrazeInvalidResponseError(
            status=status,
            method=method,
            endpoint=endpoint,
            message=f"the answer was not Braze JSON ({_content_type(headers) or 'no content type'}): "
            f"{_snippet(text) or '<empty body>'}",
            advice=sent.strip(),
        )
    return BrazeResponse(
        status=status,
        endpoint=endpoint,
        body=body,
        rate_limit=RateLimitInfo.from_headers(headers),
        attempts=attempts,
        links=parse_link_header(headers),
        date=headers.get("Date"),
        unparsed_body=unparsed,
    )


def parse_link_header(headers: Mapping[str, str]) -> dict[str, str]:
    """``{"next": "/cdi/integrations?cursor=...", "prev": ...}`` from a ``Link`` header, URLs as sent.

    :param headers: the response's headers (case-insensitive, as requests or aiohttp give them).
    """
    from requests.utils import parse_header_links

    value = headers.get("Link")
    if not value:
        return {}
    return {link["rel"]: link["url"] for link in parse_header_links(value) if "rel" in link}


def failed_answer(
    *,
    status: int,
    method: str,
    endpoint: str,
    headers: Mapping[str, str],
    text: str,
    advice: str,
    reset_at: float | None,
) -> FailedAttempt:
    """A non-2xx answer as a failed attempt: its error and what it means for a retry.

    :param reset_at: the answer's ``X-RateLimit-Reset`` (for a 429).
    """
    error = build_error(status=status, method=method, endpoint=endpoint, headers=headers, text=text, advice=advice)
    return FailedAttempt(error, retry_outcome(status, error), reset_at)


def failed_transport(
    outcome: Outcome, exc: BaseException, method: str, endpoint: str, attempts: int, base_url: str
) -> FailedAttempt:
    """A request that got no HTTP answer as a failed attempt (the error names the exception's class only).

    :param outcome: the exception's classification (``classify_requests_exception`` or ``classify_aiohttp_exception``).
    """
    error = build_transport_error(
        reason=type(exc).__name__,
        outcome_unknown=outcome is Outcome.UNKNOWN,
        method=method,
        endpoint=endpoint,
        attempts=attempts,
        base_url=base_url,
    )
    return FailedAttempt(error, outcome)


def retry_outcome(status: int, error: BrazeAPIError) -> Outcome:
    """How the retry policy treats an error answer (a CDI "job in progress" 429 is not a rate limit)."""
    if isinstance(error, BrazeCDIJobInProgressError):
        return Outcome.FATAL
    return classify_status(status)


def _content_type(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Content-Type")
    return value.split(";")[0].strip() if value else None


def build_transport_error(
    *, reason: str, outcome_unknown: bool, method: str, endpoint: str, attempts: int, base_url: str
) -> BrazeError:
    """The error for a request that got no HTTP answer (refused, timed out, dropped).

    :param reason: the exception's class name (never its text, which may hold the URL's query).
    :param outcome_unknown: True when the request was sent before the failure.
    """
    if outcome_unknown and method.upper() not in ("GET", "HEAD", "OPTIONS"):
        return BrazeUnknownOutcomeError(
            status=0,
            method=method,
            endpoint=endpoint,
            message=f"no answer after the request was sent ({reason})",
            advice="Braze may have processed the request, so the message may have been sent; it was not "
            "retried, because Braze has no idempotency key",
        )
    return BrazeTransportError(
        f"Braze {method} {endpoint} could not be delivered to {base_url} after {attempts} attempt(s): {reason}"
    )
