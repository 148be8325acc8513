"""Parsing topology documents: accepted shapes, and every rule named by its field path."""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from romana.core import topology
from romana.core.errors import InvalidInput
from romana.core.identifiers import HostName, NetworkName

HOST_H = HostName("h")

DATA = Path(__file__).resolve().parents[3] / "data" / "topology"
NET = {"name": "n", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4, "endpoint_bits": 8}


def host(name: str, ip: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "ip": ip, **extra}


def doc(groups: list[Any], *networks: dict[str, Any]) -> dict[str, Any]:
    nets = list(networks) or [NET]
    return {
        "networks": nets,
        "topologies": [{"networks": [n["name"] for n in nets], "map": groups}],
    }


def issues_of(document: object) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        topology.parse(document)
    return {i.field: i.rule for i in info.value.issues}


def test_listed_hosts_are_placed_in_list_order() -> None:
    topo = topology.parse(json.loads((DATA / "two-racks.json").read_text()))
    assert [h.name for h in topo.hosts] == ["h1", "h2", "h3"]
    assert topology.placement(topo, HostName("h2")).indices == {"net": 1}
    assert str(topology.placement(topo, HostName("h3")).prefixes[0].prefix) == "10.128.0.0/16"
    assert topo.host_by_ip("192.168.0.3").name == "h3"
    assert dict(topo.host(HostName("h1")).labels) == {"rack": "a"}


def test_listed_index_is_kept_and_others_fill_around_it() -> None:
    topo = topology.parse(
        doc(
            [
                host("a", "192.0.2.1", index=0),
                host("b", "192.0.2.2"),
                host("c", "192.0.2.3", index=1),
            ]
        )
    )
    assert [(m.host, m.index) for m in topo.trees[0].root.members] == [
        ("a", 0),
        ("b", 2),
        ("c", 1),
    ]


def test_v2_block_mask_leaves_the_tree_only_the_topology_bits_it_needs() -> None:
    topo = topology.parse(json.loads((DATA / "v2-zones.json").read_text()))
    lay = topo.layouts["net1"]
    # Two zones of up to four racks need 3 topology bits; the /16 leaves 5 for endpoints,
    # short of the 7 that kubelet's 110 pods want, so no bit more goes to hosts.
    assert (lay.tenant_bits, lay.segment_bits, lay.endpoint_bits, lay.topology_bits) == (
        4,
        4,
        5,
        3,
    )
    assert topo.network(NetworkName("net1")).tenants == ("web", "app")


def test_v2_output_spellings_are_accepted() -> None:
    # GET /topology in v2 writes tenants ["*"], group "cidr", and host tags as "assignment".
    network = {**NET, "tenants": ["*"]}
    groups = [
        {
            "name": "g",
            "cidr": "10.0.0.0/8",
            "groups": [{"name": "h", "ip": "192.0.2.1", "assignment": {"zone": "a"}}],
        }
    ]
    topo = topology.parse(doc(groups, network))
    assert topo.network(NetworkName("n")).tenants == ()
    assert dict(topo.host(HOST_H).labels) == {"zone": "a"}


def test_a_host_in_two_topologies_is_one_host() -> None:
    topo = topology.parse(json.loads((DATA / "v2-tenants.json").read_text()))
    assert [h.name for h in topo.hosts] == ["host1"]
    assert topology.placement(topo, HostName("host1")).indices == {
        "net-a": 0,
        "net-b": 0,
        "net-any": 0,
    }


def test_network_in_no_topology_is_kept_without_hosts() -> None:
    spare = {"name": "spare", "cidr": "172.16.0.0/12"}
    topo = topology.parse({"networks": [NET, spare], "topologies": []})
    assert topo.tree_of(NetworkName("spare")) is None
    assert topology.tree_view(topo)["unplaced_networks"] == ["n", "spare"]


def test_input_is_not_modified() -> None:
    raw = json.loads((DATA / "two-racks.json").read_text())
    before = copy.deepcopy(raw)
    topology.parse(raw)
    assert raw == before


def test_ipv6_underlay_address() -> None:
    topo = topology.parse(doc([host("h", "2001:db8::1")]))
    assert topo.host(HOST_H).ip == ipaddress.ip_address("2001:db8::1")
    assert topo.host(HOST_H).address(6) == ipaddress.ip_address("2001:db8::1")
    assert topo.host(HOST_H).address(4) is None


