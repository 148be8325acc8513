"""Compiling policies into a ruleset: size, determinism, refusals and reported decisions."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from romana.core import ruleset, tenancy
from romana.core.errors import InvalidInput, Unsupported
from romana.core.policy import compile, parse
from romana.core.render import iptables, nftables
from support import policy_inputs

FIXTURE = policy_inputs.load("golden-input.json")


def compiled(policies: list[dict[str, Any]] | None = None, **overrides: Any) -> ruleset.Ruleset:
    fixture = dict(FIXTURE)
    if policies is not None:
        fixture["policies"] = policies
    return compile.compile_ruleset(policy_inputs.compile_input(fixture, **overrides))


def endpoints(count: int) -> dict[str, tuple[Any, ...]]:
    """A podSelector-style address set with ``count`` endpoint addresses of each family.

    Addresses are two apart so that no two merge into a shorter prefix.
    """
    v4 = [
        ipaddress.ip_network((int(ipaddress.ip_address("10.1.16.0")) + 2 * i, 32))
        for i in range(count)
    ]
    v6 = [
        ipaddress.ip_network((int(ipaddress.ip_address("fd00::1:1:0")) + 2 * i, 128))
        for i in range(count)
    ]
    return {"monitoring": (*v4, *v6)}


def rule_lines(nft_script: str) -> list[str]:
    """The rule lines of an nft script: everything but set bodies and structure."""
    out, in_set = [], False
    for line in nft_script.splitlines():
        stripped = line.strip()
        if stripped.startswith("set "):
            in_set = True
        elif in_set and stripped == "}":
            in_set = False
        elif not in_set and stripped and not stripped.startswith(("chain ", "table ", "}", "#")):
            out.append(stripped)
    return out


def test_rule_count_is_the_same_for_10_and_10000_endpoints() -> None:
    small = compiled(address_sets=endpoints(10))
    large = compiled(address_sets=endpoints(10_000))
    assert small.rule_count == large.rule_count
    assert small.chains == large.chains
    assert rule_lines(nftables.render(small)) == rule_lines(nftables.render(large))
    small_ipt, large_ipt = iptables.render(small), iptables.render(large)
    assert (small_ipt.filter_v4, small_ipt.filter_v6) == (large_ipt.filter_v4, large_ipt.filter_v6)
    # Only set membership grows: one ipset line per added element.
    assert large_ipt.ipsets.count("\n") - small_ipt.ipsets.count("\n") == 2 * (10_000 - 10)


def test_rules_grow_with_tenants_not_with_anything_per_endpoint() -> None:
    base = compiled([])
    more = dict(FIXTURE, policies=[])
    more["tenants"] = [*FIXTURE["tenants"], {"name": "green", "ids": {"v4": 3, "v6": 3}}]
    grown = compile.compile_ruleset(policy_inputs.compile_input(more))
    # One more dispatch entry per network (no new rule), the new tenant's chain (segment
    # dispatch and the other-segments drop, per network) and its default segment's chain
    # (the own-segment accept, per network).
    assert {c.name for c in grown.chains} - {c.name for c in base.chains} == {
        "romana-ia-green",
        "romana-ia-green.default",
    }
    assert grown.rule_count == base.rule_count + 6


def test_the_skeleton_without_policies() -> None:
    rs = compiled([])
    assert [c.name for c in rs.hooked] == ["romana-forward", "romana-input"]
    # Segments are isolated by default: every segment has its own-segment chain.
    assert [c.name for c in rs.chains if c.name.startswith(("romana-ia-", "romana-pi-"))] == [
        "romana-ia-blue",
        "romana-ia-blue.default",
        "romana-ia-blue.frontend",
        "romana-ia-blue.backend",
        "romana-ia-red",
        "romana-ia-red.default",
        "romana-ia-red.frontend",
        "romana-ia-red.backend",
    ]
    assert rs.notes == ()


def test_policy_order_does_not_change_the_ruleset() -> None:
    assert compiled(list(reversed(FIXTURE["policies"]))) == compiled()


def test_unknown_references_select_nothing_and_are_reported() -> None:
    policy = {
        "name": "ghost",
        "applied_to": [{"tenant": "nobody"}],
        "ingress": [
            {
                "peers": [{"tenant": "blue", "segment": "nowhere"}, {"address_set": "absent"}],
                "rules": [{"protocol": "any"}],
            }
        ],
    }
    rs = compiled([policy])
    assert rs.notes == (
        "policy 'ghost' applied_to[0]: no tenant nobody is known; it selects nothing",
        "policy 'ghost' ingress[0].peers[0]: "
        "tenant blue has no segment nowhere; it selects nothing",
        "policy 'ghost' ingress[0].peers[1]: address set 'absent' is not defined; it is empty",
    )
    assert not any(r.verdict == ruleset.jump("romana-pi-ghost") for c in rs.chains for r in c.rules)


def test_numeric_and_external_references_resolve_to_named_tenants() -> None:
    policy = {
        "name": "by-number",
        "applied_to": [{"tenant_network_id": 2}],
        "ingress": [{"peers": [{"tenant_id": 1}], "rules": [{"protocol": "any"}]}],
    }
    rs = compiled([policy])
    assert ruleset.jump("romana-pi-by-number") in [
        r.verdict for r in rs.chain("romana-ia-red").rules
    ]
    peer_rules = rs.chain("romana-pi-by-number").rules
    # Tenant 1 is blue in both networks: one masked match per network.
    assert len(peer_rules) == 2


def test_tenancy_tenants_are_accepted_directly() -> None:
    tenants = tuple(
        tenancy.Tenant(t["name"], f"uid-{t['name']}", t["ids"], t["segments"])
        for t in FIXTURE["tenants"]
    )
    policy = {
        "name": "ext",
        "applied_to": [{"tenant_external_id": "uid-blue"}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [80]}]}],
    }
    fixture = dict(FIXTURE, policies=[policy])
    rs = compile.compile_ruleset(policy_inputs.compile_input(fixture, tenants=tenants))
    assert ruleset.jump("romana-pi-ext") in [r.verdict for r in rs.chain("romana-ia-blue").rules]


def test_untyped_icmp_covers_both_families_and_typed_icmp_only_ipv4() -> None:
    policy = {
        "name": "ping",
        "applied_to": [{"dest": "local"}],
        "ingress": [
            {
                "peers": [{"peer": "any"}],
                "rules": [{"protocol": "icmp"}, {"protocol": "icmp", "icmp_type": 8}],
            }
        ],
    }
    rules = compiled([policy]).chain("romana-pi-ping").rules
    assert [r.version for r in rules] == [4, 6, 4]


def test_long_or_unusual_names_are_hashed_within_the_limits() -> None:
    fixture = dict(FIXTURE)
    fixture["tenants"] = [
        {"name": "Team_A.Long-Tenant-Name", "ids": {"v4": 1}, "segments": {"web.tier": 3}}
    ]
    fixture["policies"] = [
        {
            "name": "kube.team-a.allow-web.0d6f9a52-6a71-4bd4-9d93-0f7e6a0e8a11",
            "applied_to": [{"tenant": "Team_A.Long-Tenant-Name", "segment": "web.tier"}],
            "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}],
        }
    ]
    rs = compile.compile_ruleset(policy_inputs.compile_input(fixture))
    names = [c.name for c in rs.chains]
    assert all(len(n) <= ruleset.MAX_CHAIN_NAME for n in names)
    # the tenant chain and its two segments' chains (default and web.tier)
    assert len([n for n in names if n.startswith("romana-ia-_")]) == 3


def test_unsupported_policies_are_all_named_with_their_reason() -> None:
    deny_host = {
        "name": "deny-host",
        "action": "deny",
        "applied_to": [{"tenant": "blue"}],
        "ingress": [{"peers": [{"peer": "host"}], "rules": [{"protocol": "any"}]}],
    }
    host_egress = {
        "name": "host-egress",
        "applied_to": [{"dest": "host"}],
        "egress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}],
    }
    with pytest.raises(Unsupported) as err:
        compiled([deny_host, host_egress, FIXTURE["policies"][0]])
    message = str(err.value)
    assert (
        "policy 'deny-host': the host's own traffic to its endpoints is never filtered" in message
    )
    assert "policy 'host-egress': applied_to dest host takes ingress clauses only" in message
    assert "red-frontend-to-blue-backend" not in message
    assert compile.unsupported(parse.policy(FIXTURE["policies"][0])) == ()


def test_inconsistent_inputs_are_rejected_with_every_issue() -> None:
    fixture = dict(FIXTURE, policies=[])
    fixture["tenants"] = [
        {"name": "blue", "ids": {"v4": 1, "v9": 1}},
        {"name": "red", "ids": {"v4": 1, "v6": 70000}, "segments": {"a": 1, "b": 1}},
    ]
    with pytest.raises(InvalidInput) as err:
        compile.compile_ruleset(
            policy_inputs.compile_input(
                fixture,
                policies=parse.policies(FIXTURE["policies"][:1]) * 2,
                interface_prefix="veth*",
            )
        )
    fields = sorted(i.field for i in err.value.issues)
    assert fields == [
        "interface_prefix",
        "policies",
        "tenants[0].ids.v9",
        "tenants[1].ids.v4",
        "tenants[1].ids.v6",
        "tenants[1].segments.b",
    ]
