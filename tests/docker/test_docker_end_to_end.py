"""Docker networks of romana end to end: real dockerd, real agents, real packets (issue 15).

``docker network create -d romana --ipam-driver romana -o romana.tenant=T -o romana.segment=S``
on one host gives a network every host's dockerd lists; containers on it get addresses that
encode their host, tenant and segment, reach each other across hosts with no overlay, and
cannot reach another tenant's containers. Bad input fails with romana's message in docker's
own error output and leaves nothing allocated; removing containers and networks leaves no
allocation, veth or route behind. Within seconds of ``docker run -d``, romana names the
container of each Docker allocation: its workload is ``docker:`` and the container's full id.
``docker run --ip`` of an address of the container's host, tenant and segment gets exactly
that address, kept across restarts; an address of another host or tenant is refused.

One rig per firewall backend (:func:`support.dockerworld.started`: romanad, two hosts with
agents and dockerds). Tenants ``blue`` (segments ``default`` and ``web``) and ``red`` exist.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest

from romana.lab.docker import DRIVER, IMAGE
from support.dockerworld import SERVE, World, create, run, started
from support.wait import eventually

pytestmark = [pytest.mark.root, pytest.mark.slow]

BLUE = "blue-web"
RED = "red-default"
NETWORKS = {BLUE: ("h1", "blue", "web"), RED: ("h2", "red", "default")}
"""Docker network → (the host that creates it, its tenant, its segment)."""
CONTAINERS = {
    "blue1": ("h1", BLUE),
    "blue2": ("h2", BLUE),
    "red1": ("h1", RED),
    "red2": ("h2", RED),
}
"""Container → (its host, its Docker network)."""
REACHABLE = (("blue1", "blue2"), ("blue2", "blue1"), ("red1", "red2"), ("red2", "red1"))
"""Across hosts, within one network: every container's server is reached once."""
ISOLATED = (("red2", "blue1"), ("red2", "blue2"), ("blue1", "red1"))
"""Across tenants, across hosts and on one host."""


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def rig(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The cluster with its dockerds and the networks of :data:`NETWORKS`, no container."""
    with started(request, tmp_path_factory, {"blue": ["web"], "red": []}, NETWORKS) as world:
        yield world


@pytest.fixture(scope="module")
def world(rig: World) -> World:
    """The rig with the containers of :data:`CONTAINERS` running (removed with the rig)."""
    for name, (host, network) in CONTAINERS.items():
        run(rig, name, host, network)
    return rig


def listed(world: World, host: str, network: str) -> str:
    """``NAME DRIVER SCOPE`` of ``network`` as ``host``'s dockerd lists it, or empty."""
    out = world.docker(host, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    return next((line for line in out.splitlines() if line.split()[0] == network), "")


def test_a_network_created_on_one_host_is_listed_by_every_host(rig: World) -> None:
    for network in NETWORKS:
        for host in rig.dockerd:
            assert listed(rig, host, network) == f"{network} romana global", host


def test_containers_get_addresses_of_their_host_tenant_and_segment(world: World) -> None:
    for container in world.containers.values():
        _, tenant, segment = NETWORKS[container.network]
        decoded = world.made.api.decode(container.address)
        placed = (decoded["host"], decoded["tenant"], decoded["segment"])
        assert placed == (container.host, tenant, segment), container
        assert decoded["allocation"]["key"].startswith("docker-"), decoded
        # Only romana's interface: no docker_gwbridge beside it.
        _, links = world.exec(container.name, "ip", "-o", "-4", "addr", "show")
        interfaces = sorted(line.split()[1] for line in links.splitlines())
        assert interfaces == ["eth0", "lo"], links
        assert f"inet {container.address}/" in links, links


LABELLED = 5.0
"""Seconds within which a container's allocation names it after ``docker run -d`` returns."""


def test_each_allocation_names_its_container_soon_after_docker_run(world: World) -> None:
    def workload(host: str, address: str) -> object:
        listed = world.made.api.list_allocations(host)
        return next((a.get("workload") for a in listed if address in a["addresses"]), None)

    run_named = ["run", "-d", "--name", "named", "--network", BLUE, IMAGE, "sh", "-c", SERVE]
    full_id = world.docker("h2", *run_named)
    ran = time.monotonic()
    address = world.address("h2", "named", BLUE)
    try:
        named = eventually(lambda: workload("h2", address) == f"docker:{full_id}", LABELLED)
        assert named, (full_id, workload("h2", address), world.logs())
        assert time.monotonic() - ran < LABELLED
    finally:
        world.docker("h2", "rm", "-f", "named")
    assert eventually(lambda: not world.allocated(address)), address
    wanted = {
        (c.host, c.address): "docker:" + world.docker(c.host, "inspect", "-f", "{{.Id}}", c.name)
        for c in world.containers.values()
    }

    def found() -> dict[tuple[str, str], object]:
        return {(host, address): workload(host, address) for host, address in wanted}

    assert eventually(lambda: found() == wanted, LABELLED), (wanted, found())


def test_containers_of_one_network_reach_each_other_across_hosts(world: World) -> None:
    for source, target in REACHABLE:
        assert world.ping(source, target), f"{source} cannot ping {target}"
        answer = world.containers[target].hostname
        assert world.tcp(source, target) == answer, f"{source} → {target} over TCP"


def test_another_tenants_containers_are_unreachable(world: World) -> None:
    for source, target in ISOLATED:
        assert world.silent(source, target), f"{source} pings {target} of another tenant"
        assert world.tcp(source, target, wait=1) == "", f"{source} reaches {target} over TCP"


BAD_INPUT = {
    "unknown tenant": (["-o", "romana.tenant=green"], "no tenant 'green'"),
    "unknown segment": (
        ["-o", "romana.tenant=blue", "-o", "romana.segment=db"],
        "tenant 'blue' has no segment 'db'",
    ),
    "unknown option": (["-o", "romana.tenant=blue", "-o", "romana.colour=x"], "romana.colour"),
    "no tenant": (["-o", "romana.segment=web"], "romana.tenant"),
    "foreign subnet": (
        ["-o", "romana.tenant=blue", "--subnet", "192.168.7.0/24"],
        "--subnet 192.168.7.0/24 is no romana IPv4 network (romana has: pods 10.0.0.0/8)",
    ),
    "ipv6 without an IPv6 network": (
        ["-o", "romana.tenant=blue", "--ipv6"],
        "romana has no IPv6 network (omit --ipv6)",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_refused_with_romanas_message_and_allocates_nothing(
    rig: World, case: str
) -> None:
    options, message = BAD_INPUT[case]
    before = rig.owned()
    dockerd = rig.dockerd["h1"]
    argv = ["network", "create", "-d", DRIVER, "--ipam-driver", DRIVER, *options, "bad"]
    done = dockerd.docker(*argv)
    assert done.returncode != 0, done.stdout
    assert "romana: " in done.stderr and message in done.stderr, done.stderr
    assert listed(rig, "h1", "bad") == ""
    assert rig.owned() == before
    # Nothing of the refused network holds up the next one on this host.
    started = time.monotonic()
    create(rig, "good", "h1", "blue", "web")
    assert time.monotonic() - started < 5
    rig.docker("h1", "network", "rm", "good")
    assert eventually(lambda: rig.owned() == before), (before, rig.owned())


def test_removing_containers_and_network_leaves_no_allocation_veth_or_route(
    rig: World,
) -> None:
    before_owned = rig.owned()
    before = {host: rig.veths(host) for host in rig.dockerd}
    network_id = create(rig, "gone", "h2", "blue", "web")
    gone = [run(rig, f"gone{i}", host, "gone") for i, host in enumerate(("h1", "h2"))]
    for container in gone:
        assert rig.allocated(container.address), container
        assert rig.routed(container.host, container.address), container
        assert rig.veths(container.host) - before[container.host], container
    bound = [p for p in rig.made.api.list_docker_pools() if p["docker_network"] == network_id]
    assert len(bound) == 1, rig.made.api.list_docker_pools()

    for container in gone:
        rig.docker(container.host, "rm", "-f", container.name)
    assert eventually(lambda: not any(rig.allocated(c.address) for c in gone)), gone
    assert eventually(lambda: all(rig.veths(h) == before[h] for h in before)), before
    for container in gone:
        for host in rig.dockerd:
            assert rig.routed(host, container.address) == [], (host, container)

    rig.docker("h1", "network", "rm", "gone")
    for host in rig.dockerd:
        assert listed(rig, host, "gone") == "", host
    assert eventually(lambda: rig.owned() == before_owned), (before_owned, rig.owned())


def unused(rig: World, host: str, tenant: str, segment: str) -> str:
    """A free address of (host, tenant, segment) that lowest-free allocation would not give
    for a long time: 100 past the lowest free one."""
    probe = rig.made.api.allocate("ip-probe", host, tenant, segment)
    rig.made.api.release("ip-probe")
    return str(ipaddress.ip_address(probe["addresses"][0]) + 100)


def test_docker_run_ip_gets_that_address_and_keeps_it_across_restarts(rig: World) -> None:
    original = rig.owned()
    # Docker takes --ip only on a network created with --subnet.
    rig.docker(
        "h1", "network", "create", "-d", DRIVER, "--ipam-driver", DRIVER, "--subnet",
        "10.0.0.0/8", "-o", "romana.tenant=blue", "-o", "romana.segment=web", "pinned",
    )  # fmt: skip
    wanted = unused(rig, "h1", "blue", "web")
    try:
        pinned = run(rig, "pinned1", "h1", "pinned", ["--ip", wanted])
        assert pinned.address == wanted
        decoded = rig.made.api.decode(wanted)
        assert (decoded["host"], decoded["tenant"], decoded["segment"]) == ("h1", "blue", "web")
        # Docker releases the address when the container stops and asks for it again, under
        # a new key, when it starts.
        for steps in (["restart"], ["stop", "start"]):
            for step in steps:
                rig.docker("h1", step, "pinned1")
            assert rig.refresh("pinned1").address == wanted, steps
            _, links = rig.exec("pinned1", "ip", "-o", "-4", "addr", "show", "eth0")
            assert f"inet {wanted}/" in links, (steps, links)
            assert len(rig.owned()[0]) == len(original[0]) + 1, (steps, rig.owned())
        held = rig.owned()
        refusals = {
            "another host": (unused(rig, "h2", "blue", "web"), "belongs to host prefix"),
            "another tenant": (unused(rig, "h1", "red", "default"), "encodes tenant id"),
        }
        for case, (other, message) in refusals.items():
            argv = ["run", "-d", "--name", "refused", "--network", "pinned", "--ip", other]
            done = rig.dockerd["h1"].docker(*argv, IMAGE, "true")
            rig.dockerd["h1"].docker("rm", "-f", "refused")
            assert done.returncode != 0, (case, done.stdout)
            assert f"romana: --ip {other} " in done.stderr and message in done.stderr, (
                case,
                done.stderr,
            )
            assert not rig.allocated(other), case
        assert rig.owned() == held
    finally:
        rig.containers.pop("pinned1", None)
        rig.dockerd["h1"].docker("rm", "-f", "pinned1")
        rig.docker("h1", "network", "rm", "pinned")
    assert eventually(lambda: rig.owned() == original), (original, rig.owned())