def test_dual_stack_host_has_one_underlay_address_per_family() -> None:
    topo = topology.parse(doc([host("h", "192.0.2.1", ip6="2001:db8::1"), host("v4", "192.0.2.2")]))
    h = topo.host(HOST_H)
    assert (h.address(4), h.address(6)) == (
        ipaddress.ip_address("192.0.2.1"),
        ipaddress.ip_address("2001:db8::1"),
    )
    assert topo.host(HostName("v4")).ip6 is None and topo.host(HostName("v4")).address(6) is None
    assert topo.host_by_ip("2001:db8::1").name == "h"
    assert topology.find(topo, "2001:db8::1").name == "h"


ONE_BIT = {
    "name": "n",
    "cidr": "10.0.0.0/16",
    "tenant_bits": 4,
    "segment_bits": 4,
    "endpoint_bits": 7,
}


@pytest.mark.parametrize(
    ("document", "field", "rule"),
    [
        pytest.param(
            {"networks": [NET, {"name": "m", "cidr": "10.1.0.0/16"}], "topologies": []},
            "networks[1].cidr",
            "overlaps networks[0] 'n'",
            id="overlap",
        ),
        pytest.param(
            {"networks": [NET, {**NET, "cidr": "11.0.0.0/8"}], "topologies": []},
            "networks[1].name",
            "duplicate network name (networks[0])",
            id="duplicate-network",
        ),
        pytest.param(
            {
                "networks": [NET],
                "topologies": [{"networks": ["n"], "map": []}, {"networks": ["n"], "map": []}],
            },
            "topologies[1].networks[0]",
            "already in topologies[0]",
            id="network-in-two-topologies",
        ),
        pytest.param(
            {"networks": [NET], "topologies": [{"networks": ["n", "x"], "map": []}]},
            "topologies[0].networks[1]",
            "unknown network 'x'",
            id="unknown-network",
        ),
        pytest.param(
            doc(
                [
                    {"name": "a", "groups": [host("h", "192.0.2.1")]},
                    {"name": "b", "groups": [host("h", "192.0.2.2")]},
                ]
            ),
            "topologies[0].map[1].groups[0].name",
            "duplicate host name (also at topologies[0].map[0].groups[0])",
            id="duplicate-host-name",
        ),
        pytest.param(
            doc([host("h1", "192.0.2.1"), host("h2", "192.0.2.1")]),
            "topologies[0].map[1].ip",
            "duplicate host ip 192.0.2.1",
            id="duplicate-host-ip",
        ),
        pytest.param(
            doc([host("h1", "192.0.2.300")]),
            "topologies[0].map[0].ip",
            "is not an IPv4 or IPv6 address",
            id="invalid-host-ip",
        ),
        pytest.param(
            doc([host("h1", "192.0.2.1", ip6="2001:db8::1"), host("h2", "2001:db8::1")]),
            "topologies[0].map[1].ip",
            "duplicate host ip 2001:db8::1 (host 'h1' at topologies[0].map[0])",
            id="ip-is-another-hosts-ip6",
        ),
        pytest.param(
            doc([host("h1", "2001:db8::1"), host("h2", "192.0.2.2", ip6="2001:db8::1")]),
            "topologies[0].map[1].ip6",
            "duplicate host ip 2001:db8::1 (host 'h1' at topologies[0].map[0])",
            id="ip6-is-another-hosts-ip",
        ),
        pytest.param(
            doc([host("h1", "192.0.2.1", ip6="192.0.2.9")]),
            "topologies[0].map[0].ip6",
            "'192.0.2.9' must be an IPv6 address, given only with an IPv4 ip",
            id="ip6-not-ipv6",
        ),
        pytest.param(
            doc([host("h1", "192.0.2.1", ip6="fd00::zz")]),
            "topologies[0].map[0].ip6",
            "must be an IPv6 address",
            id="ip6-malformed",
        ),
        pytest.param(
            doc([host("h1", "2001:db8::1", ip6="2001:db8::2")]),
            "topologies[0].map[0].ip6",
            "an IPv6 ip is the host's IPv6 underlay address already",
            id="ip6-beside-ipv6-ip",
        ),
        pytest.param(
            doc(
                [{"name": "r", "groups": [host(f"h{i}", f"192.0.2.{i}") for i in range(3)]}],
                ONE_BIT,
            ),
            "topologies[0].map[0].groups",
            "3 hosts do not fit: the group has 1 topology bits (2 host indices)",
            id="too-many-hosts",
        ),
        pytest.param(
            doc([{"name": "a"}, {"name": "b", "groups": [{"name": "c"}, {"name": "d"}]}], ONE_BIT),
            "topologies[0].map[1].groups",
            "2 groups need 1 topology bits but the enclosing group has only 0 left",
            id="tree-deeper-than-bits",
        ),
        pytest.param(
            doc([], NET, {"name": "m", "cidr": "11.0.0.0/9"}),
            "topologies[0].networks",
            "must have equal topology bits, since a host has the same index in each "
            "('n' has 8, 'm' has 7)",
            id="unequal-topology-bits",
        ),
        pytest.param(
            {"networks": [{**NET, "tenants": ["web", "bad name"]}], "topologies": []},
            "networks[0].tenants[1]",
            "must match ^[a-zA-Z0-9_.-]+$",
            id="tenant-name",
        ),
        pytest.param(
            doc([host("h", "192.0.2.1"), {"name": "g"}]),
            "topologies[0].map",
            "mixes hosts and groups",
            id="mixed-list",
        ),
        pytest.param(
            {"networks": [{**NET, "cidrr": "x"}], "topologies": []},
            "networks[0].cidrr",
            "unknown key",
            id="unknown-key",
        ),
        pytest.param(
            {"networks": [{"name": "n", "cidr": "10.0.0.0/8", "block_mask": 7}]},
            "networks[0].block_mask",
            "invalid blockmask(7) for network(n), must be 8 <= blockmask <= 32",
            id="block-mask-range",
        ),
        pytest.param(
            {"networks": [{**NET, "block_mask": 29}]},
            "networks[0]",
            "give endpoint_bits or block_mask, not both",
            id="block-mask-and-endpoint-bits",
        ),
        pytest.param(
            {"networks": [{**NET, "tenant_bits": -1}]},
            "networks[0].tenant_bits",
            "must be >= 0",
            id="layout-width",
        ),
        pytest.param(
            doc(
                [
                    {
                        "name": "z",
                        "assignment": {"zone": "a"},
                        "groups": [{"name": "r", "assignment": {"zone": "b"}}],
                    }
                ]
            ),
            "topologies[0].map[0].groups[0].assignment",
            "zone=b contradicts zone=a of an enclosing group",
            id="contradicting-assignment",
        ),
        pytest.param(
            doc(
                [
                    {"name": "r", "assignment": {"rack": "a"}, "groups": [host("h", "192.0.2.1")]},
                    {"name": "s"},
                ]
            ),
            "topologies[0].map[0].groups[0]",
            "host 'h' lacks labels rack=a that group r assigns",
            id="listed-host-not-eligible",
        ),
        pytest.param(
            doc([{"name": "a", "groups": [host("h", "192.0.2.1", index=200)]}, {"name": "b"}]),
            "topologies[0].map[0].groups[0].index",
            "200 is outside the group's indices 0..127",
            id="index-outside-group",
        ),
        pytest.param(
            doc([host("h1", "192.0.2.1", index=3), host("h2", "192.0.2.2", index=3)]),
            "topologies[0].map[1].index",
            "index 3 is taken by another host",
            id="index-taken",
        ),
        pytest.param(
            {
                "networks": [NET, {**NET, "name": "m", "cidr": "11.0.0.0/8"}],
                "topologies": [
                    {"networks": ["n"], "map": [host("h", "192.0.2.1")]},
                    {"networks": ["m"], "map": [host("h", "192.0.2.9")]},
                ],
            },
            "topologies[1].map[0]",
            "host 'h' differs from its listing at topologies[0].map[0]",
            id="host-listed-twice-differently",
        ),
        pytest.param(
            doc([host("bad name", "192.0.2.1")]),
            "topologies[0].map[0].name",
            "must be 1-253 letters",
            id="host-name",
        ),
        pytest.param(
            doc([{"name": "g", "ip": "192.0.2.1", "groups": []}]),
            "topologies[0].map[0].groups",
            "an element with an ip is a host: no groups",
            id="host-with-groups",
        ),
        pytest.param(
            doc([{"name": "g"}, {"name": "g"}]),
            "topologies[0].map",
            "group name 'g' is used by more than one sibling",
            id="sibling-names",
        ),
        pytest.param(["not", "an", "object"], "document", "must be an object", id="not-object"),
    ],
)
def test_rule(document: object, field: str, rule: str) -> None:
    found = issues_of(document)
    assert field in found, found
    assert rule in found[field]


