"""BGP settings in a topology document: accepted, inherited, exported, and every bad one
refused at its field path (``route_mode``, ``bgp`` on a topology, a group, ``asn`` on a host)."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest

from romana.core import topology
from romana.core.errors import InvalidInput
from romana.core.identifiers import HostName
from romana.core.topology import bgp

NET = {"name": "n", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4, "endpoint_bits": 8}
TOR1 = {"address": "192.168.1.1", "asn": 65101, "name": "tor-1"}
TOR2 = {"address": "192.168.2.1", "asn": 65102}


def racks() -> dict[str, Any]:
    """Two racks on their own underlay segments, each peering with its ToR, under a zone
    whose AS and timers they inherit; rack-2 announces its aggregate, h4 has its own AS."""
    return copy.deepcopy(_RACKS)


_RACKS: dict[str, Any] = {
    "networks": [NET],
    "topologies": [
        {
            "networks": ["n"],
            "route_mode": "bgp",
            "bgp": {"asn": 64512, "hold_time": 6, "communities": ["64512:100"]},
            "map": [
                {
                    "name": "rack-1",
                    "bgp": {"peers": [TOR1], "underlay": ["192.168.1.0/24"]},
                    "groups": [
                        {"name": "h1", "ip": "192.168.1.11"},
                        {"name": "h2", "ip": "192.168.1.12"},
                    ],
                },
                {
                    "name": "rack-2",
                    "bgp": {"peers": [TOR2], "aggregate": True, "restart_time": 300},
                    "groups": [
                        {"name": "h3", "ip": "192.168.2.13"},
                        {"name": "h4", "ip": "192.168.2.14", "asn": 4200000001},
                    ],
                },
            ],
        }
    ],
}


def issues_of(document: object) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        topology.parse(document)
    found: dict[str, str] = {}
    for issue in info.value.issues:
        found[issue.field] = (
            f"{found[issue.field]} | {issue.rule}" if issue.field in found else issue.rule
        )
    return found


def rack(document: dict[str, Any], n: int) -> dict[str, Any]:
    group: dict[str, Any] = document["topologies"][0]["map"][n]
    return group


def test_settings_are_read_inherited_and_survive_export() -> None:
    parsed = topology.parse(racks())
    tree = parsed.trees[0]
    assert tree.route_mode == bgp.BGP and tree.bgp is not None and tree.bgp.asn == 64512
    rack1, rack2 = tree.root.groups
    assert rack1.bgp is not None and rack1.bgp.peers == (
        bgp.BgpPeer(ipaddress.ip_address("192.168.1.1"), 65101, "tor-1"),
    )
    h1 = bgp.effective([tree.bgp, tree.root.bgp, rack1.bgp])
    assert (h1.asn, h1.hold_time, h1.restart_time) == (64512, 6, bgp.RESTART_TIME)
    assert h1.communities == ("64512:100",) and h1.aggregate is None
    h4 = parsed.host(HostName("h4"))
    on_h4 = bgp.effective([tree.bgp, tree.root.bgp, rack2.bgp], h4.asn)
    assert (on_h4.asn, on_h4.restart_time, on_h4.aggregate) == (4200000001, 300, True)
    assert on_h4.peers is not None and on_h4.peers[0].asn == 65102
    again = topology.parse(topology.to_document(parsed))
    assert again == parsed


def test_a_tree_without_route_mode_is_direct_and_exports_as_before() -> None:
    document = racks()
    plain = document["topologies"][0]
    for key in ("route_mode", "bgp"):
        del plain[key]
    for group in plain["map"]:
        del group["bgp"]
    del plain["map"][1]["groups"][1]["asn"]
    parsed = topology.parse(document)
    assert parsed.trees[0].route_mode == bgp.DIRECT and parsed.trees[0].bgp is None
    exported = topology.to_document(parsed)["topologies"][0]
    assert set(exported) == {"networks", "map"}
    assert "bgp" not in exported["map"][0]


@pytest.mark.parametrize("asn", [0, -1, 23456, 4294967295, "65000", True, 1.5])
def test_an_as_out_of_range_is_refused_where_it_is_given(asn: object) -> None:
    document = racks()
    rack(document, 0)["bgp"]["asn"] = asn
    rack(document, 1)["groups"][0]["asn"] = asn
    rack(document, 1)["bgp"]["peers"][0]["asn"] = asn
    found = issues_of(document)
    for field in (
        "topologies[0].map[0].bgp.asn",
        "topologies[0].map[1].groups[0].asn",
        "topologies[0].map[1].bgp.peers[0].asn",
    ):
        assert "AS number" in found[field], found


def test_a_peer_outside_the_underlay_is_refused() -> None:
    document = racks()
    rack(document, 0)["bgp"]["peers"] = [TOR1, {"address": "192.168.2.1", "asn": 65102}]
    found = issues_of(document)
    rule = found["topologies[0].map[0].bgp.peers[1].address"]
    assert rule == "peer 192.168.2.1 is outside the underlay (192.168.1.0/24)"


def test_an_underlay_below_inherited_peers_is_checked_against_them() -> None:
    document = racks()
    rack(document, 0)["bgp"] = {"underlay": ["192.168.9.0/24"]}
    document["topologies"][0]["bgp"]["peers"] = [TOR1]
    found = issues_of(document)
    assert "outside the underlay" in found["topologies[0].map[0].bgp.underlay"]


def test_a_duplicate_peer_is_refused() -> None:
    document = racks()
    rack(document, 1)["bgp"]["peers"] = [TOR2, dict(TOR2, asn=65200)]
    found = issues_of(document)
    rule = found["topologies[0].map[1].bgp.peers[1].address"]
    assert rule == "duplicate peer 192.168.2.1 (also topologies[0].map[1].bgp.peers[0])"


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "169.254.0.1", "10.1.2.3", "224.0.0.5", "0.0.0.0", "tor", None]
)
def test_a_peer_that_cannot_be_on_the_underlay_is_refused(address: object) -> None:
    document = racks()
    rack(document, 1)["bgp"]["peers"] = [{"address": address, "asn": 65102}]
    assert "topologies[0].map[1].bgp.peers[0].address" in issues_of(document)


def test_bgp_mode_needs_peers_and_an_as_for_every_leaf() -> None:
    document = racks()
    del document["topologies"][0]["bgp"]["asn"]
    del rack(document, 1)["bgp"]["peers"]
    for listed in rack(document, 1)["groups"]:
        listed["asn"] = 65003
    found = issues_of(document)
    assert "needs an AS" in found["topologies[0].map[0].bgp.asn"]
    assert "needs at least one peer" in found["topologies[0].map[1].bgp.peers"]
    # Every host listed there has its own, but a host its agent places later would not.
    assert "needs an AS" in found["topologies[0].map[1].bgp.asn"]
    rack(document, 1)["bgp"].update(peers=[TOR2], asn=65002)
    rack(document, 0)["bgp"]["asn"] = 65001
    topology.parse(document)


def test_a_stored_bgp_topology_survives_its_hosts_leaving_and_arriving() -> None:
    parsed = topology.parse(racks())
    for name in ("h1", "h2", "h3", "h4"):
        parsed = topology.remove_host(parsed, HostName(name))
    again = topology.parse(topology.to_document(parsed), stored=True)
    spec = topology.HostSpec(HostName("h9"), "192.168.2.19", ())
    placed, _ = topology.place_host(again, spec)
    topology.parse(topology.to_document(placed), stored=True)


def test_a_dual_stack_bgp_tree_needs_a_peer_of_each_family() -> None:
    document = racks()
    document["networks"].append(
        {"name": "n6", "cidr": "fd00::/104", "tenant_bits": 4, "segment_bits": 4,
         "endpoint_bits": 8}
    )  # fmt: skip
    document["topologies"][0]["networks"].append("n6")
    found = issues_of(document)
    assert "no IPv6 peer" in found["topologies[0].map[0].bgp.peers"]
    rack(document, 0)["bgp"]["peers"].append({"address": "fd10::1", "asn": 65101})
    rack(document, 1)["bgp"]["peers"].append({"address": "fd10::2", "asn": 65102})
    del rack(document, 0)["bgp"]["underlay"]
    topology.parse(document)


def test_direct_mode_takes_partial_settings() -> None:
    document = racks()
    document["topologies"][0]["route_mode"] = "direct"
    del rack(document, 1)["bgp"]["peers"]
    assert topology.parse(document).trees[0].route_mode == bgp.DIRECT


@pytest.mark.parametrize(
    ("where", "change", "field", "words"),
    [
        ("tree", {"route_mode": "ospf"}, "topologies[0].route_mode", "direct, bgp"),
        ("tree-bgp", {"hold_time": 2}, "topologies[0].bgp.hold_time", "3-65535"),
        ("tree-bgp", {"restart_time": 5000}, "topologies[0].bgp.restart_time", "1-4095"),
        ("tree-bgp", {"communities": ["65536:1"]}, "topologies[0].bgp.communities[0]", "A:B"),
        ("tree-bgp", {"speed": 1}, "topologies[0].bgp.speed", "unknown key"),
        ("tree-bgp", {"aggregate": True}, "topologies[0].bgp.aggregate", "group's setting"),
        ("tree-bgp", {"communities": ["1:\u00b2"]}, "topologies[0].bgp.communities[0]", "A:B"),
        ("rack", {"aggregate": "yes"}, "topologies[0].map[0].bgp.aggregate", "true or false"),
        ("rack", {"underlay": ["192.168.1.1/24"]}, "topologies[0].map[0].bgp.underlay[0]", "CIDR"),
        ("rack", {"peers": []}, "topologies[0].map[0].bgp.peers", "non-empty list"),
    ],
)
def test_each_bad_setting_names_its_field(
    where: str, change: dict[str, Any], field: str, words: str
) -> None:
    document = racks()
    target = {
        "tree": document["topologies"][0],
        "tree-bgp": document["topologies"][0]["bgp"],
        "rack": rack(document, 0)["bgp"],
    }[where]
    target.update(copy.deepcopy(change))
    found = issues_of(document)
    assert words in found[field], found


def test_large_communities_are_accepted_and_normalised() -> None:
    document = racks()
    document["topologies"][0]["bgp"]["communities"] = ["64512:0100", "4200000001:1:2"]
    tree = topology.parse(document).trees[0]
    assert tree.bgp is not None and tree.bgp.communities == ("64512:100", "4200000001:1:2")
