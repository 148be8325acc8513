"""A romana cluster with real dockerds, driven as the Docker tests drive it (issue 15).

:func:`started` builds the rig one Docker test module shares per firewall backend
(``romana.lab.cluster`` with ``docker=True`` and ``romana.lab.docker.running``): romanad in
``ctl``; hosts ``h1`` and ``h2``, each running ``romana-agent`` with ``--docker-socket`` and
Debian's dockerd 20.10 in its namespace, the dockerds sharing a cluster store and holding the
image ``lab/busybox:latest`` made from busybox-static; the tenants and segments asked for;
and the module's Docker networks. Every daemon is stopped by PID when the module ends.

A container started by :func:`run` serves its own host name (its short container id) on TCP
:data:`PORT` with busybox ``nc``; busybox has no UDP server, so :func:`udp_servers` answers
for the containers on UDP :data:`UDP_PORT` from sockets the test opens in their network
namespaces. Probes run inside the containers with ``docker exec``, or (:meth:`World.probe`)
from sockets opened in the source container's network namespace. :meth:`World.leaks`
compares what romanad holds for a host with what its dockerd runs.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from cni import ociimage
from romana.dataplane import netns
from romana.lab import Cluster, cluster
from romana.lab import docker as lab_docker
from romana.lab.docker import DRIVER, IMAGE, Dockerd
from support import env

PORT = 7000
UDP_PORT = 7001
SERVE = f"nc -ll -p {PORT} -e /bin/hostname"
"""A container's TCP server: its host name to each connection."""

ROUTE_TYPES = {"unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", "throw"}
"""Route types ``ip route`` names before a route's destination."""


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

    def probe(
        self,
        source: str,
        target: str,
        proto: str,
        timeout: float = 0.5,
        *,
        at: str = "",
        pid: int = 0,
    ) -> str:
        """What ``target``'s server on ``proto`` (tcp or udp) answers ``source`` within
        ``timeout`` seconds (empty: nothing), at ``target``'s address, or at ``at``. A socket
        opened in the network namespace of the source container's process (its :meth:`pid`,
        unless given), with no ``docker exec``: fast enough to time."""
        source_ns = f"/proc/{pid or self.pid(source)}/ns/net"
        address = at or self.containers[target].address
        kind, port = (socket.SOCK_STREAM, PORT) if proto == "tcp" else (socket.SOCK_DGRAM, UDP_PORT)
        with netns.entered(source_ns):
            sock = socket.socket(socket.AF_INET, kind)
        with sock:
            sock.settimeout(timeout)
            try:
                sock.connect((address, port))
                if kind == socket.SOCK_DGRAM:
                    sock.send(b"probe\n")
                return sock.recv(256).decode().strip()
            except OSError:
                return ""

    def pid(self, name: str) -> int:
        """The PID of container ``name``'s first process, as this machine numbers it."""
        host = self.containers[name].host
        return int(self.docker(host, "inspect", "-f", "{{.State.Pid}}", name))

    def address(self, host: str, name: str, network: str) -> str:
        """The address docker records for container ``name`` on ``network`` now."""
        index = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        return self.docker(host, "inspect", "-f", index, name)

    def refresh(self, name: str) -> Container:
        """Container ``name`` as docker records it now (its address may have changed)."""
        old = self.containers[name]
        fresh = Container(
            name, old.host, old.network, self.address(old.host, name, old.network), old.hostname
        )
        self.containers[name] = fresh
        return fresh

    def running_addresses(self, host: str) -> set[str]:
        """The addresses of every running container of ``host``'s dockerd, on any network."""
        ids = self.docker(host, "ps", "-q").split()
        if not ids:
            return set()
        each = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        return set(self.docker(host, "inspect", "-f", each, *ids).split())

    def docker_allocations(self, host: str) -> dict[str, str]:
        """Address → key of each Docker allocation romanad holds for ``host``."""
        held = {}
        for alloc in self.made.api.list_allocations(host):
            if str(alloc["key"]).startswith("docker-"):
                for address in alloc["addresses"]:
                    held[str(address)] = str(alloc["key"])
        return held

    def leaks(self) -> dict[str, tuple[set[str], set[str]]]:
        """Host → (addresses allocated but run by no container, run but not allocated), for
        each host where the two differ; empty: every Docker allocation belongs to a running
        container and every running container's address is allocated."""
        found = {}
        for host in self.dockerd:
            allocated = set(self.docker_allocations(host))
            running = self.running_addresses(host)
            if allocated != running:
                found[host] = (allocated - running, running - allocated)
        return found

    def veths(self, host: str) -> set[str]:
        ns = self.made.host(host).ns
        done = self.made.lab.run(ns, ["ip", "-o", "link", "show", "type", "veth"])
        return {line.split(": ")[1].split("@")[0] for line in done.stdout.splitlines()}

    def routed(self, host: str, address: str) -> list[str]:
        """Routes of ``host`` (any table) whose destination is ``address``."""
        ns = self.made.host(host).ns
        done = self.made.lab.run(ns, ["ip", "-4", "route", "show", "table", "all"])
        found = []
        for line in done.stdout.splitlines():
            words = line.split()
            destination = words[1] if words[0] in ROUTE_TYPES else words[0]
            if destination in (address, f"{address}/32"):
                found.append(line)
        return found

    def allocated(self, address: str) -> bool:
        return self.made.api.decode(address)["allocation"] is not None

    def owned(self) -> tuple[list[str], list[str]]:
        """Every allocation key and every Docker pool romanad holds."""
        keys = sorted(a["key"] for a in self.made.api.list_allocations())
        pools = sorted(p["pool"] for p in self.made.api.list_docker_pools())
        return keys, pools

    def logs(self) -> str:
        parts = [self.made.log_tails()]
        parts += [f"--- dockerd {n}\n{d.log_tail()}" for n, d in self.dockerd.items()]
        return "\n".join(parts)


