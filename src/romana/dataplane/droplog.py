"""Read the packets the firewall logs to a netlink log group (``nfnetlink_log``).

The rendered rulesets log every attributed drop, rate-limited, to netlink log group
:data:`romana.core.kernelnames.DROP_LOG_GROUP` with the drop reason's id in the prefix
(nftables ``log group``, iptables ``NFLOG``). A :class:`Reader` binds that group in one
network namespace and turns each logged packet into a :class:`Logged`: the prefix, the
addresses, the protocol and the ports (or ICMP type and code) read from the first
:data:`COPY_BYTES` of the packet, which is all the kernel copies.

The group is configured to send each packet at once (queue threshold 1), not to batch
them for up to a second, and to number them (``NFULA_SEQ``), so packets the kernel could
not deliver — the socket's buffer was full — show as gaps and are counted in
:attr:`Reader.lost`, as are overflows the socket reports (``ENOBUFS``).

Invariants: one group has one reader per namespace (the kernel refuses a second bind,
raised as :class:`romana.core.errors.Unavailable`); closing the socket unbinds it.
A :class:`Reader` is used by one thread at a time.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from dataclasses import dataclass

from romana.core import errors, kernelnames
from romana.dataplane import netns as netns_mod
from romana.dataplane import nlsock

NFNL_SUBSYS_ULOG = 4
NFULNL_MSG_PACKET = 0
NFULNL_MSG_CONFIG = 1
NFULA_CFG_CMD = 1
NFULA_CFG_MODE = 2
NFULA_CFG_NLBUFSIZ = 3
NFULA_CFG_TIMEOUT = 4
NFULA_CFG_QTHRESH = 5
NFULA_CFG_FLAGS = 6
NFULNL_CFG_CMD_BIND = 1
NFULNL_COPY_PACKET = 2
NFULNL_CFG_F_SEQ = 0x1
NFULA_PAYLOAD = 9
NFULA_PREFIX = 10
NFULA_SEQ = 12

COPY_BYTES = 64
"""What the kernel copies of each packet: an IPv6 header and the first bytes after it."""
_RECV_BYTES = 1 << 16
_SOCKET_BUFFER = 1 << 20
_NFGENMSG = struct.Struct("!BBH")  # family, version, resource id (the group), big-endian
_HEADER = struct.Struct("=IHHII")
_PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}
_PORTED = frozenset({6, 17, 132})


@dataclass(frozen=True, slots=True)
class Logged:
    """One logged packet. ``proto``: a name (``tcp``) or the IP protocol number as text;
    ``sport``/``dport`` for TCP, UDP and SCTP, ``icmp_type``/``icmp_code`` for ICMP; None
    where the packet had none or the copy ended first."""

    prefix: str
    src: str
    dst: str
    proto: str
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None


def parse_packet(prefix: str, payload: bytes) -> Logged | None:
    """The addresses, protocol and ports of an IPv4 or IPv6 packet's first bytes; None when
    they are too short to hold its addresses."""
    if not payload:
        return None
    version = payload[0] >> 4
    src: ipaddress.IPv4Address | ipaddress.IPv6Address
    dst: ipaddress.IPv4Address | ipaddress.IPv6Address
    if version == 4 and len(payload) >= 20:
        header = (payload[0] & 0x0F) * 4
        number = payload[9]
        src = ipaddress.IPv4Address(payload[12:16])
        dst = ipaddress.IPv4Address(payload[16:20])
    elif version == 6 and len(payload) >= 40:
        header, number = 40, payload[6]
        src, dst = ipaddress.IPv6Address(payload[8:24]), ipaddress.IPv6Address(payload[24:40])
    else:
        return None
    rest = payload[header:]
    name = _PROTOCOLS.get(number, str(number))
    if number in _PORTED and len(rest) >= 4:
        sport, dport = struct.unpack_from("!HH", rest)
        return Logged(prefix, str(src), str(dst), name, sport=sport, dport=dport)
    if number in (1, 58) and len(rest) >= 2:
        return Logged(prefix, str(src), str(dst), name, icmp_type=rest[0], icmp_code=rest[1])
    return Logged(prefix, str(src), str(dst), name)


def config_message(group: int, seq: int) -> bytes:
    """Bind ``group``, copy :data:`COPY_BYTES` of each packet, send each packet at once,
    number them."""
    body = _NFGENMSG.pack(socket.AF_UNSPEC, 0, group)
    body += nlsock.attr(NFULA_CFG_CMD, bytes([NFULNL_CFG_CMD_BIND]))
    body += nlsock.attr(NFULA_CFG_MODE, struct.pack("!IBx", COPY_BYTES, NFULNL_COPY_PACKET))
    body += nlsock.attr(NFULA_CFG_QTHRESH, struct.pack("!I", 1))
    body += nlsock.attr(NFULA_CFG_TIMEOUT, struct.pack("!I", 0))
    body += nlsock.attr(NFULA_CFG_NLBUFSIZ, struct.pack("!I", 16384))
    body += nlsock.attr(NFULA_CFG_FLAGS, struct.pack("!H", NFULNL_CFG_F_SEQ))
    kind = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG
    flags = nlsock.NLM_F_REQUEST | nlsock.NLM_F_ACK
    return _HEADER.pack(_HEADER.size + len(body), kind, flags, seq, 0) + body


def parse_messages(data: bytes) -> tuple[list[tuple[Logged, int | None]], list[int]]:
    """The logged packets of one datagram, with their sequence numbers when the kernel gave
    them, and the errnos of the acknowledgements in it (0: success)."""
    packets: list[tuple[Logged, int | None]] = []
    acks: list[int] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            break
        body = data[offset + _HEADER.size : offset + length]
        offset += (length + 3) & ~3
        if kind == nlsock.NLMSG_ERROR:
            acks.append(-struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0)
        elif kind == (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET:
            found = nlsock.attrs(body, _NFGENMSG.size)
            prefix = nlsock.cstring(found.get(NFULA_PREFIX, b""))
            packet = parse_packet(prefix, found.get(NFULA_PAYLOAD, b""))
            seq_attr = found.get(NFULA_SEQ)
            seq = struct.unpack("!I", seq_attr)[0] if seq_attr and len(seq_attr) == 4 else None
            if packet is not None:
                packets.append((packet, seq))
    return packets, acks


class Reader(nlsock.Closing):
    """The packets logged to ``group`` in the namespace at ``netns`` (None: this one)."""

    def __init__(self, netns: str | None = None, group: int = kernelnames.DROP_LOG_GROUP) -> None:
        self.group = group
        self.netns = netns
        self.lost = 0
        """Packets the kernel logged but could not deliver (gaps, socket overflows)."""
        self._next_seq: int | None = None
        with netns_mod.entered(netns):
            sock = socket.socket(
                socket.AF_NETLINK,
                socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                nlsock.NETLINK_NETFILTER,
            )
        try:
            sock.bind((0, 0))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
            sock.settimeout(5.0)
            sock.sendall(config_message(group, 1))
            while True:
                _, acks = parse_messages(sock.recv(_RECV_BYTES))
                if acks:
                    break
        except OSError:
            sock.close()
            raise
        if acks[0]:
            sock.close()
            where = f"log group {group}" + (f" in {netns}" if netns else "")
            # The kernel answers EPERM to a bind of a group another socket holds (EBUSY
            # before Linux 3.x); EPERM is also the answer without CAP_NET_ADMIN.
            if acks[0] in (errno.EBUSY, errno.EPERM):
                raise errors.Unavailable(
                    f"{where} is bound by another process (ulogd?), or this one lacks CAP_NET_ADMIN"
                )
            raise nlsock.translate(acks[0], f"bind {where}", "", netns)
        self._sock = sock

    def close(self) -> None:
        self._sock.close()

    def receive(self, timeout: float) -> list[Logged]:
        """The packets logged since the last call, waiting up to ``timeout`` seconds for
        the first; [] when none came."""
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(_RECV_BYTES)
        except TimeoutError:
            return []
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
            # Some were dropped; how many, the next sequence number tells.
            return []
        packets, _ = parse_messages(data)
        out = []
        for packet, seq in packets:
            if seq is not None:
                if self._next_seq is not None and seq > self._next_seq:
                    self.lost += seq - self._next_seq
                self._next_seq = seq + 1
            out.append(packet)
        return out
