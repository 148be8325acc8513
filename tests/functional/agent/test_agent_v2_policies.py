"""Acceptance: Romana v2 policy documents mean what they meant in Romana v2, whatever their id.

The six policy shapes of Romana v2's enforcer test data, written in the v2 format (``id``,
``direction``, ``tenant_id``/``segment_id`` as names), are posted as romanad stores them,
once with the ``kube.<namespace>.<name>.<uid>`` id Romana v2's own listener wrote and once
with a plain id. Tenant ``t1`` plays v2's ``tenant-a`` (segment ``blue`` its ``backend``,
``default`` its ``frontend``), ``t2`` plays ``tenant-b``. Each time the full TCP matrix of
the cluster is measured with real connections, on both firewall backends: it must be the
default isolation (own tenant and segment) plus exactly the pairs the policy opens. An id
never switches a tenant to Kubernetes semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from probes import CONVERGE, converge, expected_isolation, group, matrix, tcp, within

from romana.core.errors import InvalidInput
from romana.lab import Cluster, Endpoint

pytestmark = pytest.mark.root

UID = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
Opens = Callable[[Endpoint, Endpoint], bool]


def into_backend(peer: Opens) -> Opens:
    """Pairs whose destination is a t1/blue endpoint and whose source ``peer`` accepts."""
    return lambda s, d: (d.tenant, d.segment) == ("t1", "blue") and peer(s, d)


SHAPES: dict[str, tuple[dict[str, Any], dict[str, Any], Opens]] = {
    # name: (applied_to endpoint, peer, the pairs it opens)
    "any-source": (
        {"tenant_id": "t1", "segment_id": "blue"},
        {"peer": "any"},
        into_backend(lambda s, d: True),
    ),
    "demo-policy": (
        {"tenant_id": "t1", "segment_id": "blue"},
        {"tenant_id": "t1", "segment_id": "default"},
        into_backend(lambda s, d: (s.tenant, s.segment) == ("t1", "default")),
    ),
    "foreign-source-tenant": (
        {"tenant_id": "t1", "segment_id": "blue"},
        {"tenant_id": "t2", "segment_id": "default"},
        into_backend(lambda s, d: (s.tenant, s.segment) == ("t2", "default")),
    ),
    "no-source-segment": (
        {"tenant_id": "t1", "segment_id": "blue"},
        {"tenant_id": "t1"},
        into_backend(lambda s, d: s.tenant == "t1"),
    ),
    "no-target-segment": (
        {"tenant_id": "t1"},
        {"tenant_id": "t1", "segment_id": "default"},
        lambda s, d: d.tenant == "t1" and (s.tenant, s.segment) == ("t1", "default"),
    ),
}
IDS = {"kube": f"kube.t1.pol1.{UID}", "plain": "pol1"}


def v2_policy(pid: str, target: dict[str, Any], peer: dict[str, Any], ports: list[int]) -> Any:
    return {
        "id": pid,
        "direction": "ingress",
        "description": "Romana v2 policy",
        "applied_to": [target],
        "ingress": [{"peers": [peer], "rules": [{"protocol": "tcp", "ports": ports}]}],
    }


def expected(agents: Cluster, opens: Opens) -> dict[tuple[str, str], bool]:
    base = expected_isolation(agents)
    by_address = {e.address: e for e in agents.endpoints}
    return {(s, d): ok or opens(by_address[s], by_address[d]) for (s, d), ok in base.items()}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("id_kind", sorted(IDS))
def test_a_v2_policy_opens_exactly_its_pairs_and_never_changes_isolation(
    agents: Cluster, shape: str, id_kind: str
) -> None:
    target, peer, opens = SHAPES[shape]
    ports = sorted({e.port for e in agents.endpoints})
    pid = IDS[id_kind]
    want = expected(agents, opens)
    opened = [(s, d) for s in agents.endpoints for d in agents.endpoints if s is not d]
    opened = [
        (s, d) for s, d in opened if opens(s, d) and (s.tenant, s.segment) != (d.tenant, d.segment)
    ]
    assert opened, "every shape opens something beyond the default"
    agents.api.add_policies(v2_policy(pid, target, peer, ports))
    try:
        took = converge(agents, opened[:6], True, CONVERGE)
        assert within(took, CONVERGE), f"opened after {took} s\n{agents.log_tails()}"
        got = matrix(agents, tcp)
        wrong = sorted((k, got[k]) for k in want if got[k] != want[k])
        assert not wrong, f"{shape} ({pid}): differs at {wrong}"
        tenants = {t["name"]: t for t in agents.api.list_tenants()}
        assert tenants["t1"]["isolation"] == {"mode": "romana", "segments": "isolated"}
    finally:
        agents.api.remove_policy(pid)
    took = converge(agents, opened[:6], False, CONVERGE)
    assert within(took, CONVERGE), f"closed after {took} s\n{agents.log_tails()}"


@pytest.mark.parametrize("id_kind", sorted(IDS))
def test_a_v2_policy_with_no_rules_is_refused_and_changes_nothing(
    agents: Cluster, id_kind: str
) -> None:
    no_rules = {
        "id": IDS[id_kind],
        "direction": "ingress",
        "applied_to": [{"tenant_id": "t1", "segment_id": "blue"}],
        "ingress": [{"peers": [{"tenant_id": "t2", "segment_id": "default"}], "rules": []}],
    }
    with pytest.raises(InvalidInput, match="rules"):
        agents.api.add_policies(no_rules)
    assert IDS[id_kind] not in {p.get("id") for p in agents.api.list_policies()}
    assert matrix(agents, tcp) == expected_isolation(agents)


def test_the_backend_segment_is_reached_from_its_own_segment_only(agents: Cluster) -> None:
    backend = group(agents, "t1", "blue")
    frontend = group(agents, "t1", "default")
    assert all(tcp(agents, a, b) for a in backend for b in backend if a is not b)
    assert not any(tcp(agents, f, b) for f in frontend for b in backend)
