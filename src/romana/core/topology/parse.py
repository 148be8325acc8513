"""Parse a topology document (ours or Romana v2's) into a validated :class:`Topology`.

Document shape::

    {"networks":   [{"name", "cidr", "tenants"?, "tenant_bits"?, "segment_bits"?,
                     "endpoint_bits"?, "block_mask"?}, ...],
     "topologies": [{"networks": [names], "map": [GroupOrHost, ...]}, ...]}

    GroupOrHost = group {"name"?, "assignment"?, "routing"?, "groups"?: [GroupOrHost]}
                | host  {"name", "ip", "ip6"?, "labels"?, "index"?}

A ``topologies[]`` entry's ``aws`` (VPC route tables) is read by :mod:`.aws`.

Rules, beyond the carving of :mod:`romana.core.topology.carving`:

* Widths default to :data:`romana.core.addressing.DEFAULT_WIDTHS`. A network given with v2's
  ``block_mask`` (the prefix length of a v2 address block) instead of ``endpoint_bits`` gets
  widths chosen from all the bits it leaves (:mod:`romana.core.topology.widths`): enough
  endpoint bits for kubelet's default ``maxPods``, the rest to hosts. ``tenants`` empty,
  absent or ``["*"]`` (v2's output spelling) admits every tenant.
* v2's ``dummy`` flag on a group is read when false (as v2's ``GET /topology`` writes it);
  true, a padding group, is refused: romana pads lists of groups itself.
* A ``map`` of exactly one group makes that group the root, owning all topology bits;
  any other ``map`` (several groups, hosts, or empty) sits under an unnamed root. A list of
  hosts makes its enclosing group a leaf holding them; a list may not mix hosts and groups.
  A group without ``groups`` (or with ``groups: []``) is an empty leaf.
* Listed hosts take their ``index`` (our extension, written by ``to_document`` so that a
  placement survives export) or else the lowest index of their leaf not taken, in list order.
  A listed host must carry the labels its groups' ``assignment`` asks for (v2 accepted any
  host; we keep "every host is eligible for its group" true everywhere). v2's ``assignment``
  on a host element is read as its labels.
* A host's optional ``ip6`` is its IPv6 underlay address beside an IPv4 ``ip`` (the next hop
  of its IPv6 networks). Every underlay address, ``ip`` or ``ip6``, belongs to one host.
* A host listed in several topologies is one host: same ``ip``, ``ip6`` and labels everywhere.
* All networks of one topology have equal topology bits (a host's index is the same in each).
* A host's underlay addresses are none of the addresses :mod:`.underlay` refuses (loopback,
  link-local, an address of a romana network, ...). Not checked for a document romanad
  stored (``stored=True``).
* Network names are DNS-1123 labels; host labels and group assignments follow Kubernetes'
  label syntax; host names, and the names of sibling groups, are unique ignoring case
  (:mod:`romana.core.names`). Not checked for a document romanad stored (``stored=True``).

Every problem is collected and raised as one :class:`InvalidInput` whose issues name the field
path (``topologies[0].map[1].groups[2]``) and the rule.

The hosts a ``map`` lists are read by :class:`romana.core.topology.listedhosts.HostLister`,
which the parser here extends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from romana.core import addressing, names
from romana.core.identifiers import NetworkName
from romana.core.topology import aws, bgp, carving, model, networks
from romana.core.topology.listedhosts import HostLister

MAX_DEPTH = 64
# Width used when a tree's real width is unknown because its networks are in error; wide
# enough that no spurious capacity issue is added next to the real one.
_UNKNOWN_BITS = 128

_TOP_KEYS = frozenset({"networks", "topologies"})
_TOPOLOGY_KEYS = frozenset({"networks", "map", "route_mode", "bgp", "aws"})
# "cidr" is filled in by v2 on output and ignored on input, as v2 did; so is "dummy": false.
_GROUP_KEYS = frozenset({"name", "assignment", "routing", "groups", "cidr", "bgp", "dummy"})


@dataclass(frozen=True, slots=True)
class _Slot:
    """The part of a topology tree a group, or a list of groups and hosts, is given.

    ``position`` is the group's index path from the root, ``first`` and ``bits`` its host
    indices (``first … first + 2**bits - 1``), ``required`` the labels its enclosing groups
    assign, ``t`` the topology's index and ``depth`` how deep the groups nest here.
    """

    position: tuple[int, ...]
    first: int
    bits: int
    required: model.Labels
    t: int
    depth: int
    peering: bgp.BgpSettings = bgp.NONE
    """The BGP settings in effect here, inherited (:mod:`.bgp`)."""
    mode: str = bgp.DIRECT
    families: frozenset[int] = frozenset()
    """The IP versions of the tree's networks."""


