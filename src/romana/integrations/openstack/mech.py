"""The ML2 mechanism driver ``romana``: binds ports on romana hosts with a routed ``tap`` VIF.

``mechanism_drivers = romana`` in ml2_conf.ini, with ``type_drivers = flat,local``. A port is
bound when its host is a host of romanad's topology, to the first ``local`` or ``flat``
segment of its network, with VIF type ``tap``: Nova plugs a bare tap device and romana's
agent routes the port's address to it (no bridge, no overlay). A host romana does not know is
not bound, and the log says why; with no other driver able to bind, Neutron then reports
``binding:vif_type = binding_failed``.

Precommit validates (only ``local`` and ``flat`` networks); postcommit keeps romanad in step:
a deleted port's allocation is released by its key, which also catches an allocation that the
IPAM driver's own release by address did not reach; a deleted network's segment is removed;
a port whose binding moved to another host (a migration) has its allocation moved with it
(:mod:`romana.integrations.openstack.migration`).
A failure of romanad in postcommit is logged, never raised: the Neutron side has already
committed. The write is retried with backoff (:mod:`romana.integrations.openstack.resync`),
and the periodic reconciliation releases and removes what the retries did not
(:mod:`romana.integrations.openstack.reconcile`).

A port's external IP (``binding:profile`` key ``romana_external_ip``,
:mod:`romana.integrations.openstack.external_ips`) is the exception, since romanad may refuse
it (no such pool, an address in use) and the Neutron user must read why: a bad value is
refused before Neutron writes anything (``BEFORE_CREATE``/``BEFORE_UPDATE``, 400); a port
created with the key gets its external IP in ``create_port_postcommit``, and romanad's
refusal is raised there, which makes ML2 delete the port (its allocation released) and
answer with the refusal; an update that sets or changes the key, or the first binding of a
port created without a host, assigns in ``update_port_precommit``, inside Neutron's
transaction as the IPAM driver allocates, so a refusal fails the update and Neutron keeps the
port as it was (ML2 only logs what an ``update_port_postcommit`` raises). Removing the key
unassigns in ``update_port_postcommit``, retried like every postcommit write; deleting the
port releases its allocation, which drops its external IPs with it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from neutron_lib import constants as n_const
from neutron_lib import exceptions as n_exc
from neutron_lib.api.definitions import portbindings
from neutron_lib.callbacks import events, resources
from neutron_lib.plugins.ml2 import api
from oslo_log import log
from sqlalchemy import orm

from romana.core import errors
from romana.integrations.openstack import (
    backend,
    external_ips,
    mapping,
    migration,
    resync,
    routers,
    securitygroup_sync,
)

LOG = log.getLogger(__name__)

NETWORK_TYPES = (n_const.TYPE_LOCAL, n_const.TYPE_FLAT)
VIF_DETAILS = {portbindings.CAP_PORT_FILTER: False}


def release(key: str) -> None:
    """Release the allocation ``key``; done already when romanad holds none."""
    try:
        backend.shared().call(lambda c: c.release(key))
        LOG.info("romana: released %s", key)
    except errors.NotFound:
        pass


def remove_segment(project_id: str, network_id: str) -> None:
    """Remove the segment of ``network_id`` from ``project_id``'s tenant, if it is there."""
    link = backend.shared()
    tenant = link.find_tenant(project_id)
    if tenant is None:
        return
    link.forget_segment(tenant, network_id)
    try:
        link.call(lambda c: c.remove_segment(tenant, mapping.segment_name(network_id)))
        LOG.info("romana: removed segment %s of tenant %s", network_id, tenant)
    except errors.NotFound:
        pass


def wanted_ip(port: dict[str, Any]) -> external_ips.Wanted | None:
    """The external IP ``port``'s binding profile asks for; a bad value is Neutron's 400."""
    try:
        return external_ips.parse(port.get(portbindings.PROFILE))
    except errors.InvalidInput as exc:
        raise backend.translate(exc, "port") from exc


def _check_profile(resource: str, event: str, trigger: Any, payload: Any) -> None:
    """Refuse a bad ``romana_external_ip`` before the port is written (and, on a create,
    before the IPAM driver allocates for it)."""
    profile = (payload.states[-1] or {}).get(portbindings.PROFILE)
    if isinstance(profile, Mapping):
        wanted_ip({portbindings.PROFILE: profile})


def _earlier_ip(port: dict[str, Any] | None) -> external_ips.Wanted | None:
    """What the port's profile asked for before the update; a value stored before romana
    read the key, and is bad, asked for nothing."""
    try:
        return external_ips.parse((port or {}).get(portbindings.PROFILE))
    except errors.InvalidInput:
        return None


