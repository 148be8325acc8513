"""Recompiling as the agent does, view after view: every change of what a policy reads shows.

The compiler remembers compiled policies, tenant chains and chain checks between calls; these
tests change one input at a time under the same policy objects and check that the ruleset
follows, exactly as a first compilation of the new inputs would.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

from romana.core import addressing, ruleset
from romana.core.policy import compile, model, parse
from romana.core.render import nftables

REPO = Path(__file__).resolve().parents[4]
LAYOUT = addressing.layout("pods", "10.0.0.0/8", 4, 4, 8)
BLUE_SSH = parse.policy(
    {
        "name": "blue-ssh",
        "applied_to": [{"tenant": "web", "segment": "blue"}],
        "ingress": [
            {
                "peers": [{"tenant": "ops", "segment": "blue"}, {"address_set": "admins"}],
                "rules": [{"protocol": "tcp", "ports": [22]}],
            }
        ],
    }
)


def tenants(ops_blue: int = 1, ops_id: int = 2) -> tuple[compile.Tenant, ...]:
    return (
        compile.Tenant("web", {"pods": 1}, {"default": 0, "blue": 1}),
        compile.Tenant("ops", {"pods": ops_id}, {"default": 0, "blue": ops_blue}),
    )


def compiled(
    policies: tuple[model.Policy, ...] = (BLUE_SSH,),
    tenancy: tuple[compile.Tenant, ...] | None = None,
    sets: dict[str, tuple[addressing.IPNetwork, ...]] | None = None,
) -> ruleset.Ruleset:
    return compile.compile_ruleset(
        compile.CompileInput(
            layouts={"pods": LAYOUT},
            tenants=tenants() if tenancy is None else tenancy,
            host="h1",
            host_prefixes=(addressing.host_prefix(LAYOUT, 1),),
            gateways=(addressing.gateway(LAYOUT, 1),),
            policies=policies,
            address_sets={} if sets is None else sets,
        )
    )


def peer_matches(rs: ruleset.Ruleset) -> list[ruleset.MatchExpr]:
    return [rule.matches[0] for rule in rs.chain("romana-pi-blue-ssh").rules]


def test_a_tenancy_change_reaches_the_ruleset_though_no_policy_changed() -> None:
    compiled()
    moved = compiled(tenancy=tenants(ops_blue=2, ops_id=3))
    ops_blue = ruleset.Address(ruleset.Side.SRC, addressing.segment_match(LAYOUT, 3, 2))
    assert peer_matches(moved)[0] == ops_blue
    assert peer_matches(compiled())[0] == ruleset.Address(
        ruleset.Side.SRC, addressing.segment_match(LAYOUT, 2, 1)
    )


def test_a_set_defined_later_loses_its_note_and_a_tenant_removed_gains_one() -> None:
    undefined = compiled()
    assert any("address set 'admins' is not defined" in n for n in undefined.notes)
    admins = (ipaddress.ip_network("10.1.0.9/32"),)
    defined = compiled(sets={"admins": admins})
    assert not any("admins" in n for n in defined.notes)
    assert defined.set_named("romana-set-admins-4").elements == admins
    alone = compiled(tenancy=tenants()[:1], sets={"admins": admins})
    assert any("no tenant ops is known" in n for n in alone.notes)
    assert len(peer_matches(alone)) == 1  # only the set is left as a peer


def test_a_removed_policy_leaves_nothing_behind() -> None:
    other = parse.policy(
        {
            "name": "web-http",
            "applied_to": [{"tenant": "web"}],
            "ingress": [
                {"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [80]}]}
            ],
        }
    )
    both = nftables.render(compiled((BLUE_SSH, other)))
    assert "romana-pi-web-http" in both
    assert "romana-pi-web-http" not in nftables.render(compiled())


def test_recompiling_gives_what_a_first_compilation_in_a_new_process_gives() -> None:
    compiled()
    compiled(tenancy=tenants(ops_blue=2))
    compiled(sets={"admins": ()})
    again = nftables.render(compiled(tenancy=tenants(ops_id=4), sets={"admins": ()}))
    fresh = subprocess.run(
        [sys.executable, "-c", _FRESH],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    assert again == fresh


_FRESH = f"""
import importlib.util
import sys
spec = importlib.util.spec_from_file_location("recompile", {str(Path(__file__))!r})
assert spec is not None and spec.loader is not None
t = importlib.util.module_from_spec(spec)
spec.loader.exec_module(t)
from romana.core.render import nftables
sys.stdout.write(nftables.render(t.compiled(tenancy=t.tenants(ops_id=4), sets={{"admins": ()}})))
"""
