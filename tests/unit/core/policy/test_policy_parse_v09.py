"""Romana v0.9 policy files: a policy's own top-level ``peers`` and ``rules`` are its one clause,
and a ``{"securitypolicies": [...]}`` wrapper holds the list. Both read as the v1 shape does."""

from __future__ import annotations

from typing import Any

import pytest

from romana.core.errors import InvalidInput
from romana.core.policy import model, parse

PEERS = [{"cidr": "192.0.2.0/24"}]
RULES = [{"protocol": "tcp", "ports": [8080]}, {"protocol": "icmp", "icmp_type": 8}]


def flat(name: str, **extra: Any) -> dict[str, Any]:
    """A v0.9 policy: peers and rules beside applied_to."""
    return {
        "name": name,
        "applied_to": [{"tenant": "shop", "segment": "web"}],
        "peers": PEERS,
        "rules": RULES,
        **extra,
    }


def nested(name: str, **extra: Any) -> dict[str, Any]:
    """The same policy in the v1 shape."""
    return {
        "name": name,
        "applied_to": [{"tenant": "shop", "segment": "web"}],
        "ingress": [{"peers": PEERS, "rules": RULES}],
        **extra,
    }


def fields_of(raw: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as err:
        parse.policies(raw)
    return [(i.field, i.rule) for i in err.value.issues]


def test_top_level_peers_and_rules_are_one_ingress_clause() -> None:
    got = parse.policy(flat("web-in", direction="ingress"))
    assert got == parse.policy(nested("web-in", direction="ingress"))
    assert len(got.ingress) == 1 and got.egress == ()
    assert got.ingress[0].peers[0].cidr is not None
    assert [r.protocol for r in got.ingress[0].rules] == [model.Protocol.TCP, model.Protocol.ICMP]


def test_without_a_direction_the_clause_is_ingress() -> None:
    assert parse.policy(flat("web-in")) == parse.policy(nested("web-in"))


def test_direction_egress_makes_the_top_level_clause_egress() -> None:
    got = parse.policy(flat("web-out", direction="Egress"))
    assert got.ingress == () and len(got.egress) == 1
    assert got == parse.policy(nested("web-out", direction="egress"))


def test_a_top_level_clause_is_checked_as_a_nested_one() -> None:
    raw = flat("bad", rules=[{"protocol": "tcp", "ports": [70000]}])
    assert fields_of(raw) == [("rules[0].ports", "The following ports are invalid: 70000.")]
    missing = flat("half")
    del missing["rules"]
    assert fields_of(missing) == [("rules", "must be a list of rules")]


@pytest.mark.parametrize("v1_key", ["ingress", "egress"])
def test_both_shapes_in_one_policy_are_refused_naming_the_field(v1_key: str) -> None:
    raw = flat("both", **{v1_key: [{"peers": PEERS, "rules": RULES}]})
    [(field, rule)] = fields_of(raw)
    assert field == "peers"
    assert "v0.9" in rule and repr(v1_key) in rule
    only_rules = flat("both", ingress=[{"peers": PEERS, "rules": RULES}])
    del only_rules["peers"]
    assert [f for f, _ in fields_of(only_rules)] == ["rules"]


def test_a_tiered_policy_keeps_its_rules_in_ingress_or_egress() -> None:
    raw = flat("guard", tier="admin", priority=5)
    assert fields_of(raw) == [("peers", "a tiered policy gives its rules in 'ingress' or 'egress'")]


@pytest.mark.parametrize("key", ["securitypolicies", "SecurityPolicies"])
def test_a_securitypolicies_wrapper_holds_the_list(key: str) -> None:
    got = parse.policies({key: [flat("first"), nested("second", direction="egress")]})
    assert [p.name for p in got] == ["first", "second"]
    assert got[0] == parse.policy(nested("first"))
    assert got[1].egress and not got[1].ingress


def test_a_wrapper_reports_problems_by_position_and_keeps_the_duplicate_check() -> None:
    issues = fields_of({"securitypolicies": [flat("same"), flat("same"), {"name": "x"}]})
    fields = {field for field, _ in issues}
    assert {"[1].name", "[2].applied_to", "[2].ingress"} <= fields


def test_a_wrapper_must_hold_a_list_and_nothing_beside_it() -> None:
    assert fields_of({"securitypolicies": flat("one")}) == [
        ("securitypolicies", "must be a list of policies")
    ]
    issues = fields_of({"securitypolicies": [flat("one")], "comment": "x"})
    assert [field for field, _ in issues] == ["comment"]
    assert "securitypolicies" in issues[0][1]


def test_unwrap_leaves_other_documents_alone() -> None:
    one = nested("plain")
    assert parse.unwrap(one) is one
    assert parse.unwrap([one]) == [one]
    assert parse.unwrap({"securitypolicies": [one]}) == [one]
