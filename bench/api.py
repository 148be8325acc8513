"""REST API throughput: allocations per second through ``romana.client`` over HTTP.

Two set-ups, each driven by several client threads with their own keep-alive connections:

* one romanad on SQLite — target >= 1,000 allocations/s (DESIGN.md §9);
* three romanad replicas on a three-member etcd cluster, calls spread over the replicas by
  the client's discovery — target >= 300 allocations/s.

Every allocation is a new key (a real allocation, not an idempotent replay). romanad commits
the allocations that arrive together in one store transaction (group commit), answering each
only once it is durable. Results are printed and written to ``bench/results/api.json``, with
the latency of each allocation as the client saw it (at most ``SAMPLES`` per set-up).

    python -m bench.api [--seconds 5] [--threads 8] [--skip-etcd]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import common
from romana.client import Client, ClientSettings
from romana.lab.etcd import EtcdCluster
from romana.lab.romanad import Romanad

HOSTS = 16
TOPOLOGY = {
    "networks": [
        {
            "name": "bench",
            "cidr": "10.0.0.0/8",
            "tenant_bits": 4,
            "segment_bits": 4,
            "endpoint_bits": 12,
        }
    ],
    "topologies": [{"networks": ["bench"], "map": [{"name": "all", "groups": []}]}],
}
SQLITE_TARGET = 1000.0
ETCD_TARGET = 300.0
SAMPLES = 2000


def _settings(urls: Sequence[str], token: str = "") -> ClientSettings:
    return ClientSettings(url=tuple(urls), token=token, timeout=10.0, retries=8, backoff=0.05)


def _prepare(urls: Sequence[str], admin: tuple[str, str]) -> str:
    with Client(_settings(urls)) as client:
        token = client.login(*admin)["token"]
        client.apply_topology(TOPOLOGY)
        for i in range(HOSTS):
            client.add_host(f"h{i}", f"192.0.2.{i + 1}")
        client.create_tenant("bench")
        deadline = time.monotonic() + 10
        while {r["url"] for r in client.list_services() if r["name"] == "ipam"} < set(urls):
            if time.monotonic() > deadline:
                raise RuntimeError("not every replica registered its ipam service")
            time.sleep(0.1)
    return token


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time the processes ``pids`` have used (``/proc/PID/stat``)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    """CPU time per allocation of the client threads, of romanad and of etcd (ms), and how
    many romanad processes served them."""

    client: float
    romanad: float
    processes: int
    etcd: float | None = None

    def rows(self, setup: str) -> list[common.Result]:
        rows = [
            common.Result(f"{setup}: client CPU per allocation", round(self.client, 3), "ms"),
            common.Result(f"{setup}: romanad CPU per allocation", round(self.romanad, 3), "ms"),
        ]
        total = self.client + self.romanad
        if self.etcd is not None:
            etcd = round(self.etcd, 3)
            rows.append(common.Result(f"{setup}: etcd CPU per allocation", etcd, "ms"))
            total += self.etcd
        cores = os.cpu_count() or 1
        # One romanad runs Python on one core at a time (one interpreter lock), so its
        # processes together use at most one core each, whatever the machine has.
        served = min(self.processes, cores) * 1000 / self.romanad
        rows += [
            common.Result(
                f"{setup}: most allocations/s {self.processes} romanad process(es) serve at "
                "that CPU cost (one core each)",
                round(served, 1),
                "allocations/s",
            ),
            common.Result(
                f"{setup}: most allocations/s {cores} CPUs allow at that CPU cost (all sides)",
                round(cores * 1000 / total, 1),
                "allocations/s",
            ),
        ]
        return rows


def _measured(
    urls: Sequence[str],
    token: str,
    seconds: float,
    threads: int,
    tag: str,
    servers: Sequence[int],
    stores: Sequence[int] = (),
) -> tuple[float, list[float], Cpu]:
    """:func:`_drive`, with the CPU each side spent per allocation while it ran."""
    client0, servers0, stores0 = time.process_time(), _cpu_seconds(servers), _cpu_seconds(stores)
    rate, latency, done = _drive(urls, token, seconds, threads, tag)
    per = 1000 / max(done, 1)
    cpu = Cpu(
        (time.process_time() - client0) * per,
        (_cpu_seconds(servers) - servers0) * per,
        len(servers),
        (_cpu_seconds(stores) - stores0) * per if stores else None,
    )
    return rate, latency, cpu


def _drive(
    urls: Sequence[str], token: str, seconds: float, threads: int, tag: str
) -> tuple[float, list[float], int]:
    """Allocations per second from ``threads`` clients allocating new keys for ``seconds``,
    the latency of each (ms, at most :data:`SAMPLES`, evenly spread over the run) and how
    many were made (the warm-up ones too, as the CPU figures count them)."""
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start_line = threading.Barrier(threads + 1)
    stop = threading.Event()

    def worker(n: int) -> None:
        # One host per thread, as each host's agent allocates for its own endpoints: threads
        # then never race for the same free address, which would measure retries instead.
        host = f"h{n % HOSTS}"
        with Client(_settings(urls, token)) as client:
            client.allocate(f"{tag}-warm-{n}", host, "bench")
            start_line.wait()
            i = 0
            mine = latencies[n]
            while not stop.is_set():
                began = time.perf_counter()
                client.allocate(f"{tag}-{n}-{i}", host, "bench")
                mine.append((time.perf_counter() - began) * 1000)
                i += 1
            counts[n] = i

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    start_line.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    rate = sum(counts) / (time.perf_counter() - began)
    samples = [x for mine in latencies for x in mine]
    step = max(1, len(samples) // SAMPLES)
    return rate, [round(x, 3) for x in samples[::step]], sum(counts) + threads


def _result(metric: str, value: float, target: float) -> common.Result:
    return common.Result(
        metric=metric,
        value=round(value, 1),
        unit="allocations/s",
        target=f">= {target:,.0f}",
        ratio=round(value / target, 2),
        meets_target=value >= target,
    )


Measured = tuple[common.Result, list[float], Cpu]


def bench_sqlite(work: Path, seconds: float, threads: int) -> Measured:
    daemon = Romanad(work / "sqlite", store=f"sqlite://{work}/sqlite/romana.db").start()
    try:
        token = _prepare([daemon.url], daemon.admin())
        assert daemon.process is not None
        pids = [daemon.process.pid]
        rate, latency, cpu = _measured([daemon.url], token, seconds, threads, "sqlite", pids)
    finally:
        daemon.stop()
    return _result("HTTP allocations, 1 romanad on SQLite", rate, SQLITE_TARGET), latency, cpu


def bench_etcd(work: Path, seconds: float, threads: int) -> Measured:
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    etcd = EtcdCluster(3, binary=binary)
    replicas: list[Romanad] = []
    try:
        etcd.start()
        endpoints = ",".join(f"127.0.0.1:{m.client_port}" for m in etcd.members)
        credentials = work / "etcd" / "admin.credentials"
        for i in range(3):
            replica = Romanad(
                work / "etcd",
                store=f"etcd://{endpoints}/romana-bench",
                name=f"replica{i}",
                credentials=credentials,
            )
            replicas.append(replica)
            replica.start()
        urls = [r.url for r in replicas]
        token = _prepare(urls, replicas[0].admin())
        servers = [r.process.pid for r in replicas if r.process is not None]
        members = [m.process.pid for m in etcd.members if m.process is not None]
        rate, latency, cpu = _measured(urls, token, seconds, threads, "etcd", servers, members)
    finally:
        for r in replicas:
            r.stop()
        etcd.stop()
    metric = "HTTP allocations, 3 romanad replicas on 3-member etcd"
    return _result(metric, rate, ETCD_TARGET), latency, cpu


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per set-up")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--skip-etcd", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="romana-bench-api-"))
    series: dict[str, list[float]] = {}
    try:
        result, series["1 romanad, SQLite"], sqlite_cpu = bench_sqlite(
            work, args.seconds, args.threads
        )
        results = [result]
        why = sqlite_cpu.rows("1 romanad on SQLite")
        if not args.skip_etcd:
            result, series["3 replicas, etcd"], etcd_cpu = bench_etcd(
                work, args.seconds, args.threads
            )
            results.append(result)
            why += etcd_cpu.rows("3 replicas on etcd")
        results += why
    finally:
        shutil.rmtree(work, ignore_errors=True)
    latency = common.distribution(
        "HTTP allocation latency",
        f"How long one allocation over HTTP takes as a client sees it, {args.threads} clients "
        "at once; romanad commits the allocations that arrive together in one transaction.",
        "ms",
        series,
    )
    notes = (
        f"{args.threads} client threads in the benchmark process, {args.seconds:g} s each; "
        "client and servers share the machine's CPUs. Latency: each allocation call, at "
        f"most {SAMPLES} samples per set-up. CPU per allocation: user and system time of the "
        "benchmark process (the clients), of the romanad processes and of the etcd members "
        "over the run, divided by the allocations made. Two ceilings follow: a romanad process "
        "runs Python on one core at a time, so it serves at most 1 s / its CPU per "
        "allocation; and the machine makes at most its CPUs / the sum of all sides."
    )
    return common.finish("api", results, notes, distributions=[latency])


if __name__ == "__main__":
    raise SystemExit(main())
