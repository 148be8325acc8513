"""ClusterNetworkPolicies from the API server and from files into stored tiered policies.

The same ways NetworkPolicies go: the one sync over romanad's services (what the listener and
``POST /v1/kube/apply`` run), the listener watching the fake API server, ``romana policy
apply -f`` against a real romanad, and ``romana explain -f``'s offline model. The verdicts
are the tier compiler's and the evaluator's to show; here what is stored and removed.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kubernetes import applied
from kubernetes.fakeapi import PATHS, FakeApi
from kubernetes.listening import Listening, play
from romana.cli.main import app
from romana.core.errors import InvalidInput
from romana.core.kubernetes import explain, record, sync, translation
from romana.integrations.kubernetes import kubewatch
from romana.lab import topologies
from romana.services import kubesync
from romana.services.topology import TopologyService
from romana.store.memory import MemoryStore

TOPOLOGY: dict[str, Any] = topologies.pods()
CNP_VERSION = "policy.networking.k8s.io/v1alpha2"


def namespace(name: str, **labels: str) -> dict[str, Any]:
    meta = {"name": name, "uid": f"uid-{name}", "labels": labels}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "h1", "labels": {"rack": "1", "role": "worker"}},
    "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}]},
}


def pod(ns: str, name: str, ip: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "nodeName": "h1",
            "containers": [{"ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {"podIP": ip},
    }


def cnp(name: str, priority: int, *rules: dict[str, Any], tier: str = "Admin") -> dict[str, Any]:
    spec = {
        "tier": tier,
        "priority": priority,
        "subject": {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}},
        "ingress": list(rules),
    }
    return {
        "apiVersion": CNP_VERSION,
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name, "uid": f"uid-{name}"},
        "spec": spec,
    }


DENY_BANK = {
    "action": "Deny",
    "name": "no-bank",
    "from": [{"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "bank"}}}],
}
WEB_ONLY = {
    "action": "Accept",
    "from": [{"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "web"}}}}],
    "protocols": [{"destinationNamedPort": "http"}],
}
NETPOL = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "db", "namespace": "shop"},
    "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{}]},
}
CLUSTER = [
    namespace("shop"),
    namespace("bank"),
    NODE,
    pod("shop", "db", "10.1.16.1", app="db"),
    pod("bank", "web", "10.2.16.1", role="web"),
    NETPOL,
    cnp("guard", 10, WEB_ONLY, DENY_BANK),
]
GUARD = "kube.cnp:guard"
"""The id: global, though its subject is one namespace (the cluster admin's policy)."""


class Served:
    """romanad's services over an in-memory store, the port the sync writes through."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        TopologyService(self.store).apply(TOPOLOGY)
        self.romanad = kubesync.ServicesRomanad(self.store)

    def apply(self, documents: list[dict[str, Any]]) -> sync.Applied:
        return sync.apply(self.romanad, documents, translation.Settings())

    def tiered(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.romanad.policies().items() if "tier" in v}


def set_of(doc: dict[str, Any], clause: int) -> str:
    name: str = doc["ingress"][clause]["peers"][0]["address_set"]
    return name


def test_sync_stores_changes_and_removes_a_cluster_network_policy() -> None:
    served = Served()
    done = served.apply(CLUSTER)
    stored = served.tiered()
    assert set(stored) == {GUARD}
    guard = stored[GUARD]
    assert (guard["tier"], guard["priority"]) == ("admin", 10)
    assert [c["action"] for c in guard["ingress"]] == ["allow", "deny"]
    assert guard["ingress"][0]["rules"] == [{"protocol": "tcp", "ports": [8080]}]
    assert f"policies/{GUARD}" in done.outcome.created and GUARD in done.policies
    sets = served.romanad.address_sets()
    assert sets[set_of(guard, 0)] == ["10.2.16.1/32"], "the web pods, narrowed to http"
    (targets,) = guard["ingress"][0]["targets"]
    assert sets[targets["address_set"]] == ["10.1.16.1/32", "10.2.16.1/32"]
    assert "shop/kube.shop.db" in served.romanad.policies(), "NetworkPolicies alongside"
    kept = record.read(served.romanad.kube_objects())
    assert [p.name for p in kept.cluster_policies] == ["guard"]
    assert served.apply(CLUSTER).outcome.changed() == (), "a second apply changes nothing"

    changed = [*CLUSTER[:-1], cnp("guard", 20, DENY_BANK)]
    outcome = served.apply(changed).outcome
    assert f"policies/{GUARD}" in outcome.updated
    guard = served.tiered()[GUARD]
    assert guard["priority"] == 20 and [c["name"] for c in guard["ingress"]] == ["no-bank"]
    gone = {set_of(stored[GUARD], 0), targets["address_set"]}
    assert not gone & set(served.romanad.address_sets()), "its sets go with the rules"

    outcome = served.apply(CLUSTER[:-1]).outcome
    assert f"policies/{GUARD}" in outcome.deleted
    assert served.tiered() == {}
    assert "shop/kube.shop.db" in served.romanad.policies()
    assert record.read(served.romanad.kube_objects()).cluster_policies == []


def test_shared_priorities_are_noted_and_an_invalid_policy_changes_nothing() -> None:
    served = Served()
    twin = cnp("twin", 10, DENY_BANK)
    twin["spec"]["subject"] = {"namespaces": {}}
    outcome = served.apply([*CLUSTER, twin]).outcome
    assert any("guard, twin share a priority" in n for n in outcome.notes)
    before = (served.romanad.policies(), served.romanad.address_sets())
    bad = cnp("bad", 1001, {"action": "Allow", "from": [{"networks": ["10.0.0.0/8"]}]})
    with pytest.raises(InvalidInput) as caught:
        served.apply([*CLUSTER, bad])
    text = str(caught.value)
    for problem in ("spec.priority", "spec.ingress[0].action", "spec.ingress[0].from[0].networks"):
        assert problem in text, text
    assert (served.romanad.policies(), served.romanad.address_sets()) == before


class Running(Listening):
    def __init__(self, api: FakeApi) -> None:
        self.served = Served()
        super().__init__(api, self.served.romanad)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    for doc in CLUSTER:
        fake.put(copy.deepcopy(doc))
    yield fake
    fake.close()


async def start(api: FakeApi, pid: str) -> Running:
    run = Running(api)
    run.task = asyncio.create_task(run.listener.run(run.client))
    await run.until(lambda: pid in run.romanad.policies())
    return run


def test_the_listener_watches_cluster_network_policies(api: FakeApi) -> None:
    path = PATHS["ClusterNetworkPolicy"]

    async def scenario(run: Running) -> None:
        assert run.served.tiered()[GUARD]["priority"] == 10
        await run.until(lambda: api.watches[path] >= 1)
        api.put(cnp("guard", 30, DENY_BANK))
        await run.until(lambda: run.served.tiered()[GUARD]["priority"] == 30)
        api.put(cnp("everyone", 5, DENY_BANK, tier="Baseline"))
        await run.until(lambda: "kube.cnp:everyone" in run.served.tiered())
        assert run.served.tiered()["kube.cnp:everyone"]["tier"] == "baseline"
        api.delete("ClusterNetworkPolicy", "guard")
        await run.until(lambda: set(run.served.tiered()) == {"kube.cnp:everyone"})
        assert api.lists[path] == 1, "events alone need no relist"

    play(start(api, GUARD), scenario)


def test_a_cluster_without_the_crd_is_still_synced(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ClusterNetworkPolicy CRD (404): the other kinds are synced, and the CRD installed
    later is picked up at the next list."""
    path = PATHS["ClusterNetworkPolicy"]
    api.unserved.add(path)
    monkeypatch.setattr(kubewatch, "ABSENT_RETRY", 0.2)

    async def scenario(run: Running) -> None:
        assert run.served.tiered() == {}
        api.unserved.discard(path)
        await run.until(lambda: GUARD in run.served.tiered())

    play(start(api, "shop/kube.shop.db"), scenario)


def test_losing_read_access_keeps_the_cluster_network_policies(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed once, then answered 403 (the listener's role lost access): the stored policies
    stay, the list is retried, and a change made meanwhile is seen once access is back."""
    path = PATHS["ClusterNetworkPolicy"]
    monkeypatch.setattr(kubewatch, "ABSENT_RETRY", 0.2)

    async def scenario(run: Running) -> None:
        await run.until(lambda: api.watches[path] >= 1)
        api.forbidden.add(path)
        api.disconnect()
        await run.until(lambda: api.refused[path] >= 3)
        assert GUARD in run.served.tiered(), "an unreadable kind is not an empty one"
        api.delete("ClusterNetworkPolicy", "guard")
        api.forbidden.discard(path)
        await run.until(lambda: GUARD not in run.served.tiered())

    play(start(api, GUARD), scenario)


def test_policy_apply_f_stores_tiered_policies_and_refuses_a_bad_one(tmp_path: Path) -> None:
    text = yaml.safe_dump_all(CLUSTER)
    with applied.romana_cli(tmp_path, text, topologies.pods(racks=())) as (client, env):
        stored = {p["id"]: p for p in client.list_policies()}
        assert stored[GUARD]["tier"] == "admin"
        assert [c["action"] for c in stored[GUARD]["ingress"]] == ["allow", "deny"]
        bad = tmp_path / "bad.yaml"
        broken = cnp("guard", 10, {"action": "Deny", "from": [{"nodes": {}}]})
        bad.write_text(yaml.safe_dump_all([*CLUSTER[:-1], broken]))
        twin = cnp("twin", 10, DENY_BANK)
        shared = tmp_path / "shared.yaml"
        shared.write_text(yaml.safe_dump_all([*CLUSTER, twin]))
        noted = CliRunner().invoke(app, ["policy", "apply", "-f", str(shared)], env=env)
        assert noted.exit_code == 0, noted.output
        assert "note: ClusterNetworkPolicy: Admin tier, priority 10: guard, twin" in noted.output
        stored = {p["id"]: p for p in client.list_policies()}
        assert "kube.cnp:twin" in stored
        refused = CliRunner().invoke(app, ["policy", "apply", "-f", str(bad)], env=env)
        assert refused.exit_code != 0
        assert "document 7" in refused.output and "spec.ingress[0].from[0].nodes" in refused.output
        assert {p["id"]: p for p in client.list_policies()} == stored, "nothing changed"


def test_explain_f_models_the_translated_tiered_policies() -> None:
    model = explain.offline_model(CLUSTER, "10.0.0.0/8,4,4,8", ("shop/db", "bank/web"))
    policies = {p["name"]: p for p in model.policies}
    assert {"kube.cnp:guard", "kube.shop.db"} <= set(policies)
    guard = policies["kube.cnp:guard"]
    assert guard["tier"] == "admin" and guard["applied_to"] == [{"tenant": "shop"}]
    assert model.address_sets[guard["ingress"][0]["peers"][0]["address_set"]] == (
        ipaddress.ip_network("10.2.16.1/32"),
    )
