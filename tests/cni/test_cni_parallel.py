"""Acceptance: 50 ADDs at once on one host, then 50 DELs at once, through the real plugin.

A runtime starting a burst of pods runs one plugin process per pod, all at the same time;
the agent must hand out distinct addresses and wire every one, and the burst of DELs must
take everything back by the time each DEL has answered.
"""

from __future__ import annotations

import concurrent.futures

import pytest
from cnilab import environ, finish, host_veths, netconf, settle, snapshot, spawn

from romana.lab import Cluster, Workload
from support.wait import RELEASE_WITHIN

pytestmark = pytest.mark.root

COUNT = 50


def test_fifty_parallel_adds_get_distinct_wired_addresses_and_dels_remove_them(
    cni_cluster: Cluster,
) -> None:
    lab = cni_cluster.lab
    h2 = cni_cluster.hosts[1]
    before = snapshot(cni_cluster, h2)
    conf = netconf(cni_cluster.agent(h2), name=f"{lab.prefix}-burst")
    workloads: list[Workload] = [lab.add_workload(h2, f"p{i}") for i in range(COUNT)]
    pods = list(zip([f"{lab.prefix}-burst-{i}" for i in range(COUNT)], workloads, strict=True))

    finished = False
    try:
        adds = [spawn(cni_cluster.agent(h2), environ("ADD", c, w.path), conf) for c, w in pods]
        added = [finish(proc) for proc in adds]
        failed = [str(out) for out in added if out.rc != 0]
        assert failed == [], failed
        addresses = [out.address for out in added]
        assert len(set(addresses)) == COUNT, sorted(addresses)

        def wired(pair: tuple[Workload, str]) -> str:
            workload, address = pair
            inside = lab.run(workload, ["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
            if f"inet {address}/32 " not in inside:
                return f"{workload.name}: {address} not on eth0: {inside!r}"
            if not lab.ping(h2, address, deadline=2):
                return f"{workload.name}: {address} does not answer the host"
            return ""

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            problems = [p for p in pool.map(wired, zip(workloads, addresses, strict=True)) if p]
        assert problems == [], problems
        assert len(host_veths(cni_cluster, h2) - before.veths) == COUNT

        dels = [spawn(cni_cluster.agent(h2), environ("DEL", c, w.path), conf) for c, w in pods]
        deleted = [finish(proc) for proc in dels]
        assert [str(out) for out in deleted if out.rc != 0 or out.stdout] == []
        assert settle(cni_cluster, h2, before, within=RELEASE_WITHIN), snapshot(cni_cluster, h2)
        for workload in workloads:
            assert lab.run(workload, ["ip", "-o", "link", "show", "type", "veth"]).stdout == ""
        finished = True
    finally:
        if not finished:  # take back what the failed burst left, for the tests after it
            for proc in [
                spawn(cni_cluster.agent(h2), environ("DEL", c, w.path), conf) for c, w in pods
            ]:
                finish(proc)
            settle(cni_cluster, h2, before)
