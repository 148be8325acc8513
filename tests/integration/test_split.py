"""Split deployment: root, auth, tenant, topology and ipam as separate romanad processes.

All processes share one SQLite store; every one but the root runs ``--services X --root URL``
and registers with the root. The client is given only the root's URL: it must discover the
others, complete a whole flow through them, and keep allocating when one of two ipam
instances is SIGKILLed.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from romana.client import Client, ClientSettings
from romana.core import errors
from romana.lab.romanad import Romanad

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
REGISTRATION_TTL = 3.0


@dataclass
class Split:
    root: Romanad
    auth: Romanad
    tenant: Romanad
    topology: Romanad
    ipam: list[Romanad]

    @property
    def all(self) -> list[Romanad]:
        return [self.root, self.auth, self.tenant, self.topology, *self.ipam]

    def logs(self) -> str:
        return "\n".join(f"--- {d.name}\n{d.log_tail(15)}" for d in self.all)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Split]:
    work: Path = tmp_path_factory.mktemp("split")
    store = f"sqlite://{work}/romana.db"
    credentials = work / "admin.credentials"
    started: list[Romanad] = []

    def spawn(name: str, services: list[str], root: str | None) -> Romanad:
        daemon = Romanad(
            work,
            store=store,
            name=name,
            services=services,
            root=root,
            credentials=credentials,
            registration_ttl=REGISTRATION_TTL,
        )
        started.append(daemon)
        return daemon.spawn()

    try:
        # The root first: its first start creates the admin credentials the others reuse.
        root = spawn("root", ["root"], None)
        root.wait_ready(20.0)
        parts = Split(
            root=root,
            auth=spawn("auth", ["auth"], root.url),
            tenant=spawn("tenant", ["tenant"], root.url),
            topology=spawn("topology", ["topology"], root.url),
            ipam=[spawn(f"ipam{i}", ["ipam"], root.url) for i in range(2)],
        )
        for daemon in parts.all:
            daemon.wait_ready(20.0)
        yield parts
    finally:
        for daemon in started:
            daemon.stop()


def client_of(url: str, **overrides: Any) -> Client:
    settings = ClientSettings(
        url=(url,), retries=6, backoff=0.05, backoff_max=0.5, directory_ttl=1.0, **overrides
    )
    return Client(settings)


def wait_registered(client: Client, expected: dict[str, set[str]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    found: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        found = {}
        for reg in client.list_services():
            found.setdefault(reg["name"], set()).add(reg["url"])
        if all(found.get(name, set()) >= urls for name, urls in expected.items()):
            return
        time.sleep(0.1)
    raise AssertionError(f"registrations {found} never covered {expected}")


def test_the_client_discovers_every_service_from_the_root_alone(split: Split) -> None:
    with client_of(split.root.url) as client:
        wait_registered(
            client,
            {
                "auth": {split.auth.url},
                "tenant": {split.tenant.url},
                "topology": {split.topology.url},
                "ipam": {d.url for d in split.ipam},
            },
        )
        user, password = split.auth.admin()
        client.login(user, password)
        client.apply_topology(TOPOLOGY)
        host = client.add_host("h1", "192.168.1.1")
        client.create_tenant("acme")
        alloc = client.allocate("c1:eth0", "h1", "acme")
        [address] = alloc["addresses"]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(host["prefixes"]["net"])
        assert client.get_allocation("c1:eth0") == alloc
        assert client.decode(address)["tenant"] == "acme"
        released = client.release("c1:eth0")
        assert released == alloc
        with pytest.raises(errors.NotFound):
            client.get_allocation("c1:eth0")

    # The root itself serves none of those: the flow above can only have worked by discovery.
    with httpx.Client(trust_env=False) as http:
        assert http.get(f"{split.root.url}/v1/tenants").status_code == 404
        assert http.post(f"{split.root.url}/v1/allocations", json={}).status_code == 404


def test_allocation_continues_when_an_ipam_instance_is_killed(split: Split) -> None:
    user, password = split.auth.admin()
    acked: dict[str, list[str]] = {}
    failures: list[BaseException] = []
    killed = threading.Event()

    with client_of(split.root.url) as client:
        client.login(user, password)
        if "h1" not in {h["name"] for h in client.list_hosts()}:
            client.apply_topology(TOPOLOGY)
            client.add_host("h1", "192.168.1.1")
        if "kill" not in {t["name"] for t in client.list_tenants()}:
            client.create_tenant("kill")

        def worker(n: int) -> None:
            for i in range(60):
                key = f"w{n}-{i}"
                try:
                    acked[key] = client.allocate(key, "h1", "kill")["addresses"]
                except errors.RomanaError as exc:
                    failures.append(exc)
                if n == 0 and i == 20:
                    split.ipam[0].kill()
                    killed.set()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert killed.is_set() and not split.ipam[0].alive
        assert failures == [], split.logs()
        assert len(acked) == 180
        stored = {a["key"]: a["addresses"] for a in client.list_allocations(tenant="kill")}
        assert stored == acked
        addresses = [a for addrs in acked.values() for a in addrs]
        assert len(set(addresses)) == len(addresses)
        survivor = client.allocate("after-kill", "h1", "kill")
        assert survivor["addresses"][0] not in addresses
