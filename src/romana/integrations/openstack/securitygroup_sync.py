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
repeating it (another event, a retry, the reconciliation) converges on the same objects; sets
are written before the policy that names them and removed after it; writes are serialised in
this process. A failure of romanad in an ``AFTER_*`` callback is logged naming the object and
retried (:func:`romana.integrations.openstack.resync.attempt`), keyed by the policy's name,
so the newest write of an object wins: Neutron has committed.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from neutron_lib import constants as n_const
from neutron_lib import context as n_context
from neutron_lib import exceptions as n_exc
from neutron_lib.callbacks import events, resources
from neutron_lib.db import api as db_api
from neutron_lib.plugins import directory
from oslo_log import log

from romana.client import Client
from romana.core import errors
from romana.integrations.openstack import backend, mapping, resync
from romana.integrations.openstack import securitygroups as sgs

LOG = log.getLogger(__name__)
T = TypeVar("T")

_LOCK = threading.RLock()
_WRITTEN: dict[str, dict[str, Any]] = {}
"""Policy id → the content last written, so an unchanged policy is not written again."""
_ISOLATED: set[str] = set()
"""Networks whose segment the written network isolation names."""
PORT_FIELDS = ("fixed_ips", "security_groups", "port_security_enabled", "device_owner")


@dataclass
class Seen:
    """What romanad held when a reconciliation pass began, and what the pass repaired: with
    it, every policy is written again (romanad stores an unchanged one as a no-op) and a write
    that changed romanad is recorded."""

    policies: dict[str, dict[str, Any]]
    sets: dict[str, list[str]]
    repaired: list[str] = field(default_factory=list)


class SecurityGroupRefused(n_exc.InvalidInput):
    message = "romana cannot enforce this: %(error_message)s"


def subscribe() -> None:
    """Register the callbacks, once per process."""
    sg, rule, port = resources.SECURITY_GROUP, resources.SECURITY_GROUP_RULE, resources.PORT
    created, updated, deleted = events.AFTER_CREATE, events.AFTER_UPDATE, events.AFTER_DELETE
    backend.subscribe_once(
        __name__,
        [
            (_check_group, sg, (events.PRECOMMIT_CREATE, events.PRECOMMIT_UPDATE)),
            (_check_rule, rule, (events.PRECOMMIT_CREATE,)),
            (_group_changed, sg, (created, updated)),
            (_group_deleted, sg, (deleted,)),
            (_rule_changed, rule, (created, deleted)),
            (_port_changed, port, (created, updated, deleted)),
            (_network_deleted, resources.NETWORK, (deleted,)),
        ],
    )


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
    _write_group_or_retry(str(payload.resource_id))


def _rule_changed(resource: str, event: str, trigger: Any, payload: Any) -> None:
    state = payload.latest_state or {}
    sg_id = state.get("security_group_id") or payload.metadata.get("security_group_id")
    if sg_id:
        _write_group_or_retry(str(sg_id))


def _group_deleted(resource: str, event: str, trigger: Any, payload: Any) -> None:
    _write_group_or_retry(str(payload.resource_id))


def _write_group_or_retry(sg_id: str) -> None:
    selection = sgs.group(sg_id)
    what = f"security group {sg_id} not written to romanad"
    resync.attempt(selection.policy_name, what, functools.partial(write_group, sg_id))


def _port_changed(resource: str, event: str, trigger: Any, payload: Any) -> None:
    states = [s for s in payload.states if s]
    if len(states) == 2 and all(states[0].get(f) == states[1].get(f) for f in PORT_FIELDS):
        return
    if not any(state.get("fixed_ips") for state in states):
        # No address before or after (a port whose allocation waits for its binding): it is
        # in no address set, so no selection changes; its binding writes them.
        return
    # The selections the port joins are written before those it leaves: in between it is in
    # both (their policies add up), never in none, which would leave it unfiltered.
    joined = sorted(sgs.memberships(states[-1]))
    touched = joined + sorted(
        {m for port in states[:-1] for m in sgs.memberships(port)} - set(joined)
    )
    port = states[-1]
    project = str(port["project_id"])
    for selection in touched:
        what = f"members of {selection.policy_name} not updated for port {port.get('id')}"
        write = functools.partial(write_selection, selection, project)
        resync.attempt(selection.policy_name, what, write)
    network = str(port.get("network_id"))
    if network not in _ISOLATED:
        isolate_network(network)


