"""Tenant and segment names in a policy (its ``applied_to`` and its peers) follow the rule
every tenant and segment name follows: a name none can have would match nothing, and would
be printed as it is wherever the policy is listed (terminal escapes, forged lines)."""

from __future__ import annotations

from typing import Any

import pytest

from romana.core import names
from romana.core.errors import InvalidInput
from romana.core.policy import parse


def policy(applied: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "p",
        "applied_to": [applied],
        "ingress": [{"peers": [peer], "rules": [{"protocol": "tcp", "ports": [80]}]}],
    }


def refused_fields(raw: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as err:
        parse.policies(raw)
    return [(i.field, i.rule) for i in err.value.issues]


@pytest.mark.parametrize("bad", ["a\nb", "s\x1b[2J", 'zz\n}";', "s\x00", "x" * 64, "-x", "a b"])
def test_a_name_no_tenant_or_segment_can_have_is_refused_at_its_field(bad: str) -> None:
    raw = policy({"tenant": "shop", "segment": bad}, {"tenant": bad, "segment": "db"})
    assert refused_fields(raw) == [
        ("applied_to[0].segment", names.NAME_RULE),
        ("ingress[0].peers[0].tenant", names.NAME_RULE),
    ]


def test_ids_and_external_ids_follow_the_same_rule() -> None:
    raw = policy(
        {"tenant_id": "shop\r\nx", "segment": "web"},
        {"tenant_external_id": "\x1b]0;t\x07", "segment_id": "db"},
    )
    assert refused_fields(raw) == [
        ("applied_to[0].tenant_id", names.NAME_RULE),
        ("ingress[0].peers[0].tenant_external_id", names.NAME_RULE),
    ]


def test_names_tenants_and_segments_can_have_are_kept() -> None:
    uuid = "3fa85f64-5717-4562-b3fc-2c963f66afa6"  # an OpenStack project or Kubernetes uid
    raw = policy(
        {"tenant": "Shop_1.a", "segment": "web"},
        {"tenant_external_id": uuid, "segment_id": "db-2", "tenant_network_id": 3},
    )
    [got] = parse.policies(raw)
    peer = got.ingress[0].peers[0]
    assert peer.tenant is not None and peer.tenant.external_id == uuid
    assert peer.segment is not None and peer.segment.name == "db-2"
