"""IPAM throughput: allocate + release pairs per second, in-process on SQLite and on etcd.

Targets (DESIGN.md §9): >= 20,000 allocations/s in-process; >= 300/s on a 3-member etcd
cluster. The in-memory store is measured in the same run as the reference (the cost of the
service logic with no persistence).

A server sees several callers at once (romanad answers each HTTP request on a thread of its
pool), and the service commits the requests of concurrent callers together (group commit,
:mod:`romana.services.groupcommit`); so each store is driven by ``--threads`` concurrent
callers, the row the target applies to, and by a single caller, a row of its own.

    python -m bench.ipam [--seconds 3] [--threads 8] [--skip-etcd]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench import common
from romana.core import addressing, ipam
from romana.core.identifiers import AllocationKey, HostName, NetworkName, TenantName
from romana.core.store import Conditions, Forwarding, KeyValue, Ops, Range, Store, TxnResult
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
T = TypeVar("T")
HOSTS = 4
SAMPLES = 2000
"""Latency samples kept per series for the report's chart (evenly spread over the run)."""
BREAKDOWN_PAIRS = 300
"""Allocate + release pairs of one caller whose store calls are counted, per store."""


def _setup(store: Store, hosts: int = HOSTS) -> IpamService:
    topo = TopologyService(store)
    topo.apply(TOPOLOGY)
    for i in range(hosts):
        topo.add_host(HostName(f"h{i}"), f"192.0.2.{i + 1}")
    tenants = TenantService(store, topo)
    tenants.create(TenantName("bench"))
    return IpamService(store, topo, tenants)


def _run(
    ipam: IpamService, seconds: float, threads: int = 1, tag: str = ""
) -> tuple[float, list[float]]:
    """Allocate + release pairs for ``seconds`` from ``threads`` callers: allocations per
    second, and the latency of each allocation (ms)."""
    stop = time.monotonic() + seconds
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def work(n: int) -> None:
        i = 0
        host = HostName(f"h{n % HOSTS}")
        mine = latencies[n]
        while time.monotonic() < stop:
            key = AllocationKey(f"b{tag}{n}-{i}")
            began = time.perf_counter()
            ipam.allocate(key, host, TenantName("bench"))
            mine.append((time.perf_counter() - began) * 1000)
            ipam.release(key)
            i += 1
        counts[n] = i

    start = time.monotonic()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    rate = sum(counts) / (time.monotonic() - start)
    return rate, _spread([x for mine in latencies for x in mine])