def _network_deleted(resource: str, event: str, trigger: Any, payload: Any) -> None:
    network = payload.latest_state or {}
    _ISOLATED.discard(str(payload.resource_id))
    if network.get("project_id"):
        isolate_project(str(network["project_id"]))


def isolate_network(network_id: str) -> None:
    """The network isolation of ``network_id``'s project, once its segment exists."""
    try:
        network = read(lambda plugin, context: plugin.get_network(context, network_id))
    except n_exc.NotFound:
        return
    isolate_project(str(network["project_id"]))


def isolate_project(project_id: str) -> None:
    """:func:`write_isolation` now, or retried when romanad fails it."""
    what = f"networks of project {project_id} not isolated"
    write = functools.partial(write_isolation, project_id)
    resync.attempt(f"{sgs.NETWORK_PREFIX}{project_id}", what, write)


def write_isolation(project_id: str, seen: Seen | None = None) -> None:
    """Write the deny policies that keep ``project_id``'s networks apart, except networks a
    router joins, and remove those of networks that are gone. Only networks whose segment
    romanad holds are named."""
    link = backend.shared()
    with _LOCK:
        tenant = link.find_tenant(project_id)
        if tenant is None:
            return
        networks = read(
            lambda plugin, context: plugin.get_networks(
                context, filters={"project_id": [project_id]}, fields=["id"]
            )
        )
        held = link.call(lambda c: c.get_tenant(tenant))["segments"]
        segments = [s for s in (mapping.segment_name(n["id"]) for n in networks) if s in held]
        joined = _routed([n["id"] for n in networks])
        wanted = sgs.network_isolation(tenant, segments, joined)
        stem = f"{tenant}/{sgs.NETWORK_PREFIX}"
        stored = seen.policies if seen is not None else _policies(link)
        for policy_id, policy in list(stored.items()):
            if policy_id.startswith(stem) and policy["name"] not in wanted:
                _remove_policy(link, policy_id, seen)
        for name, policy in wanted.items():
            _put_policy(link, f"{tenant}/{name}", policy, seen)
        _ISOLATED.update(segments)


def _routed(network_ids: list[str]) -> list[list[str]]:
    """The networks of each router that has an interface on one of ``network_ids``."""
    if not network_ids:
        return []
    ports = read(
        lambda plugin, context: plugin.get_ports(
            context,
            filters={
                "network_id": network_ids,
                "device_owner": list(n_const.ROUTER_INTERFACE_OWNERS),
            },
            fields=["device_id", "network_id"],
        )
    )
    routers: dict[str, list[str]] = {}
    for port in ports:
        routers.setdefault(str(port["device_id"]), []).append(str(port["network_id"]))
    return [sorted(set(joined)) for _, joined in sorted(routers.items())]


def write_group(sg_id: str, seen: Seen | None = None) -> None:
    """The group's policy and sets as Neutron holds the group; removed when it is gone."""
    selection = sgs.group(sg_id)
    link = backend.shared()
    try:
        sg = read(lambda plugin, context: plugin.get_security_group(context, sg_id))
    except n_exc.NotFound:
        with _LOCK:
            stored = seen.policies if seen is not None else _policies(link)
            for policy_id, policy in list(stored.items()):
                if policy["name"] == selection.policy_name:
                    _remove_policy(link, policy_id, seen)
            for name in selection.set_names:
                remove_set(link, name, seen)
        return
    with _LOCK:
        tenant = link.tenant_name(str(sg["project_id"]))
        _warn_unless_kubernetes(link, tenant)
        try:
            policy = sgs.group_policy(sg, tenant)
        except sgs.Unexpressible as exc:
            LOG.error("romana: security group %s is not enforced: %s", sg_id, exc)
            return
        _put_sets(link, sgs.members(selection, _ports_of(selection)), seen)
        _put_policy(link, f"{tenant}/{selection.policy_name}", policy, seen)


