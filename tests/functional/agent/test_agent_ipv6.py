"""Acceptance: IPv6 endpoints on different hosts reach each other over the IPv6 underlay.

A dual-stack cluster (networks ``pods`` 10.0.0.0/8 and ``pods6`` fd00:10::/56, as in
examples/demo-topology.json): h1 and h2 in rack 1, h3 in rack 2, so rack 1 reaches h3 by
rack 2's aggregate route, and h3 reaches rack 1's second host through its first. Every lab
host has 2001:db8:ff::N on its underlay interface, and each agent finds it there and
registers it as the host's IPv6 underlay address. One endpoint per (host, tenant),
each dual stack; probes are ``ping -6`` and TCP over IPv6 between every pair. Runs once per
firewall backend.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.lab import Cluster, Endpoint, Host, cluster, topologies
from support import env

pytestmark = pytest.mark.root

TENANTS = ("t1", "t2")
TOPOLOGY = topologies.dual_stack()


def dual_stack_endpoint(made: Cluster, host_index: int, tenant: str) -> Endpoint:
    """An endpoint added through the agent, probed at its IPv6 address."""
    host = made.hosts[host_index]
    workload = made.lab.add_workload(host, tenant)
    container_id = f"c-{made.lab.prefix}-{host.name}-{tenant}"
    answer = made.agent(host).api.add_endpoint(
        {
            "container_id": container_id,
            "ifname": "eth0",
            "netns": workload.path,
            "network": "romana-test",
            "tenant": tenant,
            "segment": "default",
            "labels": {},
        }
    )
    addresses = [ipaddress.ip_interface(a["address"]).ip for a in answer["addresses"]]
    assert sorted(a.version for a in addresses) == [4, 6], answer
    address6 = next(str(a) for a in addresses if a.version == 6)
    port = made.lab.listen(workload).port
    return Endpoint(tenant, workload, host, tenant, "default", address6, port, container_id)


def wait_for_ipv6_underlay(made: Cluster, timeout: float = 10.0) -> None:
    """Until every host's underlay link-local address has passed duplicate detection.

    A fresh lab interface keeps its link-local address tentative for a second or two, and
    until then the kernel sends no neighbour solicitation for a forwarded packet, so the
    first packets between hosts would be lost to the lab's youth, not to romana."""
    deadline = time.monotonic() + timeout
    for host in made.hosts:
        argv = ["ip", "-6", "-o", "addr", "show", "dev", host.ifname, "tentative"]
        while made.lab.run(host, argv).stdout.strip():
            assert time.monotonic() < deadline, f"{host.name}: link-local stays tentative"
            time.sleep(0.05)


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def dual(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    env.need_agent_lab()
    firewall = str(request.param)
    workdir: Path = tmp_path_factory.mktemp(f"agents6-{firewall}")
    with cluster(workdir, firewall, topology=TOPOLOGY) as made:
        try:
            for tenant in TENANTS:
                made.api.create_tenant(tenant)
            wait_for_ipv6_underlay(made)
            for i in range(len(made.hosts)):
                for tenant in TENANTS:
                    made.endpoints.append(dual_stack_endpoint(made, i, tenant))
            yield made
        except BaseException:
            print(made.log_tails())
            raise


def rack_1(made: Cluster) -> tuple[Host, Host]:
    """Rack 1's designated host (its first, which other racks route via) and the other one.

    Agents register concurrently, so which of h1 and h2 came first is read back."""
    rack = made.api.get_topology()["topologies"][0]["map"][0]
    assert rack["name"] == "rack-1"
    first = rack["groups"][0]["name"]
    designated = next(h for h in made.hosts if h.name == first)
    other = next(h for h in made.hosts[:2] if h is not designated)
    return designated, other


def test_agents_register_their_ipv6_underlay_and_install_ipv6_routes(dual: Cluster) -> None:
    hosts = {h["name"]: h for h in dual.api.list_hosts()}
    for host in dual.hosts:
        assert hosts[host.name]["ip"] == str(host.underlay_ip)
        assert hosts[host.name]["ip6"] == str(host.underlay_ip6)
    designated, _ = rack_1(dual)
    h3 = dual.hosts[2]
    plan = dual.api.routes(h3.name)
    assert plan["skipped"] == []
    assert {(r["dst"], r["via"]) for r in plan["routes"]} == {
        ("10.0.0.0/9", str(designated.underlay_ip)),
        ("fd00:10::/57", str(designated.underlay_ip6)),
    }
    # h3's kernel holds the IPv6 route via the designated host's IPv6 underlay address.
    shown = dual.lab.run(h3, ["ip", "-6", "route", "show", "fd00:10::/57"]).stdout
    assert f"via {designated.underlay_ip6} dev {h3.ifname}" in shown, shown
    for host in dual.hosts:
        last = dual.agent(host).state()["last_reconcile"]
        assert last["skipped"] == [] and last["errors"] == [], last


def test_ipv6_endpoints_across_hosts_reach_their_own_tenant_only(dual: Cluster) -> None:
    pairs = [(s, d) for s in dual.endpoints for d in dual.endpoints if s is not d]
    assert len(pairs) == 6 * 5
    want = {(s.name, s.host.name, d.name, d.host.name): s.tenant == d.tenant for s, d in pairs}

    def tcp(pair: tuple[Endpoint, Endpoint]) -> bool:
        src, dst = pair
        return dual.lab.tcp_probe(src.workload, dst.address, dst.port, timeout=0.5)

    def icmp(pair: tuple[Endpoint, Endpoint]) -> bool:
        src, dst = pair
        # Allowed pairs must answer; blocked ones must stay silent for the whole wait.
        if src.tenant == dst.tenant:
            return dual.lab.ping(src.workload, dst.address, deadline=2)
        return not dual.lab.silent(src.workload, dst.address)

    for probe in (tcp, icmp):
        with concurrent.futures.ThreadPoolExecutor(len(pairs)) as pool:
            got = dict(zip(want, pool.map(probe, pairs), strict=True))
        wrong = sorted(k for k in want if got[k] != want[k])
        assert not wrong, f"{probe.__name__} over IPv6 differs for {wrong}\n{dual.log_tails()}"


def test_ipv6_crosses_an_intermediate_host(dual: Cluster) -> None:
    # The other host of rack 1 reaches h3 directly, but h3 reaches it through the designated
    # host of rack 1.
    designated, other = rack_1(dual)
    src = next(e for e in dual.endpoints if e.host is other and e.tenant == "t1")
    dst = next(e for e in dual.endpoints if e.host is dual.hosts[2] and e.tenant == "t1")
    done = dual.lab.run(src.workload, ["ping", "-6", "-n", "-c", "1", "-W", "2", dst.address])
    # The echo reply leaves with hop limit 64 and is forwarded by h3, the designated host
    # and the other host.
    assert " ttl=61 " in done.stdout, (designated.name, done.stdout)
