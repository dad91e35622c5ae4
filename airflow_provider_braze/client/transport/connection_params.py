"""What a Braze connection resolves to: REST base URL, API key, instance and client settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_braze import __version__
from airflow_provider_braze.client.instances import (
    BrazeEndpointError,
    BrazeInstance,
    instance_for_url,
    resolve_rest_endpoint,
)
from airflow_provider_braze.client.transport.settings import BrazeClientSettings, BrazeSettingsError
from airflow_provider_braze.exceptions import BrazeConfigurationError

USER_AGENT = f"airflow-provider-braze-messaging/{__version__}"


class ConnectionFields(Protocol):
    """The fields of an Airflow ``Connection`` a Braze connection is read from."""

    host: str | None
    port: int | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The extras as a dict."""


@dataclass(frozen=True)
class BrazeConnectionParams:
    """A resolved Braze connection.

    :param conn_id: the Airflow connection id.
    :param base_url: the REST endpoint, without a trailing slash.
    :param api_key: the REST API key (never logged, never put in errors).
    :param instance: the Braze instance of ``base_url``, or None (sandbox, proxy).
    :param settings: transport settings from the extras, with overrides applied.
    """

    conn_id: str
    base_url: str
    api_key: str
    instance: BrazeInstance | None
    settings: BrazeClientSettings

    def __repr__(self) -> str:  # keep the key out of reprs and tracebacks
        return f"BrazeConnectionParams(conn_id={self.conn_id!r}, base_url={self.base_url!r})"

    @property
    def instance_label(self) -> str:
        """``US-05 (https://rest.iad-05.braze.com)``, or just the URL when the instance is unknown."""
        return f"{self.instance.name} ({self.base_url})" if self.instance else self.base_url

    def headers(self) -> dict[str, str]:
        """The headers every request carries besides the key: JSON and our User-Agent."""
        return {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }


def params_from_connection(
    conn: ConnectionFields, *, conn_id: str, overrides: Mapping[str, Any] | None = None
) -> BrazeConnectionParams:
    """Resolve an Airflow connection (the sync and the async hook read theirs through this).

    :param conn: the connection (host, port, password, extras).
    :param conn_id: its id, for errors.
    :param overrides: settings that take precedence over the extras (e.g. a shard's ``rate_share``).
    :raises BrazeConfigurationError: naming the connection and what is wrong.
    """
    return resolve_connection_params(
        conn_id=conn_id,
        host=conn.host,
        port=conn.port,
        password=conn.password,
        extras=conn.extra_dejson,
        overrides=overrides,
    )


def resolve_connection_params(
    *,
    conn_id: str,
    host: str | None,
    port: int | None,
    password: str | None,
    extras: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> BrazeConnectionParams:
    """Resolve an Airflow connection's fields, or raise :class:`BrazeConfigurationError`."""
    try:
        base_url = resolve_rest_endpoint(host, port=port)
    except BrazeEndpointError as err:
        raise BrazeConfigurationError(f"Connection '{conn_id}': {err}") from None
    api_key = (password or "").strip()
    if not api_key:
        raise BrazeConfigurationError(
            f"Connection '{conn_id}' has no REST API key: put the key in the connection's password "
            "field (labelled 'REST API key' in the UI)."
        )
    # Airflow 2 forms may store custom fields as ``extra__braze__<name>``.
    plain = {key.removeprefix("extra__braze__"): value for key, value in extras.items()}
    try:
        settings = BrazeClientSettings.from_extras({**plain, **(overrides or {})})
    except BrazeSettingsError as err:
        raise BrazeConfigurationError(f"Connection '{conn_id}': {err}") from None
    return BrazeConnectionParams(
        conn_id=conn_id,
        base_url=base_url,
        api_key=api_key,
        instance=instance_for_url(base_url),
        settings=settings,
    )