def sync_external_ip(
    port_id: str, wanted: external_ips.Wanted | None, previous: external_ips.Wanted | None
) -> None:
    """Make romanad hold the external IP the port's profile asks for (raised: romanad's
    refusal, as the Neutron exception that carries it)."""
    key = mapping.allocation_key(port_id)
    try:
        backend.shared().call(lambda c: external_ips.sync(c, key, wanted, previous))
    except errors.RomanaError as exc:
        raise backend.translate(exc, "external IP") from exc
    resync.RETRIES.cancel(f"external-ip:{key}")
    if wanted is not None:
        LOG.info("romana: port %s holds an external IP of pool %s", port_id, wanted.pool)


def _unassign_external_ip(port_id: str, previous: external_ips.Wanted) -> None:
    key = mapping.allocation_key(port_id)
    backend.shared().call(lambda c: external_ips.sync(c, key, None, previous))
    LOG.info("romana: external IP of pool %s unassigned from port %s", previous.pool, port_id)


class RomanaMechanismDriver(api.MechanismDriver):
    def initialize(self) -> None:
        LOG.info("romana: mechanism driver ready (VIF type tap on local and flat networks)")
        securitygroup_sync.subscribe()
        routers.subscribe()
        checks = (events.BEFORE_CREATE, events.BEFORE_UPDATE)
        backend.subscribe_once(__name__, [(_check_profile, resources.PORT, checks)])
        # Neutron's port reads name a relationship that exists only once the ORM's mappers
        # are configured, which its first query does: a server whose first request reads a
        # port (a restart under load, the reconciliation) would fail it with a 500.
        orm.configure_mappers()
        resync.start()

    def create_network_precommit(self, context: Any) -> None:
        for segment in context.network_segments:
            if segment[api.NETWORK_TYPE] not in NETWORK_TYPES:
                raise n_exc.InvalidInput(
                    error_message=f"romana routes only {' and '.join(NETWORK_TYPES)} networks, "
                    f"not {segment[api.NETWORK_TYPE]}"
                )

    def delete_network_postcommit(self, context: Any) -> None:
        network = context.current
        what = f"segment of deleted network {network['id']} not removed"
        write = functools.partial(remove_segment, str(network["project_id"]), str(network["id"]))
        resync.attempt(f"segment:{network['id']}", what, write)

    def create_port_postcommit(self, context: Any) -> None:
        port = context.current
        wanted = wanted_ip(port)
        if wanted is not None and port.get("fixed_ips"):
            sync_external_ip(port["id"], wanted, None)

    def update_port_precommit(self, context: Any) -> None:
        port, original = context.current, context.original
        wanted, previous = wanted_ip(port), _earlier_ip(original)
        if wanted is None or not port.get("fixed_ips"):
            return  # nothing to assign; a removed key is unassigned after the commit
        addressed_now = not (original or {}).get("fixed_ips")
        if wanted != previous or addressed_now:
            sync_external_ip(port["id"], wanted, previous)

    def update_port_postcommit(self, context: Any) -> None:
        port = context.current
        migration.follow_binding(port["id"], context.host, context.original_host)
        previous = _earlier_ip(context.original)
        if previous is not None and wanted_ip(port) is None and port.get("fixed_ips"):
            key = mapping.allocation_key(port["id"])
            what = f"external IP of pool {previous.pool} not unassigned from port {port['id']}"
            write = functools.partial(_unassign_external_ip, port["id"], previous)
            resync.attempt(f"external-ip:{key}", what, write)

    def delete_port_postcommit(self, context: Any) -> None:
        key = mapping.allocation_key(context.current["id"])
        resync.attempt(f"allocation:{key}", f"{key} not released", functools.partial(release, key))

    def bind_port(self, context: Any) -> None:
        port_id, host = context.current["id"], context.host
        try:
            known = backend.shared().host_known(host)
        except errors.RomanaError as exc:
            LOG.warning("romana: port %s not bound on %s: romanad failed: %s", port_id, host, exc)
            return
        if not known:
            LOG.warning(
                "romana: port %s not bound: host %s is not in romanad's topology "
                "(add it with `romana host add`, or run romana-agent there)",
                port_id,
                host,
            )
            return
        for segment in context.segments_to_bind:
            if segment[api.NETWORK_TYPE] in NETWORK_TYPES:
                context.set_binding(
                    segment[api.ID],
                    portbindings.VIF_TYPE_TAP,
                    VIF_DETAILS,
                    status=n_const.PORT_STATUS_ACTIVE,
                )
                LOG.debug("romana: bound port %s on %s", port_id, host)
                return
        LOG.warning("romana: port %s not bound: its network has no local or flat segment", port_id)
