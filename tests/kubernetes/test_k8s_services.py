"""The listener turns LoadBalancer Services and externalIPs into VIPs and pod annotations into
external IPs, against the fake API server, over romanad's services on an in-memory store.

The pods' addresses are real allocations (made by romanad's IPAM before the pods appear, as
the CNI plugin makes them), so VIP endpoints and external IPs name them as romanad would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from kubernetes.fakeapi import FakeApi
from kubernetes.listening import Listening, play
from romana.core import external
from romana.core.identifiers import AllocationKey, HostName, TenantName
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes import sync, translation
from romana.lab import topologies
from romana.services import kubesync
from romana.services.ipam import IpamService
from romana.store.memory import MemoryStore

WEB = {"app": "web"}


def namespace(name: str) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": name, "uid": f"uid-{name}"}}


def node() -> dict[str, Any]:
    return {
        "kind": "Node",
        "metadata": {"name": "h1", "labels": {"rack": "1"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}]},
    }


def pod(name: str, ip: str, note: str = "", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "labels": labels}
    if note:
        meta["annotations"] = {ko.EXTERNAL_IP_ANNOTATION: note}
    return {
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": "h1"},
        "status": {"podIP": ip},
    }


def service(name: str, pool: str = "", **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop"}
    if pool:
        meta["annotations"] = {"romana.io/external-pool": pool}
    return {"kind": "Service", "metadata": meta, "spec": {"selector": WEB, **spec}}


class Running(Listening):
    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.store = MemoryStore()
        self.romanad = kubesync.ServicesRomanad(self.store)
        self.romanad.topology.apply(topologies.pods())
        self.romanad.topology.add_host(HostName("h1"), "192.0.2.1", {"rack": "1"})
        self.romanad.tenant_service.create(
            TenantName("shop"), "uid-shop", isolation=translation.ISOLATION
        )
        ext = self.romanad.external_service
        ext.create(external.parse_pool("kubernetes", ["203.0.113.0/28"]))
        ext.create(external.parse_pool("edge", ["198.51.100.0/28"]))
        self.ipam = IpamService(self.store, self.romanad.topology, self.romanad.tenant_service)
        super().__init__(api, self.romanad)

    def allocate(self, name: str) -> str:
        """A romana address for pod ``name`` (its allocation key: ``<name>:eth0``)."""
        alloc = self.ipam.allocate(
            AllocationKey(f"{name}:eth0"), HostName("h1"), TenantName("shop")
        )
        return str(alloc.addresses[0])

    def vip(self, name: str = "k-shop-web") -> Any:
        return self.romanad.vips().get(name)

    def endpoints(self, name: str = "k-shop-web") -> set[str]:
        found = self.vip(name)
        return set() if found is None else set(found.endpoints)

    def patches(self, name: str) -> list[dict[str, Any]]:
        return [body for _, n, body in self.api.patches if n == name]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    fake.put(namespace("shop"))
    fake.put(node())
    yield fake
    fake.close()


async def start(api: FakeApi) -> Running:
    run = Running(api)
    run.task = asyncio.create_task(run.listener.run(run.client))
    await run.until(lambda: run.listener.reconciled > 0)
    return run


def test_a_load_balancer_gets_a_vip_of_its_pods_that_follows_them_and_goes_with_it(
    api: FakeApi,
) -> None:
    async def scenario(run: Running) -> None:
        w1, w2, w3, db = (run.allocate(n) for n in ("w1", "w2", "w3", "db"))
        api.put(pod("w1", w1, **WEB))
        api.put(pod("w2", w2, **WEB))
        api.put(pod("db", db, app="db"))
        api.put(service("web", type="LoadBalancer"))
        await run.until(lambda: run.endpoints() == {"w1:eth0", "w2:eth0"})
        address = str(run.vip().address)
        assert address.startswith("203.0.113."), "from the default pool, kubernetes"
        ingress = {"status": {"loadBalancer": {"ingress": [{"ip": address}]}}}
        await run.until(lambda: run.patches("web") == [ingress])

        api.put(pod("w3", w3, **WEB))
        await run.until(lambda: run.endpoints() == {"w1:eth0", "w2:eth0", "w3:eth0"})
        api.put(pod("w1", w1, app="batch"))  # relabelled away
        await run.until(lambda: run.endpoints() == {"w2:eth0", "w3:eth0"})
        api.delete("Pod", "w2", "shop")
        await run.until(lambda: run.endpoints() == {"w3:eth0"})
        assert str(run.vip().address) == address, "the VIP keeps its address"
        assert run.patches("web") == [ingress], "an unchanged status is not written again"

        api.delete("Service", "web", "shop")
        await run.until(lambda: run.vip() is None)
        assert run.romanad.external_ips() == {}, "its address is free again"

    play(start(api), scenario)


def test_external_ips_make_a_vip_at_the_first_and_warn_of_the_others(
    api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(run: Running) -> None:
        api.put(pod("w1", run.allocate("w1"), **WEB))
        api.put(service("front", externalIPs=["203.0.113.9", "203.0.113.10"]))
        await run.until(lambda: run.vip("k-shop-front") is not None)
        assert str(run.vip("k-shop-front").address) == "203.0.113.9"
        await run.until(lambda: "not served: 203.0.113.10" in caplog.text)
        assert "shop/front" in caplog.text
        await asyncio.sleep(0.3)
        assert run.patches("front") == [], "only LoadBalancer Services get a status"
        api.put(service("front"))  # no longer exposed
        await run.until(lambda: run.vip("k-shop-front") is None)

    with caplog.at_level(logging.WARNING):
        play(start(api), scenario)


def test_a_missing_pool_is_a_warning_and_blocks_nothing_else_until_it_exists(
    api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(run: Running) -> None:
        api.put(pod("w1", run.allocate("w1"), **WEB))
        api.put(service("lost", pool="nowhere", type="LoadBalancer"))
        api.put(service("web", pool="edge", type="LoadBalancer"))
        await run.until(lambda: run.endpoints() == {"w1:eth0"})
        assert str(run.vip().address).startswith("198.51.100."), "from the annotated pool"
        await run.until(lambda: "external pool 'nowhere' does not exist" in caplog.text)
        line = next(r.getMessage() for r in caplog.records if "nowhere" in r.getMessage())
        assert "Service shop/lost" in line
        assert run.vip("k-shop-lost") is None and run.patches("lost") == []

        run.romanad.external_service.create(external.parse_pool("nowhere", ["192.0.2.64/28"]))
        api.put(pod("w2", run.allocate("w2"), **WEB))  # any change syncs again
        await run.until(lambda: run.endpoints("k-shop-lost") == {"w1:eth0", "w2:eth0"})
        await run.until(lambda: len(run.patches("lost")) == 1)

    with caplog.at_level(logging.WARNING):
        play(start(api), scenario)


def test_an_address_outside_the_pool_is_refused_naming_the_service(
    api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(run: Running) -> None:
        api.put(service("web", type="LoadBalancer", loadBalancerIP="192.0.2.200"))
        await run.until(lambda: "Service shop/web gets no VIP" in caplog.text)
        assert "192.0.2.200" in caplog.text and run.vip() is None

    with caplog.at_level(logging.WARNING):
        play(start(api), scenario)


def test_a_pod_annotation_assigns_an_external_ip_and_its_removal_unassigns_it(
    api: FakeApi,
) -> None:
    async def scenario(run: Running) -> None:
        db = run.allocate("db")
        other = run.allocate("other")
        # An operator's assignment is never the listener's to take away.
        run.romanad.external_service.assign("kubernetes", other)
        api.put(pod("db", db, note="edge/198.51.100.7", app="db"))
        api.put(pod("other", other))

        def held() -> dict[str, tuple[str, str]]:
            return run.romanad.external_ips()

        await run.until(lambda: held().get("198.51.100.7") == ("edge", "db:eth0"))
        api.put(pod("db", db, app="db"))
        await run.until(lambda: "198.51.100.7" not in held())
        assert list(held().values()) == [("kubernetes", "other:eth0")]

    play(start(api), scenario)


def test_policy_apply_makes_the_vips_of_the_services_it_is_given(api: FakeApi) -> None:
    """``romana policy apply -f`` (romanad's ``POST /v1/kube/apply``) runs the same sync."""
    run = Running(api)
    w1 = run.allocate("w1")
    docs = [namespace("shop"), node(), pod("w1", w1, **WEB), service("web", type="LoadBalancer")]
    applied = sync.apply(run.romanad, docs, translation.Settings())
    assert "vips/k-shop-web" in applied.outcome.created
    assert run.endpoints() == {"w1:eth0"}
    again = sync.apply(run.romanad, docs, translation.Settings())
    assert again.outcome.changed() == ()
    gone = sync.apply(run.romanad, docs[:3], translation.Settings())
    assert gone.outcome.deleted == ("vips/k-shop-web",) and run.vip() is None
