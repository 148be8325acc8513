"""Throwaway network namespaces that simulate hosts and workloads: the ``Lab``.

Used by the demo, the root tests and the benchmarks (:mod:`romana.lab`).

A :class:`Lab` simulates a small cluster on one machine without touching the machine's own
network. Every namespace and link it creates is named with a fresh prefix (``rt`` + six hex
digits), so parallel runs cannot collide, and everything is deleted on exit, also after a
failure or a half-finished setup::

    underlay namespace  <p>-ul   bridge <p>br, one port <p>u<N> per host
    host namespace      <p>-h1   eth0 = 198.18.0.1/24 and 2001:db8:ff::1/64, joined to <p>br
    workload namespace  <p>-h1-a empty (lo up): the netns a runtime would hand to CNI

The underlay uses test ranges (198.18.0.0/24 from the benchmarking block, 2001:db8::/32) that
exist only inside these namespaces; no packet ever leaves them. New namespaces start with
forwarding off. A host may join another layer-2 :class:`Segment` than the flat underlay (a
rack of :mod:`romana.lab.fabric`): a bridge in some namespace of the lab, and its subnets.

Commands run with ``ip netns exec``, which is right for ip, nft, iptables, ipset, ping and
Python agents. Container runtimes (containerd, runc, podman, dockerd) must instead be
started with ``nsenter --net=<path>`` (:func:`nsenter_argv`): ``ip netns exec`` remounts
/sys in a private mount namespace, which hides the cgroup mounts runc needs.

Daemons are started with :meth:`Lab.popen_in` and stopped by PID on exit. TCP and UDP
listeners are sockets opened inside the destination namespace and served by a thread of
the test process, so probes need no extra processes and no port is ever fixed: each
listener binds port 0 in its own namespace and reports the port it got.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import signal
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from romana.dataplane import netns as netns_mod
from romana.lab.listener import Listener

UNDERLAY4 = ipaddress.IPv4Network("198.18.0.0/24")
UNDERLAY6 = ipaddress.IPv6Network("2001:db8:ff::/64")
NETNS_DIR = "/run/netns"


@dataclass(frozen=True)
class Node:
    """A namespace of the lab; ``ns`` is its name under /run/netns."""

    name: str
    ns: str

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.ns}"


@dataclass(frozen=True)
class Host(Node):
    index: int
    underlay_ip: ipaddress.IPv4Address
    underlay_ip6: ipaddress.IPv6Address
    ifname: str = "eth0"


@dataclass(frozen=True)
class Workload(Node):
    host: Host


@dataclass(frozen=True)
class Segment:
    """A layer-2 segment hosts join: ``bridge`` inside ``node``, and the subnets of its
    addresses."""

    node: Node
    bridge: str
    network4: ipaddress.IPv4Network
    network6: ipaddress.IPv6Network


def terminate(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None, grace: float = 5.0
) -> None:
    """Stop a daemon this lab started, by its PID: SIGTERM, then SIGKILL once it outlived
    ``grace`` seconds; reaped either way. Nothing for a process already gone."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def nsenter_argv(node: Node | str, argv: Sequence[str]) -> list[str]:
    """``argv`` run in the namespace with nsenter: the way to start container runtimes."""
    path = node.path if isinstance(node, Node) else f"{NETNS_DIR}/{node}"
    return ["nsenter", f"--net={path}", "--", *argv]


def _ns(node: Node | str) -> str:
    return node.ns if isinstance(node, Node) else node


def _ip(*argv: str, input: str | None = None) -> None:
    done = subprocess.run(["ip", *argv], input=input, text=True, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)} failed: {done.stderr.strip()}\n{input or ''}")


