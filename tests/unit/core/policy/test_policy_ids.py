"""Policy ids: the owner is the one tenant every target lies in; agents name policies by id."""

from __future__ import annotations

from typing import Any

import pytest

from romana.core.errors import InvalidInput
from romana.core.policy import ids, parse

RULES = [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [80]}]}]


def policy(*targets: dict[str, Any], name: str = "allow-web") -> dict[str, Any]:
    return {"name": name, "applied_to": list(targets), "ingress": RULES}


@pytest.mark.parametrize(
    ("targets", "owner"),
    [
        (({"tenant": "ta"},), "ta"),
        (({"tenant": "ta", "segment": "web"}, {"tenant": "ta"}), "ta"),
        (({"tenant": "ta", "address_set": "kube.x"},), "ta"),
        (({"tenant": "ta"}, {"tenant": "tb"}), None),
        (({"tenant": "ta"}, {"dest": "local"}), None),
        (({"dest": "host"},), None),
        (({"address_set": "kube.x"},), None),
        (({"tenant_network_id": 3},), None),
    ],
)
def test_the_owner_is_the_one_tenant_every_target_names(
    targets: tuple[dict[str, Any], ...], owner: str | None
) -> None:
    parsed = parse.policy(policy(*targets))
    assert ids.owner(parsed) == owner
    assert ids.policy_id(parsed) == (f"{owner}/allow-web" if owner else "allow-web")
    assert ids.split(ids.policy_id(parsed)) == (owner, "allow-web")


def test_a_stored_document_is_named_by_its_id_whichever_release_stored_it() -> None:
    current = {"id": "ta/allow-web", **policy({"tenant": "ta"})}
    earlier = {"id": "allow-web", **policy({"tenant": "ta"})}
    assert ids.parse_stored(current).name == "ta/allow-web"
    assert ids.parse_stored(earlier).name == "ta/allow-web"
    assert ids.parse_stored(policy({"dest": "host"})).name == "allow-web"
    with pytest.raises(InvalidInput, match="its targets make it 'ta/allow-web'"):
        ids.parse_stored({"id": "tb/allow-web", **policy({"tenant": "ta"})})
