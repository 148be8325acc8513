"""The topology as frozen values: networks, group trees, hosts and their seats.

A :class:`Topology` holds the networks of the address plan, one :class:`Tree` per
``topologies[]`` entry of the document, and the hosts placed in those trees. A tree carves the
*topology bits* of its networks (the bits between the network prefix and the tenant field)
into nested power-of-two groups; each host owns one *host index* (one value of the topology
bits, so one host prefix) in every network of each tree it is placed in.

Invariants (established by :func:`romana.core.topology.parse` and kept by every operation in
:mod:`romana.core.topology.hosts`):

* Group ``g`` owns the topology values ``g.first … g.first + 2**g.bits - 1``; a child's range
  lies inside its parent's and siblings' ranges are disjoint. Its aggregate prefix in a network
  is therefore one CIDR (:func:`group_prefix`).
* Hosts sit only in leaf groups (groups without subgroups), each at an index inside its leaf's
  range; no two hosts of a tree share an index, and a host sits in at most one leaf per tree.
* All networks of a tree have the same number of topology bits, so a host's index is the same
  in every network of the tree.
* Every host satisfies the ``assignment`` of its leaf and of all the leaf's ancestors.
* Host names and underlay addresses (``ip`` and ``ip6`` alike) are unique across the
  topology; ``Topology.hosts`` is sorted by name so that equal topologies compare equal
  however they were built. A host placed or listed in a document applied since names became
  unique ignoring case differs from every other host by more than case; lookups are exact.
* Network names are DNS-1123 labels, and host labels and group assignments follow
  Kubernetes' label syntax (:mod:`romana.core.names`), in every document applied and every
  host placed or relabelled; a topology stored by an earlier release is read as it was.
* A host's ``ip6``, when set, is IPv6 and its ``ip`` is IPv4: a host has at most one underlay
  address per family (:meth:`Host.address`), the next hop other hosts use for that family.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from romana.core import addressing, names
from romana.core.errors import Issues, NotFound
from romana.core.identifiers import HostName, NetworkName, TenantName
from romana.core.topology.aws import VpcRouting
from romana.core.topology.bgp import DIRECT, BgpSettings

HOST_NAME_RE = names.HOST_RE
HOST_NAME_RULE = names.HOST_RULE

Labels = tuple[tuple[str, str], ...]
"""Label (or assignment) pairs sorted by key: hashable, comparable, and ``dict(labels)`` works."""


def labels_of(mapping: Mapping[str, str]) -> Labels:
    """The canonical :data:`Labels` form of a mapping."""
    return tuple(sorted(mapping.items()))


def parse_ip(raw: object) -> addressing.IPAddress | None:
    """The address written as ``raw`` (a string or an address), or None when it is not one."""
    if isinstance(raw, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        return ipaddress.ip_address(raw)
    except ValueError:
        return None


IP6_RULE = (
    "must be an IPv6 address, given only with an IPv4 ip (an IPv6 ip is the host's IPv6 "
    "underlay address already)"
)


def check_ip6(
    raw: object, ip: addressing.IPAddress | None, where: str, issues: Issues
) -> addressing.IPAddress | None:
    """The IPv6 underlay address written as ``raw`` (None when absent) beside ``ip``."""
    if raw is None:
        return None
    ip6 = parse_ip(raw)
    if ip6 is None or ip6.version != 6 or (ip is not None and ip.version != 4):
        issues.add(where, f"{raw!r} {IP6_RULE}")
        return None
    return ip6


def check_object(
    raw: object, where: str, keys: frozenset[str], issues: Issues
) -> Mapping[str, object]:
    """``raw`` when it is an object; every key outside ``keys`` is an issue (typos show)."""
    if not isinstance(raw, Mapping):
        issues.add(where, "must be an object")
        return {}
    for key in raw:
        if key not in keys:
            issues.add(f"{where}.{key}", f"unknown key (allowed: {', '.join(sorted(keys))})")
    return raw


def check_labels(raw: object, where: str, issues: Issues, *, syntax: bool = True) -> Labels:
    """Validate labels: an object whose keys and values follow Kubernetes' label syntax
    (:func:`romana.core.names.check_labels`). ``syntax=False`` asks only for non-empty string
    keys and string values, what earlier releases stored (see :func:`.parse.parse`)."""
    if raw is None:
        return ()
    if isinstance(raw, tuple):
        try:
            raw = dict(raw)
        except (TypeError, ValueError):
            issues.add(where, "must be pairs of label and value")
            return ()
    if not isinstance(raw, Mapping):
        issues.add(where, "must be an object of string keys and string values")
        return ()
    if syntax:
        return labels_of(names.check_labels(raw, where, issues))
    good: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            issues.add(where, f"key {key!r} must be a non-empty string")
        elif not isinstance(value, str):
            issues.add(f"{where}.{key}", "must be a string")
        else:
            good[key] = value
    return labels_of(good)


def satisfies(labels: Labels, assignment: Labels) -> bool:
    """True when every key/value pair of ``assignment`` is among ``labels``."""
    have = dict(labels)
    return all(have.get(key) == value for key, value in assignment)


@dataclass(frozen=True, slots=True)
class Network:
    """One network of the plan and the tenants it admits (empty ``tenants``: every tenant)."""

    layout: addressing.Layout
    tenants: tuple[TenantName, ...] = ()

    @property
    def name(self) -> NetworkName:
        return self.layout.name


@dataclass(frozen=True, slots=True)
class Host:
    """A host: its unique name, its underlay address(es) (the next hops others route to) and
    labels. ``ip6`` is the IPv6 underlay address of a host whose ``ip`` is IPv4."""

    name: HostName
    ip: addressing.IPAddress
    labels: Labels = ()
    ip6: addressing.IPAddress | None = None
    asn: int | None = None
    """Its own BGP AS, over its groups' (:mod:`romana.core.topology.bgp`)."""

    @property
    def addresses(self) -> tuple[addressing.IPAddress, ...]:
        """Every underlay address of the host: ``ip``, then ``ip6`` when set."""
        return (self.ip,) if self.ip6 is None else (self.ip, self.ip6)

    def address(self, version: int) -> addressing.IPAddress | None:
        """The underlay address of IP ``version`` (4 or 6); None when the host has none."""
        return addressing.of_version(self.addresses, version)


