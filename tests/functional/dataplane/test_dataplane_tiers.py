"""Many tiered policies load into the kernel on both firewall backends.

The kernel follows only so many jumps and gotos in a row (16 in nftables, checked when a
ruleset is loaded): a tier's depth must not grow with its policies. Here 60 Admin and 60
Baseline policies, each with allow and deny rules around a pass, in both directions, on top
of the golden fixture's tenants, are compiled as the agent compiles them and applied with
the agent's own backends into a fresh host namespace; each load must succeed and be whole.
"""

from __future__ import annotations

from typing import Any

import pytest

from romana.agent import firewall
from romana.core.policy import compile
from romana.lab import Lab
from support import env, policy_inputs

pytestmark = pytest.mark.root

PER_TIER = 60


def _rule(action: str, peer: dict[str, Any], port: int) -> dict[str, Any]:
    return {"action": action, "peers": [peer], "rules": [{"protocol": "tcp", "ports": [port]}]}


def _policies() -> list[dict[str, Any]]:
    out = []
    for tier in ("admin", "baseline"):
        for i in range(PER_TIER):
            own, other = ("blue", "red") if i % 2 else ("red", "blue")
            clauses = [
                _rule("deny", {"tenant": other}, 1000 + i),
                _rule("pass", {"tenant": other, "segment": "frontend"}, 2000 + i),
                _rule("allow", {"cidr": f"192.0.2.{i}/32"}, 3000 + i),
            ]
            out.append(
                {
                    "name": f"{tier}-{i}",
                    "tier": tier,
                    "priority": i,
                    "applied_to": [{"tenant": own}],
                    "ingress": clauses,
                    "egress": clauses,
                }
            )
    return out


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_a_hundred_and_twenty_tiered_policies_load_whole(lab: Lab, backend: str) -> None:
    for binary in ("nft", "iptables", "ip6tables", "ipset"):
        env.need_binary(binary)
    fixture = dict(policy_inputs.load("golden-input.json"), policies=_policies())
    rules = compile.compile_ruleset(policy_inputs.compile_input(fixture))
    host = lab.add_host("tiers")
    fw: firewall.Nftables | firewall.Iptables = (
        firewall.Nftables(netns=host.path)
        if backend == "nftables"
        else firewall.Iptables(netns=host.path)
    )
    fw.apply(rules)
    argv = (
        ["nft", "list", "chain", "inet", "romana", "romana-admin-ingress"]
        if backend == "nftables"
        else ["iptables", "-S", "ROMANA-ADMIN-INGRESS"]
    )
    listed = lab.run(host, argv).stdout
    assert "admin-59 ingress[1].peers[0].rules[0]" in listed, "the last policy's pass is loaded"
