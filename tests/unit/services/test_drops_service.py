"""romanad's ring of recent drop events: bounded, numbered, followed by a long poll, and
decoded from romanad's own records (pods, workloads, allocation keys)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from romana.core.errors import Forbidden
from romana.core.identifiers import AllocationKey, HostName, TenantName
from romana.services import auth, drops
from romana.services.kubestore import KubeObjectService
from unit.services.conftest import Services

T1 = TenantName("t1")


def service(svc: Services, capacity: int = drops.CAPACITY) -> drops.DropService:
    kube = KubeObjectService(svc.store)
    return drops.DropService(svc.topology, svc.tenants, svc.ipam, kube, capacity)


def raw(src: str, dst: str = "10.0.0.1") -> dict[str, Any]:
    reason = {"id": "0123456789ab", "policy": "", "rule": "", "default": "isolation: other tenants"}
    return {"time": 1.0, "src": src, "dst": dst, "proto": "udp", "dport": 53, "reason": reason}


def keep_all(event: drops.Event) -> bool:
    return True


def test_the_ring_keeps_the_newest_events_numbered_from_one(svc: Services) -> None:
    ring = service(svc, capacity=3)
    assert ring.ingest("h1", [raw(f"192.0.2.{i}") for i in range(1, 6)]) == 5
    found, last = ring.after(0, keep_all)
    assert [e["seq"] for e in found] == [3, 4, 5] and last == 5
    assert [e["src"]["address"] for e in found] == ["192.0.2.3", "192.0.2.4", "192.0.2.5"]
    assert ring.after(5, keep_all) == ([], 5)
    assert [e["seq"] for e in ring.after(99, keep_all)[0]] == [3, 4, 5], "romanad restarted"


def test_a_side_is_named_by_the_pod_the_workload_or_the_key(svc: Services) -> None:
    svc.tenants.create(T1)
    a = svc.ipam.allocate(AllocationKey("k-a"), HostName("h1"), T1)
    b = svc.ipam.allocate(AllocationKey("k-b"), HostName("h1"), T1)
    c = svc.ipam.allocate(AllocationKey("k-c"), HostName("h2"), T1)
    svc.ipam.set_workload(AllocationKey("k-b"), "vm:db-0")
    address = [str(x.addresses[0]) for x in (a, b, c)]
    pod = {
        "metadata": {"namespace": "t1", "name": "web-0"},
        "status": {"podIPs": [{"ip": address[2]}]},
    }
    KubeObjectService(svc.store).put({"pods": [pod], "namespaces": [], "networkpolicies": []})
    ring = service(svc)
    ring.ingest("h1", [raw(address[0], address[1]), raw(address[2], "10.0.0.1")])
    first, second = ring.after(0, keep_all)[0]
    assert first["src"] == {
        "address": address[0],
        "network": "net4",
        "tenant": "t1",
        "segment": "default",
        "endpoint": "k-a",
    }
    assert first["dst"]["endpoint"] == "vm:db-0"
    assert second["src"]["endpoint"] == "t1/web-0"
    assert second["dst"] == {"address": "10.0.0.1", "network": "net4"}, "a host's gateway"


def test_a_tenant_reader_sees_the_other_side_bare_and_no_other_tenant_policy() -> None:
    event: drops.Event = {
        "seq": 1,
        "host": "h1",
        "src": {"address": "10.0.17.1", "tenant": "t1", "segment": "default", "endpoint": "a"},
        "dst": {"address": "10.0.33.1", "tenant": "t2", "segment": "default", "endpoint": "b"},
        "reason": {"id": "0123456789ab", "policy": "t2/deny", "rule": "ingress[0]"},
    }
    assert drops.matches(event, None, "t2") and drops.matches(event, "h1", "t1")
    assert not drops.matches(event, "h2", None) and not drops.matches(event, None, "t3")
    seen = drops.seen_by_tenant(event, "t1", lambda pid: pid.startswith("t1/"))
    assert seen["src"] == event["src"]
    assert seen["dst"] == {"address": "10.0.33.1"}
    assert seen["reason"] == {"id": "0123456789ab", "default": drops.HIDDEN_POLICY}
    assert drops.seen_by_tenant(event, "t2", lambda pid: True)["reason"] == event["reason"]


def test_the_long_poll_wakes_on_a_kept_event_and_skips_others(svc: Services) -> None:
    ring = service(svc)

    def later() -> None:
        time.sleep(0.2)
        ring.ingest("h2", [raw("192.0.2.1")])  # not one the reader wants
        time.sleep(0.2)
        ring.ingest("h1", [raw("192.0.2.2")])

    async def follow() -> tuple[list[drops.Event], int, float]:
        started = time.monotonic()
        found, last = await ring.wait_after(0, 5.0, lambda e: e["host"] == "h1")
        return found, last, time.monotonic() - started

    thread = threading.Thread(target=later)
    thread.start()
    found, last, took = asyncio.run(follow())
    thread.join()
    assert [e["src"]["address"] for e in found] == ["192.0.2.2"] and last == 2
    assert 0.35 < took < 2.0

    async def quiet() -> tuple[list[drops.Event], int]:
        return await ring.wait_after(2, 0.2, keep_all)

    assert asyncio.run(quiet()) == ([], 2)


def test_pod_addresses_reads_pod_ips_and_the_old_pod_ip() -> None:
    pods: list[dict[str, Any]] = [
        {"metadata": {"namespace": "a", "name": "p"}, "status": {"podIPs": [{"ip": "10.0.0.5"}]}},
        {"metadata": {"namespace": "b", "name": "q"}, "status": {"podIP": "fd00::5"}},
        {"metadata": {"namespace": "c", "name": "r"}, "status": {}},
    ]
    assert drops.pod_addresses(pods) == {"10.0.0.5": "a/p", "fd00::5": "b/q"}


def test_only_the_agent_bound_to_a_host_reports_its_drops() -> None:
    agent = auth.Principal("agent-h1", auth.Role.AGENT, None, HostName("h1"))
    auth.authorize(agent, auth.Action.REPORT_DROPS, auth.Target(host="h1"))
    with pytest.raises(Forbidden, match="bound to host 'h1'"):
        auth.authorize(agent, auth.Action.REPORT_DROPS, auth.Target(host="h2"))
    for role, tenant in ((auth.Role.SERVICE, None), (auth.Role.TENANT, T1)):
        who = auth.Principal(f"a-{role}", role, tenant)
        assert not auth.may(who, auth.Action.REPORT_DROPS, auth.Target(tenant=T1, host="h1"))
