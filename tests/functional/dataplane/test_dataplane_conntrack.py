"""Forgetting the conntrack flows of released addresses (:mod:`romana.dataplane.conntrack`),
against real flows in a real kernel table.

Each test builds its own lab: two namespaces joined by a bridge in a third (``h1`` holds
the workload addresses, ``h2`` is the host whose table is read and cleaned), with test-range
addresses only, deleted on exit. Conntrack runs in ``h2`` because an nftables table there
uses it; every flow is made by sockets or ping inside the lab, never in the root namespace.
The table is read with the ``conntrack`` tool, which the code under test does not use, so
the two cannot agree by sharing a mistake.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from romana.agent.kernel import Reaper
from romana.core.errors import RomanaError, Unavailable
from romana.dataplane import conntrack, nlsock
from romana.dataplane import netns as netns_mod
from romana.lab import Host, Lab
from support import env

pytestmark = pytest.mark.root

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

CTA_TUPLE_ORIG, CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST = 1, 2
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3

GONE4 = ipaddress.IPv4Address("198.18.0.11")
GONE6 = ipaddress.IPv6Address("2001:db8:ff::11")
KEPT4 = ipaddress.IPv4Address("198.18.0.21")
KEPT6 = ipaddress.IPv6Address("2001:db8:ff::21")
ZONE = 7
ZONE_PORT = 40007

# Paths through forget: one unfiltered dump filtered in Python, or the kernel's filter
# (IPv4) plus an IPv6 family dump. Both must find the same entries.
PATHS = {"one-dump": conntrack.FULL_DUMP_LIMIT, "kernel-filter": 0}


@dataclass(frozen=True)
class Entry:
    """One line of ``conntrack -L``: protocol, original tuple and zone (``key``), TCP state."""

    proto: str
    src: Address
    dst: Address
    key: str
    state: str

    def names(self, address: Address) -> bool:
        return address in (self.src, self.dst)


def _parse(line: str) -> Entry:
    words = line.split()
    original: list[str] = []
    seen: set[str] = set()
    for word in words[2:]:
        name = word.split("=", 1)[0]
        if "=" in word and name in seen:
            break  # the reply tuple starts
        if "=" in word:
            seen.add(name)
            original.append(word)
    values = dict(word.split("=", 1) for word in original)
    zone = next((w for w in words if w.startswith("zone=")), "zone=0")
    state = next((w for w in words[3:5] if w.isupper() and "=" not in w), "")
    return Entry(
        proto=words[0],
        src=ipaddress.ip_address(values["src"]),
        dst=ipaddress.ip_address(values["dst"]),
        key=" ".join([words[0], *original, zone]),
        state=state,
    )


@dataclass
class Bed:
    lab: Lab
    h1: Host
    h2: Host
    sock: nlsock.Socket
    keep: list[socket.socket] = field(default_factory=list)

    def entries(self) -> list[Entry]:
        out = self.lab.run(self.h2, ["conntrack", "-L"]).stdout
        return [_parse(line) for line in out.splitlines() if line.strip()]

    def of(self, address: Address) -> list[Entry]:
        return [e for e in self.entries() if e.names(address)]

    def socket_in(self, node: Host, address: Address, kind: int) -> socket.socket:
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        with netns_mod.entered(node.path):
            sock = socket.socket(family, kind)
        self.keep.append(sock)
        sock.settimeout(3)
        return sock

    def tcp(self, client: Host, client_ip: Address, server: Host, server_ip: Address) -> None:
        """A TCP connection from client_ip to server_ip, kept open until teardown."""
        listener = self.socket_in(server, server_ip, socket.SOCK_STREAM)
        listener.bind((str(server_ip), 0))
        listener.listen(1)
        conn = self.socket_in(client, client_ip, socket.SOCK_STREAM)
        conn.bind((str(client_ip), 0))
        conn.connect((str(server_ip), listener.getsockname()[1]))
        accepted, _ = listener.accept()
        self.keep.append(accepted)

    def udp(self, client: Host, client_ip: Address, server_ip: Address, port: int = 0) -> None:
        """One datagram from client_ip (no answer needed: the entry is made by the first
        packet)."""
        sock = self.socket_in(client, client_ip, socket.SOCK_DGRAM)
        sock.bind((str(client_ip), 0))
        sock.sendto(b"romana-test", (str(server_ip), port or 9))

    def ping(self, client: Host, client_ip: Address, server_ip: Address) -> None:
        argv = ["ping", "-n", "-q", "-c", "1", "-W", "2", "-I", str(client_ip), str(server_ip)]
        self.lab.run(client, argv)

    def flows_of(self, address: Address) -> None:
        """TCP, UDP and ICMP with ``address`` (on h1) as original source and destination."""
        peer = self.h2.underlay_ip if address.version == 4 else self.h2.underlay_ip6
        self.tcp(self.h1, address, self.h2, peer)
        self.tcp(self.h2, peer, self.h1, address)
        self.udp(self.h1, address, peer)
        self.udp(self.h2, peer, address)
        self.ping(self.h1, address, peer)
        self.ping(self.h2, peer, address)


CONNTRACK_IN_H2 = f"""
table inet romanatest {{
  chain raw {{
    type filter hook prerouting priority raw;
    ip saddr {GONE4} udp dport {ZONE_PORT} ct zone set {ZONE}
    ip6 saddr {GONE6} udp dport {ZONE_PORT} ct zone set {ZONE}
  }}
  chain input {{
    type filter hook input priority 0;
    ct state new counter
  }}
  chain output {{
    type filter hook output priority 0;
    ct state new counter
  }}
}}
"""


@pytest.fixture
def bed(lab: Lab) -> Iterator[Bed]:
    env.need_binary("conntrack")
    env.need_binary("nft")
    h1 = lab.add_host("h1")
    h2 = lab.add_host("h2")
    for address in (GONE4, KEPT4):
        lab.run(h1, ["ip", "addr", "add", f"{address}/24", "dev", h1.ifname])
    for address6 in (GONE6, KEPT6):
        lab.run(h1, ["ip", "addr", "add", f"{address6}/64", "dev", h1.ifname, "nodad"])
    lab.run(h2, ["nft", "-f", "-"], input=CONNTRACK_IN_H2)
    made = Bed(lab, h1, h2, nlsock.Socket(nlsock.NETLINK_NETFILTER, h2.path))
    try:
        yield made
    finally:
        for sock in made.keep:
            sock.close()
        made.sock.close()


@pytest.fixture
def flows(bed: Bed) -> Bed:
    """Flows of all four h1 addresses in h2's table, and a UDP flow of each GONE in zone 7."""
    for address in (GONE4, GONE6, KEPT4, KEPT6):
        bed.flows_of(address)
    bed.udp(bed.h1, GONE4, bed.h2.underlay_ip, ZONE_PORT)
    bed.udp(bed.h1, GONE6, bed.h2.underlay_ip6, ZONE_PORT)
    return bed


