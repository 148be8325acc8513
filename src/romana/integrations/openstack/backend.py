"""The drivers' one link to romanad: the ``[romana]`` options, a signed-in client, and the
tenants and segments Neutron's projects and networks map to.

neutron-server makes a new IPAM driver object for nearly every request, so the link is one
per process (:func:`shared`), built on first use from ``cfg.CONF.romana``. It signs in as the
configured user (an ``openstack``-role user: it creates tenants and then acts only in the
tenants it owns, and reads the topology, docs/security.md) and signs in again when romanad
answers 401, e.g. after the token expired or was revoked. Networks and hosts are read from
the topology document, the one global read that role has. The drivers' Neutron callbacks
are registered here too, once per process (:func:`subscribe_once`).

A project's tenant is created in ``kubernetes`` isolation mode, which gives its security
groups their Neutron meaning (:mod:`romana.integrations.openstack.securitygroups`).

Invariants: a tenant or segment is created at most once per process and found again after a
restart (a tenant by its ``external_id``, a segment by name), so racing creators and restarts
converge on the same objects; romana's errors leave here as Neutron exceptions whose message
names what went wrong, so the API caller reads the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from neutron_lib import exceptions as n_exc
from neutron_lib.callbacks import registry
from oslo_config import cfg
from oslo_log import log

from romana.client import Client, ClientSettings
from romana.core import errors
from romana.integrations.openstack import mapping

LOG = log.getLogger(__name__)
T = TypeVar("T")
ISOLATION = {"mode": "kubernetes"}
"""A project's new tenant: a port that security groups filter accepts only what they allow
(securitygroups.py); one they do not filter is open to its own segment by a policy."""

OPTIONS = [
    cfg.ListOpt(
        "url", default=["http://127.0.0.1:9600"], help="Root URL(s) of romanad, comma-separated."
    ),
    cfg.StrOpt("username", default="neutron", help="romanad user (role openstack) of the drivers."),
    cfg.StrOpt("password_file", help="File holding that user's password (one line; keep 0600)."),
    cfg.StrOpt("ca", default="", help="CA certificate (PEM) that verifies romanad's certificate."),
    cfg.FloatOpt("timeout", default=10.0, help="Seconds to wait for an answer of romanad."),
]
cfg.CONF.register_opts(OPTIONS, group="romana")


class RomanaUnavailable(n_exc.ServiceUnavailable):
    message = "romanad could not be reached or failed: %(reason)s"


class RomanaRefused(n_exc.BadRequest):
    message = "romana refused the %(resource)s: %(reason)s"


class RomanaConflict(n_exc.Conflict):
    message = "romana could not complete the %(resource)s: %(reason)s"


def translate(exc: errors.RomanaError, resource: str) -> Exception:
    """The Neutron exception (and so the HTTP status) that carries a romana error."""
    reason = str(exc)
    if isinstance(exc, errors.Unavailable | errors.Throttled):
        return RomanaUnavailable(reason=reason)
    if isinstance(exc, errors.Conflict | errors.Exhausted | errors.QuotaExceeded):
        return RomanaConflict(resource=resource, reason=reason)
    return RomanaRefused(resource=resource, reason=reason)


class Backend:
    """romanad as the drivers see it. Thread-safe."""

    def __init__(self, client: Client, username: str, password: str) -> None:
        self._client = client
        self._username = username
        self._password = password
        self._lock = threading.Lock()
        self._tenants: dict[str, str] = {}
        self._segments: set[tuple[str, str]] = set()

    def call(self, work: Callable[[Client], T]) -> T:
        """``work`` with a signed-in client; once more after signing in again on a 401."""
        if not self._client.token:
            self._client.login(self._username, self._password)
        try:
            return work(self._client)
        except errors.Unauthorized:
            self._client.login(self._username, self._password)
            return work(self._client)

    def networks(self) -> list[dict[str, Any]]:
        """romanad's networks (``{"name", "cidr", ...}``)."""
        return list(self.call(lambda c: c.get_topology())["networks"])

    def host_known(self, host: str) -> bool:
        return host in mapping.hosts_in(self.call(lambda c: c.get_topology()))

    def find_tenant(self, project_id: str) -> str | None:
        """The name of the tenant of ``project_id``, None when there is none."""
        with self._lock:
            known = self._tenants.get(project_id)
            if known is not None:
                return known
            for tenant in self.call(lambda c: c.list_tenants()):
                if tenant["external_id"] == project_id:
                    return str(tenant["name"])
            return None

    def tenant_name(self, project_id: str) -> str:
        """The name of the tenant of ``project_id`` (created on first use), without a call to
        romanad once it is known."""
        with self._lock:
            known = self._tenants.get(project_id)
        return known if known is not None else str(self.tenant(project_id)["name"])

    def tenant(self, project_id: str) -> dict[str, Any]:
        """The tenant of ``project_id``: the one whose external id it is, else a new one."""
        with self._lock:
            known = self._tenants.get(project_id)
            if known is not None:
                return self.call(lambda c: c.get_tenant(known))
            for tenant in self.call(lambda c: c.list_tenants()):
                if tenant["external_id"] == project_id:
                    self._tenants[project_id] = tenant["name"]
                    return tenant
            name = mapping.tenant_name(project_id)
            try:
                created = self.call(
                    lambda c: c.create_tenant(name, external_id=project_id, isolation=ISOLATION)
                )
            except errors.AlreadyExists as exists:
                try:
                    created = self.call(lambda c: c.get_tenant(name))
                except errors.NotFound:
                    # Another tenant has the project as external id but is not this user's:
                    # romanad's refusal names it, for an admin to hand it over.
                    raise exists from None
                if created["external_id"] != project_id:
                    raise
            LOG.info("romana: created tenant %s for project %s", name, project_id)
            self._tenants[project_id] = created["name"]
            return created

    def segment(self, tenant: str, network_id: str) -> str:
        """The segment of ``network_id`` in ``tenant``, created on first use."""
        name = mapping.segment_name(network_id)
        with self._lock:
            if (tenant, name) in self._segments:
                return name
            held = self.call(lambda c: c.get_tenant(tenant))["segments"]
            if name not in held:
                try:
                    self.call(lambda c: c.add_segment(tenant, name))
                    LOG.info("romana: created segment %s of tenant %s", name, tenant)
                except errors.AlreadyExists:
                    pass
            self._segments.add((tenant, name))
            return name

    def forget_segment(self, tenant: str, network_id: str) -> None:
        with self._lock:
            self._segments.discard((tenant, mapping.segment_name(network_id)))


