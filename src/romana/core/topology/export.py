"""Topology out: the re-appliable document, the persisted form, and the group-tree view.

``to_document`` writes our format, complete enough that ``parse(to_document(t)) == t``: every
network with all its widths, every group with its name, assignment and routing, and every
placed host with its labels and its ``index``. So it is also the persisted form;
``to_json_dict`` and ``from_json_dict`` are that same form, named for storage code. Unlike
Romana v2's ``GET /topology`` (§8 item 3) the output can always be posted back unchanged.

``tree_view`` is the read model for ``romana topology show``: JSON-ready, each group with its
aggregate prefix in every network of its tree, each host with its prefixes. ``draw`` renders
that view as indented text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from romana.core import addressing
from romana.core.identifiers import HostName
from romana.core.topology import aws, bgp, carving, model, parse, widths


def to_document(topology: model.Topology) -> dict[str, Any]:
    """The topology as a document in our format; :func:`parse` turns it back into ``topology``."""
    hosts = {h.name: h for h in topology.hosts}
    return {
        "networks": [_network(net) for net in topology.networks],
        "topologies": [_tree(tree, hosts) for tree in topology.trees],
    }


def to_json_dict(topology: model.Topology) -> dict[str, Any]:
    """The persisted form of the full state (the document: nothing is left out of it)."""
    return to_document(topology)


def from_json_dict(raw: Mapping[str, Any]) -> model.Topology:
    """Read the persisted form back, validating it like any document but for the name and
    label rules an earlier release's state may predate (``parse(stored=True)``)."""
    return parse.parse(raw, stored=True)


def _tree(tree: model.Tree, hosts: Mapping[HostName, model.Host]) -> dict[str, Any]:
    out: dict[str, Any] = {"networks": list(tree.networks)}
    if tree.route_mode != bgp.DIRECT:
        out["route_mode"] = tree.route_mode
    if tree.bgp is not None:
        out["bgp"] = tree.bgp.to_dict()
    if tree.aws is not None:
        out["aws"] = aws.aws_document(tree.aws)
    out["map"] = _map(tree.root, hosts)
    return out


def _network(net: model.Network) -> dict[str, Any]:
    out: dict[str, Any] = net.layout.to_dict()
    if net.tenants:
        out["tenants"] = list(net.tenants)
    return out


def _map(root: model.Group, hosts: Mapping[HostName, model.Host]) -> list[dict[str, Any]]:
    # An unnamed root without attributes is what parse builds for a map of several groups,
    # of hosts, or of nothing; a map of one group makes that group the root.
    plain = not (root.name or root.assignment or root.routing or root.bgp)
    if plain and len(root.groups) != 1:
        return _contents(root, hosts)
    return [_group(root, hosts)]


def _contents(group: model.Group, hosts: Mapping[HostName, model.Host]) -> list[dict[str, Any]]:
    if group.groups:
        return [_group(child, hosts) for child in group.groups]
    return [_host(hosts[m.host], m.index) for m in group.members]


