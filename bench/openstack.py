"""Neutron port latency: romana's IPAM and mechanism drivers beside Neutron's ``internal`` IPAM.

Two real neutron-servers (``romana.lab.neutron_server``, the environment the tests in
``tests/openstack`` use) run side by side over SQLite, each with one network of one project
and one IPv4 subnet 10.0.0.0/8:

* **romana**: ``ipam_driver = romana``, ``mechanism_drivers = romana``, ``service_plugins =
  segments``, as docs/openstack.md configures it, signed in to a real romanad (SQLite,
  loopback) as an ``openstack``-role user;
* **reference**: the same but ``ipam_driver = internal``: Neutron chooses the addresses from
  its own database, and romana's mechanism driver still binds the ports (a ``tap`` VIF on a
  host of romanad's topology) and writes their security groups, so the two differ only in
  who allocates.

Each server has a romanad of its own (SQLite, loopback), as two deployments would.

Each port is timed from the request to the answer that shows it bound to its host
(``binding:vif_type = tap``) with its fixed IP, in two flows:

* **create with host**: one ``POST /v2.0/ports`` carrying ``binding:host_id``;
* **Nova's flow**: ``POST`` without a host, then the ``PUT`` that sets ``binding:host_id``
  (romana allocates at that update: the address encodes the host).

Ports alternate between the two servers, port after port, so both see the same machine; a
few ports of each are made first and not counted (sign-in, the project's tenant and the
network's segment are created then). Calls go straight to Neutron's REST API with the
headers Keystone would set for Nova (``noauth``), so no client library is measured.

Target (docs/openstack.md, Port latency): romana's p50 and p95 at most 1.2 x the reference.

A benchmark prints figures and ratios; it asserts nothing about them (a port that is not
bound or has no address stops it).

    python -m bench.openstack [--ports 100]
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import common
from romana.client import Client, ClientSettings
from romana.lab import neutron_server as lab
from romana.lab.romanad import Romanad

TARGET_RATIO = 1.2
WARM_UP = 3  # ports per flow and server before measuring
HOSTS = {"compute-1": "192.0.2.11", "compute-2": "192.0.2.12"}
PROJECT = "5e5e5e5e5e5e45e5a5e5e5e5e5e5e5e5"
USER = "neutron"
REFERENCE = "ipam_driver = internal"
TOPOLOGY: dict[str, Any] = {
    "networks": [
        {
            "name": "pods",
            "cidr": "10.0.0.0/8",
            "tenant_bits": 4,
            "segment_bits": 4,
            "endpoint_bits": 12,
        }
    ],
    "topologies": [{"networks": ["pods"], "map": [{"name": "all", "groups": []}]}],
}
"""Room for 4094 ports per host, tenant and segment: enough for any ``--ports``."""


@dataclass(frozen=True, slots=True)
class Neutron:
    """One running neutron-server, its network, and an HTTP client speaking as Nova."""

    name: str
    server: lab.NeutronServer
    http: httpx.Client
    network_id: str

    def _port(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The port a call answers; a failure or timeout stops the run with the server's log."""
        try:
            response = self.http.request(method, path, json={"port": body})
        except httpx.TimeoutException as exc:
            log = self.server.log_tail()
            raise RuntimeError(f"{self.name}: {method} {path}: {exc}\n{log}") from exc
        if not response.is_success:
            raise RuntimeError(f"{self.name}: {response.status_code} {response.text}")
        port: dict[str, Any] = response.json()["port"]
        return port

    def create_port(self, host: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"network_id": self.network_id, "project_id": PROJECT}
        if host is not None:
            body["binding:host_id"] = host
        return self._port("POST", "/v2.0/ports", body)

    def bind(self, port_id: str, host: str) -> dict[str, Any]:
        return self._port("PUT", f"/v2.0/ports/{port_id}", {"binding:host_id": host})

    def delete_port(self, port_id: str) -> None:
        self.http.delete(f"/v2.0/ports/{port_id}").raise_for_status()


