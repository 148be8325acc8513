"""The periodic reconciliation: what romanad holds for Neutron, compared with Neutron's
database and repaired (Neutron is the source of truth).

:func:`run` (every ``[romana] reconcile_interval`` seconds, on the thread of
:mod:`romana.integrations.openstack.resync`) reads Neutron's ports, networks and security
groups and romanad's tenants, allocations, policies and address sets, then:

* releases the allocations of ports Neutron no longer has;
* removes the segments of networks Neutron no longer has;
* writes every security group's policy and sets, every network's and project's selection of
  ports (``os.open.*``, ``os.closed.*``) and every project's network isolation
  (``os.net.*``) again from Neutron's state, and removes those of groups, networks and
  projects that are gone;

and logs each repair. A pass that finds nothing to repair writes nothing: romanad stores an
unchanged policy as a no-op, and sets are compared before they are written.

Ownership: only objects the drivers make are touched. A tenant is the drivers' when its
``external_id`` is a project Neutron knows, or when it is named ``os-<external id>``
(:func:`romana.integrations.openstack.mapping.tenant_name`); an allocation when its key is a
port's key (:func:`~romana.integrations.openstack.mapping.allocation_key`) and its tenant is
the drivers'; a segment when it is named like a Neutron network (a UUID) in such a tenant; a
policy when it is named ``os.*`` in such a tenant; an address set when it is named ``os.*``.

Invariants: an allocation or a segment is removed only when two passes in a row found it
orphaned. The IPAM driver allocates before Neutron commits the port, so a port being created
has an allocation that Neutron does not show yet; one pass later it does.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from typing import Any

from oslo_log import log

from romana.client import Client
from romana.integrations.openstack import backend, mapping, mech
from romana.integrations.openstack import securitygroup_sync as sync
from romana.integrations.openstack import securitygroups as sgs

LOG = log.getLogger(__name__)

_SUSPECTS: set[str] = set()
"""Allocations and segments found orphaned by the previous pass."""


def run() -> list[str]:
    """One pass; the repairs made, as log phrases."""
    link = backend.shared()
    ports = sync.read(lambda plugin, context: list(plugin.get_ports(context)))
    networks = sync.read(
        lambda plugin, context: list(plugin.get_networks(context, fields=["id", "project_id"]))
    )
    groups = sync.read(
        lambda plugin, context: list(
            plugin.get_security_groups(context, fields=["id", "project_id"])
        )
    )
    projects = {str(r["project_id"]) for r in (*ports, *networks, *groups)}
    owned = {
        str(t["name"]): str(t["external_id"])
        for t in link.call(lambda c: c.list_tenants())
        if _owned(t, projects)
    }
    repaired: list[str] = []
    found: set[str] = set()
    port_ids = {str(p["id"]) for p in ports}
    for allocation in link.call(lambda c: c.list_allocations()):
        key = str(allocation["key"])
        port_id = key.split(":", 1)[0]
        ours = allocation["tenant"] in owned and key == mapping.allocation_key(port_id)
        if ours and port_id not in port_ids and _orphaned(f"allocation:{key}", found):
            mech.release(key)
            repaired.append(f"released {key} (port {port_id} is gone)")
    network_ids = {str(n["id"]) for n in networks}
    for tenant, project in sorted(owned.items()):
        for segment in link.call(functools.partial(_segments, tenant=tenant)):
            gone = _like_network(segment) and segment not in network_ids
            if gone and _orphaned(f"segment:{tenant}/{segment}", found):
                mech.remove_segment(project, segment)
                repaired.append(f"removed segment {segment} of tenant {tenant}")
    _SUSPECTS.clear()
    _SUSPECTS.update(found)

    repaired += _rewrite(link, owned, ports, groups)
    if repaired:
        LOG.info("romana: reconciliation repaired: %s", "; ".join(repaired))
    else:
        LOG.debug("romana: reconciliation found romanad in step with Neutron")
    return repaired


def _rewrite(
    link: backend.Backend,
    owned: dict[str, str],
    ports: list[dict[str, Any]],
    groups: list[dict[str, Any]],
) -> list[str]:
    """Every ``os.*`` policy and set of the drivers, written again from Neutron's state."""
    stems = tuple(f"{tenant}/{sgs.PREFIX}" for tenant in owned)
    seen = sync.Seen(
        policies={
            str(p["id"]): p
            for p in link.call(lambda c: c.list_policies())
            if str(p["id"]).startswith(stems)
        },
        sets={
            str(s["name"]): list(s["members"])
            for s in link.call(lambda c: c.list_address_sets())
            if str(s["name"]).startswith(sgs.PREFIX) and s["name"] != sgs.NOTHING
        },
    )
    group_ids = {str(g["id"]) for g in groups}
    wanted: dict[sgs.Membership, str] = {}
    for port in ports:
        for selection in sgs.memberships(port):
            if selection.kind != "sg":
                wanted[selection] = str(port["project_id"])
    held = dict(_held_selections(seen, owned))
    for sg_id in sorted(group_ids | {m.ident for m in held if m.kind == "sg"}):
        sync.write_group(sg_id, seen)
    for selection, project in sorted({**held, **wanted}.items()):
        if selection.kind != "sg":
            sync.write_selection(selection, project, seen)
    for name in sorted(seen.sets):
        if not _kept(name, group_ids, wanted):
            sync.remove_set(link, name, seen)
    for project in sorted(set(owned.values())):
        sync.write_isolation(project, seen)
    return seen.repaired


def _held_selections(
    seen: sync.Seen, owned: dict[str, str]
) -> Iterable[tuple[sgs.Membership, str]]:
    """The selections romanad holds a policy of, with their project."""
    for policy_id in list(seen.policies):
        tenant, _, name = policy_id.partition("/")
        selection = _selection(name)
        if selection is not None:
            yield selection, owned[tenant]


def _selection(name: str) -> sgs.Membership | None:
    """The selection a policy or set name of the drivers belongs to."""
    for kind in ("sg", "open", "closed"):
        stem = f"{sgs.PREFIX}{kind}."
        if name.startswith(stem):
            ident = name[len(stem) :].removesuffix(".v4").removesuffix(".v6")
            return sgs.Membership(kind, ident)
    return None


def _kept(name: str, group_ids: set[str], wanted: dict[sgs.Membership, str]) -> bool:
    selection = _selection(name)
    if selection is None:
        return True  # not a set the drivers name after a selection: left alone
    return selection.ident in group_ids if selection.kind == "sg" else selection in wanted


def _owned(tenant: dict[str, Any], projects: set[str]) -> bool:
    external = str(tenant.get("external_id") or "")
    return bool(external) and (
        external in projects or tenant["name"] == mapping.tenant_name(external)
    )


def _segments(client: Client, tenant: str) -> list[str]:
    return [str(s) for s in client.get_tenant(tenant)["segments"]]


def _like_network(segment: str) -> bool:
    try:
        uuid.UUID(segment)
    except ValueError:
        return False
    return True


def _orphaned(key: str, found: set[str]) -> bool:
    """Note ``key`` as orphaned now; True when the previous pass found it orphaned too."""
    found.add(key)
    return key in _SUSPECTS
