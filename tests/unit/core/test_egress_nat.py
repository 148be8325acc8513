"""Egress NAT of one host: which packets leave with another source address, which VIP flows
are forwarded, that nothing inside the cluster is ever rewritten, that :func:`egress.decide`
says what the chains do, and that a host's whole ruleset with NAT renders in both backends.

The chains are judged by walking them for one packet (:func:`walk`), following the semantics
shared by nftables and iptables (``romana.core.ruleset``): ``return`` goes back, ``goto``
does not come back, falling off a hooked chain leaves the packet alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from romana.core import addressing, egress, ruleset, tenancy
from romana.core.external import EgressNat, NatMode
from romana.core.identifiers import NetworkName, TenantName
from romana.core.policy import hostrules
from romana.core.render import iptables, nftables

ip = ipaddress.ip_address
net = ipaddress.ip_network

PODS = addressing.layout("pods", "10.0.0.0/8", 4, 4, 8)
PODS6 = addressing.layout("pods6", "fd00:1::/48")
LAYOUTS: dict[str, addressing.Layout] = {PODS.name: PODS, PODS6.name: PODS6}
T1 = tenancy.Tenant(TenantName("t1"), "", {"pods": 1, "pods6": 1})
T2 = tenancy.Tenant(TenantName("t2"), "", {"pods": 2})
TENANTS: dict[str, tenancy.Tenant] = {T1.name: T1, T2.name: T2}
POOLS = (net("203.0.113.0/24"), net("2001:db8:e::/64"))
HOST = 1

# This host's endpoints: two of tenant t1, one of t2, and t1's in IPv6.
A_T1 = addressing.encode(PODS, HOST, 1, 0, 5)  # 10.1.16.5
B_T1 = addressing.encode(PODS, HOST, 1, 0, 6)
C_T2 = addressing.encode(PODS, HOST, 2, 0, 5)
D_T1 = addressing.encode(PODS6, HOST, 1, 0, 5)
EXT_A = ip("203.0.113.7")
EXT_D = ip("2001:db8:e::7")
PAIRS: tuple[egress.Pair, ...] = ((EXT_A, A_T1), (EXT_D, D_T1))

OUTSIDE4 = ip("198.51.100.1")
OUTSIDE6 = ip("2001:db8:ff::1")
CORP = net("172.16.0.0/12")
IN_CORP = ip("172.16.4.4")
OTHER_HOST_ENDPOINT = addressing.encode(PODS, 2, 2, 0, 9)  # a romana address elsewhere
IN_POOL = ip("203.0.113.99")  # another endpoint's external address
OTHER_HOST_ENDPOINT6 = addressing.encode(PODS6, 2, 1, 0, 9)
IN_POOL6 = ip("2001:db8:e::99")


def nat_of(
    settings: Sequence[EgressNat] = (),
    pairs: Sequence[egress.Pair] = (),
    vips: Sequence[egress.VipTarget] = (),
    layouts: dict[str, addressing.Layout] | None = None,
) -> egress.Nat:
    return egress.egress_nat(
        LAYOUTS if layouts is None else layouts, TENANTS, settings, POOLS, pairs, vips
    )


def rules_of(nat: egress.Nat) -> ruleset.Ruleset:
    """The NAT alone as a ruleset, which validates it."""
    return ruleset.Ruleset(nat.sets, nat.chains)


@dataclass(frozen=True)
class Outcome:
    action: ruleset.Action | None
    to: tuple[addressing.IPAddress, ...] = ()
    comment: str = ""


class _Packet:
    def __init__(
        self,
        src: addressing.IPAddress,
        dst: addressing.IPAddress,
        out_iface: str,
        local: bool,
        original: addressing.IPAddress | None,
    ) -> None:
        self.src, self.dst, self.out_iface, self.local = src, dst, out_iface, local
        self.original = dst if original is None else original


def _matches(rs: ruleset.Ruleset, m: ruleset.MatchExpr, p: _Packet) -> bool:
    if isinstance(m, ruleset.Address):
        return m.match.matches(p.src if m.side is ruleset.Side.SRC else p.dst)
    if isinstance(m, ruleset.InSet):
        addr = p.src if m.side is ruleset.Side.SRC else p.dst
        return addr.version == m.version and any(
            addr in e for e in rs.set_named(m.set_name).elements
        )
    if isinstance(m, ruleset.Interface):
        assert m.side is ruleset.Side.DST, "egress NAT matches only the output interface"
        return p.out_iface.startswith(m.prefix)
    if isinstance(m, ruleset.LocalDestination):
        return p.local
    if isinstance(m, ruleset.OriginalDestination):
        return p.original == m.address
    raise AssertionError(f"egress NAT uses no {m!r}")


def _chain(rs: ruleset.Ruleset, chain: ruleset.Chain, p: _Packet) -> Outcome | None:
    """The rewrite, or None when the chain returns (or falls off its end)."""
    for rule in chain.rules:
        if not all(_matches(rs, m, p) for m in rule.matches):
            continue
        verdict = rule.verdict
        assert isinstance(verdict, ruleset.Verdict)
        if verdict.action is ruleset.Action.RETURN:
            return None
        if verdict.action in (ruleset.Action.GOTO, ruleset.Action.JUMP):
            assert verdict.chain is not None
            found = _chain(rs, rs.chain(verdict.chain), p)
            if found is not None or verdict.action is ruleset.Action.GOTO:
                return found
            continue
        return Outcome(verdict.action, verdict.to, rule.comment)
    return None


def walk(
    nat: egress.Nat,
    src: addressing.IPAddress,
    dst: addressing.IPAddress,
    *,
    hook: ruleset.Hook = ruleset.Hook.POSTROUTING,
    out_iface: str = "eth0",
    local: bool = False,
    original: addressing.IPAddress | None = None,
) -> Outcome:
    """What the chains hooked at ``hook`` do to one packet (``Outcome(None)``: nothing)."""
    rs = rules_of(nat)
    p = _Packet(src, dst, out_iface, local, original)
    for chain in rs.hooked:
        if chain.hook is hook:
            assert chain.kind is ruleset.ChainKind.NAT
            found = _chain(rs, chain, p)
            if found is not None:
                return found
    return Outcome(None)


def source_after(nat: egress.Nat, src: addressing.IPAddress, dst: addressing.IPAddress) -> str:
    """The source the packet leaves with: its own, ``host`` (masquerade) or the snat one."""
    out = walk(nat, src, dst)
    if out.action is None:
        return str(src)
    if out.action is ruleset.Action.MASQUERADE:
        return "host"
    assert out.action is ruleset.Action.SNAT, out
    return str(out.to[0])


def test_a_host_with_nothing_to_rewrite_gets_no_nat_chain_at_all() -> None:
    off = [EgressNat(PODS.name, NatMode.OFF), EgressNat(PODS6.name, NatMode.OFF)]
    assert nat_of(off) == egress.Nat()
    assert nat_of(off) == egress.Nat((), ())
    assert egress.egress_nat({}, {}, (), POOLS, ()) == egress.Nat()
    # a tenants mode naming no tenant with an id, or only no-NAT CIDRs, rewrites nothing
    nobody = [
        EgressNat(PODS.name, NatMode.TENANTS, (TenantName("ghost"),), (CORP,)),
        EgressNat(PODS6.name, NatMode.TENANTS, (T2.name,)),
    ]
    assert nat_of(nobody) == egress.Nat()
    # a VIP none of whose endpoints is of its family forwards nothing
    vip = egress.VipTarget("web", ip("203.0.113.5"), (D_T1,))
    assert nat_of(off, vips=[vip]) == egress.Nat()


def test_the_default_masquerades_what_leaves_the_cluster_and_nothing_inside_it() -> None:
    nat = nat_of()
    names = [c.name for c in nat.chains]
    assert names == [egress.POSTROUTING, egress.chain_name("pods"), egress.chain_name("pods6")]
    assert names[1:] == ["romana-nat-pods", "romana-nat-pods6"]
    hooked = rules_of(nat).hooked
    assert [(c.name, c.hook, c.kind) for c in hooked] == [
        (egress.POSTROUTING, ruleset.Hook.POSTROUTING, ruleset.ChainKind.NAT)
    ]
    for src, dst in [(A_T1, OUTSIDE4), (C_T2, OUTSIDE4), (D_T1, OUTSIDE6)]:
        assert source_after(nat, src, dst) == "host", (src, dst)
    for src, dst in [
        (C_T2, OTHER_HOST_ENDPOINT),
        (C_T2, IN_POOL),
        (B_T1, addressing.gateway(PODS, 7)),
        (D_T1, OTHER_HOST_ENDPOINT6),
        (D_T1, IN_POOL6),
    ]:
        assert source_after(nat, src, dst) == str(src), (src, dst)
    # the host's own traffic (a source in no romana network) is not ours to rewrite
    assert source_after(nat, ip("192.0.2.1"), OUTSIDE4) == "192.0.2.1"
    # the inside set of each family holds every network and pool of it
    assert {s.name: s.elements for s in nat.sets} == {
        "romana-nat-inside-4": (net("10.0.0.0/8"), net("203.0.113.0/24")),
        "romana-nat-inside-6": (net("2001:db8:e::/64"), net("fd00:1::/48")),
    }


def test_no_nat_cidrs_are_reached_with_the_romana_address() -> None:
    nat = nat_of([EgressNat(PODS.name, no_nat=(CORP, net("2001:db8:c::/48")))])
    assert source_after(nat, A_T1, IN_CORP) == str(A_T1)  # even the external address holder
    assert source_after(nat, C_T2, IN_CORP) == str(C_T2)
    assert source_after(nat, C_T2, OUTSIDE4) == "host"
    # the other family's CIDR is not in this network's set; pods6 keeps its default
    assert [s.elements for s in nat.sets if s.name.startswith("romana-nonat")] == [(CORP,)]
    assert source_after(nat, D_T1, ip("2001:db8:c::1")) == "host"


def test_an_endpoint_holding_an_external_address_leaves_with_it_in_every_mode() -> None:
    for mode in NatMode:
        tenants = (T2.name,) if mode is NatMode.TENANTS else ()
        settings = [EgressNat(PODS.name, mode, tenants), EgressNat(PODS6.name, mode, tenants)]
        nat = nat_of(settings, PAIRS)
        assert source_after(nat, A_T1, OUTSIDE4) == str(EXT_A), mode
        assert source_after(nat, D_T1, OUTSIDE6) == str(EXT_D), mode
        # never inside the cluster: another endpoint sees the romana address
        assert source_after(nat, A_T1, OTHER_HOST_ENDPOINT) == str(A_T1), mode
        assert source_after(nat, A_T1, IN_POOL) == str(A_T1), mode
        assert source_after(nat, D_T1, IN_POOL6) == str(D_T1), mode
        # the endpoint next to it (same tenant, no external address) follows the mode
        expected = {NatMode.ON: "host", NatMode.OFF: str(B_T1), NatMode.TENANTS: str(B_T1)}
        assert source_after(nat, B_T1, OUTSIDE4) == expected[mode], mode
    snat = [
        r
        for c in nat_of((), PAIRS).chains
        for r in c.rules
        if isinstance(r.verdict, ruleset.Verdict) and r.verdict.action is ruleset.Action.SNAT
    ]
    assert [(r.verdict.to, r.version) for r in snat if isinstance(r.verdict, ruleset.Verdict)] == [
        ((EXT_A,), 4),
        ((EXT_D,), 6),
    ]


def test_mode_off_with_an_external_address_keeps_only_its_snat() -> None:
    nat = nat_of([EgressNat(PODS.name, NatMode.OFF), EgressNat(PODS6.name, NatMode.OFF)], PAIRS)
    assert [c.name for c in nat.chains] == [
        egress.POSTROUTING,
        "romana-nat-pods",
        "romana-nat-pods6",
    ]
    assert source_after(nat, C_T2, OUTSIDE4) == str(C_T2)
    assert source_after(nat, A_T1, OUTSIDE4) == str(EXT_A)


def test_tenants_mode_masquerades_only_the_listed_tenants_by_their_masked_id() -> None:
    nat = nat_of(
        [
            EgressNat(PODS.name, NatMode.TENANTS, (T1.name,)),
            EgressNat(PODS6.name, NatMode.OFF),
        ]
    )
    assert source_after(nat, A_T1, OUTSIDE4) == "host"
    assert source_after(nat, B_T1, OUTSIDE4) == "host"
    assert source_after(nat, C_T2, OUTSIDE4) == str(C_T2)
    assert source_after(nat, D_T1, OUTSIDE6) == str(D_T1)  # pods6 is off
    assert source_after(nat, A_T1, OTHER_HOST_ENDPOINT) == str(A_T1)
    # the match is the tenant field under the network's mask: every host, every segment
    (rule,) = rules_of(nat).chain("romana-nat-pods").rules
    assert rule.matches == (ruleset.Address(ruleset.Side.SRC, addressing.tenant_match(PODS, 1)),)
    assert rule.verdict == ruleset.masquerade()
    other_segment = addressing.encode(PODS, HOST, 1, 3, 9)
    assert source_after(nat, other_segment, OUTSIDE4) == "host"
    infrastructure = addressing.encode(PODS, HOST, 0, 0, 9)
    assert source_after(nat, infrastructure, OUTSIDE4) == str(infrastructure)


def test_a_listed_tenant_without_an_id_in_the_network_adds_nothing() -> None:
    both = nat_of([EgressNat(PODS6.name, NatMode.TENANTS, (T1.name, T2.name))])
    only_t1 = nat_of([EgressNat(PODS6.name, NatMode.TENANTS, (T1.name,))])
    assert both == only_t1
    assert [r.comment for r in rules_of(both).chain("romana-nat-pods6").rules] == [
        "egress NAT of tenant t1"
    ]
    unknown = nat_of([EgressNat(PODS6.name, NatMode.TENANTS, (T1.name, TenantName("ghost")))])
    assert unknown == only_t1


SETTINGS: dict[str, list[EgressNat]] = {
    "default": [],
    "off": [EgressNat(PODS.name, NatMode.OFF), EgressNat(PODS6.name, NatMode.OFF)],
    "tenants": [
        EgressNat(PODS.name, NatMode.TENANTS, (T2.name,), (CORP,)),
        EgressNat(PODS6.name, NatMode.TENANTS, (T1.name,)),
    ],
    "on-no-nat": [EgressNat(PODS.name, no_nat=(CORP,)), EgressNat(PODS6.name, NatMode.OFF)],
}
PACKETS = [
    (A_T1, OUTSIDE4),
    (A_T1, IN_CORP),
    (B_T1, OUTSIDE4),
    (B_T1, IN_CORP),
    (C_T2, OUTSIDE4),
    (C_T2, IN_CORP),
    (C_T2, OTHER_HOST_ENDPOINT),
    (C_T2, IN_POOL),
    (D_T1, OUTSIDE6),
    (D_T1, IN_POOL6),
    (addressing.encode(PODS6, HOST, 2, 0, 4), OUTSIDE6),
    (ip("192.0.2.1"), OUTSIDE4),
]


@pytest.mark.parametrize("mode", sorted(SETTINGS))
@pytest.mark.parametrize("pairs", [(), PAIRS], ids=["plain", "external"])
def test_decide_says_what_the_chains_do(mode: str, pairs: tuple[egress.Pair, ...]) -> None:
    settings = SETTINGS[mode]
    nat = nat_of(settings, pairs)
    for src, dst in PACKETS:
        decision = egress.decide(LAYOUTS, TENANTS, settings, POOLS, pairs, src, dst)
        out = walk(nat, src, dst)
        assert decision.rewritten == (out.action is not None), (src, dst, decision, out)
        if out.action is ruleset.Action.MASQUERADE:
            assert decision.source is None, (src, dst)
        elif out.action is ruleset.Action.SNAT:
            assert (decision.source,) == out.to, (src, dst)
        else:
            assert decision.source == src, (src, dst)
        assert decision.why


def test_decide_names_why() -> None:
    settings = [EgressNat(PODS.name, NatMode.TENANTS, (T2.name,), (CORP,))]
    assert egress.decide(LAYOUTS, TENANTS, settings, POOLS, PAIRS, C_T2, IN_POOL).why == (
        f"{IN_POOL} is inside the cluster: no NAT"
    )
    assert egress.decide(LAYOUTS, TENANTS, settings, POOLS, PAIRS, C_T2, IN_CORP).why == (
        f"{IN_CORP} is in no-NAT CIDR {CORP} of network pods"
    )
    assert egress.decide(LAYOUTS, TENANTS, settings, POOLS, PAIRS, A_T1, OUTSIDE4).why == (
        f"leaves as its external address {EXT_A}"
    )
    assert egress.decide(LAYOUTS, TENANTS, settings, POOLS, PAIRS, C_T2, OUTSIDE4).why == (
        "masqueraded to the host's address (network pods, tenant t2)"
    )
    assert egress.decide(LAYOUTS, TENANTS, settings, POOLS, PAIRS, B_T1, OUTSIDE4).why == (
        "egress NAT of network pods is off for it"
    )


def test_a_long_network_name_gets_a_chain_name_that_fits() -> None:
    long = "a-network-with-a-rather-long-name"
    assert egress.chain_name("pods") == "romana-nat-pods"
    name = egress.chain_name(long)
    assert len(name) <= ruleset.MAX_CHAIN_NAME and name.startswith("romana-nat-")
    assert name != egress.chain_name(long + "2")
    lay = addressing.layout(long, "10.0.0.0/8", 4, 4, 8)
    nat = egress.egress_nat(
        {long: lay}, {}, [EgressNat(NetworkName(long), no_nat=(CORP,))], POOLS, ()
    )
    assert [c.name for c in rules_of(nat).chains][1] == name
    assert all(len(s.name) <= ruleset.MAX_SET_NAME for s in nat.sets)


WEB = ip("203.0.113.5")
WEB6 = ip("2001:db8:e::5")
OFF = [EgressNat(PODS.name, NatMode.OFF), EgressNat(PODS6.name, NatMode.OFF)]


def test_a_vip_is_forwarded_only_by_the_host_whose_address_it_is() -> None:
    vip = egress.VipTarget("web", WEB, (OTHER_HOST_ENDPOINT, B_T1, A_T1, D_T1))
    nat = nat_of(OFF, vips=[vip])
    pre = rules_of(nat).chain(egress.PREROUTING)
    assert (pre.hook, pre.kind) == (ruleset.Hook.PREROUTING, ruleset.ChainKind.NAT)
    client = ip("198.51.100.77")
    held = walk(nat, client, WEB, hook=ruleset.Hook.PREROUTING, local=True)
    assert held.action is ruleset.Action.DNAT
    # one of its endpoints of the VIP's family, sorted; the IPv6 one is not a target
    assert held.to == tuple(sorted((A_T1, B_T1, OTHER_HOST_ENDPOINT)))
    assert any(isinstance(m, ruleset.LocalDestination) for r in pre.rules for m in r.matches)
    # the address is not this host's (another host holds the VIP): nothing happens here
    assert walk(nat, client, WEB, hook=ruleset.Hook.PREROUTING).action is None
    # nor to another address
    assert walk(nat, client, IN_POOL, hook=ruleset.Hook.PREROUTING, local=True).action is None


def test_vip_flows_to_another_host_come_back_through_this_one() -> None:
    vip = egress.VipTarget("web", WEB, (OTHER_HOST_ENDPOINT, A_T1))
    nat = nat_of(OFF, vips=[vip])
    client = ip("198.51.100.77")
    # dnatted to an endpoint on another host: masqueraded, so the answer returns here
    away = walk(nat, client, OTHER_HOST_ENDPOINT, original=WEB)
    assert away.action is ruleset.Action.MASQUERADE
    # dnatted to an endpoint of this host: left alone, the endpoint sees the client
    here = walk(nat, client, A_T1, original=WEB, out_iface="romana1234")
    assert here.action is None
    # a flow to that endpoint that was not for the VIP is not touched
    assert walk(nat, client, OTHER_HOST_ENDPOINT).action is None
    # no egress masquerade comes with it (mode off): no inside sets
    assert nat.sets == ()
    assert source_after(nat, C_T2, OUTSIDE4) == str(C_T2)


def test_vips_and_egress_nat_together() -> None:
    vips = [
        egress.VipTarget("web", WEB, (OTHER_HOST_ENDPOINT, A_T1)),
        egress.VipTarget("web6", WEB6, (D_T1,)),
    ]
    nat = nat_of((), PAIRS, vips)
    rs = rules_of(nat)
    assert [r.comment for r in rs.chain(egress.PREROUTING).rules] == ["VIP web", "VIP web6"]
    assert [r.version for r in rs.chain(egress.PREROUTING).rules] == [4, 6]
    client = ip("198.51.100.77")
    assert walk(nat, client, OTHER_HOST_ENDPOINT, original=WEB).action is ruleset.Action.MASQUERADE
    # egress is as without the VIPs
    assert source_after(nat, A_T1, OUTSIDE4) == str(EXT_A)
    assert source_after(nat, C_T2, OUTSIDE4) == "host"
    assert source_after(nat, C_T2, OTHER_HOST_ENDPOINT) == str(C_T2)


def full_ruleset(nat: egress.Nat) -> ruleset.Ruleset:
    """This host's filter (no policies) with the NAT added, as the agent merges them."""
    fw = hostrules.host_firewall(
        hostrules.HostInput(
            host="h1",
            layouts=LAYOUTS,
            tenants=(T1, T2),
            prefixes=(
                (addressing.host_prefix(PODS, HOST), addressing.gateway(PODS, HOST)),
                (addressing.host_prefix(PODS6, HOST), addressing.gateway(PODS6, HOST)),
            ),
            policies=(),
            address_sets={},
            externals=PAIRS,
        )
    )
    return ruleset.Ruleset(
        fw.rules.sets + nat.sets,
        fw.rules.chains + nat.chains,
        fw.rules.notes,
        fw.rules.interface_sets,
    )


