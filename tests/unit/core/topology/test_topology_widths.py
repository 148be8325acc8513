"""Widths of Romana v2 networks: block_mask is not the endpoint width; capacity is stated.

The v2 documents here are written in v2's format (romana-behaviour.md §2.2.1): networks with
``block_mask``, topologies whose ``map`` holds host groups with empty ``groups`` lists.
"""

from __future__ import annotations

from typing import Any

import pytest

from romana.core import addressing, ipam, topology
from romana.core.errors import InvalidInput
from romana.core.identifiers import NetworkName
from romana.core.topology import widths


def v2_document(cidr: str, groups: int, block_mask: int = 29, **extra: Any) -> dict[str, Any]:
    """A v2 document shaped like v2's kubeadm-network.json: one network, ``groups`` host groups."""
    return {
        "networks": [{"name": "romana-network", "cidr": cidr, "block_mask": block_mask, **extra}],
        "topologies": [
            {
                "networks": ["romana-network"],
                "map": [
                    {"name": f"host-group-{i + 1:02d}", "routing": "", "groups": []}
                    for i in range(groups)
                ],
            }
        ],
    }


KUBEADM = v2_document("10.112.0.0/12", 8)


def test_kubeadm_document_gives_one_node_kubelets_110_pods_of_one_namespace() -> None:
    topo = topology.parse(KUBEADM)
    lay = topo.layouts["romana-network"]
    assert (lay.topology_bits, lay.tenant_bits, lay.segment_bits, lay.endpoint_bits) == (5, 4, 4, 7)
    # The 110 pods of one namespace and segment on one node all get an address.
    slot = ipam.Slot(NetworkName("romana-network"), 0, 1, 0)
    used: list[int] = []
    for _ in range(topology.KUBELET_MAX_PODS):
        used.append(ipam.choose_ordinal(lay, slot, used))
    assert len(set(used)) == 110
    assert topology.capacity(lay).endpoints == 126
    assert topology.tree_view(topo)["warnings"] == []
    # The host groups keep v2's prefixes, and the chosen widths are written out explicitly,
    # so the stored document never depends on this rule again.
    groups = [topology.group_prefix(lay, 5, g) for g in topo.trees[0].root.groups]
    assert [str(g) for g in groups] == [f"10.{112 + 2 * i}.0.0/15" for i in range(8)]
    network = topology.to_document(topo)["networks"][0]
    assert (network["endpoint_bits"], "block_mask" in network) == (7, False)
    assert topology.parse(topology.to_document(topo)) == topo


def test_every_bit_beyond_the_pods_goes_to_hosts() -> None:
    lay = topology.parse(KUBEADM).layouts["romana-network"]
    # 20 bits: 4 tenant + 4 segment + 7 endpoint leave 5 topology bits, 4 hosts per group.
    assert topology.capacity(lay).hosts == 32
    assert str(topology.host_prefix(lay, 31)) == "10.127.128.0/17"
    assert str(addressing.gateway(lay, 31)) == "10.127.128.1"


def test_a_network_too_small_for_110_pods_is_accepted_with_the_numbers() -> None:
    topo = topology.parse(v2_document("10.111.0.0/16", 8))
    lay = topo.layouts["romana-network"]
    # 8 groups need 3 topology bits; the /16 leaves 5 endpoint bits: 30 per slot.
    assert (lay.topology_bits, lay.endpoint_bits) == (3, 5)
    view = topology.tree_view(topo)
    assert view["networks"][0]["endpoints"] == 30
    (warning,) = view["warnings"]
    for number in ("10.111.0.0/16", "/19", "30 endpoints", "endpoint_bits 5", "maxPods 110"):
        assert number in warning
    assert "pod 31 of one namespace and segment" in warning


def test_explicit_widths_too_narrow_for_110_pods_are_warned_about_too() -> None:
    network = {"name": "n", "cidr": "10.0.0.0/8", "endpoint_bits": 3}
    topo = topology.parse({"networks": [network], "topologies": []})
    (warning,) = topology.tree_view(topo)["warnings"]
    assert "holds 6 endpoints per tenant and segment (endpoint_bits 3)" in warning


