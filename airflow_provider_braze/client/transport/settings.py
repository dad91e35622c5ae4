"""Client settings of a Braze connection, read from the connection's extras.

Every extra is optional; values may be strings (URI-form connections), and are coerced here.
A bad value raises an error naming the extra and the rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class BrazeSettingsError(ValueError):
    """A connection extra has a value the client cannot use."""


@dataclass(frozen=True)
class BrazeClientSettings:
    """Transport settings; each is also a connection extra of the same name.

    :param timeout: seconds to wait for Braze's answer once a request is sent (read timeout).
    :param connect_timeout: seconds to wait for a TCP/TLS connection.
    :param max_retries: retries of one request after its first attempt (429, 502, 503, refused
        connections).
    :param retry_deadline: seconds one request may spend in total, waits included.
    :param backoff_base: first backoff delay in seconds; doubles per retry, with full jitter.
    :param backoff_max: largest single backoff delay in seconds.
    :param retry_unknown_outcome: retry requests whose outcome is unknown (read timeout, 500, 504
        after sending). Off by default: Braze has no idempotency key, so a retry may send twice.
    :param max_concurrency: a fixed number of concurrent requests of one batched send. Unset (the
        default), a send adapts: it measures Braze's latency and keeps rate x latency in flight.
    :param concurrency_cap: the most requests one adaptive send keeps in flight; also the size of
        the HTTP pool. Default: enough for ``requests_per_hour`` at 1 s latency, with headroom (95
        for Braze's default 250,000/hour), at most 256.
    :param requests_per_hour: the shared hourly budget (Braze default 250,000).
    :param broadcast_requests_per_minute: the budget of segment/audience sends (Braze default 250).
    :param cdi_list_requests_per_minute: ``GET /cdi/integrations`` budget (Braze default 50).
    :param cdi_sync_requests_per_minute: CDI sync trigger budget (Braze default 20).
    :param cdi_status_requests_per_minute: CDI ``job_sync_status`` budget (Braze default 100).
    """

    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_retries: int = 5
    retry_deadline: float = 300.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_unknown_outcome: bool = False
    max_concurrency: int | None = None
    concurrency_cap: int | None = None
    requests_per_hour: int = 250_000
    broadcast_requests_per_minute: int = 250
    cdi_list_requests_per_minute: int = 50
    cdi_sync_requests_per_minute: int = 20
    cdi_status_requests_per_minute: int = 100

    @classmethod
    def from_extras(cls, extras: Mapping[str, Any]) -> BrazeClientSettings:
        """Build settings from connection extras, ignoring unrelated keys.

        :param extras: the connection's ``extra_dejson`` (and any overrides).
        """
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in extras or extras[field.name] in (None, ""):
                continue
            values[field.name] = _coerce(field.name, field.type, extras[field.name])
        settings = cls(**values)
        settings._check()
        return settings

    @property
    def in_flight_cap(self) -> int:
        """``concurrency_cap``, or what ``requests_per_hour`` needs at 1 s latency (+25%, +8; at most 256)."""
        if self.concurrency_cap is not None:
            return self.concurrency_cap
        return min(256, math.ceil(self.requests_per_hour / 3600.0 * 1.25) + 8)

    def _check(self) -> None:
        for name in ("timeout", "connect_timeout", "retry_deadline", "backoff_base", "backoff_max"):
            if getattr(self, name) <= 0:
                raise BrazeSettingsError(f"Braze connection extra '{name}' must be a positive number of seconds")
        if self.max_retries < 0:
            raise BrazeSettingsError("Braze connection extra 'max_retries' must be 0 or more")
        for name in (
            "max_concurrency",
            "concurrency_cap",
            "requests_per_hour",
            "broadcast_requests_per_minute",
            "cdi_list_requests_per_minute",
            "cdi_sync_requests_per_minute",
            "cdi_status_requests_per_minute",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise BrazeSettingsError(f"Braze connection extra '{name}' must be 1 or more")


def _coerce(name: str, kind: Any, value: Any) -> Any:
    kind_name = kind if isinstance(kind, str) else kind.__name__
    kind_name = kind_name.removesuffix(" | None")
    try:
        if kind_name == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if kind_name == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(str(value).strip()) if not isinstance(value, (int, float)) else int(value)
        if kind_name == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
    except (TypeError, ValueError):
        expected = {"bool": "true or false", "int": "a whole number", "float": "a number"}[kind_name]
        raise BrazeSettingsError(f"Braze connection extra '{name}' must be {expected}, got {value!r}") from None
    raise AssertionError(f"unsupported setting type {kind_name}")  # pragma: no cover
