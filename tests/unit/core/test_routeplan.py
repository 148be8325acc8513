"""Per-host route plans: aggregation by group (golden), direct mode, and hop-by-hop delivery."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from romana.core import routeplan, topology
from romana.core.errors import NotFound
from romana.core.identifiers import HostName

A1 = HostName("a1")
B1 = HostName("b1")
H3 = HostName("h3")

ROOT = Path(__file__).resolve().parents[3]
TWO_RACKS = json.loads((ROOT / "tests" / "data" / "topology" / "two-racks.json").read_text())
ZONES = json.loads((ROOT / "examples" / "topology" / "zones-dual-stack.json").read_text())


def routes(plan: routeplan.RoutePlan) -> list[tuple[str, str, str, str | None]]:
    return [(r.network, str(r.dst), r.via_host, r.group) for r in plan.routes]


def deliver(topo: topology.Topology, src: str, address: str) -> list[str]:
    """The hosts a packet visits from ``src`` to the owner of ``address``, following plans."""
    return follow(routeplan.plans(topo), src, address)


def follow(plans: dict[str, routeplan.RoutePlan], src: str, address: str) -> list[str]:
    """The hosts a packet visits from ``src`` to the owner of ``address`` through ``plans``."""
    path = [src]
    while not plans[path[-1]].owns(address):
        route = plans[path[-1]].lookup(address)
        assert route is not None, f"{path[-1]} has no route to {address}"
        path.append(route.via_host)
        assert len(path) <= 16, path
    return path


def zones(*, without_ip6: tuple[str, ...] = ()) -> topology.Topology:
    """Five dual-stack hosts in two zones; the hosts in ``without_ip6`` are IPv4 only."""
    topo = topology.parse(ZONES)
    zone = "topology.kubernetes.io/zone"
    for name, z, rack, n in [
        ("a1", "a", "1", 1),
        ("a2", "a", "2", 2),
        ("b1", "b", "1", 3),
        ("b1x", "b", "1", 4),
        ("b3", "b", "3", 5),
    ]:
        ip6 = None if name in without_ip6 else f"2001:db8::{n}"
        spec = topology.HostSpec(HostName(name), f"192.0.2.{n}", {zone: z, "rack": rack}, ip6)
        topo, _ = topology.place_host(topo, spec)
    return topo


def test_two_racks_aggregate_the_other_rack() -> None:
    topo = topology.parse(TWO_RACKS)
    h1 = routeplan.route_plan(topo, HostName("h1"))
    assert routes(h1) == [
        ("net", "10.1.0.0/16", "h2", None),
        ("net", "10.128.0.0/9", "h3", "rack-b"),
    ]
    assert [str(r.via) for r in h1.routes] == ["192.168.0.2", "192.168.0.3"]
    assert routes(routeplan.route_plan(topo, HostName("h2"))) == [
        ("net", "10.0.0.0/16", "h1", None),
        ("net", "10.128.0.0/9", "h3", "rack-b"),
    ]
    # rack-a is one route via its first host; h1 forwards to h2 with its own host route.
    assert routes(routeplan.route_plan(topo, H3)) == [("net", "10.0.0.0/9", "h1", "rack-a")]
    assert deliver(topo, "h3", "10.1.17.1") == ["h3", "h1", "h2"]


def test_own_prefixes_and_gateways() -> None:
    plan = routeplan.route_plan(topology.parse(TWO_RACKS), H3)
    assert (plan.host, str(plan.ip), plan.aggregate) == ("h3", "192.168.0.3", True)
    assert [p.to_dict() for p in plan.prefixes] == [
        {
            "network": "net",
            "index": 128,
            "prefix": "10.128.0.0/16",
            "gateway": "10.128.0.1",
            "group": "rack-b",
        }
    ]
    assert plan.owns("10.128.17.5") and not plan.owns("10.129.0.1")


def test_direct_mode_has_one_route_per_remote_host() -> None:
    plan = routeplan.route_plan(topology.parse(TWO_RACKS), H3, aggregate=False)
    assert not plan.aggregate
    assert routes(plan) == [("net", "10.0.0.0/16", "h1", None), ("net", "10.1.0.0/16", "h2", None)]


def test_zones_and_racks_aggregate_level_by_level() -> None:
    topo = zones()
    a1 = routeplan.route_plan(topo, A1)
    assert routes(a1) == [
        ("pods-v4", "10.64.0.0/10", "a2", "zone-a/rack-2"),
        ("pods-v4", "10.128.0.0/9", "b1", "zone-b"),
        ("pods-v6", "fd00:10:0:0:4000::/66", "a2", "zone-a/rack-2"),
        ("pods-v6", "fd00:10:0:0:8000::/65", "b1", "zone-b"),
        ("infra", "172.20.4.0/22", "a2", None),
        ("infra", "172.20.8.0/22", "b1", None),
        ("infra", "172.20.12.0/22", "b1x", None),
        ("infra", "172.20.16.0/22", "b3", None),
    ]
    b1 = routeplan.route_plan(topo, B1)
    assert routes(b1)[:3] == [
        ("pods-v4", "10.129.0.0/16", "b1x", None),
        ("pods-v4", "10.192.0.0/11", "b3", "zone-b/rack-3"),
        ("pods-v4", "10.0.0.0/9", "a1", "zone-a"),
    ]
    assert deliver(topo, "a2", "10.192.17.1") == ["a2", "b1", "b3"]
    assert deliver(topo, "a2", "fd00:10::c000:0:1:1") == ["a2", "b1", "b3"]
    assert deliver(topo, "b3", "10.64.0.1") == ["b3", "a1", "a2"]


def test_next_hops_are_of_the_destinations_family() -> None:
    a1 = routeplan.route_plan(zones(), A1)
    assert [(r.network, str(r.via)) for r in a1.routes[:4]] == [
        ("pods-v4", "192.0.2.2"),
        ("pods-v4", "192.0.2.3"),
        ("pods-v6", "2001:db8::2"),
        ("pods-v6", "2001:db8::3"),
    ]
    assert a1.skipped == ()
    assert str(a1.ip6) == "2001:db8::1"


def test_a_host_without_an_ipv6_address_gets_no_ipv6_route_and_the_plan_says_why() -> None:
    topo = zones(without_ip6=("b1x",))
    b1 = routeplan.route_plan(topo, B1)
    assert [(r.network, str(r.dst)) for r in b1.routes if r.via_host == "b1x"] == [
        ("pods-v4", "10.129.0.0/16"),
        ("infra", "172.20.12.0/22"),
    ]
    assert [x.to_dict() for x in b1.skipped] == [
        {
            "network": "pods-v6",
            "dst": "fd00:10:0:0:8100::/72",
            "reason": "host b1x has no IPv6 underlay address",
            "host": "b1x",
            "group": None,
        }
    ]
    # The IPv4-only host itself routes IPv4 only: nobody could answer it over IPv6.
    b1x = routeplan.route_plan(topo, HostName("b1x"))
    assert {r.network for r in b1x.routes} == {"pods-v4", "infra"}
    assert {x.network for x in b1x.skipped} == {"pods-v6"}
    assert all(x.reason == "this host b1x has no IPv6 underlay address" for x in b1x.skipped)
    # The IPv4 routes of every host are untouched.
    before = zones()
    for host in ("a1", "a2", "b1", "b3"):
        v4 = [r for r in routeplan.route_plan(topo, HostName(host)).routes if r.dst.version == 4]
        assert v4 == [
            r for r in routeplan.route_plan(before, HostName(host)).routes if r.dst.version == 4
        ]


def test_a_group_is_reached_through_its_first_host_with_an_address_of_the_family() -> None:
    # b1 is zone-b's designated host for IPv4; without an IPv6 address b1x stands in.
    topo = zones(without_ip6=("b1",))
    a1 = routeplan.route_plan(topo, A1)
    assert [(r.network, str(r.dst), r.via_host) for r in a1.routes if r.group == "zone-b"] == [
        ("pods-v4", "10.128.0.0/9", "b1"),
        ("pods-v6", "fd00:10:0:0:8000::/65", "b1x"),
    ]
    assert deliver(topo, "a1", "fd00:10::c000:0:1:1") == ["a1", "b1x", "b3"]
    # A group none of whose hosts has an IPv6 address gets no IPv6 route at all.
    topo = zones(without_ip6=("b1", "b1x", "b3"))
    a1 = routeplan.route_plan(topo, A1)
    assert not [r for r in a1.routes if r.group == "zone-b" and r.dst.version == 6]
    assert [(x.network, str(x.dst), x.group, x.reason) for x in a1.skipped] == [
        (
            "pods-v6",
            "fd00:10:0:0:8000::/65",
            "zone-b",
            "no host of group zone-b has an IPv6 underlay address",
        )
    ]


def test_every_host_reaches_every_other_host_prefix() -> None:
    for topo in (topology.parse(TWO_RACKS), zones()):
        for src in topo.hosts:
            for dst in topo.hosts:
                for p in topology.placement(topo, dst.name).prefixes:
                    for address in (p.gateway, p.prefix[-1]):
                        path = deliver(topo, src.name, str(address))
                        assert path[-1] == dst.name
                        assert len(path) <= 4  # root → zone → rack: at most 3 hops


def test_lonely_host_and_removed_next_hop() -> None:
    topo = topology.parse(TWO_RACKS)
    topo = topology.remove_host(topo, HostName("h1"))
    # rack-a's designated host is now h2, the first left in placement order.
    assert routes(routeplan.route_plan(topo, H3)) == [("net", "10.0.0.0/9", "h2", "rack-a")]
    topo = topology.remove_host(topology.remove_host(topo, HostName("h2")), H3)
    topo, _ = topology.place_host(
        topo, topology.HostSpec(HostName("solo"), "192.0.2.1", {"rack": "a"})
    )
    assert routeplan.route_plan(topo, HostName("solo")).routes == ()


def test_plan_covers_only_the_trees_the_host_sits_in() -> None:
    gpu_net = {"name": "gpu-net", "cidr": "172.16.0.0/12", "block_mask": 28}
    document = {
        "networks": [*TWO_RACKS["networks"], gpu_net],
        "topologies": [
            *TWO_RACKS["topologies"],
            {"networks": ["gpu-net"], "map": [{"assignment": {"gpu": "yes"}, "groups": []}]},
        ],
    }
    topo = topology.parse(document)
    spec = topology.HostSpec(HostName("g1"), "192.168.0.9", {"rack": "b", "gpu": "yes"})
    topo, _ = topology.place_host(topo, spec)
    assert routes(routeplan.route_plan(topo, HostName("h1"))) == [
        ("net", "10.1.0.0/16", "h2", None),
        ("net", "10.128.0.0/9", "h3", "rack-b"),
    ]
    assert [p.network for p in routeplan.route_plan(topo, HostName("g1")).prefixes] == [
        "net",
        "gpu-net",
    ]


def test_lookup_is_longest_prefix_match() -> None:
    plan = routeplan.route_plan(zones(), B1)
    hit = plan.lookup("10.192.3.4")
    assert hit is not None and hit.group == "zone-b/rack-3"
    hit = plan.lookup(ipaddress.ip_address("10.129.0.1"))
    assert hit is not None and hit.via_host == "b1x"
    assert plan.lookup("8.8.8.8") is None


def test_wire_form_round_trip() -> None:
    for plan in (
        routeplan.route_plan(zones(), A1),
        routeplan.route_plan(zones(without_ip6=("b1x",)), B1),
        routeplan.route_plan(zones(without_ip6=("b1x",)), HostName("b1x")),
    ):
        assert routeplan.RoutePlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_unknown_host() -> None:
    with pytest.raises(NotFound):
        routeplan.route_plan(topology.parse(TWO_RACKS), HostName("nobody"))
