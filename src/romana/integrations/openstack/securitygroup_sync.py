"""Keeps romanad's security group policies and address sets in step with Neutron.

:func:`subscribe` (called by the mechanism driver's ``initialize``) registers Neutron
callbacks. Each event recomputes the romana objects it touches from Neutron's committed
state, translated by :mod:`romana.integrations.openstack.securitygroups`:

* security group created, updated, or a rule of it created or deleted: the group's policy;
* security group deleted: its policy, then its sets, are removed;
* port created, updated (fixed IPs, groups, port security, owner) or deleted: the members of
  every selection the port left or joined; and, on the first port of a network whose segment
  romanad holds, the deny policies that keep the project's networks apart;
* network deleted: those deny policies, without it.

A rule or a group romana cannot enforce exactly is refused before Neutron commits it
(``PRECOMMIT_CREATE``/``PRECOMMIT_UPDATE``: Neutron answers 409 with the reason), so Neutron
never holds a rule that romana silently approximates.

Invariants: every write is a recomputation from Neutron's database, never a delta, so
repeating it (another event, a retry) converges on the same objects; sets are written before
the policy that names them and removed after it; writes are serialised in this process. A
failure of romanad in an ``AFTER_*`` callback is logged naming the object and not retried:
Neutron has committed, and the next event touching the object writes it again.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from neutron_lib import context as n_context
from neutron_lib import exceptions as n_exc
from neutron_lib.callbacks import events, registry, resources
from neutron_lib.db import api as db_api
from neutron_lib.plugins import directory
from oslo_log import log

from romana.client import Client
from romana.core import errors
from romana.integrations.openstack import backend, mapping
from romana.integrations.openstack import securitygroups as sgs

LOG = log.getLogger(__name__)
T = TypeVar("T")

_LOCK = threading.RLock()
_SUBSCRIBED: list[bool] = []
_WRITTEN: dict[str, dict[str, Any]] = {}
"""Policy id → the content last written, so an unchanged policy is not written again."""
_ISOLATED: set[str] = set()
"""Networks whose segment the written network isolation names."""
PORT_FIELDS = ("fixed_ips", "security_groups", "port_security_enabled", "device_owner")


class SecurityGroupRefused(n_exc.InvalidInput):
    message = "romana cannot enforce this: %(error_message)s"


def subscribe() -> None:
    """Register the callbacks, once per process."""
    with _LOCK:
        if _SUBSCRIBED:
            return
        sg, rule, port = resources.SECURITY_GROUP, resources.SECURITY_GROUP_RULE, resources.PORT
        registry.subscribe(_check_group, sg, events.PRECOMMIT_CREATE)
        registry.subscribe(_check_group, sg, events.PRECOMMIT_UPDATE)
        registry.subscribe(_check_rule, rule, events.PRECOMMIT_CREATE)
        for event in (events.AFTER_CREATE, events.AFTER_UPDATE):
            registry.subscribe(_group_changed, sg, event)
        registry.subscribe(_group_deleted, sg, events.AFTER_DELETE)
        for event in (events.AFTER_CREATE, events.AFTER_DELETE):
            registry.subscribe(_rule_changed, rule, event)
        for event in (events.AFTER_CREATE, events.AFTER_UPDATE, events.AFTER_DELETE):
            registry.subscribe(_port_changed, port, event)
        registry.subscribe(_network_deleted, resources.NETWORK, events.AFTER_DELETE)
        _SUBSCRIBED.append(True)


# -- refusals before commit --------------------------------------------------------------


def _check_group(resource: str, event: str, trigger: Any, payload: Any) -> None:
    try:
        sgs.group_policy(payload.latest_state, "check")
    except sgs.Unexpressible as exc:
        raise SecurityGroupRefused(error_message=str(exc)) from exc


def _check_rule(resource: str, event: str, trigger: Any, payload: Any) -> None:
    try:
        sgs.rule_clause(payload.latest_state)
    except sgs.Unexpressible as exc:
        raise SecurityGroupRefused(error_message=str(exc)) from exc


# -- keeping romanad in step -------------------------------------------------------------


def _group_changed(resource: str, event: str, trigger: Any, payload: Any) -> None:
    _sync_group(str(payload.resource_id))


def _rule_changed(resource: str, event: str, trigger: Any, payload: Any) -> None:
    state = payload.latest_state or {}
    sg_id = state.get("security_group_id") or payload.metadata.get("security_group_id")
    if sg_id:
        _sync_group(str(sg_id))


def _group_deleted(resource: str, event: str, trigger: Any, payload: Any) -> None:
    sg = payload.latest_state or {}
    selection = sgs.group(str(payload.resource_id))
    link = backend.shared()
    with _LOCK:
        try:
            tenant = link.find_tenant(str(sg.get("project_id")))
            if tenant is not None:
                _remove_policy(link, f"{tenant}/{selection.policy_name}")
            for name in selection.set_names:
                _remove_set(link, name)
        except errors.RomanaError as exc:
            LOG.warning(
                "romana: policy of deleted security group %s not removed: %s", selection.ident, exc
            )


def _port_changed(resource: str, event: str, trigger: Any, payload: Any) -> None:
    states = [s for s in payload.states if s]
    if len(states) == 2 and all(states[0].get(f) == states[1].get(f) for f in PORT_FIELDS):
        return
    touched = sorted({m for port in states for m in sgs.memberships(port)})
    port = states[-1]
    for selection in touched:
        try:
            _sync_selection(selection, port)
        except errors.RomanaError as exc:
            LOG.warning(
                "romana: members of %s not updated for port %s: %s",
                selection.policy_name,
                port.get("id"),
                exc,
            )
    network = str(port.get("network_id"))
    if network not in _ISOLATED:
        _isolate_networks(network)


def _network_deleted(resource: str, event: str, trigger: Any, payload: Any) -> None:
    network = payload.latest_state or {}
    _ISOLATED.discard(str(payload.resource_id))
    if network.get("project_id"):
        _isolate_project(str(network["project_id"]))


def _isolate_networks(network_id: str) -> None:
    """The network isolation of ``network_id``'s project, once its segment exists."""
    try:
        network = _read(lambda plugin, context: plugin.get_network(context, network_id))
    except n_exc.NotFound:
        return
    _isolate_project(str(network["project_id"]))


