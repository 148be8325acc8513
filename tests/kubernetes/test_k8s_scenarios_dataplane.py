"""Every NetworkPolicy scenario on the real dataplane, with real TCP and UDP probes.

One :class:`romana.lab.Lab` per firewall backend holds the fixture's cluster: two host
namespaces on an underlay, one workload namespace per pod (its address from the address
plan, ``/32`` inside, the host's gateway as default route, a host-side veth whose name
starts with the agent's endpoint prefix) and servers for TCP and UDP on ports 80 and 81 in
every pod. Namespaces are shared by all scenarios; per phase the pods are re-addressed when
their segment changes and each host's ruleset is compiled and applied with the agent's own
firewall backends (:mod:`romana.agent.firewall`). Probes are real connections, all of one
phase's matrices opened at once, and compared with the same expected matrices as the
evaluator test.

SCTP: this kernel cannot open SCTP sockets (no module, none can be loaded), so SCTP probes
are judged by the evaluator only; here the SCTP rules are loaded into the kernel and the
TCP and UDP probes of the same scenarios show they open neither.
"""

from __future__ import annotations

import contextlib
import ipaddress
import selectors
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from kubernetes import fixtures
from romana.agent import firewall
from romana.core import addressing, hostplan
from romana.core.kubernetes import explain
from romana.core.policy import reach
from romana.dataplane import netns as netns_mod
from romana.lab import Lab, Node, Workload
from support import env

pytestmark = [pytest.mark.root, pytest.mark.slow]

PORTS = (80, 81)
TOKEN = b"romana-k8s-probe"
WAIT = 3.0
"""How long a connection that should pass may take to answer."""
GRACE = 0.3
"""How long, once every connection that should pass has answered, the others are still
watched: a wrongly allowed connection answers as fast as the allowed ones (milliseconds on
veths), so this is many times the time they took."""
SILENCE = 0.6
"""How long a phase where nothing should pass is watched."""