def test_a_full_host_ruleset_with_nat_renders_in_both_backends() -> None:
    vips = [egress.VipTarget("web", WEB, (OTHER_HOST_ENDPOINT, A_T1, B_T1))]
    settings = [
        EgressNat(PODS.name, NatMode.TENANTS, (T1.name,), (CORP,)),
        EgressNat(PODS6.name, no_nat=(net("2001:db8:c::/48"),)),
    ]
    rs = full_ruleset(nat_of(settings, PAIRS, vips))
    kinds = {c.kind for c in rs.chains}
    assert kinds == {ruleset.ChainKind.FILTER, ruleset.ChainKind.NAT}

    nft = nftables.render(rs)
    assert "type nat hook postrouting priority srcnat" in nft
    assert "type nat hook prerouting priority dstnat" in nft
    assert f"snat ip to {EXT_A}" in nft
    assert f"snat ip6 to {EXT_D}" in nft
    assert "fib daddr type local" in nft
    assert f"ct original ip daddr {WEB}" in nft
    assert "numgen random mod 3" in nft
    assert "goto romana-nat-pods" in nft
    assert "masquerade" in nft

    ipt = iptables.render(rs)
    assert "--jump SNAT --to-source 203.0.113.7" in ipt.nat_v4
    assert "--jump SNAT --to-source 2001:db8:e::7" in ipt.nat_v6
    assert "203.0.113.7" not in ipt.nat_v6 and "2001:db8:e::7" not in ipt.nat_v4
    assert "--jump MASQUERADE" in ipt.nat_v4 and "--jump MASQUERADE" in ipt.nat_v6
    assert "--jump DNAT --to-destination" in ipt.nat_v4
    assert "--match addrtype --dst-type LOCAL" in ipt.nat_v4
    assert f"--ctorigdst {WEB}" in ipt.nat_v4
    # the tenant match is the network's mask plus the tenant field
    assert "--source 10.0.16.0/255.0.240.0" in ipt.nat_v4
    assert set(ipt.nat_chains) == {
        "ROMANA-PREROUTING",
        "ROMANA-POSTROUTING",
        "ROMANA-NAT-PODS",
        "ROMANA-NAT-PODS6",
    }
    nat_hooks = {(h.builtin, h.chain) for h in ipt.hooks if h.table == "nat"}
    assert nat_hooks == {
        ("PREROUTING", "ROMANA-PREROUTING"),
        ("POSTROUTING", "ROMANA-POSTROUTING"),
    }
    for s in rs.sets:
        if s.name.startswith("romana-nat") or s.name.startswith("romana-nonat"):
            assert f"create {iptables.name(s.name)} " in ipt.ipsets


def test_a_host_ruleset_without_nat_renders_no_nat_table() -> None:
    rs = full_ruleset(nat_of(OFF))
    assert all(c.kind is ruleset.ChainKind.FILTER for c in rs.chains)
    ipt = iptables.render(rs)
    assert (ipt.nat_v4, ipt.nat_v6, ipt.nat_chains) == ("", "", ())
    assert "type nat" not in nftables.render(rs)
