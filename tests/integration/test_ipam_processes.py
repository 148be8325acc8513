"""IPAM across processes: no address handed out twice, nothing acknowledged lost.

Each worker is a separate Python process (``support.ipam_worker``) printing every allocation
its store acknowledged; these tests compare those acknowledgements with the store afterwards.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.core.identifiers import HostName, TenantName
from romana.core.store import Store
from romana.services import keys, txn
from romana.services.ipam import IpamService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.store import open_store
from support import env

TOPOLOGY = {
    "networks": [
        {
            "name": "n",
            "cidr": "10.0.0.0/8",
            "tenant_bits": 4,
            "segment_bits": 4,
            "endpoint_bits": 12,
        }
    ],
    "topologies": [{"networks": ["n"], "map": [{"name": "all", "groups": []}]}],
}
TESTS = Path(__file__).resolve().parents[1]


def _prepare(url: str) -> None:
    store = open_store(url)
    topo = TopologyService(store)
    topo.apply(TOPOLOGY)
    topo.add_host(HostName("h1"), "192.0.2.1")
    topo.add_host(HostName("h2"), "192.0.2.2")
    TenantService(store, topo).create(TenantName("t"))
    store.close()


def _worker(
    url: str, prefix: str, count: int, host: str = "h1", threads: int = 0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "support.ipam_worker",
            "--store",
            url,
            "--host",
            host,
            "--tenant",
            "t",
            "--prefix",
            prefix,
            "--count",
            str(count),
            "--threads",
            str(threads),
        ],
        cwd=TESTS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _acks(out: str) -> dict[str, str]:
    """The acknowledgements in a worker's output: its complete lines only (a SIGKILL may cut
    the last one short, mid-word)."""
    lines = out.split("\n")[:-1]
    return {p[1]: p[2] for p in (line.split() for line in lines) if p[:1] == ["ACK"]}


def _consistent(store: Store) -> dict[str, str]:
    """Every allocation record has its address keys and vice versa; returns key → address."""
    records = {
        raw["key"]: raw["addresses"][0] for raw in txn.loads_all(store.range(keys.IPAM_KEYS).items)
    }
    slots = {kv.value.decode(): kv.key for kv in store.range(keys.IPAM_ADDR).items}
    assert len(slots) == len(store.range(keys.IPAM_ADDR).items), "an address key is duplicated"
    assert set(records) == set(slots), "allocation records and address keys disagree"
    topo = TopologyService(store)
    ipam = IpamService(store, topo, TenantService(store, topo))
    for key, addr in records.items():
        assert ipam.key_of(addr) == key
    return records


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ipam.db"
    _prepare(url)
    return url


def test_eight_processes_on_one_sqlite_file(sqlite_url: str) -> None:
    procs = [_worker(sqlite_url, f"p{i}", 60, host="h1" if i % 2 else "h2") for i in range(8)]
    acked: dict[str, str] = {}
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        acked.update(_acks(out))
    assert len(acked) == 480
    assert len(set(acked.values())) == 480, "an address was handed out twice"
    store = open_store(sqlite_url)
    assert _consistent(store) == acked
    store.close()


def test_sigkill_mid_run_loses_nothing_acknowledged(sqlite_url: str) -> None:
    proc = _worker(sqlite_url, "k", 100_000)
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    acked = _acks(out)
    assert acked, "the worker acknowledged nothing before it was killed"
    store = open_store(sqlite_url)
    records = _consistent(store)
    # Everything acknowledged is there; at most the one in flight is there unacknowledged.
    assert set(acked) <= set(records)
    assert all(records[k] == a for k, a in acked.items())
    assert len(records) - len(acked) <= 1
    store.close()


def test_sigkill_amid_group_commits_loses_nothing_acknowledged(sqlite_url: str) -> None:
    # Eight callers in one process: their allocations share commits, and the kill lands
    # while batches are computed and committed.
    proc = _worker(sqlite_url, "g", 100_000, threads=8)
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while len(seen) < 200 and time.monotonic() < deadline:  # well into the run, whatever the load
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
    proc.send_signal(signal.SIGKILL)
    # Read the rest through the same file object: readline() read ahead, and communicate()
    # reads the pipe beneath it, missing acknowledgements already in that buffer.
    out = proc.stdout.read()
    proc.communicate(timeout=30)
    acked = _acks("".join(seen) + out)
    assert len(acked) >= 200, "the worker acknowledged too little before it was killed"
    assert len(set(acked.values())) == len(acked), "an address was handed out twice"
    store = open_store(sqlite_url)
    records = _consistent(store)
    assert set(acked) <= set(records)
    assert all(records[k] == a for k, a in acked.items())
    # At most one batch was committed and not yet acknowledged: one request per caller.
    assert len(records) - len(acked) <= 8
    store.close()


@pytest.fixture(scope="module")
def etcd3() -> Iterator[object]:
    env.need_binary("etcd")
    from romana.lab.etcd import EtcdCluster

    with EtcdCluster(3) as cluster:
        yield cluster


def test_three_processes_on_a_three_member_etcd_cluster(etcd3: object) -> None:
    urls = ",".join(u.removeprefix("http://") for u in etcd3.client_urls)  # type: ignore[attr-defined]
    url = f"etcd://{urls}/t-three"
    _prepare(url)
    procs = [_worker(url, f"e{i}", 40) for i in range(3)]
    acked: dict[str, str] = {}
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        acked.update(_acks(out))
    assert len(acked) == 120 and len(set(acked.values())) == 120
    store = open_store(url)
    assert _consistent(store) == acked
    store.close()


def test_allocation_continues_when_an_etcd_member_dies(etcd3: object) -> None:
    cluster = etcd3
    urls = ",".join(u.removeprefix("http://") for u in cluster.client_urls)  # type: ignore[attr-defined]
    url = f"etcd://{urls}/t-kill"
    _prepare(url)
    procs = [_worker(url, f"m{i}", 60) for i in range(3)]
    time.sleep(0.5)
    cluster.kill(0, signal.SIGKILL)  # type: ignore[attr-defined]
    acked: dict[str, str] = {}
    try:
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            acked.update(_acks(out))
    finally:
        cluster.restart(0)  # type: ignore[attr-defined]
    assert len(acked) == 180 and len(set(acked.values())) == 180
    store = open_store(url)
    assert _consistent(store) == acked
    store.close()