@dataclass
class Lab:
    """Namespaces with a unique prefix; a context manager that always cleans up."""

    prefix: str = field(default_factory=lambda: "rt" + secrets.token_hex(3))
    hosts: list[Host] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    _namespaces: list[str] = field(default_factory=list)
    _procs: list[subprocess.Popen[str]] = field(default_factory=list)
    _listeners: list[Listener] = field(default_factory=list)
    _underlay: Node | None = None

    def __post_init__(self) -> None:
        self.token = f"romana-lab-{self.prefix}".encode()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- building -------------------------------------------------------------------------

    def _netns(self, name: str) -> str:
        ns = f"{self.prefix}-{name}"
        self._namespaces.append(ns)  # before creating: cleanup must see half-made ones
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        # No duplicate address detection on links created here later: until DAD finishes
        # (a second or two) the kernel will not forward IPv6, and the lab's addresses are
        # unique by construction.
        subprocess.run(
            ["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
             "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"],
            check=True, capture_output=True,
        )  # fmt: skip
        return ns

    @property
    def underlay(self) -> Node:
        if self._underlay is None:
            node = Node("ul", self._netns("ul"))
            _ip(
                "-n",
                node.ns,
                "-batch",
                "-",
                input=(
                    f"link add {self.prefix}br type bridge mcast_snooping 0\n"
                    f"link set {self.prefix}br up\n"
                ),
            )
            self._underlay = node
        return self._underlay

    @property
    def segment(self) -> Segment:
        """The flat underlay as a segment: the one hosts join unless told otherwise."""
        return Segment(self.underlay, f"{self.prefix}br", UNDERLAY4, UNDERLAY6)

    def add_host(
        self,
        name: str,
        underlay_ip: str | None = None,
        underlay_ip6: str | None = None,
        *,
        segment: Segment | None = None,
    ) -> Host:
        """A host namespace whose ``eth0`` sits on ``segment`` (the underlay bridge unless
        given); its addresses default to the segment's subnets' host number ``index``."""
        index = len(self.hosts) + 1
        joined = segment or self.segment
        ip4 = ipaddress.IPv4Address(underlay_ip or joined.network4.network_address + index)
        ip6 = ipaddress.IPv6Address(underlay_ip6 or joined.network6.network_address + index)
        host = Host(name, self._netns(name), index, ip4, ip6)
        port = f"{self.prefix}u{index}"
        _ip(
            "-n",
            joined.node.ns,
            "-batch",
            "-",
            input=(
                f"link add {port} type veth peer name {host.ifname} netns {host.ns}\n"
                f"link set {port} master {joined.bridge} up\n"
            ),
        )
        _ip(
            "-n",
            host.ns,
            "-batch",
            "-",
            input=(
                f"addr add {ip4}/{joined.network4.prefixlen} dev {host.ifname}\n"
                f"addr add {ip6}/{joined.network6.prefixlen} dev {host.ifname} nodad\n"
                f"link set {host.ifname} up\n"
            ),
        )
        self.hosts.append(host)
        return host

    def add_workload(self, host: Host, name: str) -> Workload:
        """An empty namespace (lo up) standing for a container or VM on ``host``."""
        workload = Workload(name, self._netns(f"{host.name}-{name}"), host)
        self.workloads.append(workload)
        return workload

    def add_node(self, name: str) -> Node:
        """An empty namespace (lo up) of the lab: a router or a switch."""
        return Node(name, self._netns(name))

    def remove_namespace(self, node: Node) -> None:
        """Delete one namespace now, as a runtime does when a container goes away."""
        _ip("netns", "del", node.ns)

    # --- using ----------------------------------------------------------------------------

    def run(
        self,
        node: Node | str,
        argv: Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        timeout: float = 10.0,
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` inside the namespace via ``ip netns exec``; output captured as text."""
        return subprocess.run(
            ["ip", "netns", "exec", _ns(node), *argv],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def ping(self, src: Node | str, dst_ip: object, *, deadline: int = 3) -> bool:
        """True when one echo reply arrives within ``deadline`` seconds (retries inside).

        Echo requests go out every 0.2 s until one is answered, so a path that needs a
        moment (neighbour discovery on a fresh link) passes, and a blocked one costs the
        whole deadline: use :meth:`silent` to check that a path is blocked.
        """
        done = self.run(
            src,
            ["ping", "-n", "-q", "-c", "1", "-i", "0.2", "-w", str(deadline), str(dst_ip)],
            check=False,
            timeout=deadline + 5,
        )
        return done.returncode == 0

    def silent(self, src: Node | str, dst_ip: object, *, wait: float = 0.5) -> bool:
        """True when two echo requests to ``dst_ip`` get no reply within ``wait`` seconds.

        The negative of :meth:`ping`, kept short: inside namespaces a reply takes well under
        a millisecond, so half a second of silence means the path is blocked.
        """
        argv = ["ping", "-n", "-q", "-c", "2", "-i", "0.1", "-W", str(wait), str(dst_ip)]
        done = self.run(src, argv, check=False, timeout=wait + 5)
        # 1: no reply; 2 with "unreachable": no route at all. Anything else (a usage error)
        # must not pass for silence.
        return done.returncode == 1 or "unreachable" in done.stdout + done.stderr

    def listen(self, node: Node, proto: str = "tcp", port: int = 0) -> Listener:
        """A listener in ``node``; ``port`` 0 picks a free one (see ``Listener.port``)."""
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        listener = Listener(node, kind, self.token, port)
        self._listeners.append(listener)
        return listener

    def _client(self, src: Node, dst_ip: object, kind: int) -> socket.socket:
        family = (
            socket.AF_INET6 if ipaddress.ip_address(str(dst_ip)).version == 6 else (socket.AF_INET)
        )
        with netns_mod.entered(src.path):
            return socket.socket(family, kind)

    def tcp_probe(self, src: Node, dst_ip: object, port: int, timeout: float = 3.0) -> bool:
        """True when a TCP connection from ``src`` reaches a lab listener at dst_ip:port."""
        with self._client(src, dst_ip, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect((str(dst_ip), port))
                return sock.recv(len(self.token)) == self.token
            except OSError:
                return False

    def udp_probe(self, src: Node, dst_ip: object, port: int, timeout: float = 3.0) -> bool:
        """True when a UDP datagram from ``src`` gets a lab listener's answer."""
        with self._client(src, dst_ip, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                # connected, so an ICMP port unreachable ends the wait at once
                sock.connect((str(dst_ip), port))
                sock.send(b"probe")
                return sock.recv(len(self.token)) == self.token
            except OSError:
                return False

    def popen_in(
        self, node: Node | str, argv: Sequence[str], **kwargs: Any
    ) -> subprocess.Popen[str]:
        """Start a daemon inside the namespace; it is stopped by PID when the lab closes."""
        proc: subprocess.Popen[str] = subprocess.Popen(
            ["ip", "netns", "exec", _ns(node), *argv], text=True, **kwargs
        )
        self._procs.append(proc)
        return proc

    # --- cleaning up ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop daemons and listeners, delete every namespace; tolerant of partial setup."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=3)
        for listener in self._listeners:
            listener.close()
        self._procs.clear()
        self._listeners.clear()
        if self._namespaces:
            script = "".join(f"netns del {ns}\n" for ns in reversed(self._namespaces))
            subprocess.run(
                ["ip", "-force", "-batch", "-"],
                input=script,
                text=True,
                capture_output=True,
                check=False,
            )
        self._namespaces.clear()
        left = [ns for ns in _listed() if ns.startswith(self.prefix + "-")]
        if left:
            raise RuntimeError(f"lab namespaces left behind: {left}")


def _listed() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