def test_every_problem_is_reported_at_once() -> None:
    document = {
        "networks": [
            NET,
            {"name": "n", "cidr": "11.0.0.0/8"},
            {"name": "inner", "cidr": "10.5.0.0/16", "tenants": ["ok", "no way"]},
            {
                "name": "narrow",
                "cidr": "12.0.0.0/16",
                "tenant_bits": 4,
                "segment_bits": 4,
                "endpoint_bits": 7,
            },
        ],
        "topologies": [
            {
                "networks": ["n", "ghost"],
                "map": [
                    {"name": "r", "groups": [host("h1", "192.0.2.1"), host("h1", "192.0.2.2")]},
                    {"name": "s", "groups": [host("h3", "not-an-ip"), host("h4", "192.0.2.1")]},
                ],
            },
            {"networks": ["n"], "map": []},
            {
                "networks": ["narrow"],
                "map": [
                    {"name": "only", "groups": [host(f"x{i}", f"198.51.100.{i}") for i in range(3)]}
                ],
            },
        ],
    }
    found = issues_of(document)
    assert set(found) == {
        "networks[1].name",
        "networks[2].cidr",
        "networks[2].tenants[1]",
        "topologies[0].networks[1]",
        "topologies[0].map[0].groups[1].name",
        "topologies[0].map[1].groups[0].ip",
        "topologies[0].map[1].groups[1].ip",
        "topologies[1].networks[0]",
        "topologies[2].map[0].groups",
    }
    with pytest.raises(InvalidInput) as info:
        topology.parse(document)
    assert "topologies[2].map[0].groups: 3 hosts do not fit" in str(info.value)


