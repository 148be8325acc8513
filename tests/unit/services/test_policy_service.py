"""Policies: validated with every issue at once, ids from content, a revision that moves."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from romana.core.errors import AlreadyExists, InvalidInput, NotFound, Unsupported
from romana.core.policy import compile, parse
from romana.core.store import Store
from romana.services.policy import PolicyService

V1: dict[str, Any] = {
    "name": "ssh",
    "direction": "Ingress",
    "applied_to": [{"tenant": "web", "segment": "default"}],
    "ingress": [
        {
            "peers": [{"peer": "any"}],
            "rules": [{"protocol": "TCP", "ports": [22]}, {"protocol": "icmp", "icmp_type": 8}],
        }
    ],
}
V2: dict[str, Any] = {
    "id": "allow-web",
    "direction": "ingress",
    "applied_to": [{"tenant_id": "web"}],
    "ingress": [{"peers": [{"cidr": "10.0.0.0/8"}], "rules": [{"protocol": "udp"}]}],
}


def test_add_normalises_names_by_id_and_is_idempotent(store: Store) -> None:
    svc = PolicyService(store)
    [stored] = svc.add(V1)
    assert (stored["id"], stored["name"]) == ("web/ssh", "ssh"), "tenant web owns it"
    assert stored["ingress"][0]["rules"][0]["protocol"] == "tcp"
    assert svc.add(copy.deepcopy(V1)) == [stored]
    assert svc.add(copy.deepcopy(stored)) == [stored], "what was read back posts again"
    assert svc.get("web/ssh") == stored
    assert [p["id"] for p in svc.list_all()] == ["web/ssh"]


def test_a_policy_without_identity_gets_a_content_id(store: Store) -> None:
    svc = PolicyService(store)
    anonymous = {k: v for k, v in V1.items() if k != "name"}
    [stored] = svc.add(anonymous)
    assert len(stored["name"]) == 16 and stored["id"] == f"web/{stored['name']}"
    assert svc.add(copy.deepcopy(anonymous)) == [stored]
    assert len(svc.list_all()) == 1


def test_revision_moves_with_every_change(store: Store) -> None:
    svc = PolicyService(store)
    assert svc.revision() == 0
    svc.add([V1, V2])
    after_add = svc.revision()
    assert after_add == store.revision()
    svc.add(V2)  # identical: nothing to converge on
    assert svc.revision() == after_add
    svc.remove("web/allow-web")
    assert svc.revision() > after_add
    with pytest.raises(NotFound):
        svc.remove("web/allow-web")


def test_every_problem_of_every_policy_is_reported_and_nothing_stored(store: Store) -> None:
    svc = PolicyService(store)
    bad = {
        "direction": "sideways",
        "applied_to": [{"segment": "db"}],
        "ingress": [
            {
                "peers": [{"peer": "moon"}],
                "rules": [
                    {"protocol": "tcp", "ports": [65536, 100000]},
                    {"protocol": "tcp", "port_ranges": [[3, 65536], [10, 4]]},
                    {"protocol": "xxxx"},
                    {"protocol": "icmp", "icmp_type": 3, "icmp_code": 16},
                ],
            }
        ],
        "colour": "red",
    }
    with pytest.raises(InvalidInput) as caught:
        svc.add([V1, bad])
    fields = {i.field for i in caught.value.issues}
    assert fields == {
        "[1].colour",
        "[1].direction",
        "[1].applied_to[0]",
        "[1].ingress[0].peers[0].peer",
        "[1].ingress[0].rules[0].ports",
        "[1].ingress[0].rules[1].port_ranges",
        "[1].ingress[0].rules[2].protocol",
        "[1].ingress[0].rules[3].icmp_code",
    }
    assert "65536, 100000" in str(caught.value)
    assert "3-65536, 10-4" in str(caught.value)
    assert svc.list_all() == []


def test_other_content_under_an_existing_id_is_refused(store: Store) -> None:
    svc = PolicyService(store)
    svc.add(V2)
    changed = {**V2, "direction": "egress"}
    with pytest.raises(AlreadyExists, match="allow-web"):
        svc.add(changed)
    with pytest.raises(InvalidInput, match=r"\[1\]\.name: .*used twice"):
        svc.add([V2, changed])


DENY_FROM_HOST: dict[str, Any] = {
    "name": "no-host-ssh",
    "action": "deny",
    "applied_to": [{"tenant": "web"}],
    "ingress": [{"peers": [{"peer": "host"}], "rules": [{"protocol": "tcp", "ports": [22]}]}],
}


def test_a_policy_the_dataplane_cannot_express_is_refused_with_the_compilers_reason(
    store: Store,
) -> None:
    svc = PolicyService(store)
    with pytest.raises(Unsupported) as refused:
        svc.add([V1, DENY_FROM_HOST])
    bare = compile.CompileInput(
        layouts={},
        tenants=(),
        host="h1",
        host_prefixes=(),
        gateways=(),
        policies=(parse.policy(DENY_FROM_HOST),),
    )
    with pytest.raises(Unsupported) as compiling:
        compile.compile_ruleset(bare)
    assert str(refused.value) == str(compiling.value)
    assert str(refused.value).startswith("policy 'no-host-ssh': ")
    assert "a deny from peer host cannot be enforced" in str(refused.value)
    assert svc.list_all() == [] and svc.revision() == 0