def _isolate_project(project_id: str) -> None:
    """Write the deny policies that keep ``project_id``'s networks apart, and remove those of
    networks that are gone. Only networks whose segment romanad holds are named."""
    link = backend.shared()
    with _LOCK:
        try:
            tenant = link.find_tenant(project_id)
            if tenant is None:
                return
            networks = _read(
                lambda plugin, context: plugin.get_networks(
                    context, filters={"project_id": [project_id]}, fields=["id"]
                )
            )
            held = link.call(lambda c: c.get_tenant(tenant))["segments"]
            segments = [s for s in (mapping.segment_name(n["id"]) for n in networks) if s in held]
            wanted = sgs.network_isolation(tenant, segments)
            stem = f"{tenant}/{sgs.NETWORK_PREFIX}"
            for stored in link.call(lambda c: c.list_policies()):
                if str(stored["id"]).startswith(stem) and stored["name"] not in wanted:
                    _remove_policy(link, str(stored["id"]))
            for name, policy in wanted.items():
                _put_policy(link, f"{tenant}/{name}", policy)
            _ISOLATED.update(segments)
        except errors.RomanaError as exc:
            LOG.warning("romana: networks of project %s not isolated: %s", project_id, exc)


def _sync_group(sg_id: str) -> None:
    try:
        sg = _read(lambda plugin, context: plugin.get_security_group(context, sg_id))
    except n_exc.NotFound:
        return
    link = backend.shared()
    selection = sgs.group(sg_id)
    with _LOCK:
        try:
            tenant = link.tenant_name(str(sg["project_id"]))
            _warn_unless_kubernetes(link, tenant)
            policy = sgs.group_policy(sg, tenant)
            _put_sets(link, sgs.members(selection, _ports_of(selection)))
            _put_policy(link, f"{tenant}/{selection.policy_name}", policy)
        except sgs.Unexpressible as exc:
            LOG.error("romana: security group %s is not enforced: %s", sg_id, exc)
        except errors.RomanaError as exc:
            LOG.warning("romana: security group %s not written to romanad: %s", sg_id, exc)


