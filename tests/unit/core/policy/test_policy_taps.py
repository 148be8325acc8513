"""VM taps in the compiled ruleset: filtered exactly as veths, matched by exact name only.

The host is host 1 of the golden fixture. A tap is an endpoint device romana did not name
(``endpoint_devices``); every verdict the oracle gives for a veth it must give for a tap, on
every path, while a tap the host did not wire is never matched. Both renderings name each
tap exactly and never a ``tap`` prefix.
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

import pytest

from romana.core import addressing, ruleset, tenancy
from romana.core.errors import InvalidInput
from romana.core.policy import compile, evaluate, parse, trees
from romana.core.render import iptables, nftables
from support import policy_inputs

FIXTURE = policy_inputs.load("golden-input.json")
LAYOUTS = {n["name"]: addressing.layout(**n) for n in FIXTURE["networks"]}
TENANTS = {t["name"]: t for t in FIXTURE["tenants"]}
TAPS = ("tap1c4c2d6e-7b", "tap9f00aa11-22")
FOREIGN = "tapdeadbeef-00"
VETH = "romana0"
KUBERNETES = {"mode": "kubernetes"}
P = evaluate.Path
TCP, UDP = ruleset.Proto.TCP, ruleset.Proto.UDP


def compiled(devices: tuple[str, ...] = TAPS, **overrides: Any) -> ruleset.Ruleset:
    inputs = policy_inputs.compile_input(FIXTURE, endpoint_devices=devices, **overrides)
    return compile.compile_ruleset(inputs)


def ep(tenant: str, segment: str = "default", *, host: int = 1, n: int = 5) -> Any:
    t = TENANTS[tenant]
    return addressing.encode(LAYOUTS["v4"], host, t["ids"]["v4"], t["segments"].get(segment, 0), n)


def verdict(rs: ruleset.Ruleset, packet: evaluate.Packet, device: str) -> bool:
    return evaluate.verdict(rs, packet, endpoint_interface=device).allowed


def packets() -> list[evaluate.Packet]:
    """New connections of every kind the policies of the fixture decide, on every path (but
    DHCPv4 to the host, which taps alone are let through to)."""
    addresses = [ep(t, s, host=h) for t in TENANTS for s in ("frontend", "backend") for h in (1, 2)]
    gateway = addressing.gateway(LAYOUTS["v4"], 1)
    out = []
    for src, dst in itertools.permutations(addresses, 2):
        for path in (P.TO_ENDPOINT, P.FROM_ENDPOINT, P.BETWEEN_ENDPOINTS):
            for port in (22, 443, 8080):
                out.append(evaluate.Packet(src, dst, TCP, path, dport=port))
        out.append(evaluate.Packet(src, gateway, UDP, P.TO_HOST, dport=53))
        out.append(evaluate.Packet(src, gateway, TCP, P.TO_HOST, dport=22))
    return out


def test_without_taps_the_ruleset_is_the_one_of_veths_alone() -> None:
    rs = compiled(())
    assert rs == compile.compile_ruleset(policy_inputs.compile_input(FIXTURE))
    assert rs.interface_sets == ()
    assert not any(
        isinstance(m, ruleset.InInterfaces) for c in rs.chains for r in c.rules for m in r.matches
    )


def test_a_tap_gets_every_verdict_a_veth_gets() -> None:
    rs = compiled()
    veths = compiled(())
    decided = [(p, verdict(veths, p, VETH)) for p in packets()]
    assert {allowed for _, allowed in decided} == {True, False}  # the sample decides both ways
    for tap in TAPS:
        wrong = [p for p, allowed in decided if verdict(rs, p, tap) != allowed]
        assert not wrong, (tap, wrong[:3])


def test_a_tap_the_host_did_not_wire_is_matched_by_no_rule() -> None:
    rs = compiled()
    for p in packets():
        got = evaluate.verdict(rs, p, endpoint_interface=FOREIGN)
        assert got.allowed and got.reasons == ("accept",), (p, got.reasons)


def test_the_entry_chains_do_not_change_while_taps_come_and_go() -> None:
    one, two = compiled(TAPS[:1]), compiled(TAPS)
    assert one.chains == two.chains and one.sets == two.sets
    assert one.interface_sets == (ruleset.InterfaceSet(trees.DEVICES, TAPS[:1]),)
    assert two.interface_sets == (ruleset.InterfaceSet(trees.DEVICES, TAPS),)
    assert compiled(tuple(reversed(TAPS))) == two
    # Per hooked chain and per side, one rule for the prefix and one for the set.
    assert one.rule_count == compiled(()).rule_count + 5  # 4 entry rules and DHCP


def test_a_policy_on_a_kubernetes_tenant_admits_exactly_its_port_to_a_tap() -> None:
    tenants = tuple(
        compile.Tenant(
            t["name"], t["ids"], t["segments"], isolation=tenancy.Isolation.parse(KUBERNETES)
        )
        for t in FIXTURE["tenants"]
    )
    one_port = {
        "name": "os.sg.web",
        "applied_to": [{"tenant": "blue"}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [8080]}]}],
    }
    open_ = compiled(tenants=tenants, policies=())
    closed = compiled(tenants=tenants, policies=parse.policies([one_port]))
    for src in (ep("red", host=2), ep("blue", "backend", host=3)):
        for port, admitted in ((8080, True), (22, False)):
            packet = evaluate.Packet(src, ep("blue"), TCP, P.TO_ENDPOINT, dport=port)
            assert verdict(open_, packet, TAPS[0])
            assert verdict(closed, packet, TAPS[0]) is admitted
            assert verdict(closed, packet, FOREIGN)  # not ours: left alone


def test_only_a_tap_reaches_the_hosts_dhcp_server() -> None:
    rs = compiled(policies=())
    gateway = addressing.gateway(LAYOUTS["v4"], 1)
    request = evaluate.Packet(ep("blue"), gateway, UDP, P.TO_HOST, dport=67)
    assert verdict(rs, request, TAPS[0])
    assert not verdict(rs, request, VETH)
    other = evaluate.Packet(ep("blue"), gateway, UDP, P.TO_HOST, dport=68)
    assert not verdict(rs, other, TAPS[0])
    link_local = ipaddress.ip_address("fe80::f816:3eff:fe00:1")
    solicit = evaluate.Packet(
        link_local, ipaddress.ip_address("ff02::1:2"), UDP, P.TO_HOST, dport=547
    )
    assert verdict(rs, solicit, TAPS[0])
    assert not verdict(rs, solicit, VETH)


def test_nftables_names_the_taps_in_one_set_and_never_a_wildcard() -> None:
    script = nftables.render(compiled())
    assert (
        "\tset romana-devices {\n"
        "\t\ttype ifname\n"
        '\t\telements = { "tap1c4c2d6e-7b", "tap9f00aa11-22" }\n'
        "\t}\n"
    ) in script
    assert 'iifname @romana-devices goto romana-from-endpoint comment "from an endpoint"' in script
    assert 'oifname @romana-devices goto romana-to-endpoint comment "to an endpoint"' in script
    assert 'iifname @romana-devices goto romana-to-host comment "from an endpoint"' in script
    assert "oifname @romana-devices goto romana-ingress" in script
    assert "iifname @romana-devices udp dport { 67, 547 } accept" in script
    assert '"tap' not in script.replace('"tap1c4c2d6e-7b", "tap9f00aa11-22"', "")


def test_iptables_has_one_rule_per_tap_and_never_a_wildcard() -> None:
    text = iptables.render(compiled())
    for tap in TAPS:
        for line in (
            f"-A ROMANA-FORWARD --in-interface {tap} --match comment "
            '--comment "from an endpoint" --goto ROMANA-FROM-ENDPOINT',
            f"-A ROMANA-FORWARD --out-interface {tap} --match comment "
            '--comment "to an endpoint" --goto ROMANA-TO-ENDPOINT',
            f"-A ROMANA-INPUT --in-interface {tap} --match comment "
            '--comment "from an endpoint" --goto ROMANA-TO-HOST',
            f"-A ROMANA-TO-HOST --in-interface {tap} --protocol udp --match multiport "
            '--destination-ports 67,547 --match comment --comment "DHCP to the host\'s servers" '
            "--jump ACCEPT",
        ):
            assert line in text.filter_v4.splitlines(), line
    assert "tap+" not in text.filter_v4 + text.filter_v6
    assert text.sets == iptables.render(compiled(())).sets  # no ipset of names


def test_an_empty_interface_set_renders_no_iptables_rule() -> None:
    rs = compiled()
    empty = ruleset.Ruleset(
        rs.sets, rs.chains, interface_sets=(ruleset.InterfaceSet(trees.DEVICES),)
    )
    assert "--in-interface tap" not in iptables.render(empty).filter_v4


def test_a_change_of_taps_is_a_set_change_in_the_nft_delta() -> None:
    one, two = compiled(TAPS[:1]), compiled(TAPS)
    delta = nftables.render_delta(one, two)
    assert delta is not None
    assert "flush set inet romana romana-devices" in delta
    assert "flush chain" not in delta and "\tchain " not in delta
    first = nftables.render_delta(compiled(()), one)
    assert first is not None and "\tset romana-devices {" in first
    gone = nftables.render_delta(one, compiled(()))
    assert gone is not None and "delete set inet romana romana-devices" in gone


@pytest.mark.parametrize("name", ["", "tap0123456789abc", "tap x", 'tap"', "tap*", "täp"], ids=repr)
def test_a_device_name_that_is_not_an_interface_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="endpoint_devices"):
        compiled((name,))


def test_the_ruleset_refuses_a_match_on_a_missing_interface_set() -> None:
    match = ruleset.InInterfaces(ruleset.Side.SRC, "romana-nothing")
    chain = ruleset.Chain("romana-x", (ruleset.Rule((match,), ruleset.ACCEPT),))
    with pytest.raises(InvalidInput, match="no interface set named 'romana-nothing'"):
        ruleset.Ruleset((), (chain,))
    with pytest.raises(InvalidInput, match="sorted and unique"):
        ruleset.Ruleset((), (), interface_sets=(ruleset.InterfaceSet("romana-d", ("b", "a")),))
