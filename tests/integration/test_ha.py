"""High availability: three romanad replicas on a three-member etcd cluster.

1,000 allocations run from several threads, each with its own client spreading calls over the
replicas. Partway through, one replica and the etcd leader are SIGKILLed. Afterwards every
allocation a client was acknowledged must be stored, unchanged, as seen through a surviving
replica, and no address may have been handed out twice.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from romana.client import Client, ClientSettings
from romana.core import errors
from romana.lab.etcd import EtcdCluster
from romana.lab.romanad import Romanad
from support import env

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

TOTAL = 1000
THREADS = 8
KILL_AFTER = 300
HOSTS = 8
TOPOLOGY = {
    "networks": [
        {
            "name": "net",
            "cidr": "10.0.0.0/8",
            "tenant_bits": 4,
            "segment_bits": 4,
            "endpoint_bits": 8,
        }
    ],
    "topologies": [{"networks": ["net"], "map": [{"name": "all", "groups": []}]}],
}


@dataclass
class Cluster:
    etcd: EtcdCluster
    replicas: list[Romanad]

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(r.url for r in self.replicas)

    def logs(self) -> str:
        return "\n".join(f"--- {r.name}\n{r.log_tail(20)}" for r in self.replicas)


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binary = env.need_binary("etcd")
    work: Path = tmp_path_factory.mktemp("ha")
    etcd = EtcdCluster(3, binary=binary)
    replicas: list[Romanad] = []
    try:
        etcd.start()
        endpoints = ",".join(f"127.0.0.1:{m.client_port}" for m in etcd.members)
        store = f"etcd://{endpoints}/romana-ha"
        for i in range(3):
            replicas.append(
                Romanad(
                    work,
                    store=store,
                    name=f"replica{i}",
                    credentials=work / "admin.credentials",
                    registration_ttl=3.0,
                )
            )
        # The first start creates the admin credentials; the others find them.
        replicas[0].start()
        for r in replicas[1:]:
            r.spawn()
        for r in replicas[1:]:
            r.wait_ready(20.0)
        yield Cluster(etcd, replicas)
    finally:
        for r in replicas:
            r.stop()
        etcd.stop()


def settings(urls: tuple[str, ...], token: str = "") -> ClientSettings:
    return ClientSettings(
        url=urls,
        token=token,
        timeout=5.0,
        retries=12,
        backoff=0.05,
        backoff_max=0.5,
        directory_ttl=1.0,
    )


def prepare(cluster: Cluster) -> str:
    with Client(settings(cluster.urls)) as client:
        user, password = cluster.replicas[0].admin()
        token = client.login(user, password)["token"]
        client.apply_topology(TOPOLOGY)
        for i in range(HOSTS):
            client.add_host(f"h{i}", f"192.168.2.{i + 1}")
        client.create_tenant("ha")
        deadline = time.monotonic() + 10
        while {r["url"] for r in client.list_services() if r["name"] == "ipam"} != set(
            cluster.urls
        ):
            assert time.monotonic() < deadline, "not every replica registered its ipam"
            time.sleep(0.1)
    return token


def test_acknowledged_allocations_survive_a_replica_and_an_etcd_member_dying(
    ha: Cluster,
) -> None:
    token = prepare(ha)
    keys = iter(range(TOTAL))
    lock = threading.Lock()
    acked: dict[str, list[str]] = {}
    failures: list[str] = []
    killed: list[str] = []

    def kill() -> None:
        leader = ha.etcd.leader()
        ha.replicas[1].kill()
        ha.etcd.kill(leader)
        killed.extend([ha.replicas[1].name, ha.etcd.members[leader].name])

    def worker() -> None:
        with Client(settings(ha.urls, token)) as client:
            while True:
                with lock:
                    n = next(keys, None)
                if n is None:
                    return
                key = f"ep-{n}"
                deadline = time.monotonic() + 20
                for attempt in itertools.count():
                    try:
                        alloc = client.allocate(key, f"h{n % HOSTS}", "ha")
                        break
                    except errors.Unavailable as exc:
                        # The client's own budget ran out while the cluster re-formed;
                        # the same key is safe to ask for again.
                        if time.monotonic() > deadline:
                            failures.append(f"{key}: gave up after {attempt} rounds: {exc}")
                            return
                    except errors.RomanaError as exc:
                        failures.append(f"{key}: {type(exc).__name__}: {exc}")
                        return
                with lock:
                    acked[key] = alloc["addresses"]
                    if len(acked) == KILL_AFTER:
                        kill()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert killed, "the failure was never injected"
    assert failures == [], f"{failures[:5]}\n{ha.logs()}"
    assert len(acked) == TOTAL
    addresses = [a for addrs in acked.values() for a in addrs]
    assert len(set(addresses)) == len(addresses), "an address was handed out twice"

    survivor = (ha.replicas[0].url,)
    with Client(settings(survivor, token)) as client:
        stored = {a["key"]: a["addresses"] for a in client.list_allocations(tenant="ha")}
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged allocations lost, e.g. {sorted(missing)[:5]}"
    assert {k: stored[k] for k in acked} == acked
    assert len(stored) == TOTAL
