"""Acceptance: containerd (``ctr run --cni``) and podman start containers on romana.

Two lab hosts, each with its own romana-agent, containerd and podman inside its namespace
(``runtimes``). The runtimes call ``romana-cni`` themselves, from their own configuration:

=========  ======  =======  ===================================================================
container  host    runtime  network (tenant and segment from the conflist)
=========  ======  =======  ===================================================================
``a``      h1      ctr      ``romana-ctr``: label ``romana.io/tenant=t1`` in ``args.cni.labels``
``b``      h1      podman   ``romana-t2``: key ``tenant: t2``, label ``romana.io/segment=blue``
``c``      h2      podman   ``romana-t1``: label ``romana.io/tenant=t1``
``d``      h2      ctr      ``romana-ctr`` (h2's agent)
=========  ======  =======  ===================================================================

Each container serves its own name on TCP port :data:`PORT` (busybox ``nc``); probes run
inside the containers with ``ctr task exec`` / ``podman exec``. The last test removes the
containers through the runtimes and demands that nothing of them is left on either host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import time
from collections.abc import Iterator

import ociimage
import pytest
from cnilab import EXECUTABLE, HostState, conflist, mentions, netconf, settle, snapshot
from runtimes import MACHINE_DIRS, Containerd, Podman, mounts_under

from romana.core import errors
from romana.dataplane import netns as netns_mod
from romana.lab import Cluster, Host
from support import env
from support.podmanconf import MachineDirs
from support.wait import RELEASE_WITHIN

pytestmark = pytest.mark.root

PORT = 7777
LISTEN = ["sh", "-c", f'exec nc -ll -p {PORT} -e echo "$0"']


@dataclasses.dataclass
class Container:
    name: str
    host: Host
    runtime: Containerd | Podman
    tenant: str
    segment: str
    container_id: str = ""
    address: str = ""

    def exec(self, *argv: str) -> tuple[int, str]:
        done = self.runtime.exec(self.name, argv)
        return done.returncode, done.stdout

    def fetch(self, other: Container, wait: int = 2) -> str:
        """What ``other``'s listener answers to a TCP connection from inside this container."""
        return self.exec("nc", "-w", str(wait), other.address, str(PORT))[1].strip()

    def pings(self, other: Container, wait: int = 2) -> bool:
        return self.exec("ping", "-c", "1", "-W", str(wait), other.address)[0] == 0


@dataclasses.dataclass
class Fleet:
    cluster: Cluster
    before: dict[str, HostState]
    containers: dict[str, Container] = dataclasses.field(default_factory=dict)

    def __getitem__(self, name: str) -> Container:
        return self.containers[name]

    def remove(self, container: Container) -> None:
        container.runtime.remove(container.name)
        del self.containers[container.name]


