"""Prefix-group carving: v2's worked examples (romana-behaviour.md §2.2.2) on topology bits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from romana.core import topology
from romana.core.topology import carving

DATA = Path(__file__).resolve().parents[3] / "data" / "topology"


def load(name: str) -> topology.Topology:
    return topology.parse(json.loads((DATA / name).read_text()))


def prefixes(topo: topology.Topology, t: int = 0) -> dict[str, str]:
    """Group path → aggregate prefix in the tree's first network."""
    tree = topo.trees[t]
    lay = topo.layouts[tree.networks[0]]
    return {g.path: str(topology.group_prefix(lay, tree.topology_bits, g)) for g in tree.groups()}


def doc(cidr: str, groups: list[Any], **widths: int) -> dict[str, Any]:
    net: dict[str, Any] = {"name": "n", "cidr": cidr, **widths}
    return {"networks": [net], "topologies": [{"networks": ["n"], "map": groups}]}


def leaf(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "groups": [], **extra}


@pytest.mark.parametrize(
    ("count", "bits"), [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (256, 8)]
)
def test_slot_bits_pads_to_the_next_power_of_two(count: int, bits: int) -> None:
    assert carving.slot_bits(count) == bits


def test_carving_refuses_impossible_requests() -> None:
    with pytest.raises(ValueError, match="count must be >= 1"):
        carving.slot_bits(0)
    with pytest.raises(ValueError, match="3 subgroups do not fit into 1 bits"):
        carving.child_range(0, 1, 3, 0)
    assert carving.child_range(16, 4, 3, 2) == (24, 2)


def test_four_empty_groups() -> None:
    topo = topology.parse(doc("10.1.0.0/16", [leaf(f"g{i}") for i in range(4)], block_mask=29))
    # Four groups need 2 topology bits; the network's other bits go to the endpoint field.
    assert topo.trees[0].topology_bits == 2
    assert prefixes(topo) == {
        "": "10.1.0.0/16",
        "g0": "10.1.0.0/18",
        "g1": "10.1.64.0/18",
        "g2": "10.1.128.0/18",
        "g3": "10.1.192.0/18",
    }


def test_zone_a_four_racks_zone_b_two_racks() -> None:
    assert prefixes(load("v2-zones.json")) == {
        "": "10.111.0.0/16",
        "zone-A": "10.111.0.0/17",
        "zone-A/rack-1": "10.111.0.0/19",
        "zone-A/rack-2": "10.111.32.0/19",
        "zone-A/rack-3": "10.111.64.0/19",
        "zone-A/rack-4": "10.111.96.0/19",
        "zone-B": "10.111.128.0/17",
        "zone-B/rack-1": "10.111.128.0/18",
        "zone-B/rack-2": "10.111.192.0/18",
    }


def test_leaf_next_to_a_group_of_two_leaves() -> None:
    groups = [leaf("group1"), {"name": "group2", "groups": [leaf("a"), leaf("b")]}]
    assert prefixes(topology.parse(doc("10.0.0.0/16", groups, block_mask=29))) == {
        "": "10.0.0.0/16",
        "group1": "10.0.0.0/17",
        "group2": "10.0.128.0/17",
        "group2/a": "10.0.128.0/18",
        "group2/b": "10.0.192.0/18",
    }


def test_kubeadm_eight_host_groups() -> None:
    topo = load("v2-kubeadm.json")
    got = prefixes(topo)
    del got[""]
    assert got == {f"host-group-{i + 1:02d}": f"10.{112 + 2 * i}.0.0/15" for i in range(8)}
    lay = topo.layouts["romana-network"]
    # block_mask 29 is not the endpoint width: 7 endpoint bits hold kubelet's 110 pods.
    assert (lay.tenant_bits, lay.segment_bits, lay.endpoint_bits, lay.topology_bits) == (
        4,
        4,
        7,
        5,
    )


def test_kops_availability_zones() -> None:
    got = prefixes(load("v2-aws-us-west-1.json"))
    assert got["us-west-1a"] == "100.96.0.0/12"
    assert got["us-west-1b"] == "100.112.0.0/12"
    assert got["us-west-1a/us-west-1a-01"] == "100.96.0.0/15"
    assert got["us-west-1b/us-west-1b-08"] == "100.126.0.0/15"


def test_design_example_two_racks() -> None:
    # The brief's example: 10.0.0.0/8, 8 topology bits, two racks.
    topo = topology.parse(
        doc("10.0.0.0/8", [leaf("rack-a"), leaf("rack-b")], tenant_bits=4, segment_bits=4)
    )
    assert prefixes(topo) == {"": "10.0.0.0/8", "rack-a": "10.0.0.0/9", "rack-b": "10.128.0.0/9"}
    rack_b = topo.trees[0].root.groups[1]
    assert (rack_b.first, rack_b.capacity) == (128, 128)


def test_three_groups_are_padded_to_four_and_the_slot_stays_empty() -> None:
    topo = topology.parse(doc("10.0.0.0/8", [leaf("a"), leaf("b"), leaf("c")]))
    assert prefixes(topo) == {
        "": "10.0.0.0/8",
        "a": "10.0.0.0/10",
        "b": "10.64.0.0/10",
        "c": "10.128.0.0/10",
    }
    # Appending a fourth group takes the padding slot and moves no existing group.
    grown = topology.parse(doc("10.0.0.0/8", [leaf("a"), leaf("b"), leaf("c"), leaf("d")]))
    assert prefixes(grown) == {**prefixes(topo), "d": "10.192.0.0/10"}
    view = topology.tree_view(topo)["topologies"][0]["root"]
    assert view["free_slots"] == 1


def test_five_groups_are_padded_to_eight() -> None:
    got = prefixes(topology.parse(doc("10.0.0.0/8", [leaf(f"g{i}") for i in range(5)])))
    assert got["g4"] == "10.128.0.0/11"


def test_single_element_map_is_the_root_and_owns_every_bit() -> None:
    topo = topology.parse(doc("10.0.0.0/8", [{"name": "dc", "groups": [leaf("x"), leaf("y")]}]))
    assert prefixes(topo) == {"dc": "10.0.0.0/8", "dc/x": "10.0.0.0/9", "dc/y": "10.128.0.0/9"}


def test_a_single_subgroup_spans_its_parent() -> None:
    inner = {"name": "only", "groups": [leaf("a"), leaf("b")]}
    topo = topology.parse(doc("10.0.0.0/8", [leaf("x"), {"name": "y", "groups": [inner]}]))
    got = prefixes(topo)
    assert got["y"] == got["y/only"] == "10.128.0.0/9"
    assert got["y/only/b"] == "10.192.0.0/10"


def test_empty_map_is_one_flat_group() -> None:
    topo = topology.parse(doc("10.0.0.0/8", []))
    root = topo.trees[0].root
    assert root.is_leaf and root.capacity == 256
    assert prefixes(topo) == {"": "10.0.0.0/8"}


def test_ipv6_groups() -> None:
    topo = topology.parse(doc("fd00:10::/64", [leaf("a"), leaf("b")]))
    assert prefixes(topo) == {
        "": "fd00:10::/64",
        "a": "fd00:10::/65",
        "b": "fd00:10:0:0:8000::/65",
    }