def test_block_mask_is_the_floor_of_the_endpoint_field() -> None:
    # A /22 block is 10 endpoint bits, more than the 7 the pods want: the floor wins.
    lay = topology.parse(v2_document("10.112.0.0/12", 4, block_mask=22)).layouts["romana-network"]
    assert (lay.topology_bits, lay.endpoint_bits) == (2, 10)


def test_a_tree_that_leaves_less_than_one_block_is_refused_with_the_numbers() -> None:
    # Given widths are never narrowed (without them, see test_topology_v2_small_networks).
    with pytest.raises(InvalidInput) as info:
        topology.parse(
            v2_document("10.112.0.0/12", 8, block_mask=22, tenant_bits=4, segment_bits=4)
        )
    assert [(i.field, i.rule) for i in info.value.issues] == [
        (
            "networks[0].block_mask",
            "topologies[0] needs 3 topology bits for its groups and listed hosts; with "
            "tenant_bits 4 and segment_bits 4 the /12 network then leaves 9 endpoint bits, "
            "fewer than the 10 of a /22 block",
        )
    ]


def test_a_block_wider_than_the_network_leaves_names_its_endpoint_bits() -> None:
    with pytest.raises(InvalidInput) as info:
        topology.parse(v2_document("10.112.0.0/24", 1, block_mask=24))
    assert [i.field for i in info.value.issues] == ["networks[0]"]
    assert "(with endpoint_bits 8, the fewest a block_mask of 24 allows)" in str(info.value)


def test_networks_of_one_topology_share_their_topology_bits() -> None:
    document = v2_document("10.112.0.0/12", 2)
    document["networks"].append({"name": "small", "cidr": "10.96.0.0/16", "block_mask": 29})
    document["topologies"][0]["networks"].append("small")
    topo = topology.parse(document)
    big, small = topo.layouts["romana-network"], topo.layouts["small"]
    # The /16 wants 1 topology bit (8 - 7); the /12 takes the same and keeps 11 endpoint bits.
    assert (big.topology_bits, small.topology_bits) == (1, 1)
    assert (big.endpoint_bits, small.endpoint_bits) == (11, 7)


def test_a_v2_network_takes_the_topology_bits_of_an_explicit_one_beside_it() -> None:
    explicit = {"name": "ours", "cidr": "172.16.0.0/12", "endpoint_bits": 10}  # 2 topology bits
    document = v2_document("10.112.0.0/12", 2)
    document["networks"].append(explicit)
    document["topologies"][0]["networks"].append("ours")
    lay = topology.parse(document).layouts["romana-network"]
    assert (lay.topology_bits, lay.endpoint_bits) == (2, 10)


def test_a_v2_network_in_no_topology_gets_the_pods_and_the_rest_to_hosts() -> None:
    document = {"networks": [{"name": "spare", "cidr": "10.0.0.0/8", "block_mask": 29}]}
    lay = topology.parse(document).layouts["spare"]
    assert (lay.topology_bits, lay.endpoint_bits) == (9, 7)


@pytest.mark.parametrize(
    ("raw_map", "bits"),
    [
        (None, 0),
        ([], 0),
        ([{"name": "root", "groups": [{"groups": []}, {"groups": []}]}], 1),
        ([{"groups": []}] * 3, 2),
        ([{"groups": [{"name": "h", "ip": "192.0.2.1"}] * 5}, {"groups": []}], 4),
        ([{"name": "h", "ip": "192.0.2.1"}], 0),
        ("nonsense", 0),
    ],
)
def test_tree_bits_counts_group_levels_and_listed_hosts(raw_map: object, bits: int) -> None:
    assert widths.tree_bits(raw_map) == bits


def test_pod_endpoint_bits() -> None:
    assert widths.endpoint_bits_for(110) == 7
    assert widths.endpoint_bits_for(126) == 7
    assert widths.endpoint_bits_for(127) == 8