class Counted(Forwarding):
    """A store that counts and times the calls the service makes of it (reads: ``get`` and
    ``range``; writes: ``txn``), so that a row can say where an allocation's time goes."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.reads = 0
        self.txns = 0
        self.read_s = 0.0
        self.txn_s = 0.0

    def _read(self, read: Callable[[str], T], key: str) -> T:
        began = time.perf_counter()
        try:
            return read(key)
        finally:
            self.reads += 1
            self.read_s += time.perf_counter() - began

    def get(self, key: str) -> KeyValue | None:
        return self._read(self.inner.get, key)

    def range(self, prefix: str) -> Range:
        return self._read(self.inner.range, prefix)

    def txn(self, compares: Conditions, on_success: Ops, on_failure: Ops = ()) -> TxnResult:
        began = time.perf_counter()
        try:
            return self.inner.txn(compares, on_success, on_failure)
        finally:
            self.txns += 1
            self.txn_s += time.perf_counter() - began


def _breakdown(name: str, store: Store, pairs: int = BREAKDOWN_PAIRS) -> list[common.Result]:
    """Where one caller's allocate + release pair spends its time on ``store``: the store
    calls it makes, their mean time, and the service's own time around them (µs). The store
    is closed afterwards."""
    counted = Counted(store)
    service = _setup(counted)
    counted.reads = counted.txns = 0
    counted.read_s = counted.txn_s = 0.0
    try:
        return _count(name, counted, service, pairs)
    finally:
        counted.close()


def _count(name: str, counted: Counted, service: IpamService, pairs: int) -> list[common.Result]:
    began = time.perf_counter()
    for i in range(pairs):
        key = AllocationKey(f"w{len(name)}-{i}")
        service.allocate(key, HostName("h0"), TenantName("bench"))
        service.release(key)
    total = time.perf_counter() - began
    outside = (total - counted.read_s - counted.txn_s) / pairs * 1e6
    rows = [
        common.Result(
            f"{name}: store reads per allocate + release", counted.reads / pairs, "reads"
        ),
        common.Result(
            f"{name}: store transactions per allocate + release", counted.txns / pairs, "txns"
        ),
        common.Result(f"{name}: service time per pair outside the store", round(outside, 1), "µs"),
    ]
    if counted.reads:
        mean = counted.read_s / counted.reads * 1e6
        rows.append(common.Result(f"{name}: one store read (mean)", round(mean, 1), "µs"))
    if counted.txns:
        mean = counted.txn_s / counted.txns * 1e6
        rows.append(common.Result(f"{name}: one store transaction (mean)", round(mean, 1), "µs"))
    return rows


def _spread(samples: list[float], keep: int = SAMPLES) -> list[float]:
    """At most ``keep`` of ``samples``, evenly spaced, so the report stays small."""
    step = max(1, len(samples) // keep)
    return [round(x, 4) for x in samples[::step]]


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


def _row(metric: str, value: float, target: float | None, memory: float) -> common.Result:
    return common.Result(
        metric,
        round(value, 1),
        "alloc/s",
        f">= {target:,.0f}" if target else "",
        round(memory, 1),
        "memory store, same callers",
        round(value / memory, 3),
        None if target is None else value >= target,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=8, help="concurrent callers")
    parser.add_argument("--skip-etcd", action="store_true", help="SQLite and memory only")
    args = parser.parse_args()
    many = args.threads

    core = _core(args.seconds)
    memory_one, _ = _run(_setup(MemoryStore()), args.seconds, tag="m1")
    memory_many, _ = _run(_setup(MemoryStore()), args.seconds, many, tag="m")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_store = SQLiteStore(Path(tmp) / "bench.db")
        service = _setup(sqlite_store)
        sqlite_one, one_ms = _run(service, args.seconds, tag="s1")
        sqlite_many, many_ms = _run(service, args.seconds, many, tag="s")
        sqlite_store.close()
        breakdown = _breakdown("memory store", MemoryStore())
        breakdown += _breakdown("SQLite", SQLiteStore(Path(tmp) / "breakdown.db"))
    series = {f"SQLite, {many} callers": many_ms, "SQLite, 1 caller": one_ms}

    results = [
        common.Result(
            "pure core allocator (no store)",
            round(core, 1),
            "alloc/s",
            ">= 20,000",
            None,
            "",
            round(core / 20_000, 2),
            core >= 20_000,
        ),
        common.Result(
            "in-process service, memory store, 1 caller (reference)", memory_one, "alloc/s"
        ),
        common.Result(
            f"in-process service, memory store, {many} callers (reference)", memory_many, "alloc/s"
        ),
        _row(f"in-process, SQLite store, {many} callers", sqlite_many, 20_000, memory_many),
        _row("in-process, SQLite store, 1 caller", sqlite_one, None, memory_one),
    ]
    if not args.skip_etcd:
        with EtcdCluster(3) as cluster:
            etcd_store = EtcdStore(cluster.client_urls, prefix="/bench")
            etcd, etcd_ms = _run(_setup(etcd_store), args.seconds, many, tag="e")
            etcd_store.close()
            breakdown += _breakdown("3-member etcd", EtcdStore(cluster.client_urls, prefix="/why"))
        results.append(_row(f"3-member etcd, {many} callers", etcd, 300, memory_many))
        series[f"3-member etcd, {many} callers"] = etcd_ms
    results += breakdown
    notes = (
        f"Each allocation is followed by its release; {args.seconds:g} s per row. Every "
        "allocation and every release is durable when answered (SQLite WAL with "
        "synchronous=NORMAL; etcd Raft commit). The requests of concurrent callers are "
        "committed together, one store transaction per batch (group commit); a lone caller "
        f"commits its own at once. '{many} callers' rows run {many} threads in this process, "
        "as romanad's request threads call the service; callers allocate on "
        f"{HOSTS} hosts of one tenant. Latency: each allocation call, at most {SAMPLES} "
        f"samples per series. Where the time goes: {BREAKDOWN_PAIRS} pairs of one caller per "
        "store, each store call counted and timed; the service's own time per pair (outside "
        "the store) bounds what any store can reach: one core does at most 1 s / that time "
        "pairs per second."
    )
    latency = common.distribution(
        "In-process allocation latency",
        "How long one allocation call waits, alone and among concurrent callers whose "
        "requests share a commit.",
        "ms",
        series,
    )
    return common.finish("ipam", results, notes, distributions=[latency])


if __name__ == "__main__":
    raise SystemExit(main())