_SHARED: list[Backend] = []
_SHARED_LOCK = threading.Lock()
_SUBSCRIBED: set[str] = set()

Callback = Callable[[str, str, Any, Any], None]
"""A Neutron callback: ``(resource, event, trigger, payload)``."""


def subscribe_once(owner: str, callbacks: Sequence[tuple[Callback, str, Sequence[str]]]) -> None:
    """Register ``owner``'s ``(callback, resource, events)`` with Neutron's callback registry
    for each of the events, the first time it asks in this process (the mechanism driver's
    ``initialize`` may run more than once)."""
    with _SHARED_LOCK:
        if owner in _SUBSCRIBED:
            return
        for callback, resource, events in callbacks:
            for event in events:
                registry.subscribe(callback, resource, event)
        _SUBSCRIBED.add(owner)


def _password(path: str | None) -> str:
    if not path:
        raise RomanaRefused(resource="configuration", reason="[romana] password_file is not set")
    return Path(path).read_text().strip()


def shared() -> Backend:
    """The process's link to romanad, built from ``[romana]`` on first use."""
    with _SHARED_LOCK:
        if not _SHARED:
            conf = cfg.CONF.romana
            settings = ClientSettings(url=tuple(conf.url), ca=conf.ca, timeout=conf.timeout)
            settings.validate()
            _SHARED.append(Backend(Client(settings), conf.username, _password(conf.password_file)))
        return _SHARED[0]
