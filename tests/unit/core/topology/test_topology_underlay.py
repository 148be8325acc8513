"""A host's underlay address is one other hosts can route its prefixes to: every class of
address that cannot be is refused where it enters (a placed host, an applied document), and a
topology romanad stored before the rule keeps loading."""

from __future__ import annotations

from typing import Any

import pytest

from romana.core import topology
from romana.core.errors import InvalidInput
from romana.core.identifiers import HostName

NET = {"name": "n", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4, "endpoint_bits": 8}
NET6 = {"name": "n6", "cidr": "fd00:10::/64"}

# Host index 0 of network n: prefix 10.0.0.0/16, gateway 10.0.0.1.
REFUSED = [
    ("0.0.0.0", None, "ip", "is unspecified"),
    ("127.0.0.1", None, "ip", "is a loopback address"),
    ("127.1.2.3", None, "ip", "is a loopback address"),
    ("::ffff:127.0.0.1", None, "ip", "is a loopback address"),
    ("224.0.0.5", None, "ip", "is a multicast address"),
    ("255.255.255.255", None, "ip", "is the limited broadcast address"),
    ("169.254.10.1", None, "ip", "is a link-local address"),
    ("10.0.0.1", None, "ip", "is the gateway address of host index 0 in romana network 'n'"),
    ("10.3.0.9", None, "ip", "is inside romana network 'n' (10.0.0.0/8)"),
    ("192.0.2.9", "::", "ip6", "is unspecified"),
    ("192.0.2.9", "::1", "ip6", "is a loopback address"),
    ("192.0.2.9", "ff02::1", "ip6", "is a multicast address"),
    ("192.0.2.9", "fe80::1", "ip6", "is a link-local address"),
    ("192.0.2.9", "fd00:10::5:6:7:8", "ip6", "is inside romana network 'n6'"),
]


def document(ip: str, ip6: str | None = None) -> dict[str, Any]:
    host: dict[str, Any] = {"name": "h1", "ip": ip}
    if ip6 is not None:
        host["ip6"] = ip6
    return {
        "networks": [NET, NET6],
        "topologies": [{"networks": ["n"], "map": [host]}, {"networks": ["n6"], "map": []}],
    }


@pytest.mark.parametrize(("ip", "ip6", "field", "rule"), REFUSED)
def test_placing_a_host_refuses_the_address(
    ip: str, ip6: str | None, field: str, rule: str
) -> None:
    topo = topology.parse(document("192.0.2.1"))
    with pytest.raises(InvalidInput) as caught:
        topology.place_host(topo, topology.HostSpec(HostName("h2"), ip, {}, ip6))
    [issue] = caught.value.issues
    assert issue.field == field
    assert rule in issue.rule and "next hop" in issue.rule


@pytest.mark.parametrize(("ip", "ip6", "field", "rule"), REFUSED)
def test_a_document_refuses_the_address_naming_its_path(
    ip: str, ip6: str | None, field: str, rule: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        topology.parse(document(ip, ip6))
    assert [(i.field, rule in i.rule) for i in caught.value.issues] == [
        (f"topologies[0].map[0].{field}", True)
    ]


@pytest.mark.parametrize(
    ("ip", "ip6"),
    [("192.0.2.1", None), ("172.16.0.9", "fd00:99::9"), ("11.0.0.1", "2001:db8::1")],
)
def test_ordinary_underlay_addresses_are_accepted(ip: str, ip6: str | None) -> None:
    topo = topology.parse(document(ip, ip6))
    topo, _ = topology.place_host(
        topo, topology.HostSpec(HostName("h2"), "192.0.2.2", {}, "2001:db8::2")
    )
    assert [str(h.ip) for h in topo.hosts] == [ip, "192.0.2.2"]


def test_a_stored_topology_of_an_earlier_release_still_loads() -> None:
    old = document("127.0.0.1")
    assert str(topology.parse(old, stored=True).host(HostName("h1")).ip) == "127.0.0.1"
    assert topology.to_document(topology.from_json_dict(old))  # what romanad and agents read
