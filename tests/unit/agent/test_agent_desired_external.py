"""The edge as the agent sees it: the view's ``external`` and ``vips`` read, external addresses
put on their endpoints' interfaces, proxy neighbour entries answering for them in ``direct``
route mode, and the NAT chains merged into the firewall."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence
from typing import Any

import pytest
from agent_fakes import raw_view

from romana.agent import desired, ledger, report, view
from romana.core import endpoint, errors, externaladdress, hostplan, ruleset
from romana.core.external import EgressNat, NatMode
from romana.core.identifiers import NetworkName, TenantName
from romana.core.render import iptables, nftables

ip = ipaddress.ip_address
EXT = "203.0.113.7"
EXT6 = "2001:db8:e::7"
POOLS = ["203.0.113.0/28", "2001:db8:e::/120"]
OFF = [{"network": "pods", "mode": "off", "tenants": [], "no_nat": []}]
ON = [{"network": "pods", "mode": "on", "tenants": [], "no_nat": []}]
BGP = {
    "asn": 64512,
    "router_id": "192.0.2.1",
    "peers": [{"address": "192.0.2.254", "asn": 65001, "name": ""}],
    "prefixes": ["10.1.0.0/16"],
    "aggregates": [],
    "accept": ["10.0.0.0/8"],
    "communities": [],
    "hold_time": 9,
    "restart_time": 120,
}


def edge_view(
    *,
    addresses: Sequence[tuple[str, str, str]] = ((EXT, "c1:eth0", "10.1.16.1"),),
    nat: list[dict[str, Any]] | None = None,
    vips: list[dict[str, Any]] | None = None,
    bgp: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`raw_view` with the edge: the pools, (external, key, romana) held here, NAT."""
    raw = raw_view(**kwargs)
    raw["external"] = {
        "pools": POOLS,
        "addresses": [
            {"address": a, "pool": "edge", "key": k, "romana": [r]} for a, k, r in addresses
        ],
        "nat": OFF if nat is None else nat,
    }
    raw["vips"] = vips or []
    if bgp is not None:
        raw["bgp"] = bgp
    return raw


def ready(
    name: str, address: str, attachment: str = hostplan.VETH, ifname: str = "eth0"
) -> ledger.EndpointRecord:
    return ledger.EndpointRecord(
        container_id=name,
        ifname=ifname,
        netns="" if attachment == hostplan.TAP else f"/run/netns/{name}",
        tenant="t1",
        segment="default",
        attachment=attachment,
    ).ready((ip(address),))


def test_the_view_reads_external_and_vips() -> None:
    raw = edge_view(
        addresses=[(EXT, "c1:eth0", "10.1.16.1")],
        nat=[
            {"network": "pods", "mode": "tenants", "tenants": ["t1"], "no_nat": ["172.16.0.0/12"]}
        ],
        vips=[
            {
                "name": "web",
                "address": "203.0.113.5",
                "endpoints": ["10.1.16.1", "10.2.16.1"],
                "local": ["c1:eth0"],
                "holder": "h2",
            },
            {"name": "db", "address": "203.0.113.6", "endpoints": [], "local": []},
        ],
    )
    hv = view.parse(raw)
    assert hv.external == view.ExternalView(
        pools=tuple(ipaddress.ip_network(p) for p in POOLS),
        addresses=(view.ExternalAddress(ip(EXT), "edge", "c1:eth0", (ip("10.1.16.1"),)),),
        nat=(
            EgressNat(
                NetworkName("pods"),
                NatMode.TENANTS,
                (TenantName("t1"),),
                (ipaddress.ip_network("172.16.0.0/12"),),
            ),
        ),
    )
    assert hv.external.of("c1:eth0") == (ip(EXT),)
    assert hv.external.of("c2:eth0") == ()
    assert hv.vips == (
        view.ViewVip(
            "web", ip("203.0.113.5"), (ip("10.1.16.1"), ip("10.2.16.1")), ("c1:eth0",), "h2"
        ),
        view.ViewVip("db", ip("203.0.113.6"), (), (), None),
    )


def test_a_view_of_an_earlier_romanad_has_no_edge() -> None:
    hv = view.parse(raw_view())
    assert hv.external == view.ExternalView()
    assert hv.vips == ()


def test_a_malformed_edge_is_refused_whole_naming_each_field() -> None:
    raw = edge_view(
        addresses=[("nope", "c1:eth0", "10.1.16.1")],
        nat=[{"network": "pods", "mode": "sometimes", "tenants": [], "no_nat": []}],
        vips=[{"name": "web", "address": "x", "endpoints": [], "local": []}],
    )
    with pytest.raises(errors.InvalidInput) as info:
        view.parse(raw)
    assert {i.field for i in info.value.issues} == {
        "external.addresses[0].address",
        "external.nat[0].mode",
        "vips[0].address",
    }


