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
"""

from __future__ import annotations

import functools
from typing import Any

from neutron_lib import constants as n_const
from neutron_lib import exceptions as n_exc
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api
from oslo_log import log
from sqlalchemy import orm

from romana.core import errors
from romana.integrations.openstack import (
    backend,
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


class RomanaMechanismDriver(api.MechanismDriver):
    def initialize(self) -> None:
        LOG.info("romana: mechanism driver ready (VIF type tap on local and flat networks)")
        securitygroup_sync.subscribe()
        routers.subscribe()
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

    def update_port_postcommit(self, context: Any) -> None:
        migration.follow_binding(context.current["id"], context.host, context.original_host)

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
