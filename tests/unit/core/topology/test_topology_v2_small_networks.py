"""Romana v2 documents romana used to refuse: v2's own ``GET /topology`` output (groups with
``"dummy": false``), small networks whose default tenant and segment fields leave less than one
v2 block, and ``block_mask`` up to the address width, as v2 allowed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from romana.core import topology
from romana.core.errors import InvalidInput
from romana.core.identifiers import HostName
from romana.core.topology import widths

DATA = Path(__file__).resolve().parents[3] / "data" / "topology"


def issues_of(document: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as info:
        topology.parse(document)
    return [(i.field, i.rule) for i in info.value.issues]


def one_network(cidr: str, block_mask: int, groups: list[Any], **extra: Any) -> dict[str, Any]:
    net = {"name": "v2-net", "cidr": cidr, "block_mask": block_mask, **extra}
    return {"networks": [net], "topologies": [{"networks": ["v2-net"], "map": groups}]}


def widths_of(topo: topology.Topology, network: str = "v2-net") -> tuple[int, int, int, int]:
    lay = topo.layouts[network]
    return (lay.topology_bits, lay.tenant_bits, lay.segment_bits, lay.endpoint_bits)


def given_cidrs(groups: list[Any], above: str = "") -> Iterator[tuple[str, str]]:
    """(group path, the cidr v2 wrote for it) for every group of a v2 output ``map``."""
    for group in groups:
        if "ip" in group:
            continue
        path = f"{above}/{group['name']}" if above else group["name"]
        yield path, group["cidr"]
        yield from given_cidrs(group.get("groups", []), path)


def test_v2_get_topology_output_applies_with_v2s_group_prefixes() -> None:
    raw = json.loads((DATA / "v2-get-output.json").read_text())
    topo = topology.parse(raw)
    for t, tree in enumerate(topo.trees):
        lay = topo.layouts[tree.networks[0]]
        got = {
            g.path: str(topology.group_prefix(lay, tree.topology_bits, g)) for g in tree.groups()
        }
        assert dict(given_cidrs(raw["topologies"][t]["map"])).items() <= got.items()
    # Two levels of pairs and a rack of three hosts: 4 topology bits; a /20 then leaves 8 bits,
    # 3 of them one /29 block, so the defaulted tenant and segment fields give up 3 bits.
    assert widths_of(topo, "shop-net") == widths_of(topo, "lab-net") == (4, 3, 2, 3)
    assert [h.name for h in topo.hosts] == ["node-e1", "node-e2", "node-e3", "node-w1"]
    assert (
        dict(topo.host(HostName("node-e1")).labels)["node-role.kubernetes.io/control-plane"] == ""
    )
    assert str(topology.placement(topo, HostName("node-w1")).prefixes[0].prefix) == "10.150.8.0/24"


def test_a_dummy_group_is_refused_naming_the_field() -> None:
    groups = [{"name": "a", "groups": []}, {"name": "pad", "groups": [], "dummy": True}]
    [(field, rule)] = issues_of(one_network("10.1.0.0/16", 29, groups))
    assert field == "topologies[0].map[1].dummy"
    assert "padding" in rule and "leave it out" in rule
    bad = [{"name": "a", "groups": [], "dummy": "no"}]
    assert [f for f, _ in issues_of(one_network("10.1.0.0/16", 29, bad))] == [
        "topologies[0].map[0].dummy"
    ]


def test_a_slash_24_with_one_host_narrows_tenant_and_segment_fields() -> None:
    host = [{"name": "solo", "groups": [{"name": "solo-1", "ip": "192.0.2.10"}]}]
    topo = topology.parse(one_network("10.7.0.0/24", 30, host))
    # 8 bits: the /30 block's 2 endpoint bits, and 3 + 3 instead of the default 4 + 4.
    assert widths_of(topo) == (0, 3, 3, 2)
    assert str(topology.placement(topo, HostName("solo-1")).prefixes[0].prefix) == "10.7.0.0/24"


def test_widths_the_document_gives_are_never_narrowed() -> None:
    groups = [{"name": f"g{i}", "groups": []} for i in range(16)]
    topo = topology.parse(one_network("10.9.0.0/20", 29, groups, tenant_bits=4))
    assert widths_of(topo) == (4, 4, 1, 3)
    [(field, rule)] = issues_of(
        one_network("10.9.0.0/20", 29, groups, tenant_bits=4, segment_bits=4)
    )
    assert field == "networks[0].block_mask"
    assert "fewer than the 3 of a /29 block" in rule


def test_a_wide_block_takes_tenant_and_segment_bits_before_refusing() -> None:
    groups = [{"name": f"g{i}", "groups": []} for i in range(8)]
    topo = topology.parse(one_network("10.112.0.0/12", 22, groups))
    assert widths_of(topo) == (3, 4, 3, 10)


def test_a_network_too_small_for_one_user_tenant_is_refused_with_the_numbers() -> None:
    host = [{"name": "solo", "groups": [{"name": "solo-1", "ip": "192.0.2.10"}]}]
    [(field, rule)] = issues_of(one_network("10.7.0.0/30", 30, host))
    assert field == "networks[0]"
    assert "wider than the 2 bits the /30 network leaves" in rule


@pytest.mark.parametrize("block_mask", [31, 32])
def test_block_masks_past_the_endpoint_minimum_are_v2s_single_address_blocks(
    block_mask: int,
) -> None:
    topo = topology.parse(one_network("10.3.0.0/16", block_mask, [{"name": "g", "groups": []}]))
    # The floor is 2 endpoint bits (a gateway and one endpoint); the pods still get their 7.
    assert widths_of(topo) == (1, 4, 4, 7)


def test_a_block_mask_outside_the_network_gives_v2s_message_alone() -> None:
    [(field, rule)] = issues_of(one_network("10.3.0.0/16", 33, []))
    assert (field, rule) == (
        "networks[0].block_mask",
        "invalid blockmask(33) for network(v2-net), must be 16 <= blockmask <= 32",
    )
    # On a /24 the default widths would not fit either; only the block_mask is named.
    assert [f for f, _ in issues_of(one_network("10.3.0.0/24", 20, []))] == [
        "networks[0].block_mask"
    ]


@pytest.mark.parametrize(
    ("excess", "given", "expected"),
    [
        (0, (False, False), (4, 4)),
        (-3, (False, False), (4, 4)),
        (1, (False, False), (4, 3)),
        (3, (False, False), (3, 2)),
        (7, (False, False), (1, 0)),
        (8, (False, False), None),
        (2, (True, False), (4, 2)),
        (4, (True, False), (4, 0)),
        (5, (True, False), None),
        (3, (False, True), (1, 4)),
        (1, (True, True), None),
    ],
)
def test_narrowing_takes_from_the_wider_field_and_keeps_one_tenant_bit(
    excess: int, given: tuple[bool, bool], expected: tuple[int, int] | None
) -> None:
    assert widths.narrowed(4, 4, excess, given) == expected
