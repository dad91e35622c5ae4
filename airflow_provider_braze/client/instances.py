"""Braze instances (clusters): turning what a user types into the REST endpoint to call.

The connection's host may be a full REST endpoint URL (``https://rest.iad-05.braze.com``) or an
instance name in either spelling Braze uses (``US-05`` or ``iad-05``, ``EU-02`` or ``fra-02``).
Dashboard and SDK hosts, unknown instances and plain ``http://`` to a non-loopback host are refused
with a message that says what to put instead. This module has no Airflow imports.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit


class BrazeEndpointError(ValueError):
    """The connection's host is not a usable Braze REST endpoint."""


@dataclass(frozen=True)
class BrazeInstance:
    """One Braze cluster.

    :param name: the instance name shown in Braze's docs, e.g. ``US-05``.
    :param cluster: the cluster part of the REST host, e.g. ``iad-05``.
    :param rest_url: the REST endpoint, e.g. ``https://rest.iad-05.braze.com``.
    :param dashboard_url: the dashboard the instance's users log in to.
    """

    name: str
    cluster: str
    rest_url: str
    dashboard_url: str


def _us(number: int) -> BrazeInstance:
    return BrazeInstance(
        name=f"US-{number:02d}",
        cluster=f"iad-{number:02d}",
        rest_url=f"https://rest.iad-{number:02d}.braze.com",
        dashboard_url=f"https://dashboard-{number:02d}.braze.com",
    )


def _regional(name: str, cluster: str, domain: str = "braze.com", dashboard: str | None = None) -> BrazeInstance:
    return BrazeInstance(
        name=name,
        cluster=cluster,
        rest_url=f"https://rest.{cluster}.{domain}",
        dashboard_url=dashboard or f"https://dashboard.{cluster}.{domain}",
    )


INSTANCES: tuple[BrazeInstance, ...] = (
    *(_us(n) for n in range(1, 9)),
    _regional("US-10", "us-10"),
    _regional("EU-01", "fra-01", "braze.eu", "https://dashboard-01.braze.eu"),
    _regional("EU-02", "fra-02", "braze.eu", "https://dashboard-02.braze.eu"),
    _regional("AU-01", "au-01"),
    _regional("ID-01", "id-01"),
    _regional("JP-01", "jp-01"),
    _regional("KR-01", "kr-01"),
)

#: Older docs named US-10's cluster ``iad-10``; accept that spelling as an alias.
_ALIASES = {"iad-10": "US-10"}

_BY_KEY: dict[str, BrazeInstance] = {}
for _instance in INSTANCES:
    _BY_KEY[_instance.name.lower()] = _instance
    _BY_KEY[_instance.cluster.lower()] = _instance
for _alias, _target in _ALIASES.items():
    _BY_KEY[_alias] = _BY_KEY[_target.lower()]

_REST_HOST = re.compile(r"^rest\.(?P<cluster>[a-z0-9-]+)\.braze\.(?P<tld>com|eu)$")
_DASHBOARD_HOST = re.compile(r"^dashboard(?:-(?P<num>\d+)|\.(?P<cluster>[a-z0-9-]+))\.braze\.(?P<tld>com|eu)$")
_SDK_HOST = re.compile(r"^sdk\.(?P<cluster>[a-z0-9-]+)\.braze\.(?P<tld>com|eu)$")


def known_instance_names() -> str:
    """Return the instance names, comma separated, for error messages."""
    return ", ".join(i.name for i in INSTANCES)


def instance_by_name(name: str) -> BrazeInstance | None:
    """Look an instance up by its name (``US-05``) or cluster (``iad-05``), case-insensitively."""
    return _BY_KEY.get(name.strip().lower())


def instance_for_url(url: str) -> BrazeInstance | None:
    """Return the instance whose REST endpoint is ``url``, or None (sandbox, proxy, unknown)."""
    host = (urlsplit(url).hostname or "").lower()
    for instance in INSTANCES:
        if urlsplit(instance.rest_url).hostname == host:
            return instance
    match = _REST_HOST.match(host)
    if match and match.group("cluster") in _ALIASES:
        return _BY_KEY[match.group("cluster")]
    return None


