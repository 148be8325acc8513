"""A Docker container's external IP: the endpoint option ``romana.external-ip`` end to end.

``docker network connect --driver-opt romana.external-ip=POOL NET CTR`` and ``docker run
--network name=NET,driver-opt=romana.external-ip=POOL[/ADDRESS]`` (Debian's docker 20.10
client) give the container's endpoint an external IP of the pool: romanad lists it for the
endpoint's allocation, the agent puts it on the container's interface (and takes it off when
it is unassigned while the container runs), and a client outside the cluster, behind the
lab's edge router, reaches the container's server at it. ``docker network disconnect`` and
``docker rm`` release the allocation and the external IP with it. A pool that does not exist
fails docker's command with romana's message and leaves nothing allocated or assigned.

One rig per firewall backend (:func:`support.dockerworld.started`): romanad, two hosts with
agents and dockerds, the lab's outside (:func:`romana.lab.outside.add_outside`) routing the
pool :data:`POOL4` to the hosts' underlay, a ``kubernetes``-mode tenant ``web`` (open to the
outside while no policy selects its endpoints) with a second segment ``ext``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from romana.dataplane import netns
from romana.lab.docker import IMAGE
from romana.lab.outside import Outside, add_outside
from support.dockerworld import PORT, SERVE, World, run, started
from support.wait import eventually

pytestmark = [pytest.mark.root, pytest.mark.slow]

POOL = "internet"
POOL4 = ipaddress.ip_network("203.0.113.0/24")
PLAIN = "web-plain"
EXT = "web-ext"
OPTION = "romana.external-ip"


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def rig(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, Outside]]:
    networks = {PLAIN: ("h1", "web", "default"), EXT: ("h2", "web", "ext")}
    kubernetes = {"web": {"mode": "kubernetes"}}
    with started(
        request, tmp_path_factory, {"web": ["ext"]}, networks, isolation=kubernetes
    ) as world:
        world.made.api.create_external_pool(POOL, [str(POOL4)])
        outside = add_outside(world.made.lab, external=[POOL4])
        for host in world.made.hosts:
            outside.route_host(host)
        yield world, outside


def external_ips(world: World, key: str | None = None) -> list[str]:
    return [ip["address"] for ip in world.made.api.list_external_ips(POOL, key)]


def key_of(world: World, host: str, address: str) -> str:
    return world.docker_allocations(host)[address]


def addresses_inside(world: World, host: str, name: str) -> dict[str, str]:
    """Address → the interface holding it, in container ``name`` of ``host``."""
    done = world.dockerd[host].docker("exec", name, "ip", "-o", "-4", "addr", "show")
    words = (line.split() for line in done.stdout.splitlines())
    return {w[3].split("/")[0]: w[1] for w in words if len(w) > 3 and w[2] == "inet"}


def from_outside(outside: Outside, address: str, timeout: float = 0.5) -> str:
    """What the container server at ``address`` answers the outside client (empty: none)."""
    with netns.entered(outside.client.path):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, PORT))
            return sock.recv(256).decode().strip()
        except OSError:
            return ""


def run_with_option(world: World, host: str, name: str, value: str) -> None:
    """``docker run --network name=EXT,driver-opt=romana.external-ip=VALUE`` of a container
    serving its host name."""
    network = f"name={EXT},driver-opt={OPTION}={value}"
    world.docker(host, "run", "-d", "--name", name, "--network", network, IMAGE, "sh", "-c", SERVE)


def test_network_connect_with_the_option_puts_an_external_ip_on_the_containers_interface(
    rig: tuple[World, Outside],
) -> None:
    world, _ = rig
    before = world.owned()
    plain = run(world, "conn1", "h1", PLAIN)
    world.docker("h1", "network", "connect", "--driver-opt", f"{OPTION}={POOL}", EXT, "conn1")
    ext_address = world.address("h1", "conn1", EXT)
    key = key_of(world, "h1", ext_address)
    try:
        (external,) = external_ips(world, key)
        assert ipaddress.ip_address(external) in POOL4
        assert external_ips(world, key_of(world, "h1", plain.address)) == []
        # The agent puts it on the container's interface of that network, beside docker's.
        assert eventually(lambda: external in addresses_inside(world, "h1", "conn1"))
        inside = addresses_inside(world, "h1", "conn1")
        assert inside[ext_address] == inside[external] == "eth1", inside
        assert inside[plain.address] == "eth0", inside
        # Disconnecting releases the allocation, and the external IP with it.
        world.docker("h1", "network", "disconnect", EXT, "conn1")
        assert eventually(lambda: not world.allocated(ext_address)), ext_address
        assert external_ips(world) == []
        assert sorted(addresses_inside(world, "h1", "conn1").values()) == ["eth0", "lo"]
    finally:
        world.docker("h1", "rm", "-f", "conn1")
        del world.containers["conn1"]
    assert eventually(lambda: world.owned() == before), (before, world.owned())


def test_docker_run_with_the_option_holds_its_external_ip_until_removed(
    rig: tuple[World, Outside],
) -> None:
    world, _ = rig
    before = world.owned()
    wanted = str(POOL4.network_address + 77)
    run_with_option(world, "h2", "made1", f"{POOL}/{wanted}")
    address = world.address("h2", "made1", EXT)
    key = key_of(world, "h2", address)
    api = world.made.api

    def holds() -> str | None:
        return addresses_inside(world, "h2", "made1").get(wanted)

    try:
        assert external_ips(world, key) == [wanted]
        assert eventually(lambda: holds() == "eth0"), addresses_inside(world, "h2", "made1")
        # Unassigned while the container runs, the address leaves its interface; assigned
        # again (romana external-ip assign), it comes back.
        api.unassign_external_ip(wanted)
        assert eventually(lambda: holds() is None), addresses_inside(world, "h2", "made1")
        api.assign_external_ip(POOL, key, wanted)
        assert eventually(lambda: holds() == "eth0"), addresses_inside(world, "h2", "made1")
        # Stopped, the container's allocation goes and the external IP with it; started, it
        # asks again (docker keeps the endpoint's options) and gets the same address.
        world.docker("h2", "stop", "-t", "1", "made1")
        assert eventually(lambda: not world.allocated(address)), address
        assert external_ips(world) == []
        world.docker("h2", "start", "made1")
        address = world.address("h2", "made1", EXT)
        assert external_ips(world, key_of(world, "h2", address)) == [wanted]
        assert eventually(lambda: holds() == "eth0"), addresses_inside(world, "h2", "made1")
    finally:
        world.docker("h2", "rm", "-f", "made1")
    assert eventually(lambda: not world.allocated(address)), address
    assert external_ips(world) == []
    assert eventually(lambda: world.owned() == before), (before, world.owned())


def test_the_outside_reaches_a_containers_external_ip(rig: tuple[World, Outside]) -> None:
    world, outside = rig
    for host, name in (("h1", "out1"), ("h2", "out2")):
        run_with_option(world, host, name, POOL)
    sink = world.made.lab.listen(outside.client)
    try:
        for host, name in (("h1", "out1"), ("h2", "out2")):
            (external,) = external_ips(world, key_of(world, host, world.address(host, name, EXT)))
            hostname = world.docker(host, "exec", name, "hostname")
            reached = eventually(lambda: from_outside(outside, external) == hostname, 10)  # noqa: B023
            assert reached, (name, external, from_outside(outside, external), world.logs())
            # Its own connections to the outside leave with its external address.
            probe = ["exec", name, "nc", "-w", "2", str(outside.client_ip), str(sink.port)]
            done = world.dockerd[host].docker(*probe)
            assert done.returncode == 0, done.stderr
            assert sink.peers[-1] == external, (name, sink.peers)
    finally:
        for host, name in (("h1", "out1"), ("h2", "out2")):
            world.docker(host, "rm", "-f", name)
    assert eventually(lambda: external_ips(world) == [])


def test_a_pool_that_does_not_exist_fails_docker_with_romanas_message(
    rig: tuple[World, Outside],
) -> None:
    world, _ = rig
    run(world, "bad1", "h2", PLAIN)
    try:
        before = world.owned()
        argv = ["network", "connect", "--driver-opt", f"{OPTION}=nope", EXT, "bad1"]
        done = world.dockerd["h2"].docker(*argv)
        assert done.returncode != 0, done.stdout
        message = f"romana: option {OPTION}=nope: external pool 'nope' does not exist"
        assert message in done.stderr, done.stderr
        assert eventually(lambda: world.owned() == before), (before, world.owned())
        assert external_ips(world) == []
        assert sorted(addresses_inside(world, "h2", "bad1").values()) == ["eth0", "lo"]
    finally:
        world.docker("h2", "rm", "-f", "bad1")
        del world.containers["bad1"]
