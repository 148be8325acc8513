"""The desired state computed from a host view and the registry (pure)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from agent_fakes import NETWORK, host_view, raw_view

from romana.agent import desired, ledger, view
from romana.core import errors


def ready(name: str, address: str, *, mtu: int | None = None) -> ledger.EndpointRecord:
    return ledger.EndpointRecord(
        container_id=name,
        ifname="eth0",
        netns=f"/run/netns/{name}",
        tenant="t1",
        segment="default",
        mtu=mtu,
    ).ready((ipaddress.ip_address(address),))


def test_the_plan_holds_gateway_routes_and_live_ready_endpoints() -> None:
    hv = host_view(
        routes=[
            {"dst": "10.2.0.0/16", "via": "192.0.2.2", "reason": "host h2"},
            {"dst": "10.128.0.0/9", "via": "192.0.2.3", "reason": "group rack-2"},
        ]
    )
    records = [
        ready("c1", "10.1.16.1", mtu=1400),
        ready("gone", "10.1.16.2"),
        ledger.EndpointRecord("busy", "eth0", "/run/netns/busy", "t1", "default"),
    ]
    made = desired.host_plan(hv, records, mtu=1500, live_netns={"/run/netns/c1", "/run/netns/busy"})
    plan = made.plan
    assert [str(a) for a in plan.gateway.addresses] == ["10.1.0.1/16"]
    assert [(str(r.dst), str(r.via)) for r in plan.routes] == [
        ("10.2.0.0/16", "192.0.2.2"),
        ("10.128.0.0/9", "192.0.2.3"),
    ]
    assert [(e.id, e.mtu, [str(g) for g in e.gateways]) for e in plan.endpoints] == [
        ("c1:eth0", 1400, ["10.1.0.1"])
    ]
    assert made.skipped == ("gone:eth0: network namespace /run/netns/gone is gone",)


def test_routes_through_this_host_or_into_its_own_prefix_are_dropped() -> None:
    hv = host_view(
        routes=[
            {"dst": "10.3.0.0/16", "via": "192.0.2.1", "reason": "self"},
            {"dst": "10.0.0.0/8", "via": "192.0.2.9", "reason": "covers us"},
        ]
    )
    assert desired.host_plan(hv, [], mtu=1500, live_netns=set()).plan.routes == ()


def test_a_route_whose_next_hop_is_of_another_family_is_skipped_not_fatal() -> None:
    raw = raw_view(
        routes=[
            {"dst": "10.2.0.0/16", "via": "192.0.2.2", "reason": "host h2"},
            {"dst": "fd00:2::/64", "via": "192.0.2.2", "reason": "host h2"},
        ]
    )
    made = desired.host_plan(view.parse(raw), [], mtu=1500, live_netns=set())
    assert [str(r.dst) for r in made.plan.routes] == ["10.2.0.0/16"]
    assert made.skipped == ("route to fd00:2::/64 via 192.0.2.2: the next hop is not IPv6",)


def test_ipv6_routes_via_ipv6_next_hops_are_planned_and_unroutable_prefixes_reported() -> None:
    raw = raw_view(
        routes=[
            {"dst": "10.2.0.0/16", "via": "192.0.2.2", "reason": "host h2"},
            {"dst": "fd00:2::/64", "via": "2001:db8::2", "reason": "host h2"},
        ]
    )
    raw["skipped_routes"] = [
        {"dst": "fd00:3::/64", "reason": "host h3 has no IPv6 underlay address"}
    ]
    made = desired.host_plan(view.parse(raw), [], mtu=1500, live_netns=set())
    assert [(str(r.dst), str(r.via)) for r in made.plan.routes] == [
        ("10.2.0.0/16", "192.0.2.2"),
        ("fd00:2::/64", "2001:db8::2"),
    ]
    assert made.skipped == ("route to fd00:3::/64: host h3 has no IPv6 underlay address",)


def test_an_endpoint_never_gets_a_bigger_mtu_than_the_host() -> None:
    made = desired.host_plan(
        host_view(), [ready("c1", "10.1.16.1", mtu=9000)], mtu=1450, live_netns={"/run/netns/c1"}
    )
    assert made.plan.endpoints[0].mtu == 1450


GOOD = {
    "name": "web",
    "applied_to": [{"tenant": "t2"}],
    "ingress": [{"peers": [{"tenant": "t1"}], "rules": [{"protocol": "tcp", "ports": [80]}]}],
}
INEXPRESSIBLE = {
    "name": "deny-host",
    "action": "deny",
    "applied_to": [{"tenant": "t1"}],
    "ingress": [{"peers": [{"peer": "host"}], "rules": [{"protocol": "tcp"}]}],
}
UNPARSABLE = {"name": "broken", "applied_to": [{"tenant": "t1"}], "ingress": "everything"}


def test_policies_that_cannot_be_enforced_are_left_out_whole() -> None:
    alone = desired.firewall(host_view(policies=[GOOD]))
    mixed = desired.firewall(host_view(policies=[INEXPRESSIBLE, GOOD, UNPARSABLE]))
    assert mixed.rules == alone.rules
    assert mixed.policy_names == ("t2/web",)
    assert len(mixed.refused) == 2
    assert any("deny-host" in r and "peer host cannot be enforced" in r for r in mixed.refused)
    assert any("broken" in r and "ingress" in r for r in mixed.refused)
    assert not alone.refused


def test_rule_count_does_not_grow_with_endpoints() -> None:
    few = [
        {
            "key": "k1",
            "host": "h1",
            "tenant": "t1",
            "segment": "default",
            "addresses": ["10.1.16.1"],
        }
    ]
    many = [
        {
            "key": f"k{i}",
            "host": "h1",
            "tenant": "t1" if i % 2 else "t2",
            "segment": "default",
            "addresses": [f"10.1.{16 if i % 2 else 32}.{i}"],
        }
        for i in range(1, 200)
    ]
    small = desired.firewall(host_view(policies=[GOOD], endpoints=few)).rules
    large = desired.firewall(host_view(policies=[GOOD], endpoints=many)).rules
    assert small.rule_count == large.rule_count


def test_a_malformed_view_is_refused_whole() -> None:
    raw = raw_view()
    raw["networks"] = [{**raw["networks"][0], "cidr": "nonsense"}, {"name": "other"}]
    raw["routes"] = [{"dst": "nonsense", "via": "192.0.2.2", "reason": "host h2"}]
    raw["revision"] = "seven"
    with pytest.raises(errors.InvalidInput) as info:
        view.parse(raw)
    missing = {f"networks[1].{f}" for f in NETWORK if f != "name"}
    assert {i.field for i in info.value.issues} == {
        "networks[0].cidr",
        "routes[0].dst",
        "revision",
        *missing,
    }
    # What JSON types cannot say is refused too: widths that do not fit the prefix.
    raw = raw_view()
    raw["networks"] = [{**raw["networks"][0], "cidr": "10.0.0.0/24"}]
    with pytest.raises(errors.InvalidInput) as info:
        view.parse(raw)
    assert all(i.field.startswith("networks[0]") for i in info.value.issues)


def test_the_compiler_reuses_what_did_not_change(monkeypatch: pytest.MonkeyPatch) -> None:
    from romana.core.policy import parse

    parsed: list[str] = []
    real = parse.policy

    def counting(raw: Any, **kw: Any) -> Any:
        parsed.append(raw["name"])
        return real(raw, **kw)

    monkeypatch.setattr(parse, "policy", counting)
    compiler = desired.Compiler()
    first = host_view(policies=[GOOD, UNPARSABLE])
    a = compiler.firewall(first, "k1")
    assert compiler.firewall(first, "k1") is a
    assert sorted(parsed) == ["broken", "web"]
    other = dict(GOOD, name="web2")
    b = compiler.firewall(host_view(policies=[GOOD, UNPARSABLE, other]), "k2")
    assert sorted(parsed) == ["broken", "web", "web2"]
    assert b.rules == desired.firewall(host_view(policies=[GOOD, other])).rules
    assert len(b.refused) == 1
