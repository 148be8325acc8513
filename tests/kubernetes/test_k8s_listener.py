"""The listener against a fake Kubernetes API server, keeping romanad's services in step.

The API server is :mod:`kubernetes.fakeapi` (stdlib HTTP on a random loopback port, list and
watch in the wire format, with cut connections and 410 Gone). romanad is its services over
an in-memory store (:class:`ServicesRomanad`), the same services its HTTP routes call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kubernetes.fakeapi import PATHS, FakeApi
from kubernetes.listening import Listening, play
from romana.core.identifiers import TenantName
from romana.core.kubernetes import translation
from romana.integrations.kubernetes import kubewatch, listener
from romana.lab import topologies
from romana.services import kubesync
from romana.services.topology import TopologyService
from romana.store.memory import MemoryStore

TOPOLOGY: dict[str, Any] = topologies.pods()


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels}}


def node(name: str, ip: str, rack: str) -> dict[str, Any]:
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": {"rack": rack}},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def pod(ns: str, name: str, ip: str, node_name: str, **labels: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "nodeName": node_name,
            "containers": [{"ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {"podIP": ip},
    }


def policy(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}


ALLOW_FROM_WEB = {
    "podSelector": {"matchLabels": {"app": "db"}},
    "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "web"}}}]}],
}


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    fake.put(namespace("shop", team="a"))
    fake.put(node("h1", "192.0.2.1", "1"))
    fake.put(pod("shop", "db", "10.1.16.1", "h1", app="db"))
    fake.put(pod("shop", "web", "10.1.16.2", "h1", role="web"))
    fake.put(policy("shop", "db-from-web", ALLOW_FROM_WEB))
    yield fake
    fake.close()


class Running(Listening):
    def __init__(self, api: FakeApi) -> None:
        self.store = MemoryStore()
        TopologyService(self.store).apply(TOPOLOGY)
        super().__init__(api, kubesync.ServicesRomanad(self.store))

    def members(self) -> dict[str, list[str]]:
        return self.romanad.address_sets()


async def start(api: FakeApi) -> Running:
    run = Running(api)
    run.task = asyncio.create_task(run.listener.run(run.client))
    await run.until(lambda: "shop/kube.shop.db-from-web" in run.romanad.policies())
    return run


def web_set(run: Running) -> list[str]:
    doc = run.romanad.policies()["shop/kube.shop.db-from-web"]
    name = doc["ingress"][0]["peers"][0]["address_set"]
    return run.members().get(name, [])


def test_initial_list_fills_romanad(api: FakeApi) -> None:
    async def scenario(run: Running) -> None:
        assert "shop" in run.romanad.tenants()
        assert run.romanad.hosts()["h1"] == {"rack": "1"}
        stored = run.romanad.policies()
        assert set(stored) == {"shop/kube.shop.db-from-web"}
        assert run.romanad.tenant_service.get(TenantName("shop")).isolation.mode == "kubernetes"
        await run.until(lambda: web_set(run) == ["10.1.16.2/32"])
        # The watches open once the initial sync is done.
        await run.until(lambda: all(api.watches[p] >= 1 for p in PATHS.values()))

    play(start(api), scenario)


def test_watch_events_relabels_and_deletes_reach_romanad(api: FakeApi) -> None:
    async def scenario(run: Running) -> None:
        api.put(pod("shop", "web2", "10.1.16.3", "h1", role="web"))
        await run.until(lambda: web_set(run) == ["10.1.16.2/32", "10.1.16.3/32"])
        api.put(pod("shop", "web", "10.1.16.2", "h1", role="batch"))  # relabel
        await run.until(lambda: web_set(run) == ["10.1.16.3/32"])
        api.put(pod("shop", "front", "10.1.32.1", "h1", **{translation.SEGMENT_LABEL: "dmz"}))
        await run.until(lambda: "dmz" in run.romanad.tenants()["shop"].segments)
        api.put(node("h2", "192.0.2.2", "2"))
        await run.until(lambda: "h2" in run.romanad.hosts())
        api.delete("NetworkPolicy", "db-from-web", "shop")
        await run.until(lambda: set(run.romanad.policies()) == set())
        api.put(namespace("bank"))
        await run.until(lambda: "bank" in run.romanad.tenants())
        api.delete("Namespace", "bank")
        await run.until(lambda: "bank" not in run.romanad.tenants())
        assert api.lists[PATHS["Pod"]] == 1, "events alone need no relist"

    play(start(api), scenario)


def test_cut_connections_resync_with_a_fresh_list(api: FakeApi) -> None:
    async def scenario(run: Running) -> None:
        # A cut needs open watches to cut: one opened after it would stream on unharmed.
        await run.until(lambda: all(api.watches[p] >= 1 for p in PATHS.values()))
        before = api.lists[PATHS["Pod"]]
        api.put(pod("shop", "web3", "10.1.16.4", "h1", role="web"), unseen=True)
        api.disconnect()
        await run.until(lambda: "10.1.16.4/32" in web_set(run))
        assert api.lists[PATHS["Pod"]] > before

    play(start(api), scenario)


def test_410_gone_relists_and_drops_what_vanished_meanwhile(api: FakeApi) -> None:
    async def scenario(run: Running) -> None:
        before = api.lists[PATHS["NetworkPolicy"]]
        # Changes the open watches never see: the history is forgotten (410 Gone).
        with api.cond:
            api.objects[PATHS["NetworkPolicy"]].clear()
        api.put(policy("shop", "deny-all", {"podSelector": {}}), unseen=True)
        api.expire()
        await run.until(lambda: set(run.romanad.policies()) == {"shop/kube.shop.deny-all"})
        assert api.lists[PATHS["NetworkPolicy"]] > before

    play(start(api), scenario)


def test_dispatcher_keeps_one_objects_events_in_order_and_runs_objects_in_parallel() -> None:
    async def scenario() -> None:
        d = kubewatch.Dispatcher(idle=0.2)
        seen: list[str] = []
        running: set[str] = set()
        overlap: list[set[str]] = []

        def job(key: str, n: int) -> Callable[[], Any]:
            async def run() -> None:
                running.add(key)
                overlap.append(set(running))
                await asyncio.sleep(0.02)
                seen.append(f"{key}{n}")
                running.discard(key)

            return run

        for n in range(5):
            d.submit("a", job("a", n))
            d.submit("b", job("b", n))
        await d.drain()
        assert [s for s in seen if s[0] == "a"] == [f"a{n}" for n in range(5)]
        assert [s for s in seen if s[0] == "b"] == [f"b{n}" for n in range(5)]
        assert any(o == {"a", "b"} for o in overlap), "different objects run in parallel"
        await asyncio.sleep(0.3)
        assert not d._queues, "idle queues go away"
        await d.close()

    asyncio.run(scenario())


def test_what_a_sync_could_not_write_is_logged_in_the_words_operators_alert_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = (
        ("policies/a/kube.a.web", "quota of 1 exceeded"),
        ("policies/a/kube.a.api", "namespace a is over quota"),
        ("hosts/n1", "the node has no usable address"),
        ("tenants/b", "it still holds allocations"),
    )
    with caplog.at_level(logging.WARNING, "romana.integrations.kubernetes.listener"):
        listener._log_refusals(refused)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        (
            "ERROR",
            "NetworkPolicies of namespace a are not all enforced: quota of 1 exceeded",
        ),
        ("WARNING", "node n1 has no usable address yet"),
        ("WARNING", "cannot write tenants/b yet: it still holds allocations"),
    ]


def test_nothing_is_written_until_every_kind_has_been_listed() -> None:
    """On a restart the lists arrive in any order: policies listed before the pods they
    select must not be written with empty address sets (that would cut traffic)."""

    async def scenario() -> None:
        store = MemoryStore()
        TopologyService(store).apply(TOPOLOGY)
        romanad = kubesync.ServicesRomanad(store)
        watcher = listener.Listener(romanad)
        await watcher.resync("Namespace", [namespace("shop")])
        await watcher.resync("NetworkPolicy", [policy("shop", "db-from-web", ALLOW_FROM_WEB)])
        await watcher.resync("Node", [node("h1", "192.0.2.1", "1")])
        await watcher.resync("Service", [])
        await watcher.resync("ClusterNetworkPolicy", [])
        assert romanad.policies() == {} and romanad.address_sets() == {}
        await watcher.resync("Pod", [pod("shop", "web", "10.1.16.2", "h1", role="web")])
        assert set(romanad.policies()) == {"shop/kube.shop.db-from-web"}
        doc = romanad.policies()["shop/kube.shop.db-from-web"]
        web = doc["ingress"][0]["peers"][0]["address_set"]
        assert romanad.address_sets()[web] == ["10.1.16.2/32"]
        await watcher.dispatcher.close()

    asyncio.run(scenario())