GATEWAY = hostplan.GatewaySpec(
    (ipaddress.ip_interface("10.1.0.1/16"), ipaddress.ip_interface("fd00:1::1/64"))
)


def test_external_addresses_follow_the_romana_ones_on_a_veth_of_their_family() -> None:
    record = ready("c1", "10.1.16.1")
    spec = desired.endpoint_spec(record, GATEWAY, 1500, None, (ip(EXT), ip(EXT6)))
    # the romana address first, so the kernel keeps picking it as the source; no IPv6
    # external address on an endpoint without an IPv6 romana address
    assert spec.addresses == (ip("10.1.16.1"), ip(EXT))
    assert spec.gateways == (ip("10.1.0.1"),)
    dual = dataclasses.replace(record, addresses=(ip("10.1.16.1"), ip("fd00:1::10")))
    spec = desired.endpoint_spec(dual, GATEWAY, 1500, None, (ip(EXT6), ip(EXT)))
    assert spec.addresses[:2] == (ip("10.1.16.1"), ip("fd00:1::10"))
    assert set(spec.addresses[2:]) == {ip(EXT), ip(EXT6)}
    assert desired.endpoint_spec(record, GATEWAY, 1500, None).addresses == (ip("10.1.16.1"),)


def test_a_vms_external_address_is_routed_to_its_tap() -> None:
    record = ready("c1", "10.1.16.1", hostplan.TAP, endpoint.tap_name("0123456789ab-cdef"))
    spec = desired.endpoint_spec(record, GATEWAY, 1500, None, (ip(EXT),))
    assert spec.addresses == (ip("10.1.16.1"), ip(EXT))


def test_a_docker_endpoints_external_address_is_routed_to_its_host_end() -> None:
    record = ready("c1", "10.1.16.1", hostplan.DOCKER, "eth0")
    spec = desired.endpoint_spec(record, GATEWAY, 1500, None, (ip(EXT),))
    assert spec.addresses == (ip("10.1.16.1"), ip(EXT))


LIVE = {"/run/netns/c1", "/run/netns/c2"}


def test_direct_mode_proxies_the_external_addresses_of_wired_endpoints_on_the_underlay() -> None:
    hv = view.parse(
        edge_view(
            addresses=[
                (EXT, "c1:eth0", "10.1.16.1"),
                ("203.0.113.8", "gone:eth0", "10.1.16.3"),  # no record here
                ("203.0.113.9", "c2:eth0", "10.1.16.2"),  # its namespace is gone
            ]
        )
    )
    records = [ready("c1", "10.1.16.1"), ready("c2", "10.1.16.2")]
    made = desired.host_plan(hv, records, mtu=1500, live_netns={"/run/netns/c1"}, underlay="eth0")
    assert made.plan.proxies == (hostplan.ProxySpec(ip(EXT), "eth0"),)
    assert made.plan.proxy_ranges == tuple(ipaddress.ip_network(p) for p in POOLS)
    (wired,) = made.plan.endpoints
    assert wired.addresses == (ip("10.1.16.1"), ip(EXT))


def test_no_proxies_in_bgp_mode_or_without_an_underlay_interface() -> None:
    records = [ready("c1", "10.1.16.1")]
    bgp = view.parse(edge_view(bgp=BGP))
    assert bgp.bgp is not None
    made = desired.host_plan(bgp, records, mtu=1500, live_netns=LIVE, underlay="eth0")
    assert made.plan.proxies == ()
    # the address is still on the endpoint, and the pools still the range of ours
    assert made.plan.endpoints[0].addresses == (ip("10.1.16.1"), ip(EXT))
    assert made.plan.proxy_ranges == tuple(ipaddress.ip_network(p) for p in POOLS)
    direct = view.parse(edge_view())
    assert desired.host_plan(direct, records, mtu=1500, live_netns=LIVE).plan.proxies == ()
    assert (
        desired.host_plan(direct, records, mtu=1500, live_netns=LIVE, underlay="").plan.proxies
        == ()
    )


