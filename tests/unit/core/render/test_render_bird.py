"""A host's BIRD configuration in ``bgp`` route mode: what it announces, imports and to whom
it speaks, from the topology (:mod:`romana.core.bgpplan`), in text BIRD 2 itself accepts
(``bird -p`` parses a configuration and exits)."""

from __future__ import annotations

import copy
import ipaddress
import subprocess
from pathlib import Path
from typing import Any

import pytest

from romana.core import bgpplan, topology
from romana.core.identifiers import HostName
from romana.core.render import bird
from support import env

NET = {"name": "n", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4, "endpoint_bits": 8}
NET6 = {"name": "n6", "cidr": "fd00::/104", "tenant_bits": 4, "segment_bits": 4,
        "endpoint_bits": 8}  # fmt: skip
DOCUMENT: dict[str, Any] = {
    "networks": [NET],
    "topologies": [
        {
            "networks": ["n"],
            "route_mode": "bgp",
            "bgp": {"asn": 64512, "hold_time": 6, "communities": ["64512:100", "64512:7:8"]},
            "map": [
                {
                    "name": "rack-1",
                    "bgp": {"peers": [{"address": "192.168.1.1", "asn": 65101, "name": "tor-1"}]},
                    "groups": [{"name": "h1", "ip": "192.168.1.11"}],
                },
                {
                    "name": "rack-2",
                    "bgp": {
                        "aggregate": True,
                        "peers": [
                            {"address": "192.168.2.1", "asn": 65102, "name": "tor-2a"},
                            {"address": "192.168.2.2", "asn": 65102, "name": "tor-2b"},
                        ],
                    },
                    "groups": [{"name": "h3", "ip": "192.168.2.13", "asn": 4200000001}],
                },
            ],
        },
        {"networks": ["n6"], "map": [{"name": "h9", "ip": "192.168.9.9"}]},
    ],
}


def planned(name: str, document: dict[str, Any] | None = None) -> bird.BirdHost | None:
    parsed = topology.parse(copy.deepcopy(document or {**DOCUMENT, "networks": [NET, NET6]}))
    return bgpplan.for_host(parsed, HostName(name))


def test_a_host_announces_its_prefix_to_its_racks_peers_with_the_settings_in_effect() -> None:
    h1 = planned("h1")
    assert h1 is not None
    assert (h1.asn, h1.router_id, h1.hold_time) == (64512, ipaddress.ip_address("192.168.1.11"), 6)
    assert [str(p.address) for p in h1.peers] == ["192.168.1.1"]
    assert [str(n) for n in h1.prefixes] == ["10.0.0.0/16"]
    assert h1.aggregates == () and [str(n) for n in h1.accept] == ["10.0.0.0/8"]
    text = bird.render(h1)
    assert "route 10.0.0.0/16 unreachable;" in text
    assert "protocol bgp romana_p0_tor_1 {" in text and "neighbor 192.168.1.1 as 65101;" in text
    assert "bgp_community.add((64512, 100));" in text
    assert "bgp_large_community.add((64512, 7, 8));" in text
    assert "if net ~ [ 10.0.0.0/16+ ] then reject;" in text  # never its own back
    assert "if net ~ [ 10.0.0.0/8+ ] then accept;" in text  # only romana's, no default


def test_a_group_that_aggregates_is_announced_by_its_hosts_too() -> None:
    h3 = planned("h3")
    assert h3 is not None and h3.asn == 4200000001
    assert [str(n) for n in h3.aggregates] == ["10.128.0.0/9"]
    text = bird.render(h3)
    assert "route 10.128.0.0/9 unreachable;" in text
    assert text.count("protocol bgp ") == 2 and "romana_p1_tor_2b" in text
    assert "if net ~ [ 10.128.0.0/16+, 10.128.0.0/9 ] then reject;" in text


def test_a_host_in_no_bgp_tree_has_no_bird() -> None:
    assert planned("h9") is None


def test_the_kernel_gets_learned_and_own_unreachable_routes_and_keeps_them_across_restarts() -> (
    None
):
    h1 = planned("h1")
    assert h1 is not None
    kernel = bird.render(h1).split("protocol kernel romana_kernel4 {")[1].split("\n}")[0]
    exported = 'export where source = RTS_BGP || proto = "romana_announce4";'
    for line in ("import none;", exported, "persist;",
                 "graceful restart on;"):  # fmt: skip
        assert line in kernel


@pytest.mark.parametrize("name", ["h1", "h3"])
def test_bird_accepts_the_configuration(name: str, tmp_path: Path) -> None:
    binary = env.need_binary("bird")
    spec = planned(name)
    assert spec is not None
    path = tmp_path / "bird.conf"
    path.write_text(bird.render(spec))
    done = subprocess.run([binary, "-p", "-c", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_host_without_an_ipv4_underlay_gets_a_distinct_nonzero_router_id() -> None:
    hosts = [
        topology.Host(HostName(name), ipaddress.ip_address(ip))
        for name, ip in (("a", "fd00:1::5"), ("b", "fd00:2::5"), ("c", "fd00:3::"))
    ]
    ids = [bgpplan.router_id(h) for h in hosts]
    assert len(set(ids)) == 3 and ipaddress.IPv4Address(0) not in ids
    v4 = topology.Host(HostName("d"), ipaddress.ip_address("192.0.2.7"))
    assert bgpplan.router_id(v4) == ipaddress.ip_address("192.0.2.7")