def write_selection(selection: sgs.Membership, project_id: str, seen: Seen | None = None) -> None:
    """The policy and sets of one selection of ``project_id``'s ports, as Neutron holds them."""
    if selection.kind == "sg":
        # The whole group: its policy too, in case an earlier write of it failed.
        write_group(selection.ident, seen)
        return
    link = backend.shared()
    with _LOCK:
        sets = sgs.members(selection, _ports_of(selection))
        tenant = link.find_tenant(project_id)
        if tenant is None:
            return
        policy_id = f"{tenant}/{selection.policy_name}"
        if not any(sets.values()):
            # No port left: the policy goes (it names the network's segment, which may go too).
            _remove_policy(link, policy_id, seen)
            for name in sets:
                remove_set(link, name, seen)
            return
        _warn_unless_kubernetes(link, tenant)
        if selection.kind == "open":
            network = selection.ident
            policy = sgs.open_policy(network, tenant, link.segment(tenant, network))
        else:
            policy = sgs.closed_policy(selection.ident, tenant)
        _put_sets(link, sets, seen)
        _put_policy(link, policy_id, policy, seen)


def read(work: Callable[[Any, Any], T]) -> T:
    """``work(plugin, context)`` in a read transaction of its own, as admin. The request's
    context is not used: a read on its session would hold SQLite's lock past the request's
    own later commit (the port's binding)."""
    context = n_context.get_admin_context()
    with db_api.CONTEXT_READER.using(context):
        return work(directory.get_plugin(), context)


def _ports_of(selection: sgs.Membership) -> list[dict[str, Any]]:
    """The ports that may belong to ``selection``, as Neutron holds them now."""

    def ports(plugin: Any, context: Any) -> list[dict[str, Any]]:
        if selection.kind == "open":
            return list(plugin.get_ports(context, filters={"network_id": [selection.ident]}))
        if selection.kind == "closed":
            return list(plugin.get_ports(context, filters={"project_id": [selection.ident]}))
        bindings = plugin._get_port_security_group_bindings(
            context, filters={"security_group_id": [selection.ident]}
        )
        ids = sorted({str(b["port_id"]) for b in bindings})
        return list(plugin.get_ports(context, filters={"id": ids})) if ids else []

    return read(ports)


def _policies(link: backend.Backend) -> dict[str, dict[str, Any]]:
    return {str(p["id"]): p for p in link.call(lambda c: c.list_policies())}


def _put_sets(link: backend.Backend, sets: dict[str, list[str]], seen: Seen | None) -> None:
    for name, addresses in sets.items():
        if seen is not None:
            if seen.sets.get(name) == addresses:
                continue
            seen.repaired.append(f"address set {name}")
        link.call(functools.partial(_put_set, name=name, addresses=addresses))


def _put_set(client: Client, name: str, addresses: list[str]) -> None:
    client.put_address_set(name, addresses)


def _put_policy(
    link: backend.Backend, policy_id: str, policy: dict[str, Any], seen: Seen | None = None
) -> None:
    if seen is None and _WRITTEN.get(policy_id) == policy:
        return
    stored = link.call(lambda c: c.put_policy(policy_id, policy))
    _WRITTEN[policy_id] = policy
    if seen is None:
        LOG.info("romana: wrote policy %s", policy_id)
    elif seen.policies.get(policy_id) != stored:
        seen.repaired.append(f"policy {policy_id}")


def _remove_policy(link: backend.Backend, policy_id: str, seen: Seen | None = None) -> None:
    _WRITTEN.pop(policy_id, None)
    if seen is not None:
        if seen.policies.pop(policy_id, None) is None:
            return
        seen.repaired.append(f"removed policy {policy_id}")
    try:
        link.call(lambda c: c.remove_policy(policy_id))
        LOG.info("romana: removed policy %s", policy_id)
    except errors.NotFound:
        pass


def remove_set(link: backend.Backend, name: str, seen: Seen | None = None) -> None:
    if seen is not None:
        if seen.sets.pop(name, None) is None:
            return
        seen.repaired.append(f"removed address set {name}")
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