DEEP: dict[str, Any] = {"name": "leaf"}
for _ in range(70):
    DEEP = {"groups": [DEEP]}


@pytest.mark.parametrize(
    ("document", "field", "rule"),
    [
        ({"networks": {}, "topologies": []}, "networks", "must be a list"),
        ({"networks": [], "topologies": {}}, "topologies", "must be a list"),
        ({"networks": ["n"]}, "networks[0]", "must be an object"),
        ({"networks": [{"cidr": "10.0.0.0/8"}]}, "networks[0].name", "non-empty string"),
        ({"networks": [{**NET, "tenants": "web"}]}, "networks[0].tenants", "must be a list"),
        ({"networks": [{**NET, "tenants": ["*", "web"]}]}, "networks[0].tenants", "'*'"),
        ({"networks": [{**NET, "tenants": ["a", "a"]}]}, "networks[0].tenants[1]", "duplicate"),
        (
            {"networks": [{"name": "n", "cidr": "10.0.0.0/8", "block_mask": "29"}]},
            "networks[0].block_mask",
            "must be an integer",
        ),
        (
            {"networks": [{"name": "n", "cidr": "10.0.0.1/8", "block_mask": 29}]},
            "networks[0].cidr",
            "no host bits",
        ),
        (
            {"networks": [NET], "topologies": [{"networks": [], "map": []}]},
            "topologies[0].networks",
            "must be a non-empty list",
        ),
        (
            {"networks": [NET], "topologies": [{"networks": ["n", "n"]}]},
            "topologies[0].networks[1]",
            "listed twice",
        ),
        (
            {"networks": [NET], "topologies": [{"networks": ["n"], "map": {}}]},
            "topologies[0].map",
            "must be a list",
        ),
        (doc([{"name": 3}]), "topologies[0].map[0].name", "must be a string"),
        (doc([{"routing": 3}]), "topologies[0].map[0].routing", "must be a string"),
        (doc([{"groups": {}}]), "topologies[0].map[0].groups", "must be a list"),
        (doc([{"name": "a"}, "b"]), "topologies[0].map[1]", "must be an object"),
        (doc([DEEP]), "topologies[0].map[0]" + ".groups[0]" * 64 + ".groups", "deeper than 64"),
        (doc([{"assignment": ["x"]}]), "topologies[0].map[0].assignment", "must be an object"),
        (doc([{"assignment": {"": "x"}}]), "topologies[0].map[0].assignment", "label key"),
        (doc([{"assignment": {"k": 1}}]), "topologies[0].map[0].assignment.k", "label value"),
        (
            doc([host("h", "192.0.2.1", labels={}, assignment={})]),
            "topologies[0].map[0]",
            "give labels (or v2's assignment), not both",
        ),
        (doc([host("h", "192.0.2.1", index="1")]), "topologies[0].map[0].index", "an integer"),
        (doc([{"name": "h", "ip": 167772161}]), "topologies[0].map[0].ip", "not an IPv4 or IPv6"),
    ],
)
def test_shape_rule(document: object, field: str, rule: str) -> None:
    found = issues_of(document)
    assert field in found, found
    assert rule in found[field]