def _wait_for_ctr(cluster: Cluster, ctr: Containerd, container: Container) -> None:
    agent = cluster.agent(container.host)
    deadline = time.monotonic() + 30
    while True:
        proc = ctr.runs[container.name]
        if proc.poll() is not None:
            raise AssertionError(f"ctr run {container.name} exited:\n{ctr.log(container.name)}")
        with contextlib.suppress(errors.NotFound):
            found = agent.api.get_endpoint(container.container_id, "eth0")
            if ctr.running(container.name):
                container.address = found["addresses"][0]["address"].split("/")[0]
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{container.name} did not start:\n{ctr.log(container.name)}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def fleet(cni_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    for binary in ("containerd", "ctr", "runc", "podman", "unshare", "nsenter"):
        env.need_binary(binary)
    busybox = env.need_binary("busybox")
    env.need(os.path.isdir("/etc/cni/net.d"), "needs /etc/cni/net.d (installed with podman)")
    workdir = tmp_path_factory.mktemp("runtimes")
    image = ociimage.build(workdir / "image", busybox)
    h1, h2 = cni_cluster.hosts[:2]
    made = Fleet(cni_cluster, {h.name: snapshot(cni_cluster, h) for h in (h1, h2)})
    machine_dirs = MachineDirs(MACHINE_DIRS)
    ctrs: dict[str, Containerd] = {}
    podmans: dict[str, Podman] = {}
    try:
        for host in (h1, h2):
            agent = cni_cluster.agent(host)
            ctr = ctrs[host.name] = Containerd(
                host, workdir / f"{host.name}-ctd", EXECUTABLE, agent.socket
            )
            ctr.start()
            ctr.import_image(image)
            t1 = {"romana.io/tenant": "t1"}
            ctr.write_conflist(
                conflist(netconf(agent, name="romana-ctr", version="1.0.0", tenant=None, labels=t1))
            )
            podman = Podman(host, workdir / f"{host.name}-podman", EXECUTABLE, agent.socket)
            podmans[host.name] = podman.setup(image)
            podman.add_network(
                conflist(netconf(agent, name="romana-t1", version="1.0.0", tenant=None, labels=t1))
            )
            blue = {"romana.io/segment": "blue"}
            podman.add_network(
                conflist(
                    netconf(agent, name="romana-t2", version="1.0.0", tenant="t2", labels=blue)
                )
            )
        plan: list[tuple[str, Host, Containerd | Podman, str, str]] = [
            ("a", h1, ctrs["h1"], "t1", "default"),
            ("b", h1, podmans["h1"], "t2", "blue"),
            ("c", h2, podmans["h2"], "t1", "default"),
            ("d", h2, ctrs["h2"], "t1", "default"),
        ]
        for name, host, runtime, tenant, segment in plan:
            container = Container(name, host, runtime, tenant, segment)
            made.containers[name] = container
            if isinstance(runtime, Containerd):
                container.container_id = runtime.container_id(name)
                runtime.run(name, image, [*LISTEN, name])
            else:
                network = f"romana-{tenant}"
                container.container_id = runtime.run(name, network, image, [*LISTEN, name])
                answer = cni_cluster.agent(host).api.get_endpoint(container.container_id, "eth0")
                container.address = answer["addresses"][0]["address"].split("/")[0]
        for container in made.containers.values():
            if isinstance(container.runtime, Containerd):
                _wait_for_ctr(cni_cluster, container.runtime, container)
        yield made
    except BaseException:
        for ctr in ctrs.values():
            for name in ctr.runs:
                print(f"--- ctr run {name} on {ctr.host.name}\n{ctr.log(name)}")
        raise
    finally:
        runtimes: list[Containerd | Podman] = [*ctrs.values(), *podmans.values()]
        for runtime in runtimes:
            runtime.stop()
        left = mounts_under(workdir)
        machine_dirs.clean()
        assert not left, f"runtime mounts left behind: {left}"
        shutil.rmtree(workdir)


def test_containers_get_the_tenant_and_segment_of_their_network(fleet: Fleet) -> None:
    for container in fleet.containers.values():
        held = fleet.cluster.api.get_allocation(f"{container.container_id}:eth0")
        assert held["host"] == container.host.name
        assert (held["tenant"], held["segment"]) == (container.tenant, container.segment)
        assert held["addresses"] == [container.address]
        rc, out = container.exec("ip", "-4", "-o", "addr", "show", "dev", "eth0")
        assert rc == 0 and f"inet {container.address}/32 " in out, out
        rc, out = container.exec("ip", "-4", "route", "show", "default")
        assert rc == 0 and "onlink" in out.split(), out


def test_same_tenant_containers_reach_each_other_across_hosts(fleet: Fleet) -> None:
    a, c, d = fleet["a"], fleet["c"], fleet["d"]
    for src, dst in ((a, c), (c, a), (d, a), (a, d), (c, d)):
        assert src.pings(dst), f"{src.name} ({src.address}) cannot ping {dst.name}"
        assert src.fetch(dst) == dst.name, f"{src.name} has no TCP to {dst.name}"


def host_fetch(host: Host, address: str) -> str:
    with netns_mod.entered(host.path):
        sock = socket.socket()
    with sock:
        sock.settimeout(3)
        sock.connect((address, PORT))
        return sock.recv(64).decode().strip()


def test_containers_of_different_tenants_do_not_reach_each_other(fleet: Fleet) -> None:
    a, b, c = fleet["a"], fleet["b"], fleet["c"]
    # b itself serves: its own host reaches it, so silence below is isolation.
    assert host_fetch(b.host, b.address) == "b"
    for src, dst in ((b, c), (c, b), (a, b), (b, a)):
        assert src.fetch(dst, wait=1) == "", f"{src.name} ({src.tenant}) reached {dst.name}"
        assert not src.pings(dst, wait=1), f"{src.name} ({src.tenant}) pinged {dst.name}"


def test_removing_the_containers_leaves_nothing_behind(fleet: Fleet) -> None:
    cluster = fleet.cluster
    removed = list(fleet.containers.values())
    for container in removed:
        fleet.remove(container)
    for host in cluster.hosts[:2]:
        assert settle(cluster, host, fleet.before[host.name], within=RELEASE_WITHIN), snapshot(
            cluster, host
        )
    for container in removed:
        assert mentions(cluster, container.host, container.address) == []
        with pytest.raises(errors.NotFound):
            cluster.api.get_allocation(f"{container.container_id}:eth0")
    cache = "/var/lib/cni/results"
    cached = os.listdir(cache) if os.path.isdir(cache) else []
    ours = [n for n in cached for c in removed if n.endswith(f"-{c.container_id}-eth0")]
    assert ours == [], f"libcni result cache entries left: {ours}"
