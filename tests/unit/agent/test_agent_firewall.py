"""The firewall backends in a real namespace: an incremental nft update must leave exactly the
table a full replacement leaves, for additions, removals and changes of policies, and for VM
taps coming and going (a change of set elements only, once there is one); so must a full
resync, which rewrites the table in place, undoing changes made by hand and keeping the drop
counters, or replaces it when the kernel refuses that."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from agent_fakes import host_view

from romana.agent import desired, firewall
from romana.core import kernelnames, ruleset
from romana.core.render import nftables as render_nftables
from romana.lab import Lab, Node
from support import env

TABLE = (kernelnames.NFT_FAMILY, kernelnames.NFT_TABLE)

pytestmark = pytest.mark.root


def policy(name: str, target: str, peer: str, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "applied_to": [{"tenant": target}],
        "ingress": [{"peers": [{"tenant": peer}], "rules": [{"protocol": "tcp", "ports": [port]}]}],
        **extra,
    }


STEPS: list[list[dict[str, Any]]] = [
    [],
    [policy("a", "t2", "t1", 80)],
    [policy("a", "t2", "t1", 80), policy("b", "t1", "t2", 22, action="deny")],
    [policy("a", "t2", "t1", 8080), policy("b", "t1", "t2", 22, action="deny")],
    [policy("b", "t1", "t2", 22, action="deny")],
    [],
]


def rules(policies: list[dict[str, Any]]) -> ruleset.Ruleset:
    return desired.firewall(host_view(policies=policies)).rules


def listing(lab: Lab, node: Node) -> list[Any]:
    """The table as the kernel holds it, without handles (which differ between histories)."""
    out = lab.run(node, ["nft", "-j", "list", "table", *TABLE]).stdout
    items = json.loads(out)["nftables"]

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "handle"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return sorted((strip(i) for i in items if "metainfo" not in i), key=json.dumps)


@pytest.fixture
def nodes() -> Iterator[tuple[Lab, Node, Node]]:
    env.need_root()
    env.need_binary("nft")
    with Lab() as lab:
        yield lab, lab.add_host("inc"), lab.add_host("full")


def test_incremental_updates_leave_the_table_a_full_replace_leaves(
    nodes: tuple[Lab, Node, Node],
) -> None:
    lab, inc_node, full_node = nodes
    incremental = firewall.Nftables(inc_node.path)
    current: ruleset.Ruleset | None = None
    for step in STEPS:
        new = rules(step)
        if current is not None:
            script = render_nftables.render_delta(current, new)
            assert script is not None
            assert "delete table" not in script
            # Chains that neither changed nor are referred to by a changed one are not named.
            unchanged = set(current.chains) & set(new.chains)
            changed = [c for c in new.chains if c not in unchanged]
            referred = {
                t
                for c in changed
                for r in c.rules
                for t in (
                    [n for _, n in r.verdict.targets]
                    if isinstance(r.verdict, ruleset.Dispatch)
                    else [r.verdict.chain]
                )
            }
            for chain in unchanged:
                if chain.name not in referred:
                    assert f" {chain.name} " not in script, (chain.name, script)
        incremental.apply(new, current)
        firewall.Nftables(full_node.path).apply(new)  # a first apply replaces the table
        assert listing(lab, inc_node) == listing(lab, full_node), step
        current = new
    assert current is not None
    assert render_nftables.render_delta(current, current) == ""


def test_an_incremental_update_of_a_missing_table_falls_back_to_a_full_one(
    nodes: tuple[Lab, Node, Node],
) -> None:
    lab, node, reference = nodes
    fw = firewall.Nftables(node.path)
    old, new = rules([]), rules(STEPS[2])
    fw.apply(old)
    lab.run(node, ["nft", "delete", "table", *TABLE])
    fw.apply(new, old)
    firewall.Nftables(reference.path).apply(new)
    assert listing(lab, node) == listing(lab, reference)
    assert fw.present()


def test_taps_coming_and_going_change_the_table_as_a_full_replace_does(
    nodes: tuple[Lab, Node, Node],
) -> None:
    lab, inc_node, full_node = nodes
    incremental = firewall.Nftables(inc_node.path)
    hv = host_view()
    current: ruleset.Ruleset | None = None
    for taps in [
        (),
        ("tap1c4c2d6e-7b",),
        ("tap1c4c2d6e-7b", "tap9f00aa11-22"),
        ("tap9f00aa11-22",),
        (),
    ]:
        new = desired.firewall(hv, devices=taps).rules
        if current is not None and current.interface_sets and new.interface_sets:
            script = render_nftables.render_delta(current, new)
            assert script is not None and "chain" not in script, script
        incremental.apply(new, current)
        firewall.Nftables(full_node.path).apply(new)  # a first apply replaces the table
        assert listing(lab, inc_node) == listing(lab, full_node), taps
        held = lab.run(inc_node, ["nft", "list", "table", *TABLE]).stdout
        assert all(f'"{t}"' in held for t in taps) and '"tap*"' not in held
        current = new


def counter_handles(lab: Lab, node: Node) -> dict[str, int]:
    out = lab.run(node, ["nft", "-j", "list", "counters", "table", *TABLE]).stdout
    items = json.loads(out)["nftables"]
    return {i["counter"]["name"]: i["counter"]["handle"] for i in items if "counter" in i}


def test_a_full_resync_rewrites_the_table_in_place_and_keeps_the_drop_counters(
    nodes: tuple[Lab, Node, Node],
) -> None:
    lab, node, reference = nodes
    fw = firewall.Nftables(node.path)
    fw.apply(rules(STEPS[2]))
    counters = counter_handles(lab, node)
    assert counters
    ref = f"{kernelnames.NFT_FAMILY} {kernelnames.NFT_TABLE}"
    lab.run(node, ["nft", f"add rule {ref} romana-forward accept"])
    lab.run(node, ["nft", f"flush chain {ref} romana-to-endpoint"])
    fw.apply(rules(STEPS[3]))
    firewall.Nftables(reference.path).apply(rules(STEPS[3]))
    assert listing(lab, node) == listing(lab, reference)
    assert counter_handles(lab, node) == counters, "a counter was made anew"


def test_a_full_resync_the_kernel_refuses_in_place_replaces_the_table(
    nodes: tuple[Lab, Node, Node], caplog: pytest.LogCaptureFixture
) -> None:
    lab, node, reference = nodes
    fw = firewall.Nftables(node.path)
    fw.apply(rules(STEPS[2]))
    ref = f"{kernelnames.NFT_FAMILY} {kernelnames.NFT_TABLE}"
    # A base chain of ours on another hook, by hand: it cannot be declared back in place.
    lab.run(node, ["nft", f"flush chain {ref} romana-forward"])
    lab.run(node, ["nft", f"delete chain {ref} romana-forward"])
    hooked = "{ type filter hook output priority 0; }"
    lab.run(node, ["nft", f"add chain {ref} romana-forward {hooked}"])
    fw.apply(rules(STEPS[2]))
    assert "rewriting the nft table in place failed, replacing it" in caplog.text
    firewall.Nftables(reference.path).apply(rules(STEPS[2]))
    assert listing(lab, node) == listing(lab, reference)
