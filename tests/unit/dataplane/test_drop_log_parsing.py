"""What the agent reads of attributed drops: logged packets off netlink, counts off listings."""

from __future__ import annotations

import socket
import struct

from romana.core import kernelnames
from romana.dataplane import dropcounters, droplog, nlsock

PREFIX = f"{kernelnames.DROP_LOG_PREFIX}00000000abcd"


def ipv4(proto: int, l4: bytes) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(l4),
        0,
        0,
        64,
        proto,
        0,
        bytes([10, 0, 1, 5]),
        bytes([10, 0, 2, 7]),
    )
    return header + l4


def ipv6(next_header: int, l4: bytes) -> bytes:
    src = socket.inet_pton(socket.AF_INET6, "fd00::1:1:5")
    dst = socket.inet_pton(socket.AF_INET6, "fd00::5:2:7")
    return struct.pack("!IHBB", 6 << 28, len(l4), next_header, 64) + src + dst + l4


def logged_message(payload: bytes, prefix: str = PREFIX, seq: int | None = None) -> bytes:
    body = struct.pack("!BBH", socket.AF_INET, 0, kernelnames.DROP_LOG_GROUP)
    body += nlsock.string(droplog.NFULA_PREFIX, prefix) + nlsock.attr(
        droplog.NFULA_PAYLOAD, payload
    )
    if seq is not None:
        body += nlsock.attr(droplog.NFULA_SEQ, struct.pack("!I", seq))
    kind = droplog.NFNL_SUBSYS_ULOG << 8 | droplog.NFULNL_MSG_PACKET
    frame = struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body
    return frame + b"\0" * (-len(frame) % 4)


def test_tcp_over_ipv4_names_addresses_and_ports() -> None:
    packet = droplog.parse_packet(PREFIX, ipv4(6, struct.pack("!HH", 40000, 22) + b"\0" * 16))
    assert packet == droplog.Logged(PREFIX, "10.0.1.5", "10.0.2.7", "tcp", sport=40000, dport=22)


def test_icmpv6_names_type_and_code() -> None:
    packet = droplog.parse_packet(PREFIX, ipv6(58, bytes([128, 0, 0, 0])))
    assert packet == droplog.Logged(
        PREFIX, "fd00::1:1:5", "fd00::5:2:7", "icmpv6", icmp_type=128, icmp_code=0
    )


def test_a_copy_too_short_for_ports_keeps_the_addresses() -> None:
    packet = droplog.parse_packet(PREFIX, ipv4(17, b"\x01"))
    assert packet is not None and (packet.proto, packet.sport) == ("udp", None)
    assert droplog.parse_packet(PREFIX, b"\x45\0") is None


def test_a_datagram_holds_packets_and_acks() -> None:
    ack = struct.pack("=IHHII", 36, nlsock.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", 0) + b"\0" * 16
    data = logged_message(ipv4(17, struct.pack("!HH", 5353, 53)), seq=4) + ack
    packets, acks = droplog.parse_messages(data)
    assert acks == [0]
    assert [(p.dport, seq) for p, seq in packets] == [(53, 4)]


def test_the_bind_message_asks_for_packets_at_once_and_numbered() -> None:
    message = droplog.config_message(7, 1)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", message)
    assert (length, kind, seq) == (len(message), droplog.NFNL_SUBSYS_ULOG << 8 | 1, 1)
    assert flags & nlsock.NLM_F_ACK
    assert struct.unpack_from("!BBH", message, 16)[2] == 7
    found = nlsock.attrs(message, 20)
    assert found[droplog.NFULA_CFG_CMD] == bytes([droplog.NFULNL_CFG_CMD_BIND])
    assert struct.unpack("!IBx", found[droplog.NFULA_CFG_MODE]) == (droplog.COPY_BYTES, 2)
    assert struct.unpack("!I", found[droplog.NFULA_CFG_QTHRESH]) == (1,)


def nft_rule(chain: str, *expr: dict[str, object]) -> dict[str, object]:
    return {"rule": {"family": "inet", "table": "romana", "chain": chain, "expr": list(expr)}}


def test_nft_counts_pair_each_log_rule_with_the_drop_after_it() -> None:
    log: dict[str, object] = {"log": {"group": 7, "prefix": PREFIX}}
    listing = {
        "nftables": [
            {"metainfo": {}},
            nft_rule("a", {"limit": {}}, {"counter": {"packets": 3, "bytes": 1}}, log),
            nft_rule("a", {"counter": {"packets": 9, "bytes": 1}}, {"drop": None}),
            nft_rule("a", {"accept": None}),
            nft_rule("a", {"counter": {"packets": 2, "bytes": 1}}, log),
            nft_rule("a", {"counter": {"packets": 2, "bytes": 1}}, {"drop": None}),
            nft_rule("b", {"counter": {"packets": 1, "bytes": 1}}, log),
            nft_rule("c", {"counter": {"packets": 5, "bytes": 1}}, {"drop": None}),
        ]
    }
    assert dropcounters.from_nft(listing) == {("a", 0xABCD, 0): (9, 3), ("a", 0xABCD, 1): (2, 2)}
    assert dropcounters.from_nft(None) == {}


def test_iptables_counts_per_family() -> None:
    saved = "\n".join(
        [
            "*filter",
            ":ROMANA-X - [0:0]",
            "[4:240] -A ROMANA-X -p tcp -m limit --limit 10/sec -j NFLOG "
            f"--nflog-prefix {PREFIX} --nflog-group 7",
            "[11:660] -A ROMANA-X -p tcp -j DROP",
            f"[1:60] -A OTHER -j NFLOG --nflog-prefix {PREFIX}",
            "[1:60] -A OTHER -j DROP",
            "COMMIT",
        ]
    )
    assert dropcounters.from_iptables_save(saved) == {("ROMANA-X", 0xABCD, 0): (11, 4)}
    assert dropcounters.from_iptables_save(saved, 6) == {("ROMANA-X/6", 0xABCD, 0): (11, 4)}
