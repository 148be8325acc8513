"""Placing, removing and relabelling hosts: pure functions from a topology to a new one.

Placement rule, applied to every tree (``topologies[]`` entry) independently:

* A leaf group is *eligible* for a host when every key/value of the group's ``assignment``
  and of all its ancestors' is among the host's labels. Padding slots are never eligible.
* Among eligible leaves that still have a free index, the one with the fewest hosts wins;
  ties go to the first in document order. The host takes the lowest free index of that leaf.
* An index is free when no host sits on it and it is not in ``reserved`` for any network of
  the tree. The caller passes, as ``reserved``, the indices whose host prefix still holds
  allocated addresses: so a prefix is never handed to a new host while any endpoint address
  inside it is allocated.
* A tree with no eligible leaf is skipped (the host gets no prefix in its networks, as in
  Romana v2). A tree with eligible leaves that are all full fails the whole placement with
  :class:`Exhausted`, since silently skipping it would leave the host without the networks
  it qualifies for. A host that fits no tree at all is :class:`InvalidInput`.

Every function either returns the new topology or raises and changes nothing.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable, Iterator, Mapping

from romana.core import addressing, names
from romana.core.errors import AlreadyExists, Exhausted, InvalidInput, Issue, Issues, NotFound
from romana.core.identifiers import HostName
from romana.core.topology import model, underlay

NO_RESERVATIONS: Mapping[str, frozenset[int]] = types.MappingProxyType({})
_LISTED_GROUPS = 20


def host_of(spec: model.HostSpec, layouts: Iterable[addressing.Layout] = ()) -> model.Host:
    """Validate a :class:`HostSpec` to be placed among the networks of ``layouts``;
    InvalidInput naming ``name``, ``ip``, ``ip6``, ``labels``."""
    issues = Issues()
    if not names.matches(model.HOST_NAME_RE, spec.name):
        issues.add("name", model.HOST_NAME_RULE)
    ip = model.parse_ip(spec.ip)
    if ip is None:
        issues.add("ip", f"{spec.ip!r} is not an IPv4 or IPv6 address")
    ip6 = model.check_ip6(spec.ip6, ip, "ip6", issues)
    nets = tuple(layouts)
    underlay.check(ip, "ip", nets, issues)
    underlay.check(ip6, "ip6", nets, issues)
    labels = model.check_labels(spec.labels, "labels", issues)
    issues.raise_if_any()
    assert ip is not None
    return model.Host(spec.name, ip, labels, ip6)


def eligible_leaves(tree: model.Tree, labels: model.Labels) -> Iterator[model.Group]:
    """The leaves of ``tree`` a host with ``labels`` may sit in, in document order."""
    return (leaf for leaf, need in assignments(tree) if model.satisfies(labels, need))


def assignments(tree: model.Tree) -> Iterator[tuple[model.Group, model.Labels]]:
    """Every leaf with the union of its own and its ancestors' assignments."""

    def walk(
        group: model.Group, above: dict[str, str]
    ) -> Iterator[tuple[model.Group, model.Labels]]:
        need = {**above, **dict(group.assignment)}
        if group.is_leaf:
            yield group, model.labels_of(need)
        for child in group.groups:
            yield from walk(child, need)

    return walk(tree.root, {})


def place_host(
    topology: model.Topology,
    spec: model.HostSpec,
    reserved: Mapping[str, frozenset[int]] = NO_RESERVATIONS,
) -> tuple[model.Topology, model.Placement]:
    """Place a new host in every tree it is eligible for; return the new topology and where.

    ``reserved`` maps a network name to host indices that must not be given out (their prefix
    still holds allocated addresses); names of networks the topology lacks are ignored.

    Raises:
        InvalidInput: the spec is malformed, an underlay address is one
            :mod:`.underlay` refuses, or the host's labels fit no group of any tree.
        AlreadyExists: a host with this name (ignoring case: DNS names are case-insensitive)
            or one of its underlay addresses is placed already.
        Exhausted: a tree has eligible groups but none has a free index.
    """
    host = host_of(spec, tuple(n.layout for n in topology.networks))
    for other in topology.hosts:
        if names.clash(host.name, (other.name,)) is not None:
            raise AlreadyExists(f"host {other.name!r} exists already (ip {other.ip})")
        for address in host.addresses:
            if address in other.addresses:
                raise AlreadyExists(f"host {other.name!r} has underlay address {address} already")
    trees = list(topology.trees)
    placed = False
    for t, tree in enumerate(trees):
        eligible = list(eligible_leaves(tree, host.labels))
        if not eligible:
            continue
        blocked = frozenset().union(*(reserved.get(n, frozenset()) for n in tree.networks))
        choice = _choose(eligible, blocked)
        if choice is None:
            raise Exhausted(_full(topology, tree, eligible, blocked, host.name))
        leaf, index = choice
        grown = dataclasses.replace(leaf, members=(*leaf.members, model.Member(host.name, index)))
        trees[t] = dataclasses.replace(tree, root=_replace(tree.root, leaf.position, grown))
        placed = True
    if not placed:
        shown = ", ".join(f"{k}={v}" for k, v in host.labels) or "(none)"
        raise InvalidInput(
            [
                Issue(
                    "labels",
                    f"host {host.name!r} with labels {shown} fits no group: "
                    f"{_describe_groups(topology)}",
                )
            ]
        )
    hosts = tuple(sorted((*topology.hosts, host), key=lambda h: h.name))
    new = dataclasses.replace(topology, trees=tuple(trees), hosts=hosts)
    return new, model.placement(new, host.name)