@contextlib.contextmanager
def udp_servers(world: World) -> Iterator[None]:
    """Every container of ``world`` answers each datagram to its address on UDP
    :data:`UDP_PORT` with its host name, from a socket bound in its network namespace by a
    thread of the test, until the block ends (the containers must not restart meanwhile)."""
    stop = threading.Event()
    sockets = []
    for container in world.containers.values():
        with netns.entered(f"/proc/{world.pid(container.name)}/ns/net"):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((container.address, UDP_PORT))
        sockets.append((sock, container.hostname.encode()))

    def serve() -> None:
        answers = dict(sockets)
        while not stop.is_set():
            ready, _, _ = select.select(list(answers), [], [], 0.1)
            for sock in ready:
                _, sender = sock.recvfrom(256)
                sock.sendto(answers[sock], sender)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for sock, _ in sockets:
            sock.close()


def run(
    world: World,
    name: str,
    host: str,
    network: str,
    options: Sequence[str] = (),
    command: str = SERVE,
) -> Container:
    """A container running ``command`` (serving its host name: :data:`SERVE`), attached to
    ``network`` only; ``options`` go to ``docker run`` (``--restart always``).

    ``--init`` (dockerd's docker-init as PID 1): the command ends on SIGTERM as a service does,
    so ``docker stop``, ``docker restart`` and dockerd's shutdown stop the container at once,
    instead of waiting the 10 s grace for a PID 1 that ignores SIGTERM before killing it.
    """
    world.docker(
        host, "run", "-d", "--init", "--name", name, "--network", network, *options, IMAGE,
        "sh", "-c", command,
    )  # fmt: skip
    hostname = world.docker(host, "exec", name, "hostname")
    container = Container(name, host, network, world.address(host, name, network), hostname)
    world.containers[name] = container
    return container


def create(world: World, network: str, host: str, tenant: str, segment: str) -> str:
    """``docker network create`` of a romana network on ``host``; its Docker id."""
    return world.docker(
        host, "network", "create", "-d", DRIVER, "--ipam-driver", DRIVER,
        "-o", f"romana.tenant={tenant}", "-o", f"romana.segment={segment}", network,
    )  # fmt: skip


@contextlib.contextmanager
def started(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    segments: Mapping[str, Sequence[str]],
    networks: Mapping[str, tuple[str, str, str]],
    topology: Mapping[str, Any] | None = None,
    isolation: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[World]:
    """The rig of the module docstring on the firewall backend ``request.param``: tenant →
    its segments besides ``default``, Docker network → (the host that creates it, its
    tenant, its segment), romanad's ``topology`` (:func:`romana.lab.topologies.pods` unless
    given), tenant → its isolation where not romana's default. Logs are printed when the
    body fails."""
    firewall = str(request.param)
    # Short: dockerd's containerd keeps Unix sockets (at most 107 bytes) deep below it.
    work = tmp_path_factory.mktemp(f"docker-{firewall}")
    busybox = env.need_docker()
    image = ociimage.build(work / "image", busybox)
    with cluster(work, firewall, hosts=2, docker=True, topology=topology) as made:
        world = World(made, {}, {})
        try:
            for tenant, extra in segments.items():
                made.api.create_tenant(tenant, isolation=(isolation or {}).get(tenant))
                for segment in extra:
                    made.api.add_segment(tenant, segment)
            with lab_docker.running(made, image.rootfs) as world.dockerd:
                for network, (host, tenant, segment) in networks.items():
                    create(world, network, host, tenant, segment)
                yield world
        except BaseException:
            print(world.logs())
            raise
