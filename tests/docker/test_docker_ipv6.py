"""Dual-stack Docker networks end to end: ``docker network create --ipv6`` with romana.

A dual-stack cluster (romana networks ``pods`` 10.0.0.0/8 and ``pods6`` fd00:10::/56,
:func:`romana.lab.topologies.dual_stack`) with real dockerds on two hosts. Tenants ``blue``
(segment ``web``) and ``red`` allocate in both networks, ``plain`` in ``pods`` only. A
container of a ``--ipv6`` network gets an IPv4 and an IPv6 address of one romana allocation,
both encoding its host, tenant and segment, and an IPv6 default route through its host;
containers of one network reach each other across hosts over IPv6, another tenant's cannot.
``--ipv6`` for ``plain`` fails with romana's message and binds nothing; removing containers
and the network leaves no allocation or binding.

One rig per firewall backend (:func:`support.dockerworld.started`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from romana.lab import topologies
from romana.lab.docker import DRIVER
from support.dockerworld import PORT, World, run, started
from support.wait import eventually

pytestmark = [pytest.mark.root, pytest.mark.slow]

BLUE = "blue-web6"
RED = "red-default6"
NETWORKS = {BLUE: ("h1", "blue", "web"), RED: ("h2", "red", "default")}
"""Docker network → (the host that creates it, its tenant, its segment)."""
CONTAINERS = {"blue1": ("h1", BLUE), "blue2": ("h2", BLUE), "red1": ("h1", RED)}
REACHABLE = (("blue1", "blue2"), ("blue2", "blue1"))
ISOLATED = (("red1", "blue1"), ("red1", "blue2"), ("blue2", "red1"))
"""On one host and across hosts."""
SETTLE = 10.0
"""A fresh lab's IPv6 underlay passes duplicate address detection within a few seconds."""


def create6(world: World, network: str, host: str, tenant: str, segment: str) -> str:
    """``docker network create --ipv6`` of a romana network on ``host``; its Docker id."""
    return world.docker(
        host, "network", "create", "-d", DRIVER, "--ipam-driver", DRIVER, "--ipv6",
        "-o", f"romana.tenant={tenant}", "-o", f"romana.segment={segment}", network,
    )  # fmt: skip


def address6(world: World, name: str) -> str:
    """The IPv6 address docker records for container ``name`` on its network."""
    container = world.containers[name]
    field = f'{{{{(index .NetworkSettings.Networks "{container.network}").GlobalIPv6Address}}}}'
    return world.docker(container.host, "inspect", "-f", field, name)


def ping6(world: World, source: str, target: str, wait: int = 2) -> bool:
    code, _ = world.exec(source, "ping", "-6", "-c", "1", "-W", str(wait), address6(world, target))
    return code == 0


def tcp6(world: World, source: str, target: str, wait: int = 2) -> str:
    _, out = world.exec(source, "nc", "-w", str(wait), address6(world, target), str(PORT))
    return out


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The dual-stack rig, its ``--ipv6`` networks and the containers of :data:`CONTAINERS`."""
    topology = topologies.dual_stack()
    segments = {"blue": ["web"], "red": []}
    with started(request, tmp_path_factory, segments, {}, topology) as made:
        made.made.api.create_tenant("plain", networks=["pods"])
        for network, (host, tenant, segment) in NETWORKS.items():
            create6(made, network, host, tenant, segment)
        for name, (host, network) in CONTAINERS.items():
            run(made, name, host, network)
        yield made


def test_containers_get_both_addresses_of_one_allocation_and_an_ipv6_route(
    world: World,
) -> None:
    for name, container in world.containers.items():
        _, tenant, segment = NETWORKS[container.network]
        six = address6(world, name)
        decoded = [world.made.api.decode(a) for a in (container.address, six)]
        for each in decoded:
            placed = (each["host"], each["tenant"], each["segment"])
            assert placed == (container.host, tenant, segment), (name, each)
        keys = {each["allocation"]["key"] for each in decoded}
        assert len(keys) == 1 and keys.pop().startswith("docker-"), decoded
        _, links = world.exec(name, "ip", "-o", "-6", "addr", "show", "dev", "eth0")
        assert f"inet6 {six}/128" in links, links
        gateway6 = decoded[1]["host_prefix"].split("/")[0] + "1"
        _, routes = world.exec(name, "ip", "-6", "route", "show", "default")
        assert f"default via {gateway6} dev eth0" in routes, routes


def test_containers_of_one_network_reach_each_other_over_ipv6_across_hosts(
    world: World,
) -> None:
    for source, target in REACHABLE:
        reached = functools.partial(ping6, world, source, target)
        assert eventually(reached, SETTLE), (source, target)
        answer = world.containers[target].hostname
        assert tcp6(world, source, target) == answer, f"{source} → {target} over TCP/IPv6"


def test_another_tenants_containers_are_unreachable_over_ipv6(world: World) -> None:
    assert eventually(lambda: ping6(world, "blue1", "blue2"), SETTLE), "the underlay is ready"
    for source, target in ISOLATED:
        assert not ping6(world, source, target, wait=1), f"{source} pings {target}"
        assert tcp6(world, source, target, wait=1) == "", f"{source} reaches {target}"


def test_ipv6_for_a_tenant_without_an_ipv6_network_fails_and_binds_nothing(
    world: World,
) -> None:
    before = world.owned()
    argv = ["network", "create", "-d", DRIVER, "--ipam-driver", DRIVER, "--ipv6"]
    done = world.dockerd["h1"].docker(*argv, "-o", "romana.tenant=plain", "plain6")
    assert done.returncode != 0, done.stdout
    message = (
        "romana: tenant 'plain' does not allocate in the IPv6 romana network pods6 (it "
        "allocates in: pods): create the network without --ipv6"
    )
    assert message in done.stderr, done.stderr
    assert "plain6" not in world.docker("h1", "network", "ls", "--format", "{{.Name}}").split()
    assert world.owned() == before
    # Nothing of the refused network holds up the next one on this host.
    create6(world, "next6", "h1", "blue", "web")
    world.docker("h1", "network", "rm", "next6")
    assert eventually(lambda: world.owned() == before), (before, world.owned())


def test_removing_containers_and_the_network_leaves_no_allocation_or_binding(
    world: World,
) -> None:
    before = world.owned()
    network_id = create6(world, "gone6", "h2", "blue", "web")
    bound = {
        p["network"]: p
        for p in world.made.api.list_docker_pools()
        if p["docker_network"] == network_id
    }
    assert sorted(bound) == ["pods", "pods6"], bound
    assert bound["pods"]["pair"] == bound["pods6"]["pool"]
    assert bound["pods6"]["pair"] == bound["pods"]["pool"]
    gone = [run(world, f"gone6{i}", host, "gone6") for i, host in enumerate(("h1", "h2"))]
    held = {c.name: (c.address, address6(world, c.name)) for c in gone}
    for addresses in held.values():
        assert all(world.allocated(a) for a in addresses), addresses
    for container in gone:
        world.docker(container.host, "rm", "-f", container.name)
        world.containers.pop(container.name)
    every = [a for pair in held.values() for a in pair]
    assert eventually(lambda: not any(world.allocated(a) for a in every)), held
    world.docker("h1", "network", "rm", "gone6")
    assert eventually(lambda: world.owned() == before), (before, world.owned())