@dataclass(frozen=True, slots=True)
class Member:
    """A host's seat in a leaf group: the host index it owns in every network of the tree."""

    host: HostName
    index: int


@dataclass(frozen=True, slots=True)
class Group:
    """A node of a tree: an aggregate of ``2**bits`` host indices starting at ``first``.

    ``position`` is the child-index path from the tree's root (the root is ``()``); ``path`` is
    the readable form built from names (``zone-A/rack-1``; an unnamed group shows as ``#i``).
    ``members`` lists the hosts of a leaf in placement order; it is empty for inner groups.
    """

    name: str
    path: str
    position: tuple[int, ...]
    first: int
    bits: int
    assignment: Labels = ()
    routing: str = ""
    groups: tuple[Group, ...] = ()
    members: tuple[Member, ...] = ()
    bgp: BgpSettings | None = None
    """Its ``bgp`` object as given (:mod:`romana.core.topology.bgp`)."""

    @property
    def is_leaf(self) -> bool:
        return not self.groups

    @property
    def capacity(self) -> int:
        """How many host indices the group spans."""
        return 1 << self.bits

    def contains(self, index: int) -> bool:
        return self.first <= index < self.first + self.capacity

    def walk(self) -> Iterator[Group]:
        """This group and every group below it, depth first in document order."""
        yield self
        for child in self.groups:
            yield from child.walk()

    def leaves(self) -> Iterator[Group]:
        return (g for g in self.walk() if g.is_leaf)

    def all_members(self) -> Iterator[Member]:
        """Every host seat under this group, leaf by leaf in document order."""
        for leaf in self.leaves():
            yield from leaf.members


@dataclass(frozen=True, slots=True)
class Tree:
    """One ``topologies[]`` entry: the networks it spans and the group tree carving them."""

    networks: tuple[NetworkName, ...]
    topology_bits: int
    root: Group
    route_mode: str = DIRECT
    """``direct`` or ``bgp`` (:mod:`romana.core.topology.bgp`)."""
    bgp: BgpSettings | None = None
    """The tree's ``bgp`` object as given: the root group's parent settings."""
    aws: VpcRouting | None = None
    """The VPC route tables ``romana-aws`` publishes the tree's groups to (the ``aws`` key)."""

    def groups(self) -> Iterator[Group]:
        return self.root.walk()

    def chain(self, host: HostName) -> tuple[Group, ...] | None:
        """The groups from the root down to the leaf holding ``host``; None when not placed."""
        return _chain(self.root, host)

    def member(self, host: HostName) -> Member | None:
        chain = self.chain(host)
        if chain is None:
            return None
        return next(m for m in chain[-1].members if m.host == host)


