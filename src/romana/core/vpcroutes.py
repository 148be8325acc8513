"""The routes VPC route tables need for the topology, and the changes that bring them there.

:func:`wanted` reads the route plan for a VPC out of a :class:`~romana.core.topology.Topology`:
for every tree with an ``aws`` key (:mod:`romana.core.topology.aws`), every leaf group that
holds hosts and every network of the tree, one route to the group's aggregate prefix
(:func:`~romana.core.topology.model.group_prefix`) in each route table the tree names. So a
rack is one route however many hosts it holds, as Romana v2's vpc-router did; traffic inside
the group is the agents' business (their host routes), not the VPC's.

:func:`plan` compares that with what EC2 reports and with the routes the publisher recorded as
its own, and returns the changes. Rules:

* Ownership: a route is the publisher's only when its destination is in ``owned`` (the set it
  recorded when it created the route). Any other route is never replaced or deleted, even at a
  group's destination: that group's route is then not published and a note says why.
* Next hop: a running instance of a host of the group, found by the host's underlay ``ip``.
  A route whose instance is still a running instance of the group keeps it (no churn); one
  whose instance stopped, terminated or left the group moves to the group's first running
  instance in placement order. A group without a running instance keeps the route it has (it
  becomes usable again when an instance starts) and gets none when it has none.
* Removal: an owned route whose group or table is no longer in the plan is deleted; an owned
  destination the table no longer holds (deleted by hand) is forgotten.
* Limit: every route of a table except propagated ones counts against its limit. When the
  routes to create would take the table over it, none of them is created (replacements and
  deletions still are) and :attr:`TablePlan.refused` names the groups and the count.
* Source/destination check: every running instance of a routed group must have it off, or
  EC2 drops the packets it forwards; :attr:`Plan.source_dest` lists those that have it on.

Pure: the adapter (:mod:`romana.integrations.aws`) reads EC2 and applies the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from romana.core import addressing, topology
from romana.core.identifiers import NetworkName


@dataclass(frozen=True, slots=True)
class GroupRoute:
    """One route the plan wants: ``dst`` (the aggregate of leaf ``group`` in ``network``) in
    route table ``table``, via an instance of one of ``hosts`` (placement order)."""

    table: str
    network: NetworkName
    dst: addressing.IPNetwork
    group: str
    hosts: tuple[topology.Host, ...]

    @property
    def label(self) -> str:
        return f"{self.group or '(root)'} ({self.network} {self.dst})"


@dataclass(frozen=True, slots=True)
class Wanted:
    """Every wanted route, and each named table's route limit."""

    routes: tuple[GroupRoute, ...]
    limits: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Instance:
    """What EC2 says about the instance holding a host's underlay address."""

    id: str
    running: bool
    source_dest_check: bool


@dataclass(frozen=True, slots=True)
class TableRoute:
    """A route a table holds: its destination, its instance target (None for gateways,
    interfaces and the like), and whether it was propagated (those do not count)."""

    dst: addressing.IPNetwork
    instance: str | None = None
    target: str = ""
    propagated: bool = False


class Kind(StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Change:
    """One call to make: create or replace ``dst`` via ``instance``, or delete ``dst``."""

    kind: Kind
    table: str
    dst: addressing.IPNetwork
    instance: str | None = None
    group: str | None = None

    def describe(self) -> str:
        via = f" via {self.instance}" if self.instance else ""
        of = f" (group {self.group or '(root)'})" if self.group is not None else ""
        return f"{self.kind} {self.dst}{via} in {self.table}{of}"


@dataclass(frozen=True, slots=True)
class TablePlan:
    table: str
    changes: tuple[Change, ...] = ()
    refused: str | None = None
    """Why the table's new routes were not created (the limit), naming groups and count."""
    notes: tuple[str, ...] = ()
    """Groups left without a published route, and why."""


@dataclass(frozen=True, slots=True)
class Plan:
    tables: tuple[TablePlan, ...] = ()
    source_dest: tuple[str, ...] = ()
    """Instances whose source/destination check must be turned off."""
    unmatched: tuple[str, ...] = field(default=())
    """Hosts of routed groups without an instance at their underlay address."""

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for t in self.tables for c in t.changes)


def wanted(topo: topology.Topology) -> Wanted:
    """The routes the topology's ``aws`` keys ask for, in document order."""
    layouts = topo.layouts
    hosts = {h.name: h for h in topo.hosts}
    routes: list[GroupRoute] = []
    limits: dict[str, int] = {}
    for tree in topo.trees:
        if tree.aws is None:
            continue
        for table in tree.aws.route_tables:
            limits[table] = min(limits.get(table, tree.aws.route_limit), tree.aws.route_limit)
        for leaf in tree.root.leaves():
            if not leaf.members:
                continue
            members = tuple(hosts[m.host] for m in leaf.members)
            for net in tree.networks:
                dst = topology.group_prefix(layouts[net], tree.topology_bits, leaf)
                routes.extend(
                    GroupRoute(table, net, dst, leaf.path, members)
                    for table in tree.aws.route_tables
                )
    return Wanted(tuple(routes), limits)


