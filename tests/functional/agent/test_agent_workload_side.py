"""Acceptance: the workload side of an endpoint is repaired, and ADD outlasts a romanad restart.

Deleting an endpoint's address inside its own namespace also drops its default route and the
gateway's neighbour entry; the next full reconcile (the drift timer, or the first one after an
agent restart) must put all three back and name the repair in ``/v1/state`` and in
``romana_agent_drift_repairs_total{part="workload"}``. Nothing here touches the root
namespace: the changes are made inside the lab's workload namespaces.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import pytest

from romana.lab import Agent, Cluster, Endpoint
from support.wait import eventually

pytestmark = pytest.mark.root

WORKLOAD_REPAIRS = 'romana_agent_drift_repairs_total{part="workload"}'


def workload_repairs(agent: Agent) -> float:
    for line in agent.metrics().splitlines():
        if line.startswith(WORKLOAD_REPAIRS + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def inside(agents: Cluster, ep: Endpoint, *argv: str) -> str:
    return agents.lab.run(ep.workload, list(argv)).stdout


def wired(agents: Cluster, ep: Endpoint) -> bool:
    """The address, the default route and the gateway's permanent neighbour are inside."""
    address = f"{ep.address}/32" in inside(agents, ep, "ip", "-4", "addr", "show", "dev", "eth0")
    default = inside(agents, ep, "ip", "-4", "route", "show", "default")
    gateway = default.split()[2] if default.startswith("default via ") else ""
    neigh = inside(agents, ep, "ip", "-4", "neigh", "show", "dev", "eth0")
    return address and bool(gateway) and f"{gateway} lladdr" in neigh and "PERMANENT" in neigh


def cut_address(agents: Cluster, ep: Endpoint) -> None:
    inside(agents, ep, "ip", "addr", "del", f"{ep.address}/32", "dev", "eth0")
    assert not wired(agents, ep)
    assert inside(agents, ep, "ip", "-4", "route", "show", "default") == ""


def repair_named(agent: Agent, ep: Endpoint) -> bool:
    last = agent.state()["last_reconcile"] or {}
    key = f"{ep.container_id}:eth0"
    return any(key in line and ep.address in line for line in last.get("repairs", []))


def local_endpoint(agents: Cluster, host_index: int, tenant: str) -> Endpoint:
    host = agents.hosts[host_index].name
    return next(e for e in agents.endpoints if e.host.name == host and e.tenant == tenant)


def test_an_address_deleted_inside_the_workload_is_restored_by_the_drift_timer(
    agents: Cluster,
) -> None:
    ep = local_endpoint(agents, 1, "t2")
    agent = agents.agent(ep.host)
    before = workload_repairs(agent)
    cut_address(agents, ep)
    # Polled together: the report naming the repair is replaced by the next reconcile's.
    seen = {"named": False}

    def repaired() -> bool:
        seen["named"] = seen["named"] or repair_named(agent, ep)
        return seen["named"] and wired(agents, ep)

    assert eventually(repaired, agent.interval * 3 + 2), agents.log_tails()
    assert workload_repairs(agent) >= before + 1
    checked = agent.api.get_endpoint(ep.container_id, "eth0")
    assert checked["problems"] == [], checked
    peer = next(
        e
        for e in agents.endpoints
        if e.host.name != ep.host.name and (e.tenant, e.segment) == (ep.tenant, ep.segment)
    )
    assert agents.lab.tcp_probe(ep.workload, peer.address, peer.port, timeout=2)


def test_an_address_deleted_while_the_agent_was_away_is_restored_after_its_restart(
    agents: Cluster,
) -> None:
    ep = local_endpoint(agents, 2, "t1")
    agent = agents.agent(ep.host)
    assert agent.stop() == 0
    try:
        cut_address(agents, ep)
    finally:
        agent.start()
    seen = {"named": False}

    def repaired() -> bool:
        seen["named"] = seen["named"] or repair_named(agent, ep)
        return seen["named"] and wired(agents, ep)

    assert eventually(repaired, agent.interval * 3 + 2), agents.log_tails()
    assert workload_repairs(agent) >= 1
    assert agent.state()["last_reconcile"]["ok"]


def test_adds_in_flight_while_romanad_restarts_wait_for_it_and_succeed(
    agents: Cluster,
) -> None:
    host = agents.hosts[2]
    agent = agents.agent(host)
    workloads = [agents.lab.add_workload(host, f"rr{i}") for i in range(4)]
    ids = [f"c-{agents.lab.prefix}-{host.name}-rr{i}" for i in range(4)]
    pool = concurrent.futures.ThreadPoolExecutor(len(ids))
    added: list[concurrent.futures.Future[Any]] = []
    try:
        agents.kill_romanad()
        for workload, container_id in zip(workloads, ids, strict=True):
            body = {
                "container_id": container_id,
                "ifname": "eth0",
                "netns": workload.path,
                "network": "romana-test",
                "tenant": "t1",
                "segment": "default",
                "labels": {},
            }
            added.append(pool.submit(agent.api.add_endpoint, body))
            time.sleep(0.2)
        time.sleep(2.0)  # romanad is away about 3 s in all
        agents.start_romanad()
        answers = [f.result(timeout=30) for f in added]
        assert all(a["addresses"] for a in answers), answers
        assert agent.state()["connected"] or eventually(lambda: agent.state()["connected"], 10)
    finally:
        pool.shutdown(wait=True)
        if agents.romanad is None or agents.romanad.poll() is not None:
            agents.start_romanad()
        for container_id in ids:
            agent.api.delete_endpoint(container_id, "eth0")
        for workload in workloads:
            agents.lab.remove_namespace(workload)
