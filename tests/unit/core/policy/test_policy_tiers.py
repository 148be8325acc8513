"""The Admin and Baseline tiers in a compiled ruleset, judged packet by packet.

Host 1 of the golden fixture; blue and red are made ``kubernetes``-mode tenants (as
namespaces are) unless a test says otherwise. Tiered policies are written as romanad stores
the translation of a ClusterNetworkPolicy.
"""

from __future__ import annotations

import functools
from typing import Any

from romana.core import ruleset
from romana.core.policy import compile, evaluate, model, parse, traces
from support import policy_inputs

P = evaluate.Path
TCP = ruleset.Proto.TCP
KUBE = {"mode": "kubernetes"}


def fixture(isolation: dict[str, str] | None = KUBE) -> dict[str, Any]:
    base = policy_inputs.load("golden-input.json")
    tenants = [dict(t, isolation=isolation) if isolation else t for t in base["tenants"]]
    return dict(base, tenants=tenants)


FIXTURE = fixture()
ep = functools.partial(policy_inputs.endpoint_address, FIXTURE)


def rules_for(
    policies: list[dict[str, Any]], isolation: dict[str, str] | None = KUBE
) -> ruleset.Ruleset:
    return compile.compile_ruleset(
        policy_inputs.compile_input(dict(fixture(isolation), policies=policies))
    )


def tiered(
    name: str,
    tier: str,
    priority: int,
    applied_to: list[dict[str, Any]],
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "tier": tier,
        "priority": priority,
        "applied_to": applied_to,
    }
    if ingress is not None:
        out["ingress"] = ingress
    if egress is not None:
        out["egress"] = egress
    return out


def clause(action: str, peer: dict[str, Any], port: int | None = None) -> dict[str, Any]:
    rules = [{"protocol": "tcp", "ports": [port]}] if port else [{"protocol": "any"}]
    return {"action": action, "peers": [peer], "rules": rules}


def allow_np(name: str, target: str, source: str) -> dict[str, Any]:
    """An ordinary ingress allow applied to tenant ``target`` from tenant ``source``."""
    return {
        "name": name,
        "applied_to": [{"tenant": target}],
        "ingress": [{"peers": [{"tenant": source}], "rules": [{"protocol": "any"}]}],
    }


def verdict(
    rs: ruleset.Ruleset, src: Any, dst: Any, path: evaluate.Path = P.TO_ENDPOINT, port: int = 80
) -> evaluate.Verdict:
    return evaluate.verdict(rs, evaluate.Packet(src, dst, TCP, path, dport=port))


RED, BLUE = ep("red", "frontend", host=2), ep("blue", "frontend")


def test_no_tiered_policy_adds_no_chain_and_no_rule() -> None:
    rs = rules_for([allow_np("np", "blue", "red")])
    names = {c.name for c in rs.chains}
    assert not any("admin" in n or "baseline" in n for n in names)
    assert all("tier" not in r.comment for c in rs.chains for r in c.rules)


def test_an_admin_deny_beats_an_ordinary_allow_and_names_its_rule() -> None:
    deny = tiered(
        "guard", "admin", 10, [{"tenant": "blue"}], ingress=[clause("deny", {"tenant": "red"})]
    )
    assert verdict(rules_for([allow_np("np", "blue", "red")]), RED, BLUE).allowed
    result = verdict(rules_for([allow_np("np", "blue", "red"), deny]), RED, BLUE)
    assert not result.allowed
    decided = traces.deciding(result.reasons, egress=False)
    assert decided is not None and decided.rule is not None
    assert (decided.rule.policy, decided.rule.path) == ("guard", "ingress[0].rules[0]")


def test_an_admin_accept_is_final_for_its_direction() -> None:
    accept = tiered(
        "open", "admin", 5, [{"tenant": "blue"}], ingress=[clause("allow", {"tenant": "red"})]
    )
    isolating = {
        "name": "np",
        "applied_to": [{"tenant": "blue"}],
        "ingress": [{"peers": [{"tenant": "blue"}], "rules": [{"protocol": "any"}]}],
    }
    assert not verdict(rules_for([isolating]), RED, BLUE).allowed
    assert verdict(rules_for([isolating, accept]), RED, BLUE).allowed


def test_pass_skips_the_rest_of_the_admin_tier_into_ordinary_policies() -> None:
    passing = tiered(
        "a-pass", "admin", 1, [{"tenant": "blue"}], ingress=[clause("pass", {"tenant": "red"})]
    )
    deny = tiered(
        "b-deny", "admin", 2, [{"tenant": "blue"}], ingress=[clause("deny", {"tenant": "red"})]
    )
    assert not verdict(rules_for([deny]), RED, BLUE).allowed
    # Pass first: the later deny is skipped; no ordinary policy selects blue: allowed.
    assert verdict(rules_for([passing, deny]), RED, BLUE).allowed
    # Priorities decide, not names or input order.
    swapped = [dict(passing, priority=3), deny]
    assert not verdict(rules_for(swapped), RED, BLUE).allowed