def test_nothing_to_rewrite_leaves_the_ruleset_exactly_as_before() -> None:
    """Egress NAT off, no external address, no VIP held here: the filter alone, exactly
    the ruleset of a view from a romanad without external addresses."""
    quiet = desired.firewall(view.parse(edge_view(addresses=[])))
    assert quiet == desired.firewall(view.parse(raw_view()))
    assert all(c.kind is ruleset.ChainKind.FILTER for c in quiet.rules.chains)
    # a VIP none of whose endpoints lives here adds nothing either
    elsewhere = [{"name": "web", "address": "203.0.113.5", "endpoints": ["10.2.16.1"], "local": []}]
    assert desired.firewall(view.parse(edge_view(addresses=[], vips=elsewhere))) == quiet


def _nat_chains(fw: desired.Firewall) -> list[ruleset.Chain]:
    return [c for c in fw.rules.chains if c.kind is ruleset.ChainKind.NAT]


def test_the_nat_chains_are_merged_after_the_filter_which_stays_as_it_was() -> None:
    off = desired.firewall(view.parse(edge_view()))
    on = desired.firewall(view.parse(edge_view(nat=ON)))
    kinds = [c.kind for c in on.rules.chains]
    n = kinds.index(ruleset.ChainKind.NAT)
    assert set(kinds[n:]) == {ruleset.ChainKind.NAT}
    # the filter is the same whatever the NAT (the external address is judged either way)
    assert on.rules.chains[:n] == off.rules.chains[:n]
    assert set(off.rules.sets) <= set(on.rules.sets)
    assert on.rules.interface_sets == off.rules.interface_sets
    assert (on.refused, on.policy_names) == (off.refused, off.policy_names)
    assert [c.name for c in on.rules.chains[n:]] == ["romana-postrouting", "romana-nat-pods"]
    # the endpoint leaves as its external address, any other masqueraded
    rules = on.rules.chain("romana-nat-pods").rules
    assert [r.verdict for r in rules] == [ruleset.snat(ip(EXT)), ruleset.masquerade()]
    # with mode off, only the snat of the external address is left
    assert [r.verdict for r in off.rules.chain("romana-nat-pods").rules] == [ruleset.snat(ip(EXT))]
    # and it renders in both backends
    assert "snat ip to 203.0.113.7" in nftables.render(on.rules)
    assert "--jump SNAT --to-source 203.0.113.7" in iptables.render(on.rules).nat_v4


def test_a_vip_with_an_endpoint_here_is_forwarded_by_the_agents_ruleset() -> None:
    vips = [
        {
            "name": "web",
            "address": "203.0.113.5",
            "endpoints": ["10.1.16.1", "10.2.16.1"],
            "local": ["c1:eth0"],
        }
    ]
    fw = desired.firewall(view.parse(edge_view(addresses=[], vips=vips)))
    (pre,) = [c for c in _nat_chains(fw) if c.hook is ruleset.Hook.PREROUTING]
    (rule,) = pre.rules
    assert rule.verdict == ruleset.dnat(ip("10.1.16.1"), ip("10.2.16.1"))
    assert ruleset.LocalDestination() in rule.matches
    # the flows to an endpoint of this host are told apart by the agent's own interface prefix
    custom = desired.firewall(
        view.parse(edge_view(addresses=[], vips=vips)), interface_prefix="veth"
    )
    post = custom.rules.chain("romana-postrouting")
    assert post.rules[0].matches == (ruleset.Interface(ruleset.Side.DST, "veth"),)


def test_a_view_without_nat_settings_masquerades_nothing() -> None:
    # An earlier romanad sends no settings at all: its agents masqueraded nothing before.
    fw = desired.firewall(view.parse(edge_view(addresses=[], nat=[])))
    assert not [c for c in fw.rules.chains if c.kind is ruleset.ChainKind.NAT]


def test_the_compiler_recompiles_when_only_the_edge_changes() -> None:
    compiler = desired.Compiler()
    steps = [
        view.parse(edge_view(addresses=[])),
        view.parse(edge_view()),  # an external address came
        view.parse(edge_view(nat=ON)),  # egress NAT on
        view.parse(edge_view(addresses=[])),  # back to nothing
    ]
    seen = []
    for hv in steps:
        fw = compiler.firewall(hv, report.firewall_key(hv))
        assert fw == desired.firewall(hv)
        seen.append(fw.rules)
    assert seen[0] != seen[1] != seen[2]
    assert seen[3] == seen[0]


def test_an_external_address_of_another_family_than_its_endpoint_is_not_paired() -> None:
    hv = view.parse(edge_view(addresses=[(EXT6, "c1:eth0", "10.1.16.1")]))
    assert desired.external_pairs(hv) == ()
    both = view.parse(edge_view())
    assert desired.external_pairs(both) == ((ip(EXT), ip("10.1.16.1")),)
    assert externaladdress.FAMILIES == (4, 6)
