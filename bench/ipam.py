"""IPAM throughput: allocate + release pairs per second, in-process on SQLite and on etcd.

Targets (DESIGN.md §9): >= 20,000 allocations/s in-process; >= 300/s on a 3-member etcd
cluster. The in-memory store is measured in the same run as the reference (the cost of the
service logic with no persistence).

    python -m bench.ipam [--seconds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from bench import common
from romana.core import addressing, ipam
from romana.core.identifiers import AllocationKey, HostName, NetworkName, TenantName
from romana.core.store import Store
from romana.lab.etcd import EtcdCluster
from romana.services.ipam import IpamService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.store.etcd import EtcdStore
from romana.store.memory import MemoryStore
from romana.store.sqlite import SQLiteStore

TOPOLOGY = {
    "networks": [
        {
            "name": "bench",
            "cidr": "10.0.0.0/8",
            "tenant_bits": 4,
            "segment_bits": 4,
            "endpoint_bits": 8,
        }
    ],
    "topologies": [{"networks": ["bench"], "map": [{"name": "all", "groups": []}]}],
}


def _setup(store: Store, hosts: int = 4) -> IpamService:
    topo = TopologyService(store)
    topo.apply(TOPOLOGY)
    for i in range(hosts):
        topo.add_host(HostName(f"h{i}"), f"192.0.2.{i + 1}")
    tenants = TenantService(store, topo)
    tenants.create(TenantName("bench"))
    return IpamService(store, topo, tenants)


def _run(ipam: IpamService, seconds: float, threads: int = 1, tag: str = "") -> float:
    """Allocate + release pairs for ``seconds``; returns allocations per second."""
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def work(n: int) -> None:
        i = 0
        host = HostName(f"h{n % 4}")
        while time.monotonic() < stop:
            key = AllocationKey(f"b{tag}{n}-{i}")
            ipam.allocate(key, host, TenantName("bench"))
            ipam.release(key)
            i += 1
        counts[n] = i

    start = time.monotonic()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.monotonic() - start)


def _core(seconds: float) -> float:
    """The pure allocator alone: choose the lowest free ordinal and encode it, no store."""
    lay = addressing.layout("bench", "10.0.0.0/8", 4, 4, 8)
    slot = ipam.Slot(NetworkName("bench"), 1, 1, 0)
    used: set[int] = set()
    count = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        for _ in range(1000):
            ordinal = ipam.choose_ordinal(lay, slot, used)
            addressing.encode(lay, slot.host, slot.tenant, slot.segment, ordinal)
            used.add(ordinal)
            used.discard(ordinal)
        count += 1000
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    core = _core(args.seconds)
    memory = _run(_setup(MemoryStore()), args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_store = SQLiteStore(Path(tmp) / "bench.db")
        sqlite = _run(_setup(sqlite_store), args.seconds)
        sqlite_store.close()

    with EtcdCluster(3) as cluster:
        etcd_store = EtcdStore(cluster.client_urls, prefix="/bench")
        etcd = _run(_setup(etcd_store), args.seconds, threads=4)
        etcd_store.close()

    results = [
        common.Result(
            "pure core allocator (no store)",
            core,
            "alloc/s",
            ">= 20,000",
            None,
            "",
            core / 20_000,
            core >= 20_000,
        ),
        common.Result("in-process service, memory store (reference)", memory, "alloc/s"),
        common.Result(
            "in-process, SQLite store",
            sqlite,
            "alloc/s",
            ">= 20,000",
            memory,
            "memory store",
            sqlite / memory,
            sqlite >= 20_000,
        ),
        common.Result(
            "3-member etcd, 4 threads",
            etcd,
            "alloc/s",
            ">= 300",
            memory,
            "memory store",
            etcd / memory,
            etcd >= 300,
        ),
    ]
    common.show(results)
    notes = (
        "Each allocation is followed by its release; every allocation and every release is "
        "one durable store transaction (SQLite WAL with synchronous=NORMAL; etcd Raft "
        "commit), which bounds the in-process SQLite figure."
    )
    print("wrote", common.write("ipam", results, notes))


if __name__ == "__main__":
    main()