@pytest.mark.parametrize("limit", PATHS.values(), ids=PATHS.keys())
@pytest.mark.parametrize("gone", [GONE4, GONE6], ids=["ipv4", "ipv6"])
def test_forget_deletes_every_flow_of_the_address_and_only_those(
    flows: Bed, gone: Address, limit: int
) -> None:
    before = flows.entries()
    doomed = [e for e in before if e.names(gone)]
    kept = {e.key for e in before if not e.names(gone)}
    assert {e.proto for e in doomed} >= {"tcp", "udp", "icmp" if gone.version == 4 else "icmpv6"}
    assert any(e.src == gone for e in doomed) and any(e.dst == gone for e in doomed)
    assert any(f"zone={ZONE}" in e.key for e in doomed)

    assert conntrack.forget(flows.sock, [gone], full_dump_limit=limit) == len(doomed)

    after = flows.entries()
    assert [e for e in after if e.names(gone)] == []
    assert kept <= {e.key for e in after}
    assert conntrack.forget(flows.sock, [gone], full_dump_limit=limit) == 0


@pytest.mark.parametrize("limit", PATHS.values(), ids=PATHS.keys())
def test_one_call_forgets_several_addresses_of_both_families(flows: Bed, limit: int) -> None:
    doomed = [e for e in flows.entries() if e.names(GONE4) or e.names(GONE6)]

    assert conntrack.forget(flows.sock, [GONE4, GONE6, GONE4], full_dump_limit=limit) == len(doomed)

    left = flows.entries()
    assert not [e for e in left if e.names(GONE4) or e.names(GONE6)]
    assert flows.of(KEPT4) and flows.of(KEPT6)


@pytest.mark.parametrize("limit", PATHS.values(), ids=PATHS.keys())
def test_an_address_without_flows_returns_0_quickly_and_deletes_nothing(
    flows: Bed, limit: int
) -> None:
    before = {e.key for e in flows.entries()}
    unused = [ipaddress.ip_address("198.18.0.99"), ipaddress.ip_address("2001:db8:ff::99")]
    started = time.perf_counter()

    assert conntrack.forget(flows.sock, unused, full_dump_limit=limit) == 0

    assert time.perf_counter() - started < 0.5
    assert before <= {e.key for e in flows.entries()}


def test_an_empty_table_or_no_address_returns_0(bed: Bed) -> None:
    assert bed.entries() == []
    assert conntrack.forget(bed.sock, [GONE4, GONE6]) == 0
    assert conntrack.forget(bed.sock, []) == 0


