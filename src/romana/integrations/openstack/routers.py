"""Neutron routers: an interface joins its network to the router's other networks.

romana routes every endpoint itself, so a Neutron router carries no traffic here; what it
changes is isolation. The networks of one project are kept apart by deny policies
(``os.net.<network>``, :func:`romana.integrations.openstack.securitygroups.network_isolation`);
networks joined by routers, directly or through a chain of routers, are not denied to each
other, and security groups then decide as within one network. :func:`subscribe` (called by
the mechanism driver's ``initialize``) recomputes those deny policies whenever an interface
is added to or removed from a router (``ROUTER_INTERFACE`` ``AFTER_CREATE``/``AFTER_DELETE``,
published by Neutron's L3 plugin after the interface's port is committed or gone). The
policies are computed from the router interface ports in Neutron's database, so a missed
event is repaired by the next one or by the reconciliation.

External gateways and floating IPs are refused before Neutron creates them: romana has no
NAT and no external network, so a floating IP would be an address nothing answers.

Invariants: nothing here writes romanad but through
:func:`romana.integrations.openstack.securitygroup_sync.isolate_project`, retried on failure.
"""

from __future__ import annotations

from typing import Any

from neutron_lib import exceptions as n_exc
from neutron_lib.callbacks import events, resources

from romana.integrations.openstack import backend, securitygroup_sync


class Unsupported(n_exc.BadRequest):
    message = "romana does not support %(what)s: %(reason)s"


def subscribe() -> None:
    """Register the callbacks, once per process."""
    changed = (events.AFTER_CREATE, events.AFTER_DELETE)
    backend.subscribe_once(
        __name__,
        [
            (_interface_changed, resources.ROUTER_INTERFACE, changed),
            (_refuse_gateway, resources.ROUTER_GATEWAY, (events.BEFORE_CREATE,)),
            (_refuse_floating_ip, resources.FLOATING_IP, (events.BEFORE_CREATE,)),
        ],
    )


def _interface_changed(resource: str, event: str, trigger: Any, payload: Any) -> None:
    port = payload.metadata.get("port") or {}
    network = port.get("network_id")
    if network:
        securitygroup_sync.isolate_network(str(network))
    router = payload.latest_state
    project = router.get("project_id") if router is not None else None
    if project and project != port.get("project_id"):
        securitygroup_sync.isolate_project(str(project))


def _refuse_gateway(resource: str, event: str, trigger: Any, payload: Any) -> None:
    raise Unsupported(
        what="router external gateways",
        reason="romana routes every address itself and has no NAT: a router only joins its "
        "project's networks",
    )


def _refuse_floating_ip(resource: str, event: str, trigger: Any, payload: Any) -> None:
    raise Unsupported(
        what="floating IPs",
        reason="romana has no NAT; reach a port by its own routed address",
    )
