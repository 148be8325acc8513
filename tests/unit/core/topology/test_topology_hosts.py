"""Placing, removing and relabelling hosts: the choice of group and index, and every refusal."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from romana.core import topology
from romana.core.errors import AlreadyExists, Exhausted, InvalidInput, NotFound
from romana.core.identifiers import HostName, NetworkName

HOST_H = HostName("h")
PLAIN = HostName("plain")

DATA = Path(__file__).resolve().parents[3] / "data" / "topology"
NET = {"name": "n", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4, "endpoint_bits": 8}


def parse(groups: list[Any], *networks: dict[str, Any]) -> topology.Topology:
    nets = list(networks) or [NET]
    return topology.parse(
        {"networks": nets, "topologies": [{"networks": [n["name"] for n in nets], "map": groups}]}
    )


def place(
    topo: topology.Topology, name: str, n: int, labels: dict[str, str] | None = None, **kw: Any
) -> tuple[topology.Topology, topology.Placement]:
    return topology.place_host(
        topo, topology.HostSpec(HostName(name), f"192.0.2.{n}", labels or {}), **kw
    )


def seats(topo: topology.Topology) -> dict[str, list[tuple[str, int]]]:
    return {
        leaf.path: [(m.host, m.index) for m in leaf.members] for leaf in topo.trees[0].root.leaves()
    }


RACKS = [{"name": "rack-a", "groups": []}, {"name": "rack-b", "groups": []}]


def test_first_host_in_rack_b_gets_index_128() -> None:
    topo, first = place(parse(RACKS), "h1", 1)
    topo, second = place(topo, "h2", 2)
    assert first.indices == {"n": 0} and first.prefixes[0].group == "rack-a"
    assert second.indices == {"n": 128}
    assert str(second.prefixes[0].prefix) == "10.128.0.0/16"
    assert str(second.prefixes[0].gateway) == "10.128.0.1"


def test_fewest_hosts_wins_and_ties_go_to_document_order() -> None:
    topo = parse([{"name": g, "groups": []} for g in ("a", "b", "c")])
    for i in range(7):
        topo, _ = place(topo, f"h{i}", i + 1)
    assert seats(topo) == {
        "a": [("h0", 0), ("h3", 1), ("h6", 2)],
        "b": [("h1", 64), ("h4", 65)],
        "c": [("h2", 128), ("h5", 129)],
    }


def test_labels_choose_the_group() -> None:
    topo = topology.parse(json.loads((DATA / "v2-zones.json").read_text()))
    topo, p = place(topo, "b2", 1, {"failure-domain": "zone-B", "rack": "rack-2", "x": "y"})
    assert p.prefixes[0].group == "zone-B/rack-2"
    assert str(p.prefixes[0].prefix) == "10.111.192.0/19"
    topo, p = place(topo, "a3", 2, {"failure-domain": "zone-A", "rack": "rack-3"})
    assert p.prefixes[0].group == "zone-A/rack-3"


def test_only_label_matching_groups_count_for_fewest_hosts() -> None:
    groups = [
        {"name": "gpu", "assignment": {"gpu": "yes"}, "groups": []},
        {"name": "any-1", "groups": []},
        {"name": "any-2", "groups": []},
    ]
    topo = parse(groups)
    topo, p = place(topo, "plain", 1)
    assert p.prefixes[0].group == "any-1"
    topo, p = place(topo, "g1", 2, {"gpu": "yes"})
    assert p.prefixes[0].group == "gpu"
    topo, p = place(topo, "g2", 3, {"gpu": "yes"})
    assert p.prefixes[0].group == "any-2"  # eligible everywhere; any-2 is the emptiest


def test_no_eligible_group_lists_groups_and_labels() -> None:
    topo = topology.parse(json.loads((DATA / "v2-zones.json").read_text()))
    with pytest.raises(InvalidInput) as info:
        place(topo, "lost", 1, {"failure-domain": "zone-C"})
    (issue,) = info.value.issues
    assert issue.field == "labels"
    assert "host 'lost' with labels failure-domain=zone-C fits no group" in issue.rule
    assert "topologies[0] zone-B/rack-2 assigns failure-domain=zone-B, rack=rack-2" in issue.rule
    assert topo.hosts == ()


def test_padding_slots_never_receive_hosts() -> None:
    groups: list[Any] = [{"name": g, "groups": []} for g in ("a", "b", "c")]
    narrow = {**NET, "cidr": "10.0.0.0/12"}  # 4 topology bits: slots of 4 indices
    topo = parse(groups, narrow)
    for i in range(12):
        topo, p = place(topo, f"h{i}", i + 1)
        assert p.indices["n"] < 12
    with pytest.raises(Exhausted) as info:
        place(topo, "h12", 13)
    assert "a 10.0.0.0/14 in 'n': capacity 4, 4 hosts" in str(info.value)


def test_full_group_names_its_prefix_and_capacity() -> None:
    narrow = {**NET, "cidr": "10.0.0.0/14"}  # 2 topology bits
    topo = parse([{"name": "small", "groups": []}, {"name": "big", "groups": []}], narrow)
    topo, _ = place(topo, "h1", 1)
    topo, _ = place(topo, "h2", 2)
    topo, p = place(topo, "h3", 3)
    assert p.prefixes[0].group == "small"
    topo, p = place(topo, "h4", 4)
    assert p.prefixes[0].group == "big"
    with pytest.raises(Exhausted) as info:
        place(topo, "h5", 5)
    message = str(info.value)
    assert "no free host index for host 'h5'" in message
    assert "small 10.0.0.0/15 in 'n': capacity 2, 2 hosts" in message
    assert "big 10.2.0.0/15 in 'n': capacity 2, 2 hosts" in message


def test_a_full_emptier_group_does_not_block_a_bigger_one() -> None:
    groups = [
        {"name": "tiny", "groups": [{"name": "t1", "groups": []}, {"name": "t2", "groups": []}]},
        {"name": "roomy", "groups": []},
    ]
    topo = parse(groups, {**NET, "cidr": "10.0.0.0/14"})  # 2 bits: t1, t2 hold 1 each
    topo, _ = place(topo, "h1", 1)  # t1
    topo, _ = place(topo, "h2", 2)  # t2
    topo, _ = place(topo, "h3", 3)  # roomy
    topo, p = place(topo, "h4", 4)
    assert p.prefixes[0].group == "roomy"


def test_reserved_indices_are_skipped() -> None:
    topo = parse([])
    topo, p = place(topo, "h1", 1, reserved={"n": frozenset({0, 1, 3})})
    assert p.indices == {"n": 2}
    topo, p = place(topo, "h2", 2, reserved={"n": frozenset({0, 1, 3}), "gone": frozenset({4})})
    assert p.indices == {"n": 4}


def test_reserved_in_any_network_of_the_tree_blocks_the_index() -> None:
    other = {**NET, "name": "m", "cidr": "11.0.0.0/8"}
    topo = parse([], NET, other)
    _, p = place(topo, "h1", 1, reserved={"m": frozenset({0})})
    assert p.indices == {"n": 1, "m": 1}


def test_removal_frees_the_index_for_the_next_host() -> None:
    topo = parse(RACKS)
    for i in range(3):
        topo, _ = place(topo, f"h{i}", i + 1)
    topo = topology.remove_host(topo, HostName("h0"))
    assert [h.name for h in topo.hosts] == ["h1", "h2"]
    assert seats(topo) == {"rack-a": [("h2", 1)], "rack-b": [("h1", 128)]}
    # Index 0 still holds addresses: the new host must not get it.
    topo, p = place(topo, "h3", 4, reserved={"n": frozenset({0})})
    assert p.indices == {"n": 2}
    topo, p = place(topo, "h4", 5)
    assert p.indices == {"n": 129}
    # Once its addresses are released, index 0 goes to the next host of rack-a.
    topo, p = place(topo, "h0", 1)
    assert p.indices == {"n": 0}


def test_duplicates_are_refused() -> None:
    topo, _ = place(parse(RACKS), "h1", 1)
    with pytest.raises(AlreadyExists, match="host 'h1' exists already"):
        place(topo, "h1", 2)
    with pytest.raises(AlreadyExists, match=r"has underlay address 192\.0\.2\.1 already"):
        place(topo, "h2", 1)
    topo, _ = topology.place_host(
        topo, topology.HostSpec(HostName("d"), "192.0.2.4", (), "2001:db8::4")
    )
    with pytest.raises(AlreadyExists, match=r"host 'd' has underlay address 2001:db8::4 already"):
        topology.place_host(topo, topology.HostSpec(HostName("h3"), "192.0.2.3", (), "2001:db8::4"))
    with pytest.raises(AlreadyExists, match=r"host 'd' has underlay address 2001:db8::4 already"):
        topology.place_host(topo, topology.HostSpec(HostName("h6"), "2001:db8::4"))
    assert [h.name for h in topo.hosts] == ["d", "h1"]


@pytest.mark.parametrize(
    ("labels", "field"),
    [(["a"], "labels"), ({"": "x"}, "labels"), ({"k": None}, "labels.k"), (("a",), "labels")],
)
def test_malformed_labels_are_refused(labels: Any, field: str) -> None:
    topo, _ = place(parse(RACKS), "h1", 1)
    with pytest.raises(InvalidInput) as info:
        topology.update_labels(topo, HostName("h1"), labels)
    assert [i.field for i in info.value.issues] == [field]
    with pytest.raises(InvalidInput):
        topology.place_host(topo, topology.HostSpec(HostName("h2"), "192.0.2.2", labels))


def test_malformed_spec_names_every_field() -> None:
    spec = topology.HostSpec(HostName("-bad"), "300.1.1.1", {"k": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput) as info:
        topology.place_host(parse(RACKS), spec)
    assert [i.field for i in info.value.issues] == ["name", "ip", "labels.k"]


@pytest.mark.parametrize(
    ("ip", "ip6"),
    [("192.0.2.2", "192.0.2.3"), ("192.0.2.2", "nope"), ("2001:db8::2", "2001:db8::3")],
)
def test_ip6_must_be_ipv6_beside_an_ipv4_ip(ip: str, ip6: str) -> None:
    with pytest.raises(InvalidInput) as info:
        topology.place_host(parse(RACKS), topology.HostSpec(HostName("h2"), ip, (), ip6))
    assert [i.field for i in info.value.issues] == ["ip6"]
    assert "must be an IPv6 address, given only with an IPv4 ip" in info.value.issues[0].rule


def test_host_goes_into_every_tree_it_fits() -> None:
    topo = topology.parse(
        {
            "networks": [NET, {"name": "gpu-net", "cidr": "172.16.0.0/12", "block_mask": 28}],
            "topologies": [
                {"networks": ["n"], "map": []},
                {"networks": ["gpu-net"], "map": [{"assignment": {"gpu": "yes"}, "groups": []}]},
            ],
        }
    )
    topo, plain = place(topo, "plain", 1)
    topo, gpu = place(topo, "gpu", 2, {"gpu": "yes"})
    assert plain.indices == {"n": 0}
    assert gpu.indices == {"n": 1, "gpu-net": 0}
    assert topo.tree_of(NetworkName("gpu-net")) is topo.trees[1]
    assert topo.trees[1].member(PLAIN) is None
    # Relabelling and removal touch only the trees the host sits in.
    relabelled = topology.update_labels(topo, PLAIN, (("role", "web"),))
    assert dict(relabelled.host(PLAIN).labels) == {"role": "web"}
    assert relabelled.trees == topo.trees
    smaller = topology.remove_host(topo, PLAIN)
    assert smaller.trees[1] == topo.trees[1]
    assert [m.host for m in smaller.trees[0].root.members] == ["gpu"]


def test_a_full_tree_fails_the_whole_placement() -> None:
    tiny = {"name": "t", "cidr": "172.16.0.0/12", "block_mask": 21}  # 1 topology bit: 2 hosts
    topo = topology.parse(
        {
            "networks": [NET, tiny],
            "topologies": [{"networks": ["n"], "map": []}, {"networks": ["t"], "map": []}],
        }
    )
    topo, _ = place(topo, "h1", 1)
    topo, _ = place(topo, "h2", 2)
    with pytest.raises(Exhausted):
        place(topo, "h3", 3)
    assert len(topo.hosts) == 2 and len(topo.trees[0].root.members) == 2


def test_update_labels_keeps_the_seat_or_refuses() -> None:
    topo = topology.parse(json.loads((DATA / "v2-zones.json").read_text()))
    labels = {"failure-domain": "zone-A", "rack": "rack-1"}
    topo, before = place(topo, "h", 1, labels)
    moved = topology.update_labels(topo, HOST_H, {**labels, "extra": "1"})
    assert dict(moved.host(HOST_H).labels) == {**labels, "extra": "1"}
    assert topology.placement(moved, HOST_H) == topology.Placement(
        moved.host(HOST_H), before.prefixes
    )
    with pytest.raises(InvalidInput) as info:
        topology.update_labels(topo, HOST_H, {"failure-domain": "zone-B", "rack": "rack-1"})
    assert info.value.issues[0].rule == (
        "host 'h' sits in topologies[0] group zone-A/rack-1, which needs failure-domain=zone-A"
    )
    with pytest.raises(NotFound):
        topology.update_labels(topo, HostName("nobody"), {})


def test_lookups_by_name_and_ip() -> None:
    topo, _ = place(parse(RACKS), "h1", 1)
    assert topology.find(topo, "h1").name == "h1"
    assert topology.find(topo, "192.0.2.1").name == "h1"
    assert topology.find(topo, ipaddress.ip_address("192.0.2.1")).name == "h1"
    with pytest.raises(InvalidInput):
        topology.place_host(topo, topology.HostSpec("h2", None))  # type: ignore[arg-type]
    assert topo.host_by_ip("192.0.2.1").name == "h1"
    topo, _ = topology.place_host(
        topo, topology.HostSpec(HostName("d"), "192.0.2.4", (), "2001:db8::4")
    )
    assert topology.find(topo, "2001:db8::4").name == "d"
    assert topo.host_by_ip(ipaddress.ip_address("2001:db8::4")).name == "d"
    assert topology.find(topo, "192.0.2.4").name == "d"
    for missing in ("h9", "192.0.2.9", "not an ip"):
        with pytest.raises(NotFound):
            topology.find(topo, missing)
    with pytest.raises(NotFound):
        topology.remove_host(topo, HostName("h9"))
    with pytest.raises(NotFound):
        topology.placement(topo, HostName("h9"))
    with pytest.raises(NotFound):
        topo.network(NetworkName("nope"))
