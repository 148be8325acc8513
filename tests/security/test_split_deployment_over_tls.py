"""The split deployment over TLS, with client certificates required everywhere.

A root and the auth, tenant, topology and ipam services run as separate romanad processes on
one SQLite store (as ``tests/integration/test_split.py`` does over plain HTTP), each serving
HTTPS with a certificate of one throwaway CA and requiring client certificates it signed
(``--tls-client-ca``). Each service registers with the root over HTTPS, verifying it with
``--ca`` and presenting its own ``--tls-cert`` as its client certificate. A client given only
the root's URL, the CA and a client certificate discovers every service and completes a whole
flow through them. A service that does not trust the root's certificate never registers and
logs why.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from romana.client import Client, ClientSettings
from romana.core import errors
from romana.lab.romanad import Romanad
from support import tls

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
SERVICES = ("auth", "tenant", "topology", "ipam")


@dataclass
class Split:
    ca: tls.CA
    root: Romanad
    services: dict[str, Romanad]
    client_pair: tls.Pair

    def client(self, **overrides: Any) -> Client:
        settings = ClientSettings(
            url=(self.root.url,),
            ca=str(self.ca.cert),
            client_cert=str(self.client_pair.cert),
            client_key=str(self.client_pair.key),
            retries=4,
            backoff=0.05,
            directory_ttl=1.0,
        )
        return Client(dataclasses.replace(settings, **overrides))

    def logs(self) -> str:
        daemons = [self.root, *self.services.values()]
        return "\n".join(f"--- {d.name}\n{d.log_tail(15)}" for d in daemons)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Split]:
    work: Path = tmp_path_factory.mktemp("split-tls")
    ca = tls.make_ca(work / "pki")
    store = f"sqlite://{work}/romana.db"
    credentials = work / "admin.credentials"
    started: list[Romanad] = []

    def spawn(name: str, services: list[str], root: str | None) -> Romanad:
        served = tls.Served(ca, ca.issue(name), require_client=True)
        daemon = Romanad(
            work,
            store=store,
            name=name,
            services=services,
            root=root,
            credentials=credentials,
            registration_ttl=3.0,
            tls=served,
        )
        started.append(daemon)
        return daemon.spawn()

    try:
        root = spawn("root", ["root"], None)
        root.wait_ready(20.0)
        services = {name: spawn(name, [name], root.url) for name in SERVICES}
        for daemon in services.values():
            daemon.wait_ready(20.0)
        yield Split(ca, root, services, ca.issue("client"))
    finally:
        for daemon in started:
            daemon.stop()


def wait_registered(client: Client, expected: dict[str, str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    found: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        found = {}
        for reg in client.list_services():
            found.setdefault(reg["name"], set()).add(reg["url"])
        if all(url in found.get(name, set()) for name, url in expected.items()):
            return
        time.sleep(0.1)
    raise AssertionError(f"registrations {found} never covered {expected}")


def test_every_service_registers_over_tls_and_the_client_works_through_them(
    split: Split,
) -> None:
    with split.client() as client:
        expected = {name: daemon.url for name, daemon in split.services.items()}
        assert all(url.startswith("https://127.0.0.1:") for url in expected.values())
        try:
            wait_registered(client, expected)
        except AssertionError:
            print(split.logs())
            raise
        client.login(*split.root.admin())
        client.apply_topology(TOPOLOGY)
        client.add_host("h1", "192.168.1.1")
        client.create_tenant("acme")
        alloc = client.allocate("c1:eth0", "h1", "acme")
        assert client.get_allocation("c1:eth0") == alloc
        assert client.release("c1:eth0") == alloc
        with pytest.raises(errors.NotFound):
            client.get_allocation("c1:eth0")


def test_a_client_without_a_certificate_reaches_no_service(split: Split) -> None:
    bare = split.client(client_cert="", client_key="", retries=0)
    with bare as client, pytest.raises(errors.Unavailable):
        client.list_services()
    for daemon in split.services.values():
        with daemon.http() as http:  # with a certificate the CA signed: answered
            assert http.get(f"{daemon.url}/healthz").status_code == 200


def test_a_service_that_does_not_trust_the_root_never_registers(
    split: Split, tmp_path: Path
) -> None:
    stranger_ca = tls.make_ca(tmp_path / "stranger-pki", name="stranger-ca")
    served = tls.Served(split.ca, split.ca.issue("lost"), require_client=True)
    lost = Romanad(
        tmp_path,
        store=split.root.store,
        name="lost",
        services=["tenant"],
        root=split.root.url,
        credentials=split.root.credentials,
        tls=served,
        extra=["--ca", str(stranger_ca.cert)],  # the last --ca wins: not the root's CA
    )
    with lost:
        deadline = time.monotonic() + 10
        while "could not register" not in lost.log_tail() and time.monotonic() < deadline:
            time.sleep(0.1)
        line = next(x for x in lost.log_tail().splitlines() if "could not register" in x)
        assert f"{split.root.url}: the server's TLS certificate was not accepted" in line
        assert "--ca" in line
        with split.client() as client:
            client.login(*split.root.admin())
            urls = {reg["url"] for reg in client.list_services()}
        assert lost.url not in urls