def _choose(eligible: list[model.Group], blocked: frozenset[int]) -> tuple[model.Group, int] | None:
    best: tuple[model.Group, int] | None = None
    for leaf in eligible:
        if best is not None and len(leaf.members) >= len(best[0].members):
            continue
        index = _lowest_free(leaf, blocked)
        if index is not None:
            best = (leaf, index)
    return best


def _lowest_free(leaf: model.Group, blocked: frozenset[int]) -> int | None:
    taken = {m.index for m in leaf.members} | blocked
    # At most len(taken) + 1 probes: the search stops at the first index not taken.
    for index in range(leaf.first, leaf.first + leaf.capacity):
        if index not in taken:
            return index
    return None


def _replace(group: model.Group, position: tuple[int, ...], new: model.Group) -> model.Group:
    if not position:
        return new
    head, rest = position[0], position[1:]
    children = list(group.groups)
    children[head] = _replace(children[head], rest, new)
    return dataclasses.replace(group, groups=tuple(children))


def _full(
    topology: model.Topology,
    tree: model.Tree,
    eligible: list[model.Group],
    blocked: frozenset[int],
    name: str,
) -> str:
    lay = topology.layouts[tree.networks[0]]
    parts = []
    for leaf in eligible[:_LISTED_GROUPS]:
        seated = {m.index for m in leaf.members}
        held = sum(1 for i in blocked if leaf.contains(i) and i not in seated)
        parts.append(
            f"{leaf.path or '(root)'} {model.group_prefix(lay, tree.topology_bits, leaf)} in "
            f"{lay.name!r}: capacity {leaf.capacity}, {len(leaf.members)} hosts, "
            f"{held} indices still holding allocated addresses"
        )
    more = len(eligible) - _LISTED_GROUPS
    tail = f"; and {more} more groups" if more > 0 else ""
    return f"no free host index for host {name!r} in any eligible group: {'; '.join(parts)}{tail}"


def _describe_groups(topology: model.Topology) -> str:
    parts: list[str] = []
    for t, tree in enumerate(topology.trees):
        for leaf, need in assignments(tree):
            shown = ", ".join(f"{k}={v}" for k, v in need) or "(no assignment: any host)"
            parts.append(f"topologies[{t}] {leaf.path or '(root)'} assigns {shown}")
    if len(parts) > _LISTED_GROUPS:
        parts = [*parts[:_LISTED_GROUPS], f"and {len(parts) - _LISTED_GROUPS} more groups"]
    return "; ".join(parts) or "the topology has no groups (no topologies are defined)"


def remove_host(topology: model.Topology, name: HostName) -> model.Topology:
    """The topology without host ``name``; its indices become free (subject to ``reserved``).

    Raises:
        NotFound: no host has this name.
    """
    topology.host(name)
    trees = []
    for tree in topology.trees:
        chain = tree.chain(name)
        if chain is None:
            trees.append(tree)
            continue
        leaf = chain[-1]
        kept = tuple(m for m in leaf.members if m.host != name)
        shrunk = dataclasses.replace(leaf, members=kept)
        trees.append(dataclasses.replace(tree, root=_replace(tree.root, leaf.position, shrunk)))
    hosts = tuple(h for h in topology.hosts if h.name != name)
    return dataclasses.replace(topology, trees=tuple(trees), hosts=hosts)


def update_labels(
    topology: model.Topology, name: HostName, labels: Mapping[str, str] | model.Labels
) -> model.Topology:
    """Replace the labels of host ``name``; the host keeps its seats.

    Raises:
        NotFound: no host has this name.
        InvalidInput: the labels are malformed, or lack an assignment of a group the host
            sits in (remove and place the host again to move it).
    """
    host = topology.host(name)
    issues = Issues()
    new_labels = model.check_labels(labels, "labels", issues)
    issues.raise_if_any()
    for t, tree in enumerate(topology.trees):
        chain = tree.chain(name)
        if chain is None:
            continue
        leaf = chain[-1]
        need = next(n for g, n in assignments(tree) if g.position == leaf.position)
        if not model.satisfies(new_labels, need):
            missing = ", ".join(f"{k}={v}" for k, v in need if dict(new_labels).get(k) != v)
            issues.add(
                "labels",
                f"host {name!r} sits in topologies[{t}] group {leaf.path or '(root)'}, "
                f"which needs {missing}",
            )
    issues.raise_if_any()
    relabelled = dataclasses.replace(host, labels=new_labels)
    hosts = tuple(relabelled if h.name == name else h for h in topology.hosts)
    return dataclasses.replace(topology, hosts=hosts)


def find(topology: model.Topology, name_or_ip: str | addressing.IPAddress) -> model.Host:
    """A host by name, or by underlay address (``ip`` or ``ip6``) when no host has that name.

    Raises:
        NotFound: neither a host name nor a host IP.
    """
    if isinstance(name_or_ip, str):
        for host in topology.hosts:
            if host.name == name_or_ip:
                return host
    try:
        return topology.host_by_ip(name_or_ip)
    except NotFound:
        raise NotFound(f"no host is named or has underlay address {name_or_ip}") from None