def _ready(neutron: Neutron, port: dict[str, Any]) -> None:
    """The port is bound on its host and has its address; anything else stops the run."""
    if port.get("binding:vif_type") != "tap" or not port.get("fixed_ips"):
        raise RuntimeError(
            f"{neutron.name}: port {port['id']} not bound with an address: "
            f"vif_type {port.get('binding:vif_type')}, fixed_ips {port.get('fixed_ips')}"
        )


def create_with_host(neutron: Neutron, host: str) -> tuple[float, str]:
    began = time.perf_counter()
    port = neutron.create_port(host)
    took = time.perf_counter() - began
    _ready(neutron, port)
    return took, str(port["id"])


def nova_flow(neutron: Neutron, host: str) -> tuple[float, str]:
    began = time.perf_counter()
    port = neutron.create_port(None)
    bound = neutron.bind(str(port["id"]), host)
    took = time.perf_counter() - began
    _ready(neutron, bound)
    return took, str(port["id"])


FLOWS: dict[str, Callable[[Neutron, str], tuple[float, str]]] = {
    "port create with binding:host_id": create_with_host,
    "port create, then bind (Nova's flow)": nova_flow,
}


def _network(http: httpx.Client, name: str) -> str:
    """A network of :data:`PROJECT` with one IPv4 subnet 10.0.0.0/8; its id."""
    made = http.post("/v2.0/networks", json={"network": {"name": name, "project_id": PROJECT}})
    made.raise_for_status()
    network_id = str(made.json()["network"]["id"])
    subnet = {
        "network_id": network_id,
        "project_id": PROJECT,
        "ip_version": 4,
        "cidr": "10.0.0.0/8",
    }
    http.post("/v2.0/subnets", json={"subnet": subnet}).raise_for_status()
    return network_id


@contextlib.contextmanager
def neutron_server(
    name: str, python: Path, work: Path, config: lab.NeutronConfig
) -> Iterator[Neutron]:
    """A started neutron-server with its network; stopped by PID at the end."""
    with (
        lab.NeutronServer(work / name, python, config) as server,
        httpx.Client(
            base_url=server.url, headers=lab.NOVA_HEADERS, timeout=60, trust_env=False
        ) as http,
    ):
        yield Neutron(name, server, http, _network(http, f"bench-{name}"))


def prepare_romanad(daemon: Romanad, work: Path) -> lab.RomanaSection:
    """romanad's topology and hosts, and the drivers' ``openstack`` user."""
    password = secrets.token_urlsafe(18)
    with Client(ClientSettings(url=(daemon.url,), token=daemon.admin_token())) as client:
        client.apply_topology(TOPOLOGY)
        for host, ip in HOSTS.items():
            client.add_host(host, ip)
        client.create_user(USER, password, "openstack")
    password_file = work / "romana.password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return lab.RomanaSection(daemon.url, USER, password_file)


def measure(servers: tuple[Neutron, Neutron], ports: int) -> dict[tuple[str, str], list[float]]:
    """Seconds per port by (flow, server name), alternating servers port after port."""
    samples: dict[tuple[str, str], list[float]] = {}
    hosts = list(HOSTS)
    made: list[tuple[Neutron, str]] = []
    for flow, timed in FLOWS.items():
        for i in range(WARM_UP + ports):
            host = hosts[i % len(hosts)]
            # Which server goes first alternates too, so neither always follows the other.
            order = servers if i % 2 == 0 else servers[::-1]
            for neutron in order:
                took, port_id = timed(neutron, host)
                made.append((neutron, port_id))
                if i >= WARM_UP:
                    samples.setdefault((flow, neutron.name), []).append(took)
    for neutron, port_id in made:
        neutron.delete_port(port_id)
    return samples