def test_only_the_table_of_the_sockets_namespace_is_cleaned(flows: Bed) -> None:
    lab, h1 = flows.lab, flows.h1
    lab.run(h1, ["nft", "-f", "-"], input=CONNTRACK_IN_H2)
    flows.udp(h1, GONE4, flows.h2.underlay_ip)
    assert "src=198.18.0.11" in lab.run(h1, ["conntrack", "-L"]).stdout
    in_h2 = flows.of(GONE4)

    with nlsock.Socket(nlsock.NETLINK_NETFILTER, h1.path) as sock:
        assert conntrack.forget(sock, [GONE4]) == 1

    assert "src=198.18.0.11" not in lab.run(h1, ["conntrack", "-L"]).stdout
    assert {e.key for e in flows.of(GONE4)} >= {e.key for e in in_h2}


def test_a_forgotten_tcp_connection_is_not_taken_back_as_established(bed: Bed) -> None:
    """With an established-only firewall, the old flow's next packet is a new, non-SYN
    packet and is dropped: the forgotten entry does not come back."""
    peer = bed.h2.underlay_ip
    listener = bed.socket_in(bed.h2, peer, socket.SOCK_STREAM)
    listener.bind((str(peer), 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    bed.lab.run(
        bed.h2,
        ["nft", "-f", "-"],
        input=(
            "table inet romanatest {\n"
            "  chain guard {\n"
            "    type filter hook input priority 10; policy accept;\n"
            f"    tcp dport {port} ct state established accept\n"
            f"    tcp dport {port} ct state new tcp flags & (syn | ack) == syn accept\n"
            f"    tcp dport {port} counter drop\n"
            "  }\n"
            "}\n"
        ),
    )
    client = bed.socket_in(bed.h1, GONE4, socket.SOCK_STREAM)
    client.bind((str(GONE4), 0))
    client.connect((str(peer), port))
    server, _ = listener.accept()
    bed.keep.append(server)
    server.settimeout(1.0)
    client.sendall(b"before")
    assert server.recv(16) == b"before"
    assert [e.state for e in bed.of(GONE4) if e.proto == "tcp"] == ["ESTABLISHED"]

    assert conntrack.forget(bed.sock, [GONE4]) == 1

    client.sendall(b"after")
    with pytest.raises(TimeoutError):
        server.recv(16)
    assert not [e for e in bed.of(GONE4) if e.state == "ESTABLISHED"]


def test_a_failed_batch_leaves_the_socket_usable(flows: Bed) -> None:
    """More answers than the receive buffer holds: the batch fails, and the next call
    works (the lost answers are not waited for)."""
    nfgenmsg = struct.pack("=BBH", socket.AF_INET, 0, 0)
    tuple_ip = nlsock.nested(
        CTA_TUPLE_IP,
        nlsock.attr(CTA_IP_V4_SRC, GONE4.packed),
        nlsock.attr(CTA_IP_V4_DST, GONE4.packed),
    )
    tuple_proto = nlsock.nested(
        CTA_TUPLE_PROTO,
        nlsock.u8(CTA_PROTO_NUM, socket.IPPROTO_UDP),
        nlsock.attr(CTA_PROTO_SRC_PORT, struct.pack("!H", 1)),
        nlsock.attr(CTA_PROTO_DST_PORT, struct.pack("!H", 1)),
    )
    missing = nlsock.Request(
        (conntrack.NFNL_SUBSYS_CTNETLINK << 8) | conntrack.IPCTNL_MSG_CT_DELETE,
        nfgenmsg + nlsock.nested(CTA_TUPLE_ORIG, tuple_ip, tuple_proto),
        "conntrack delete of a flow that never was",
        ok=(errno.ENOENT,),
    )
    assert flows.sock.transact([missing] * 100) == [[]] * 100
    with pytest.raises(Unavailable):
        flows.sock.transact([missing] * 1000)

    doomed = flows.of(GONE4)
    assert conntrack.forget(flows.sock, [GONE4]) == len(doomed) > 0


def test_the_agent_forgets_the_flows_of_released_addresses(flows: Bed) -> None:
    dataplane = Reaper(netns=flows.h2.path)
    try:
        dataplane.forget_flows([GONE4, GONE6])
    finally:
        dataplane.close()
    assert not flows.of(GONE4) and not flows.of(GONE6)
    assert flows.of(KEPT4) and flows.of(KEPT6)


def test_the_agent_logs_and_carries_on_when_flows_cannot_be_forgotten(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    host = lab.add_host("h1")
    dataplane = Reaper(netns=host.path)
    try:
        lab.remove_namespace(host)
        with caplog.at_level(logging.WARNING, "romana.agent.kernel"):
            dataplane.forget_flows([GONE4])
    finally:
        with contextlib.suppress(RomanaError, OSError):
            dataplane.close()
    assert "not forgotten" in caplog.text
