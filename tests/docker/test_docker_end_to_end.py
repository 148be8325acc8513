"""Docker networks of romana end to end: real dockerd, real agents, real packets (issue 15).

``docker network create -d romana --ipam-driver romana -o romana.tenant=T -o romana.segment=S``
on one host gives a network every host's dockerd lists; containers on it get addresses that
encode their host, tenant and segment, reach each other across hosts with no overlay, and
cannot reach another tenant's containers. Bad input fails with romana's message in docker's
own error output and leaves nothing allocated; removing containers and networks leaves no
allocation, veth or route behind.

One rig per firewall backend (``romana.lab.cluster`` with ``docker=True`` and
``romana.lab.docker.running``): romanad in ``ctl``; hosts ``h1`` and ``h2``, each running
``romana-agent`` with ``--docker-socket`` and Debian's dockerd 20.10 in its namespace, the
dockerds sharing a cluster store (etcd with the v2 API in ``ctl``) and holding the image
``lab/busybox:latest`` made from busybox-static. Tenants ``blue`` (segments ``default`` and
``web``) and ``red`` exist. Every daemon is stopped by PID when the backend's tests end.

Each container serves its own host name (its short container id) on TCP :data:`PORT` with
busybox ``nc``; probes run inside the containers with ``docker exec``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cni import ociimage
from romana.lab import Cluster, cluster
from romana.lab import docker as lab_docker
from romana.lab.docker import DRIVER, IMAGE, Dockerd
from support import env
from support.wait import eventually

pytestmark = [pytest.mark.root, pytest.mark.slow]

PORT = 7000
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


@dataclass(frozen=True)
class Container:
    name: str
    host: str
    network: str
    address: str
    hostname: str
    """What its TCP server answers."""


@dataclass
class World:
    made: Cluster
    dockerd: dict[str, Dockerd]
    containers: dict[str, Container]

    def docker(self, host: str, *argv: str) -> str:
        """``docker ARGV`` on ``host``'s dockerd; its output, or an assertion naming stderr."""
        done = self.dockerd[host].docker(*argv)
        assert done.returncode == 0, f"docker {' '.join(argv)} on {host}: {done.stderr}"
        return done.stdout.strip()

    def exec(self, name: str, *argv: str) -> tuple[int, str]:
        """``argv`` inside container ``name``: exit code and output."""
        done = self.dockerd[self.containers[name].host].docker("exec", name, *argv)
        return done.returncode, done.stdout.strip()

    def ping(self, source: str, target: str) -> bool:
        code, _ = self.exec(source, "ping", "-c", "1", "-W", "2", self.containers[target].address)
        return code == 0

    def silent(self, source: str, target: str) -> bool:
        """True when an echo request gets no answer within a second (inside the lab an
        answer takes well under a millisecond)."""
        code, _ = self.exec(source, "ping", "-c", "1", "-W", "1", self.containers[target].address)
        return code != 0

    def tcp(self, source: str, target: str, wait: int = 2) -> str:
        """What ``target``'s TCP server answers ``source`` within ``wait`` seconds (empty: no
        connection)."""
        address = self.containers[target].address
        _, out = self.exec(source, "nc", "-w", str(wait), address, str(PORT))
        return out


def run(world: World, name: str, host: str, network: str) -> Container:
    """A container serving its host name on :data:`PORT`, attached to ``network`` only."""
    server = f"nc -ll -p {PORT} -e /bin/hostname"
    world.docker(host, "run", "-d", "--name", name, "--network", network, IMAGE, "sh", "-c", server)
    address = world.docker(
        host, "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
        name,
    )  # fmt: skip
    hostname = world.docker(host, "exec", name, "hostname")
    return Container(name, host, network, address, hostname)


def create(world: World, network: str, host: str, tenant: str, segment: str) -> str:
    """``docker network create`` of a romana network on ``host``; its Docker id."""
    return world.docker(
        host, "network", "create", "-d", DRIVER, "--ipam-driver", DRIVER,
        "-o", f"romana.tenant={tenant}", "-o", f"romana.segment={segment}", network,
    )  # fmt: skip