def _sync_selection(selection: sgs.Membership, port: dict[str, Any]) -> None:
    if selection.kind == "sg":
        # The whole group: its policy too, in case an earlier write of it failed.
        _sync_group(selection.ident)
        return
    link = backend.shared()
    with _LOCK:
        sets = sgs.members(selection, _ports_of(selection))
        tenant = link.tenant_name(str(port["project_id"]))
        policy_id = f"{tenant}/{selection.policy_name}"
        if not any(sets.values()):
            # No port left: the policy goes (it names the network's segment, which may go too).
            _remove_policy(link, policy_id)
            for name in sets:
                _remove_set(link, name)
            return
        _warn_unless_kubernetes(link, tenant)
        if selection.kind == "open":
            network = str(port["network_id"])
            policy = sgs.open_policy(network, tenant, link.segment(tenant, network))
        else:
            policy = sgs.closed_policy(selection.ident, tenant)
        _put_sets(link, sets)
        _put_policy(link, policy_id, policy)


def _read(work: Callable[[Any, Any], T]) -> T:
    """``work(plugin, context)`` in a read transaction of its own, as admin. The request's
    context is not used: a read on its session would hold SQLite's lock past the request's
    own later commit (the port's binding)."""
    context = n_context.get_admin_context()
    with db_api.CONTEXT_READER.using(context):
        return work(directory.get_plugin(), context)


def _ports_of(selection: sgs.Membership) -> list[dict[str, Any]]:
    """The ports that may belong to ``selection``, as Neutron holds them now."""

    def read(plugin: Any, context: Any) -> list[dict[str, Any]]:
        if selection.kind == "open":
            return list(plugin.get_ports(context, filters={"network_id": [selection.ident]}))
        if selection.kind == "closed":
            return list(plugin.get_ports(context, filters={"project_id": [selection.ident]}))
        bindings = plugin._get_port_security_group_bindings(
            context, filters={"security_group_id": [selection.ident]}
        )
        ids = sorted({str(b["port_id"]) for b in bindings})
        return list(plugin.get_ports(context, filters={"id": ids})) if ids else []

    return _read(read)


def _put_sets(link: backend.Backend, sets: dict[str, list[str]]) -> None:
    for name, addresses in sets.items():
        link.call(functools.partial(_put_set, name=name, addresses=addresses))


def _put_set(client: Client, name: str, addresses: list[str]) -> None:
    client.put_address_set(name, addresses)


def _put_policy(link: backend.Backend, policy_id: str, policy: dict[str, Any]) -> None:
    if _WRITTEN.get(policy_id) == policy:
        return
    link.call(lambda c: c.put_policy(policy_id, policy))
    _WRITTEN[policy_id] = policy
    LOG.info("romana: wrote policy %s", policy_id)


def _remove_policy(link: backend.Backend, policy_id: str) -> None:
    _WRITTEN.pop(policy_id, None)
    try:
        link.call(lambda c: c.remove_policy(policy_id))
        LOG.info("romana: removed policy %s", policy_id)
    except errors.NotFound:
        pass


def _remove_set(link: backend.Backend, name: str) -> None:
    with contextlib.suppress(errors.NotFound):
        link.call(lambda c: c.remove_address_set(name))


_CHECKED: set[str] = set()


def _warn_unless_kubernetes(link: backend.Backend, tenant: str) -> None:
    """Security groups have their Neutron meaning only on a ``kubernetes``-mode tenant; a
    tenant made beforehand in ``romana`` mode also accepts its own segment."""
    if tenant in _CHECKED:
        return
    mode = link.call(lambda c: _mode(c, tenant))
    if mode != "kubernetes":
        LOG.warning(
            "romana: tenant %s is in %s isolation mode: its endpoints also accept their own "
            "segment beside what security groups allow (`romana tenant isolation %s "
            "--isolation kubernetes` gives security groups their Neutron meaning)",
            tenant,
            mode,
            tenant,
        )
    _CHECKED.add(tenant)


def _mode(client: Client, tenant: str) -> str:
    return str(client.get_tenant(tenant)["isolation"]["mode"])