def test_rule_order_within_a_policy_decides() -> None:
    rules = [clause("deny", {"tenant": "red"}, 80), clause("allow", {"tenant": "red"})]
    first = tiered("p", "admin", 1, [{"tenant": "blue"}], ingress=rules)
    assert not verdict(rules_for([first]), RED, BLUE).allowed
    second = tiered("p", "admin", 1, [{"tenant": "blue"}], ingress=rules[::-1])
    assert verdict(rules_for([second]), RED, BLUE).allowed


def test_baseline_judges_only_what_no_ordinary_policy_selects() -> None:
    closing = tiered(
        "close", "baseline", 1, [{"tenant": "blue"}], ingress=[clause("deny", {"tenant": "red"})]
    )
    assert not verdict(rules_for([closing]), RED, BLUE).allowed
    # A NetworkPolicy opening red → blue is final for the pods it selects.
    assert verdict(rules_for([closing, allow_np("np", "blue", "red")]), RED, BLUE).allowed


def test_baseline_pass_ends_in_the_default_allow() -> None:
    passing = tiered(
        "a", "baseline", 1, [{"tenant": "blue"}], ingress=[clause("pass", {"tenant": "red"})]
    )
    closing = tiered(
        "b", "baseline", 2, [{"tenant": "blue"}], ingress=[clause("deny", {"tenant": "red"})]
    )
    assert verdict(rules_for([passing, closing]), RED, BLUE).allowed


def test_egress_admin_deny_and_baseline_allow_to_a_cidr() -> None:
    outside = __import__("ipaddress").ip_address("192.0.2.7")
    deny = tiered(
        "no-out",
        "admin",
        1,
        [{"tenant": "blue"}],
        egress=[clause("deny", {"cidr": "192.0.2.0/24"})],
    )
    rs = rules_for([deny])
    assert not verdict(rs, BLUE, outside, P.FROM_ENDPOINT).allowed
    assert verdict(rs, ep("red", "frontend"), outside, P.FROM_ENDPOINT).allowed
    # An egress accept still leaves the receiver's ingress to judge.
    accept = tiered(
        "out", "admin", 1, [{"tenant": "blue"}], egress=[clause("allow", {"tenant": "red"})]
    )
    close = tiered(
        "close", "admin", 2, [{"tenant": "red"}], ingress=[clause("deny", {"tenant": "blue"})]
    )
    between = verdict(rules_for([accept, close]), BLUE, ep("red", "frontend"), P.BETWEEN_ENDPOINTS)
    assert not between.allowed


def test_romana_mode_isolation_decides_before_the_baseline_tier() -> None:
    opening = tiered(
        "open", "baseline", 1, [{"tenant": "blue"}], ingress=[clause("allow", {"tenant": "red"})]
    )
    assert not verdict(rules_for([opening], isolation=None), RED, BLUE).allowed
    admin = dict(opening, tier="admin")
    assert verdict(rules_for([admin], isolation=None), RED, BLUE).allowed


def test_clause_targets_narrow_the_subject() -> None:
    name = "web-pods"
    deny = tiered(
        "p",
        "admin",
        1,
        [{"tenant": "blue"}],
        ingress=[dict(clause("deny", {"tenant": "red"}), targets=[{"address_set": name}])],
    )
    members = {name: [f"{BLUE}/32"]}
    fixture_with_set = dict(fixture(), policies=[deny], address_sets=members)
    rs = compile.compile_ruleset(policy_inputs.compile_input(fixture_with_set))
    assert not verdict(rs, RED, BLUE).allowed
    assert verdict(rs, RED, ep("blue", "frontend", n=7)).allowed


def test_a_tiered_policy_applied_to_the_host_is_refused_at_parse_and_compile() -> None:
    bad = tiered("h", "admin", 1, [{"dest": "host"}], ingress=[clause("deny", {"peer": "any"})])
    reasons = compile.unsupported(parse.policy(bad))
    assert reasons and "applies to endpoints" in reasons[0]


def test_tiered_policy_round_trips_through_its_json() -> None:
    p = parse.policy(
        tiered("x", "baseline", 7, [{"tenant": "blue"}], egress=[clause("pass", {"peer": "any"})])
    )
    assert p.tier is model.Tier.BASELINE and p.priority == 7
    assert parse.policy(p.to_dict()) == p


def test_traffic_to_the_own_host_meets_the_admin_tier_but_not_the_baseline() -> None:
    gateway = policy_inputs.gateway(FIXTURE, 1)
    to_gateway = {"cidr": f"{gateway}/32"}
    admin = tiered("no-node", "admin", 1, [{"tenant": "blue"}], egress=[clause("deny", to_gateway)])
    baseline = dict(admin, name="floor", tier="baseline")

    def to_host(policies: list[dict[str, Any]]) -> bool:
        # Endpoints may reach their host by default here: only a tier could close it.
        rs = compile.compile_ruleset(
            policy_inputs.compile_input(
                dict(fixture(), policies=policies), endpoint_to_host=model.Action.ALLOW
            )
        )
        return verdict(rs, BLUE, gateway, P.TO_HOST).allowed

    assert to_host([])
    assert not to_host([admin])
    assert to_host([baseline]), "the host's own rules, not the Baseline tier, judge this"
