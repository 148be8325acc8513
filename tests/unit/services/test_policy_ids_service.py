"""Policy ids namespaced per tenant: per-owner names, bare-name resolution, the policy quota,
and the start-up move of what earlier releases stored under bare names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from romana.core.errors import AlreadyExists, InvalidInput, NotFound, QuotaExceeded
from romana.core.identifiers import TenantName
from romana.core.store import Put, Store
from romana.services import keys, upgrade
from romana.services.policy import PolicyService
from romana.services.quotas import BUILTIN, Limits, QuotaService

TB = TenantName("tb")


def web(tenant: str | None, name: str = "allow-web", port: int = 80) -> dict[str, Any]:
    """``name`` applied to ``tenant`` (None: to two tenants, so a global policy)."""
    targets = [{"tenant": tenant}] if tenant else [{"tenant": "ta"}, {"tenant": "tb"}]
    rules = [{"protocol": "tcp", "ports": [port]}]
    return {
        "name": name,
        "applied_to": targets,
        "ingress": [{"peers": [{"peer": "any"}], "rules": rules}],
    }


class Capped(QuotaService):
    def __init__(self, store: Store, policies: int) -> None:
        super().__init__(store)
        self.policies = policies

    def limits(self, tenant: str) -> Limits:
        return Limits(self.policies, BUILTIN.allocations, BUILTIN.segments)


def test_each_owner_has_its_own_names(store: Store) -> None:
    svc = PolicyService(store)
    added = svc.add([web("ta"), web("tb"), web(None)])
    assert [p["id"] for p in added] == ["ta/allow-web", "tb/allow-web", "allow-web"]
    assert {p["name"] for p in added} == {"allow-web"}
    assert store.get("/romana/v1/policies/tb/allow-web") is not None
    with pytest.raises(AlreadyExists, match="'ta/allow-web'"):
        svc.add(web("ta", port=81))
    with pytest.raises(InvalidInput, match=r"\[1\]\.name: policy id 'ta/allow-web' is used twice"):
        svc.add([web("ta", port=82), web("ta", port=83)])


def test_a_posted_id_must_be_the_one_the_targets_give(store: Store) -> None:
    svc = PolicyService(store)
    with pytest.raises(InvalidInput, match="its targets make it 'ta/allow-web'"):
        svc.add({**web("ta"), "id": "tb/allow-web"})
    [stored] = svc.add(
        {"id": "ta/allow-web", **{k: v for k, v in web("ta").items() if k != "name"}}
    )
    assert (stored["id"], stored["name"]) == ("ta/allow-web", "allow-web")


def test_a_bare_name_resolves_within_a_tenant_then_globally_and_never_guesses(
    store: Store,
) -> None:
    svc = PolicyService(store)
    svc.add(web("ta"))
    assert svc.resolve("allow-web") == "ta/allow-web", "the one tenant-owned policy"
    assert svc.resolve("allow-web", tenant=TB) == "allow-web", "tb has none: 404 on read"
    with pytest.raises(NotFound):
        svc.get(svc.resolve("allow-web", tenant=TB))
    svc.add(web("tb"))
    with pytest.raises(InvalidInput, match="ta/allow-web, tb/allow-web"):
        svc.resolve("allow-web")
    assert svc.resolve("allow-web", tenant=TB) == "tb/allow-web"
    assert svc.resolve("ta/allow-web", tenant=TB) == "ta/allow-web", "an id is itself"
    svc.add(web(None))
    assert svc.resolve("allow-web") == "allow-web", "a global policy of the name comes first"
    assert svc.resolve("nothing") == "nothing"


def test_put_by_bare_name_stores_under_the_id_and_refuses_another_id(store: Store) -> None:
    svc = PolicyService(store)
    assert svc.put("allow-web", web("ta"))["id"] == "ta/allow-web"
    assert svc.put("ta/allow-web", web("ta", port=8080))["ingress"][0]["rules"][0]["ports"] == [
        8080
    ]
    with pytest.raises(InvalidInput, match="must be 'tb/allow-web'"):
        svc.put("tb/allow-web", web("ta"))
    assert [p["id"] for p in svc.list_all()] == ["ta/allow-web"]


def test_the_policy_quota_refuses_a_tenant_past_it_and_stores_nothing(store: Store) -> None:
    svc = PolicyService(store, Capped(store, 2))
    svc.add([web("ta", "one"), web("tb", "one"), web(None, "global")])
    revision = store.revision()
    with pytest.raises(QuotaExceeded) as refused:
        svc.add([web("ta", "two"), web("ta", "three"), web("tb", "two")])
    assert (refused.value.tenant, refused.value.limit, refused.value.usage) == ("ta", 2, 1)
    message = str(refused.value)
    assert "'ta'" in message and "policies" in message and "limit 2" in message
    assert "romana quota set --tenant ta --policies N" in message
    assert store.revision() == revision, "nothing stored"
    svc.add([web("ta", "two"), web("tb", "two"), web(None, "global-2")])
    svc.add(web("ta", "two")), "re-adding what is stored needs no room"
    with pytest.raises(QuotaExceeded):
        svc.put("ta/three", web("ta", "three"))
    svc.put("ta/two", web("ta", "two", port=81)), "replacing needs no room"
    svc.remove("ta/one")
    assert svc.put("three", web("ta", "three"))["id"] == "ta/three"


def earlier(store: Store, *documents: dict[str, Any]) -> None:
    """Store ``documents`` as releases before namespaced ids did: at their bare names."""
    ops = [
        Put(keys.policy(d["name"]), json.dumps({"id": d["name"], **d}).encode()) for d in documents
    ]
    store.txn([], ops)


def test_start_up_moves_tenant_owned_policies_to_their_ids_once(store: Store) -> None:
    earlier(store, web("ta"), web(None, "shared"), web("tb", "kube.tb.api"))
    derived = {"policies": ["kube.tb.api"], "sets": [], "segment_label": "romana.io/segment"}
    store.txn([], [Put(keys.KUBE_DERIVED, json.dumps(derived).encode())])
    svc = PolicyService(store)
    before = svc.revision()

    notes = upgrade.run(store)

    assert len(notes) == 2 and "moved to its tenant's id ta/allow-web" in " ".join(notes)
    assert sorted(p["id"] for p in svc.list_all()) == ["shared", "ta/allow-web", "tb/kube.tb.api"]
    assert store.get(keys.policy("allow-web")) is None
    assert svc.get("ta/allow-web") == {
        "id": "ta/allow-web",
        **PolicyService(store).parse(web("ta"))[0],
    }
    record = json.loads(store.get(keys.KUBE_DERIVED).value)  # type: ignore[union-attr]
    assert record["policies"] == ["tb/kube.tb.api"], "the sync's record names the new id"
    assert svc.revision() > before, "agents hear of the move"
    revision = store.revision()
    assert upgrade.run(store) == [] and store.revision() == revision, "idempotent"


def test_a_move_cut_short_by_an_earlier_release_keeps_the_later_write(store: Store) -> None:
    # An earlier release's romanad wrote the bare key after a current one moved it.
    svc = PolicyService(store)
    svc.add(web("ta"))
    earlier(store, web("ta", port=443))
    upgrade.run(store)
    assert [p["id"] for p in svc.list_all()] == ["ta/allow-web"]
    assert svc.get("ta/allow-web")["ingress"][0]["rules"][0]["ports"] == [443]