def logs(made: Cluster, dockerd: dict[str, Dockerd]) -> str:
    parts = [made.log_tails(), *(f"--- dockerd {n}\n{d.log_tail()}" for n, d in dockerd.items())]
    return "\n".join(parts)


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def rig(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The cluster with its dockerds and the networks of :data:`NETWORKS`, no container."""
    busybox = env.need_docker()
    firewall = str(request.param)
    work = tmp_path_factory.mktemp(f"docker-{firewall}")
    image = ociimage.build(work / "image", busybox)
    with cluster(work, firewall, hosts=2, docker=True) as made:
        dockerd: dict[str, Dockerd] = {}
        try:
            made.api.create_tenant("blue")
            made.api.add_segment("blue", "web")
            made.api.create_tenant("red")
            with lab_docker.running(made, image.rootfs) as dockerd:
                made_world = World(made, dockerd, {})
                for network, (host, tenant, segment) in NETWORKS.items():
                    create(made_world, network, host, tenant, segment)
                yield made_world
        except BaseException:
            print(logs(made, dockerd))
            raise


@pytest.fixture(scope="module")
def world(rig: World) -> World:
    """The rig with the containers of :data:`CONTAINERS` running (removed with the rig)."""
    for name, (host, network) in CONTAINERS.items():
        rig.containers[name] = run(rig, name, host, network)
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


def test_containers_of_one_network_reach_each_other_across_hosts(world: World) -> None:
    for source, target in REACHABLE:
        assert world.ping(source, target), f"{source} cannot ping {target}"
        answer = world.containers[target].hostname
        assert world.tcp(source, target) == answer, f"{source} → {target} over TCP"


def test_another_tenants_containers_are_unreachable(world: World) -> None:
    for source, target in ISOLATED:
        assert world.silent(source, target), f"{source} pings {target} of another tenant"
        assert world.tcp(source, target, wait=1) == "", f"{source} reaches {target} over TCP"


def _owned(world: World) -> tuple[list[str], list[str]]:
    """Every allocation key and every Docker pool romanad holds."""
    keys = sorted(a["key"] for a in world.made.api.list_allocations())
    pools = sorted(p["pool"] for p in world.made.api.list_docker_pools())
    return keys, pools


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
    "ipv6": (["-o", "romana.tenant=blue", "--ipv6"], "IPv6 Docker networks are not supported"),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_refused_with_romanas_message_and_allocates_nothing(
    rig: World, case: str
) -> None:
    options, message = BAD_INPUT[case]
    before = _owned(rig)
    dockerd = rig.dockerd["h1"]
    argv = ["network", "create", "-d", DRIVER, "--ipam-driver", DRIVER, *options, "bad"]
    done = dockerd.docker(*argv)
    assert done.returncode != 0, done.stdout
    assert "romana: " in done.stderr and message in done.stderr, done.stderr
    assert listed(rig, "h1", "bad") == ""
    assert _owned(rig) == before
    # Nothing of the refused network holds up the next one on this host.
    started = time.monotonic()
    create(rig, "good", "h1", "blue", "web")
    assert time.monotonic() - started < 5
    rig.docker("h1", "network", "rm", "good")
    assert eventually(lambda: _owned(rig) == before), (before, _owned(rig))


def _veths(world: World, host: str) -> set[str]:
    ns = world.made.host(host).ns
    done = world.made.lab.run(ns, ["ip", "-o", "link", "show", "type", "veth"])
    return {line.split(": ")[1].split("@")[0] for line in done.stdout.splitlines()}


ROUTE_TYPES = {"unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", "throw"}
"""Route types ``ip route`` names before a route's destination."""


def _routed(world: World, host: str, address: str) -> list[str]:
    """Routes of ``host`` (any table) whose destination is ``address``."""
    ns = world.made.host(host).ns
    done = world.made.lab.run(ns, ["ip", "-4", "route", "show", "table", "all"])
    found = []
    for line in done.stdout.splitlines():
        words = line.split()
        destination = words[1] if words[0] in ROUTE_TYPES else words[0]
        if destination in (address, f"{address}/32"):
            found.append(line)
    return found


def _allocated(world: World, address: str) -> bool:
    return world.made.api.decode(address)["allocation"] is not None


def test_removing_containers_and_network_leaves_no_allocation_veth_or_route(
    rig: World,
) -> None:
    before_owned = _owned(rig)
    before = {host: _veths(rig, host) for host in rig.dockerd}
    network_id = create(rig, "gone", "h2", "blue", "web")
    gone = [run(rig, f"gone{i}", host, "gone") for i, host in enumerate(("h1", "h2"))]
    for container in gone:
        assert _allocated(rig, container.address), container
        assert _routed(rig, container.host, container.address), container
        assert _veths(rig, container.host) - before[container.host], container
    bound = [p for p in rig.made.api.list_docker_pools() if p["docker_network"] == network_id]
    assert len(bound) == 1, rig.made.api.list_docker_pools()

    for container in gone:
        rig.docker(container.host, "rm", "-f", container.name)
    assert eventually(lambda: not any(_allocated(rig, c.address) for c in gone)), gone
    assert eventually(lambda: all(_veths(rig, h) == before[h] for h in before)), before
    for container in gone:
        for host in rig.dockerd:
            assert _routed(rig, host, container.address) == [], (host, container)

    rig.docker("h1", "network", "rm", "gone")
    for host in rig.dockerd:
        assert listed(rig, host, "gone") == "", host
    assert eventually(lambda: _owned(rig) == before_owned), (before_owned, _owned(rig))