def _group(group: model.Group, hosts: Mapping[HostName, model.Host]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if group.name:
        out["name"] = group.name
    if group.assignment:
        out["assignment"] = dict(group.assignment)
    if group.routing:
        out["routing"] = group.routing
    if group.bgp is not None:
        out["bgp"] = group.bgp.to_dict()
    out["groups"] = _contents(group, hosts)
    return out


def _host(host: model.Host, index: int) -> dict[str, Any]:
    out: dict[str, Any] = {"name": host.name, "ip": str(host.ip)}
    if host.ip6 is not None:
        out["ip6"] = str(host.ip6)
    if host.labels:
        out["labels"] = dict(host.labels)
    if host.asn is not None:
        out["asn"] = host.asn
    out["index"] = index
    return out


def tree_view(topology: model.Topology) -> dict[str, Any]:
    """Every tree with each group's prefix per network and each host's prefixes.

    Shape: ``{"topologies": [{"networks", "topology_bits", "root": Node}],
    "unplaced_networks": [names], "networks": [Capacity], "warnings": [text]}`` where
    ``Node = {"name", "path", "assignment", "routing", "first", "capacity", "prefixes":
    {network: cidr}, "free_slots", "hosts": [{"name", "ip", "ip6", "index", "labels",
    "prefixes"}], "groups": [Node]}`` (``ip6`` None when unset).
    ``free_slots`` counts the padding slots of a group's subgroup list (room for more
    subgroups). ``networks`` gives each network's chosen widths and what they hold
    (:meth:`romana.core.topology.widths.Capacity.to_dict`); ``warnings`` collects theirs.
    """
    hosts = {h.name: h for h in topology.hosts}
    layouts = topology.layouts
    trees = []
    for tree in topology.trees:
        lays = [layouts[n] for n in tree.networks]
        trees.append(
            {
                "networks": list(tree.networks),
                "topology_bits": tree.topology_bits,
                "root": _node(tree, tree.root, lays, hosts),
            }
        )
    placed = {n for tree in topology.trees for n in tree.networks}
    capacities = [widths.capacity(n.layout) for n in topology.networks]
    return {
        "topologies": trees,
        "unplaced_networks": [n.name for n in topology.networks if n.name not in placed],
        "networks": [c.to_dict() for c in capacities],
        "warnings": [w for c in capacities for w in c.warnings],
    }


def _node(
    tree: model.Tree,
    group: model.Group,
    lays: Sequence[addressing.Layout],
    hosts: Mapping[HostName, model.Host],
) -> dict[str, Any]:
    slots = 1 << carving.slot_bits(len(group.groups)) if group.groups else 0
    return {
        "name": group.name,
        "path": group.path,
        "assignment": dict(group.assignment),
        "routing": group.routing,
        "first": group.first,
        "capacity": group.capacity,
        "prefixes": {
            lay.name: str(model.group_prefix(lay, tree.topology_bits, group)) for lay in lays
        },
        "free_slots": slots - len(group.groups),
        "hosts": [
            {
                "name": m.host,
                "ip": str(hosts[m.host].ip),
                "ip6": None if hosts[m.host].ip6 is None else str(hosts[m.host].ip6),
                "index": m.index,
                "labels": dict(hosts[m.host].labels),
                "prefixes": {lay.name: str(model.host_prefix(lay, m.index)) for lay in lays},
            }
            for m in group.members
        ],
        "groups": [_node(tree, child, lays, hosts) for child in group.groups],
    }


def draw(view: Mapping[str, Any]) -> str:
    """Indented text of a :func:`tree_view` result, one line per group and per host."""
    lines: list[str] = []
    for t, tree in enumerate(view.get("topologies", [])):
        lines.append(
            f"topologies[{t}] networks {', '.join(tree['networks'])} "
            f"({tree['topology_bits']} topology bits)"
        )
        _draw_node(tree["root"], 1, lines)
    unplaced = view.get("unplaced_networks", [])
    if unplaced:
        lines.append(f"networks in no topology: {', '.join(unplaced)}")
    return "\n".join(lines)


def _draw_node(node: Mapping[str, Any], depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    label = node["name"] or node["path"].rsplit("/", 1)[-1] or "(root)"
    prefixes = " ".join(node["prefixes"].values())
    extra = []
    if node["assignment"]:
        extra.append(", ".join(f"{k}={v}" for k, v in node["assignment"].items()))
    if not node["groups"]:
        extra.append(f"{len(node['hosts'])}/{node['capacity']} hosts")
    if node["free_slots"]:
        extra.append(f"{node['free_slots']} free slots")
    suffix = f"  [{'; '.join(extra)}]" if extra else ""
    lines.append(f"{pad}{label}  {prefixes}{suffix}")
    for host in node["hosts"]:
        underlay = " ".join(a for a in (host["ip"], host.get("ip6")) if a)
        lines.append(
            f"{pad}  - {host['name']} {underlay}  #{host['index']} "
            f"{' '.join(host['prefixes'].values())}"
        )
    for child in node["groups"]:
        _draw_node(child, depth + 1, lines)