@dataclass(slots=True)
class _Parser(HostLister):
    """Reads the topologies and their groups; the hosts listed in them as
    :class:`HostLister` does."""

    # -- topologies ------------------------------------------------------------------------

    def topology_list(self, raw: object) -> list[model.Tree]:
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            self.issues.add("topologies", "must be a list")
            return []
        owner: dict[str, int] = {}
        return [self.topology(item, t, owner) for t, item in enumerate(raw)]

    def topology(self, raw: object, t: int, owner: dict[str, int]) -> model.Tree:
        where = f"topologies[{t}]"
        doc = model.check_object(raw, where, _TOPOLOGY_KEYS, self.issues)
        names = self.topology_networks(doc.get("networks"), where, t, owner)
        widths = {
            n: self.declared.valid[n].layout.topology_bits
            for n in names
            if n in self.declared.valid
        }
        bits = _UNKNOWN_BITS
        if len(set(widths.values())) > 1:
            listing = ", ".join(f"{n!r} has {w}" for n, w in widths.items())
            self.issues.add(
                f"{where}.networks",
                "networks of one topology must have equal topology bits, since a host has the "
                f"same index in each ({listing})",
            )
        elif widths and len(widths) == len(names):
            bits = next(iter(widths.values()))
        mode = bgp.parse_mode(doc.get("route_mode"), f"{where}.route_mode", self.issues)
        given = bgp.parse(doc.get("bgp"), f"{where}.bgp", self.issues, self.layouts())
        if given is not None and given.aggregate is not None:
            self.issues.add(f"{where}.bgp.aggregate", "is a group's setting (it names a group)")
        families = frozenset(
            self.declared.valid[n].layout.version for n in names if n in self.declared.valid
        )
        top = _Slot((), 0, bits, (), t, 0, bgp.effective([given]), mode, families)
        root = self.root(doc.get("map"), where, top)
        vpc = aws.parse_aws(doc.get("aws"), f"{where}.aws", self.issues)
        return model.Tree(tuple(NetworkName(n) for n in names), bits, root, mode, given, aws=vpc)

    def layouts(self) -> list[addressing.Layout]:
        return [n.layout for n in self.declared.valid.values()]

    def topology_networks(
        self, raw: object, where: str, t: int, owner: dict[str, int]
    ) -> list[str]:
        if not isinstance(raw, list) or not raw:
            self.issues.add(f"{where}.networks", "must be a non-empty list of network names")
            return []
        names: list[str] = []
        for k, name in enumerate(raw):
            at = f"{where}.networks[{k}]"
            if not isinstance(name, str) or name not in self.declared.names:
                self.issues.add(at, f"unknown network {name!r}")
            elif name in names:
                self.issues.add(at, f"network {name!r} is listed twice")
            elif name in owner:
                self.issues.add(
                    at,
                    f"network {name!r} is already in topologies[{owner[name]}]; "
                    "a network belongs to one topology",
                )
            else:
                owner[name] = t
                names.append(name)
        return names

    def root(self, raw: object, tree: str, top: _Slot) -> model.Group:
        where = f"{tree}.map"
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            self.issues.add(where, "must be a list of groups or hosts")
            raw = []
        if len(raw) == 1 and isinstance(raw[0], Mapping) and "ip" not in raw[0]:
            return self.group(raw[0], f"{where}[0]", "", top)
        groups, members = self.contents(raw, where, "", top)
        self.check_leaf(tree, top, groups, members)
        return model.Group("", "", (), 0, top.bits, groups=groups, members=members)

    def check_leaf(
        self,
        where: str,
        slot: _Slot,
        groups: tuple[model.Group, ...],
        members: tuple[model.Member, ...],
    ) -> None:
        """A leaf of a ``bgp`` tree has an AS and peers in effect (:func:`.bgp.check_leaf`)."""
        if slot.mode != bgp.BGP or groups:
            return
        bgp.check_leaf(slot.peering, where, slot.families, self.issues)

    def group(
        self, raw: Mapping[str, object], where: str, parent_path: str, slot: _Slot
    ) -> model.Group:
        doc = model.check_object(raw, where, _GROUP_KEYS, self.issues)
        name = doc.get("name", "")
        if not isinstance(name, str):
            self.issues.add(f"{where}.name", "must be a string")
            name = ""
        routing = doc.get("routing", "")
        if not isinstance(routing, str):
            self.issues.add(f"{where}.routing", "must be a string")
            routing = ""
        dummy = doc.get("dummy", False)
        if dummy is not False:
            self.issues.add(
                f"{where}.dummy",
                "must be false: a dummy group is Romana v2's padding, and romana pads every "
                "list of groups to a power of two itself; leave it out, or give an empty "
                'group {"groups": []} to keep the positions of the groups after it',
            )
        assignment = model.check_labels(
            doc.get("assignment"), f"{where}.assignment", self.issues, syntax=self.strict
        )
        have = dict(slot.required)
        for key, value in assignment:
            if have.get(key, value) != value:
                self.issues.add(
                    f"{where}.assignment",
                    f"{key}={value} contradicts {key}={have[key]} of an enclosing group; "
                    "no host could ever be placed here",
                )
            have[key] = value
        label = name or (f"#{slot.position[-1]}" if slot.position else "")
        path = f"{parent_path}/{label}" if parent_path else label
        given = bgp.parse(doc.get("bgp"), f"{where}.bgp", self.issues, self.layouts())
        merged = (given or bgp.NONE).over(slot.peering)
        bgp.check_group(merged, given, f"{where}.bgp", self.issues)
        inside = replace(slot, required=model.labels_of(have), depth=slot.depth + 1, peering=merged)
        groups, members = self.contents(doc.get("groups"), f"{where}.groups", path, inside)
        self.check_leaf(where, inside, groups, members)
        return model.Group(
            name, path, slot.position, slot.first, slot.bits, assignment, routing, groups,
            members, given,
        )  # fmt: skip

    def contents(
        self, raw: object, where: str, path: str, slot: _Slot
    ) -> tuple[tuple[model.Group, ...], tuple[model.Member, ...]]:
        if raw is None:
            return (), ()
        if not isinstance(raw, list):
            self.issues.add(where, "must be a list of groups or hosts")
            return (), ()
        if slot.depth > MAX_DEPTH:
            self.issues.add(where, f"groups nest deeper than {MAX_DEPTH} levels")
            return (), ()
        if not raw:
            return (), ()
        hosts = [isinstance(item, Mapping) and "ip" in item for item in raw]
        if all(hosts):
            return (), self.members(raw, where, path, slot.first, slot.bits, slot.required, slot.t)
        if any(hosts):
            self.issues.add(where, "mixes hosts and groups; hosts go in a leaf group's list")
            return (), ()
        bits = slot.bits
        if not carving.fits(len(raw), bits):
            self.issues.add(
                where,
                f"{len(raw)} groups need {carving.slot_bits(len(raw))} topology bits but the "
                f"enclosing group has only {bits} left (group too small for the layout)",
            )
            bits = _UNKNOWN_BITS
        children: list[model.Group] = []
        for i, item in enumerate(raw):
            at = f"{where}[{i}]"
            if not isinstance(item, Mapping):
                self.issues.add(at, "must be an object")
                continue
            c_first, c_bits = carving.child_range(slot.first, bits, len(raw), i)
            place = replace(slot, position=(*slot.position, i), first=c_first, bits=c_bits)
            children.append(self.group(item, at, path, place))
        seen: list[str] = []
        for child in (c for c in children if c.name):
            same = names.clash(child.name, seen) if self.strict else None
            if child.name in seen or same is not None:
                self.issues.add(
                    where,
                    f"group name {child.name!r} is used by more than one sibling"
                    + ("" if same in (None, child.name) else f" (as {same!r}; names ignore case)"),
                )
            seen.append(child.name)
        return tuple(children), ()


def parse(document: object, *, stored: bool = False) -> model.Topology:
    """Validate a topology document and return the :class:`Topology` it describes.

    ``stored=True`` reads a document romanad stored, which an earlier release may have
    written before the rules of :mod:`romana.core.names` (network names, label syntax, host
    and group names unique ignoring case) held: those are not checked then, so such a
    topology keeps working until a document that follows them is applied.

    Raises:
        InvalidInput: with one issue per problem found, each naming its field path.
    """
    p = _Parser(strict=not stored)
    doc = model.check_object(document, "document", _TOP_KEYS, p.issues)
    p.declared = networks.parse_networks(
        doc.get("networks"), p.issues, doc.get("topologies"), strict=p.strict
    )
    trees = p.topology_list(doc.get("topologies"))
    p.issues.raise_if_any()
    nets = tuple(p.declared.valid[name] for name in p.declared.names)
    hosts = tuple(sorted((x.host for x in p.hosts.values()), key=lambda h: h.name))
    return model.Topology(nets, tuple(trees), hosts)