def hosts_of(want: Wanted) -> tuple[topology.Host, ...]:
    """Every host whose instance the plan needs to know, once each, by name."""
    seen = {h.name: h for r in want.routes for h in r.hosts}
    return tuple(seen[n] for n in sorted(seen))


def plan(
    want: Wanted,
    instances: Mapping[addressing.IPAddress, Instance],
    current: Mapping[str, Sequence[TableRoute]],
    owned: Mapping[str, Iterable[addressing.IPNetwork]],
) -> Plan:
    """The changes that bring the tables in ``current`` (one entry per table read) to
    ``want``. A table in ``owned`` but missing from ``current`` gets no plan (it could not be
    read); one in ``current`` that no tree names any more loses its owned routes."""
    tables: list[TablePlan] = []
    for table in sorted(set(want.limits) | set(owned)):
        if table not in current:
            continue
        mine = [r for r in want.routes if r.table == table]
        tables.append(_table(table, want.limits.get(table), mine, instances, current[table], owned))
    routed = [i for r in want.routes for h in r.hosts if (i := instances.get(h.ip)) is not None]
    source_dest = sorted({i.id for i in routed if i.running and i.source_dest_check})
    unmatched = sorted({h.name for r in want.routes for h in r.hosts if h.ip not in instances})
    return Plan(tuple(tables), tuple(source_dest), tuple(unmatched))


def _table(
    table: str,
    limit: int | None,
    routes: Sequence[GroupRoute],
    instances: Mapping[addressing.IPAddress, Instance],
    present: Sequence[TableRoute],
    owned_by_table: Mapping[str, Iterable[addressing.IPNetwork]],
) -> TablePlan:
    owned = set(owned_by_table.get(table, ()))
    have = {r.dst: r for r in present}
    creates: list[tuple[Change, GroupRoute]] = []
    others: list[Change] = []
    notes: list[str] = []
    wanted_dsts: set[addressing.IPNetwork] = set()
    for route in routes:
        wanted_dsts.add(route.dst)  # one per table: networks never overlap
        running = [
            i.id for h in route.hosts if (i := instances.get(h.ip)) is not None and i.running
        ]
        found = have.get(route.dst)
        if found is not None and route.dst not in owned:
            notes.append(
                f"group {route.label}: {table} holds a route to {route.dst} "
                f"({found.target or 'no target'}) that romana-aws did not create; left alone"
            )
        elif not running:
            kept = "its route is kept" if found is not None else "no route"
            notes.append(f"group {route.label}: no running instance ({kept})")
        elif found is None:
            creates.append((Change(Kind.CREATE, table, route.dst, running[0], route.group), route))
        elif found.instance not in running:
            others.append(Change(Kind.REPLACE, table, route.dst, running[0], route.group))
    for dst in sorted(owned - wanted_dsts, key=_order):
        if dst in have:
            others.append(Change(Kind.DELETE, table, dst))
    refused = None
    if limit is not None and creates:
        deletes = sum(1 for c in others if c.kind is Kind.DELETE)
        counted = sum(1 for r in present if not r.propagated)
        total = counted - deletes + len(creates)
        if total > limit:
            names = ", ".join(r.label for _, r in creates)
            refused = (
                f"route table {table} would hold {total} routes, over its limit of {limit} "
                f"(it holds {counted - deletes}, and {len(creates)} groups need a new route): "
                f"not adding the routes of {names}"
            )
            creates = []
    return TablePlan(table, tuple(c for c, _ in creates) + tuple(others), refused, tuple(notes))


def owned_after(
    owned: Iterable[addressing.IPNetwork],
    present: Iterable[TableRoute],
    done: Iterable[Change],
) -> frozenset[addressing.IPNetwork]:
    """The destinations the publisher owns in a table once ``done`` succeeded: those it owned
    that the table still held, plus those it created, less those it deleted."""
    held = {r.dst for r in present}
    result = {d for d in owned if d in held}
    for change in done:
        if change.kind is Kind.DELETE:
            result.discard(change.dst)
        else:
            result.add(change.dst)
    return frozenset(result)


def _order(dst: addressing.IPNetwork) -> tuple[int, int, int]:
    return (dst.version, int(dst.network_address), dst.prefixlen)