def percentile(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def compared(metric: str, ours: list[float], ref: list[float], p: int) -> common.Result:
    value = round(percentile(ours, p) * 1000, 1)
    reference = round(percentile(ref, p) * 1000, 1)
    ratio = round(value / reference, 2)
    return common.Result(
        metric=f"{metric} p{p}",
        value=value,
        unit="ms",
        target=f"<= {TARGET_RATIO} x reference",
        reference=reference,
        reference_name=REFERENCE,
        ratio=ratio,
        meets_target=ratio <= TARGET_RATIO,
    )


@contextlib.contextmanager
def deployment(name: str, ipam_driver: str, python: Path, work: Path) -> Iterator[Neutron]:
    """A romanad and a neutron-server whose drivers use it, with ``ipam_driver``.

    Each neutron-server has a romanad of its own, as two deployments would: the drivers'
    reconciliation takes romanad's objects of the drivers' tenants that its Neutron does
    not hold for leftovers, and would release the other server's allocations."""
    where = work / name
    where.mkdir()
    with Romanad(where / "romanad", store=f"sqlite://{where}/romana.db") as daemon:
        config = lab.NeutronConfig(
            mechanism_drivers=("romana",),
            ipam_driver=ipam_driver,
            service_plugins=("segments",),
            romana=prepare_romanad(daemon, where),
        )
        with neutron_server(name, python, where, config) as neutron:
            yield neutron


def distributions(
    samples: dict[tuple[str, str], list[float]], results: list[common.Result]
) -> list[dict[str, object]]:
    """Each flow's port times, romana's beside the reference's (ms), one chart per flow; the
    caption quotes the ratios of ``results``."""
    ratio = {r.metric: r.ratio or 0.0 for r in results}
    charts = []
    for flow in FLOWS:
        ours, theirs = samples[flow, "romana"], samples[flow, "internal"]
        ratios = [ratio[f"{flow} p{p}"] for p in (50, 95)]
        verdict = (
            f"both within the target of {TARGET_RATIO}×"
            if max(ratios) <= TARGET_RATIO
            else f"the target of {TARGET_RATIO}× at both is missed"
        )
        charts.append(
            common.distribution(
                f"{flow}: how long until the port is bound with its address, beside "
                "Neutron's own IPAM?",
                f"romana/reference {ratios[0]:.2f}× at p50 and {ratios[1]:.2f}× at p95, "
                f"{verdict}; a curve further left is faster.",
                "ms",
                {
                    "romana": [round(s * 1000, 3) for s in ours],
                    REFERENCE: [round(s * 1000, 3) for s in theirs],
                },
            )
        )
    return charts


def run(ports: int) -> tuple[list[common.Result], list[dict[str, object]]]:
    python = lab.openstack_venv()
    with tempfile.TemporaryDirectory(prefix="romana-bench-openstack-") as tmp:
        work = Path(tmp)
        with (
            deployment("romana", "romana", python, work) as ours,
            deployment("internal", "internal", python, work) as reference,
        ):
            samples = measure((ours, reference), ports)
    results = [
        compared(flow, samples[flow, "romana"], samples[flow, "internal"], p)
        for flow in FLOWS
        for p in (50, 95)
    ]
    return results, distributions(samples, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.openstack", description=__doc__)
    parser.add_argument("--ports", type=int, default=100, help="ports per flow and server")
    args = parser.parse_args(argv)
    results, charts = run(args.ports)
    notes = (
        f"{args.ports} ports per flow and server (after {WARM_UP} not counted), alternating "
        "port after port between two neutron-servers 29.0.0 on SQLite, one API worker each: "
        "romana's IPAM and mechanism drivers (an `openstack`-role user) and the reference, "
        "Neutron's `internal` IPAM with romana's mechanism driver; each with a romanad of its "
        "own on SQLite over loopback. Each figure is the time from the request to the answer "
        "showing the port bound to its host (`binding:vif_type` tap) with its fixed IPv4 "
        "address; Nova's flow is a create without host, then the update that binds it."
    )
    return common.finish("openstack", results, notes, distributions=charts)


if __name__ == "__main__":
    sys.exit(main())