def _chain(group: Group, host: HostName) -> tuple[Group, ...] | None:
    if group.is_leaf:
        return (group,) if any(m.host == host for m in group.members) else None
    for child in group.groups:
        below = _chain(child, host)
        if below is not None:
            return (group, *below)
    return None


@dataclass(frozen=True, slots=True)
class Topology:
    """Networks, trees and placed hosts; build with ``parse``; change with :mod:`.hosts`."""

    networks: tuple[Network, ...] = ()
    trees: tuple[Tree, ...] = ()
    hosts: tuple[Host, ...] = ()

    @property
    def layouts(self) -> dict[str, addressing.Layout]:
        """Network name → layout, in document order."""
        return {n.name: n.layout for n in self.networks}

    def network(self, name: NetworkName) -> Network:
        for net in self.networks:
            if net.name == name:
                return net
        raise NotFound(f"network {name!r} does not exist")

    def host(self, name: HostName) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        same = names.clash(name, (h.name for h in self.hosts))
        # Exact lookups, as for every name; a miss by case alone says which host exists.
        hint = f" (host {same!r} does; host names are matched exactly)" if same else ""
        raise NotFound(f"host {name!r} does not exist{hint}")

    def host_by_ip(self, ip: addressing.IPAddress | str) -> Host:
        addr = parse_ip(ip)
        for host in self.hosts:
            if addr in host.addresses:
                return host
        raise NotFound(f"no host has underlay address {ip}")

    def tree_of(self, network: NetworkName) -> Tree | None:
        """The tree spanning ``network``; None for a network no topology references."""
        for tree in self.trees:
            if network in tree.networks:
                return tree
        return None


@dataclass(frozen=True, slots=True)
class HostSpec:
    """What a caller knows about a host to be placed."""

    name: HostName
    ip: addressing.IPAddress | str
    labels: Mapping[str, str] | Labels = ()
    ip6: addressing.IPAddress | str | None = None


@dataclass(frozen=True, slots=True)
class HostPrefix:
    """A host's share of one network: its index, prefix, gateway address and leaf group."""

    network: NetworkName
    index: int
    prefix: addressing.IPNetwork
    gateway: addressing.IPAddress
    group: str

    def to_dict(self) -> dict[str, object]:
        return {
            "network": self.network,
            "index": self.index,
            "prefix": str(self.prefix),
            "gateway": str(self.gateway),
            "group": self.group,
        }


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a host sits: one :class:`HostPrefix` per network of every tree holding it."""

    host: Host
    prefixes: tuple[HostPrefix, ...]

    @property
    def indices(self) -> dict[str, int]:
        """Network name → host index."""
        return {p.network: p.index for p in self.prefixes}


def group_prefix(lay: addressing.Layout, topology_bits: int, group: Group) -> addressing.IPNetwork:
    """The aggregate prefix of ``group`` in the network ``lay``.

    ``topology_bits`` is the tree's width (equal to ``lay.topology_bits``); the group fixes the
    top ``topology_bits - group.bits`` of those bits.
    """
    base = int(lay.cidr.network_address) | (group.first << lay.host_shift)
    prefixlen = lay.cidr.prefixlen + topology_bits - group.bits
    if lay.version == 4:
        return ipaddress.IPv4Network((base, prefixlen))
    return ipaddress.IPv6Network((base, prefixlen))


def host_prefix(lay: addressing.Layout, index: int) -> addressing.IPNetwork:
    """The prefix owned by host index ``index`` (the family-safe form of ``addressing``'s)."""
    base = int(lay.cidr.network_address) | (index << lay.host_shift)
    if lay.version == 4:
        return ipaddress.IPv4Network((base, lay.host_prefixlen))
    return ipaddress.IPv6Network((base, lay.host_prefixlen))


def placement(topology: Topology, name: HostName) -> Placement:
    """Where host ``name`` sits; NotFound when it is not placed."""
    host = topology.host(name)
    layouts = topology.layouts
    prefixes: list[HostPrefix] = []
    for tree in topology.trees:
        chain = tree.chain(name)
        if chain is None:
            continue
        member = next(m for m in chain[-1].members if m.host == name)
        for net in tree.networks:
            lay = layouts[net]
            prefixes.append(
                HostPrefix(
                    net,
                    member.index,
                    host_prefix(lay, member.index),
                    addressing.gateway(lay, member.index),
                    chain[-1].path,
                )
            )
    return Placement(host, tuple(prefixes))
