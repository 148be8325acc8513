"""The topology: networks, hierarchical prefix groups, and where each host sits.

The topology bits of each network (between the network prefix and the tenant field, see
:mod:`romana.core.addressing`) are carved by the groups of a topology document — zones, racks,
… — into power-of-two slices, so each group is one aggregate prefix and each host owns one
host index: one host prefix in every network of its tree.

Public API (import the package, ``from romana.core import topology``)::

    topology.parse(document) -> Topology                    ours or Romana v2; InvalidInput
    topology.to_document(topology) -> dict                   parse(to_document(t)) == t
    topology.to_json_dict / from_json_dict                   the persisted form (= document)
    topology.place_host(topology, HostSpec, reserved) -> (Topology, Placement)
    topology.remove_host(topology, name) -> Topology
    topology.update_labels(topology, name, labels) -> Topology
    topology.placement(topology, name) -> Placement          the host's prefixes per network
    topology.find(topology, name_or_ip) -> Host
    topology.tree_view(topology) -> dict;  topology.draw(view) -> str
    topology.capacity(layout) -> Capacity                    widths, what they hold, warnings
    Topology.host(name), Topology.host_by_ip(ip), Topology.network(name), Topology.tree_of(net)

Modules: :mod:`.model` (values and invariants), :mod:`.carving` (the power-of-two rule),
:mod:`.widths` (the widths of a Romana v2 network, and capacities),
:mod:`.networks` and :mod:`.parse` (document in), :mod:`.hosts` (placing, removing and
relabelling hosts), :mod:`.export` (document and views out).
The per-host routes derived from a topology live in :mod:`romana.core.routeplan`.
"""

from __future__ import annotations

from romana.core.topology.export import draw, from_json_dict, to_document, to_json_dict, tree_view
from romana.core.topology.hosts import find, place_host, remove_host, update_labels
from romana.core.topology.model import (
    Group,
    Host,
    HostPrefix,
    HostSpec,
    Labels,
    Member,
    Network,
    Placement,
    Topology,
    Tree,
    group_prefix,
    host_prefix,
    placement,
)
from romana.core.topology.parse import parse
from romana.core.topology.widths import KUBELET_MAX_PODS, Capacity, capacity

__all__ = [
    "KUBELET_MAX_PODS",
    "Capacity",
    "Group",
    "Host",
    "HostPrefix",
    "HostSpec",
    "Labels",
    "Member",
    "Network",
    "Placement",
    "Topology",
    "Tree",
    "capacity",
    "draw",
    "find",
    "from_json_dict",
    "group_prefix",
    "host_prefix",
    "parse",
    "place_host",
    "placement",
    "remove_host",
    "to_document",
    "to_json_dict",
    "tree_view",
    "update_labels",
]