def is_loopback_host(host: str) -> bool:
    """Return True for ``localhost`` and loopback IP addresses (the sandbox)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _dashboard_advice(host: str) -> str | None:
    match = _DASHBOARD_HOST.match(host)
    if not match:
        return None
    for instance in INSTANCES:
        if urlsplit(instance.dashboard_url).hostname == host:
            return (
                f"'{host}' is the Braze dashboard of instance {instance.name}, not its REST endpoint: "
                f"use {instance.rest_url} (or just '{instance.name}')."
            )
    return (
        f"'{host}' is a Braze dashboard host, not a REST endpoint: use the REST endpoint shown under "
        "Settings > APIs and Identifiers in the dashboard (it starts with https://rest.)."
    )


def resolve_rest_endpoint(host: str | None, *, port: int | None = None) -> str:
    """Turn a connection host into the REST base URL, or raise :class:`BrazeEndpointError`.

    :param host: a REST endpoint URL, a bare REST host name, or an instance name.
    :param port: the connection's port, used only for loopback (sandbox) hosts.
    :return: the base URL without a trailing slash, e.g. ``https://rest.fra-02.braze.eu``.
    """
    raw = (host or "").strip()
    if not raw:
        raise BrazeEndpointError(
            "The Braze connection has no host: set it to your REST endpoint, e.g. "
            f"https://rest.iad-01.braze.com, or an instance name ({known_instance_names()})."
        )
    instance = instance_by_name(raw)
    if instance is not None:
        return instance.rest_url

    if "://" in raw:
        url = raw
    else:
        # A bare loopback host (``localhost:4010``) is the sandbox, which speaks plain http.
        bare = urlsplit(f"//{raw}").hostname or ""
        url = f"{'http' if is_loopback_host(bare) else 'https'}://{raw}"
    parts = urlsplit(url)
    hostname = (parts.hostname or "").lower()
    scheme = parts.scheme.lower()
    effective_port = parts.port or port

    if is_loopback_host(hostname):
        if scheme not in ("http", "https"):
            raise BrazeEndpointError(f"Unsupported scheme '{scheme}' in the Braze host: use http:// or https://.")
        netloc = f"[{hostname}]" if ":" in hostname else hostname
        if effective_port:
            netloc = f"{netloc}:{effective_port}"
        return f"{scheme}://{netloc}"

    advice = _dashboard_advice(hostname)
    if advice:
        raise BrazeEndpointError(advice)
    sdk = _SDK_HOST.match(hostname)
    if sdk:
        rest = f"rest.{sdk.group('cluster')}.braze.{sdk.group('tld')}"
        raise BrazeEndpointError(
            f"'{hostname}' is a Braze SDK endpoint, which does not serve the REST API: use https://{rest}."
        )
    if scheme != "https":
        raise BrazeEndpointError(
            f"The Braze REST endpoint must use https:// (got '{scheme}://{hostname}'); plain http is only "
            "accepted for loopback hosts such as the local sandbox."
        )
    rest_match = _REST_HOST.match(hostname)
    if rest_match:
        cluster, tld = rest_match.group("cluster"), rest_match.group("tld")
        known = instance_by_name(cluster)
        if known is None:
            raise BrazeEndpointError(
                f"'{hostname}' is not a known Braze instance. Known instances: {known_instance_names()}. "
                "Copy the REST endpoint from Settings > APIs and Identifiers in your dashboard."
            )
        expected_host = urlsplit(known.rest_url).hostname
        if hostname != expected_host and cluster not in _ALIASES:
            raise BrazeEndpointError(
                f"'{hostname}' does not exist: instance {known.name} is served at {known.rest_url} "
                f"(EU instances end in .braze.eu, all others in .braze.com, not .braze.{tld})."
            )
        return f"https://{hostname}"
    if hostname.endswith((".braze.com", ".braze.eu")) or "." not in hostname:
        raise BrazeEndpointError(
            f"'{raw}' is not a Braze REST endpoint or instance name. Use a URL such as "
            f"https://rest.iad-01.braze.com or an instance name ({known_instance_names()})."
        )
    # Any other https host (a corporate egress proxy, a private link) is taken as given.
    netloc = hostname if not parts.port else f"{hostname}:{parts.port}"
    path = parts.path.rstrip("/")
    return f"https://{netloc}{path}"


#: Dashboard paths of campaigns, Canvases and CDI integrations. Best effort: Braze documents no
#: dashboard deep links; these follow the dashboard's current navigation and may change. Braze's
#: documented route to a campaign by API id is the Campaigns page's search filter ``api_id:<id>``
#: (docs/operators.md says so next to the links).
_DASHBOARD_PATHS = {
    "campaign": "/engagement/campaigns/{id}",
    "canvas": "/engagement/canvas/{id}",
    "cdi_integration": "/integrations/cloud_data_ingestion/{id}",
}


def dashboard_link(base_url: str, kind: str, object_id: str) -> str:
    """The dashboard page of a campaign or Canvas on the instance serving ``base_url`` (best effort:
    Braze documents no deep links, see ``_DASHBOARD_PATHS``).

    For a REST endpoint of no known instance (the sandbox, a proxy) the link points at that host.

    :param kind: ``campaign``, ``canvas`` or ``cdi_integration``.
    """
    instance = instance_for_url(base_url)
    root = instance.dashboard_url if instance else base_url.rstrip("/")
    return root + _DASHBOARD_PATHS[kind].format(id=object_id)