class Servers:
    """TCP and UDP servers on ports 80 and 81 in every workload, served by one thread."""

    def __init__(self, nodes: list[Workload]) -> None:
        self.sel = selectors.DefaultSelector()
        self.socks: list[socket.socket] = []
        for node in nodes:
            for port in PORTS:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with netns_mod.entered(node.path):
                        sock = socket.socket(socket.AF_INET, kind)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(("0.0.0.0", port))
                    if kind == socket.SOCK_STREAM:
                        sock.listen(64)
                    sock.setblocking(False)
                    self.sel.register(sock, selectors.EVENT_READ)
                    self.socks.append(sock)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.1):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                sock = ready
                with contextlib.suppress(OSError):
                    if sock.type == socket.SOCK_STREAM:
                        conn, _ = sock.accept()
                        with conn:
                            conn.sendall(TOKEN)
                    else:
                        _, peer = sock.recvfrom(64)
                        sock.sendto(TOKEN, peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        for sock in self.socks:
            sock.close()
        self.sel.close()


class Cluster:
    """The lab side of the fixture model: hosts, one workload per pod, addresses, rules."""

    def __init__(self, lab: Lab, backend: str) -> None:
        base = fixtures.model()
        net = base["network"]
        self.layout = addressing.layout(
            net["name"], net["cidr"], net["tenant_bits"], net["segment_bits"], net["endpoint_bits"]
        )
        self.lab = lab
        self.hosts = {name: lab.add_host(name) for name in base["hosts"]}
        self.index = dict(base["hosts"])
        self.pods: dict[str, Workload] = {}
        self.ifname: dict[str, str] = {}
        self.ips: dict[str, str] = {}
        script: dict[str, list[str]] = {h: [] for h in self.hosts}
        for ns in base["namespaces"]:
            for pod, host in base["pods"].items():
                key = f"{ns}/{pod}"
                node = lab.add_workload(self.hosts[host], f"{ns}{pod}")
                self.pods[key] = node
                self.ifname[key] = hostplan.host_ifname(key)
                script[host].append(
                    f"link add {self.ifname[key]} type veth peer name eth0 netns {node.ns}"
                )
                script[host].append(f"link set {self.ifname[key]} up")
        for name, host in self.hosts.items():
            lab.run(host, ["ip", "-batch", "-"], input="\n".join(script[name]) + "\n")
            lab.run(host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            for other, index in self.index.items():
                if other != name:
                    via = self.hosts[other].underlay_ip
                    prefix = addressing.host_prefix(self.layout, index)
                    lab.run(host, ["ip", "route", "add", str(prefix), "via", str(via)])
        self.firewalls = {
            name: firewall.backend(backend, netns=host.path) for name, host in self.hosts.items()
        }
        self.servers = Servers(list(self.pods.values()))

    def address(self, key: str, ip: str) -> None:
        """Give the pod ``ip`` (moving it when its segment changed), as the agent would."""
        if self.ips.get(key) == ip:
            return
        node, host = self.pods[key], self.pods[key].host
        gateway = addressing.gateway(self.layout, self.index[host.name])
        old = self.ips.get(key)
        inside = ["addr flush dev eth0", f"addr add {ip}/32 dev eth0", "link set eth0 up"]
        inside += [f"route add {gateway} dev eth0 scope link", f"route add default via {gateway}"]
        outside = [f"addr replace {gateway}/32 dev {self.ifname[key]}"]
        outside += [f"route del {old}/32"] if old else []
        outside += [f"route add {ip}/32 dev {self.ifname[key]}"]
        self.lab.run(node, ["ip", "-batch", "-"], input="\n".join(inside) + "\n")
        self.lab.run(host, ["ip", "-batch", "-"], input="\n".join(outside) + "\n")
        self.ips[key] = ip

    def program(self, phase: fixtures.Phase) -> None:
        for pod in phase.cluster.pods:
            self.address(pod.key, str(pod.ips[0]))
        explainer = reach.Explainer(explain.model(phase.cluster))
        for name, host in self.hosts.items():
            self.firewalls[name].apply(explainer.firewall(name).rules)
            self.lab.run(host, ["conntrack", "-F"], check=False)

    def node(self, src: str) -> Node:
        if src.startswith("node/"):
            return self.hosts[src.split("/", 1)[1]]
        return self.pods[src]

    def probe(self, probes: list[fixtures.Probe]) -> list[dict[tuple[str, str], bool]]:
        """Open every pair's connection of every probe at once (one wait for a phase, however
        many protocols and ports it probes); a pair passes when the server answers."""
        sel = selectors.DefaultSelector()
        pending: dict[socket.socket, tuple[int, tuple[str, str]]] = {}
        seen = [dict.fromkeys(probe.expected, False) for probe in probes]
        for index, probe in enumerate(probes):
            kind = socket.SOCK_STREAM if probe.protocol == "TCP" else socket.SOCK_DGRAM
            for src, dst in probe.expected:
                with netns_mod.entered(self.node(src).path):
                    sock = socket.socket(socket.AF_INET, kind)
                sock.setblocking(False)
                target = (self.ips[dst], probe.port)
                if kind == socket.SOCK_STREAM:
                    sock.connect_ex(target)
                else:
                    sock.connect(target)
                    sock.send(b"probe")
                sel.register(sock, selectors.EVENT_READ)
                pending[sock] = (index, (src, dst))
        awaited = sum(sum(probe.expected.values()) for probe in probes)
        deadline = time.monotonic() + (WAIT if awaited else SILENCE)
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                sock = ready
                index, pair = pending[sock]
                with contextlib.suppress(OSError):
                    seen[index][pair] = sock.recv(64) == TOKEN
                if seen[index][pair] and probes[index].expected[pair]:
                    awaited -= 1
                    if not awaited:  # the last one expected: the others get GRACE more
                        deadline = min(deadline, time.monotonic() + GRACE)
                sel.unregister(sock)
                sock.close()
                del pending[sock]
        for sock in pending:
            sock.close()
        sel.close()
        return seen

    def close(self) -> None:
        self.servers.close()


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    env.need_root()
    for binary in ("ip", "nft", "iptables", "iptables-restore", "ipset", "conntrack"):
        env.need_binary(binary)
    with Lab() as lab:
        built = Cluster(lab, request.param)
        try:
            yield built
        finally:
            built.close()


PHASES = fixtures.all_phases()


@pytest.mark.parametrize("phase", PHASES, ids=[p.id for p in PHASES])
def test_scenario_matrix_on_the_dataplane(cluster: Cluster, phase: fixtures.Phase) -> None:
    cluster.program(phase)
    probes = [p for p in phase.probes if p.protocol != "SCTP"]
    assert probes, "every scenario has at least one TCP or UDP probe"
    problems = [
        fixtures.table(probe, seen)
        for probe, seen in zip(probes, cluster.probe(probes), strict=True)
        if seen != probe.expected
    ]
    assert not problems, "\n".join(problems)


def test_pod_addresses_come_from_the_plan(cluster: Cluster) -> None:
    phase = PHASES[0]
    cluster.program(phase)
    for pod in phase.cluster.pods:
        decoded = addressing.decode(cluster.layout, ipaddress.ip_address(cluster.ips[pod.key]))
        assert decoded.host == cluster.index[pod.node]
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert cluster.lab.prefix in done.stdout
