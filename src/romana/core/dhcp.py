"""DHCPv4 messages (RFC 2131, options RFC 2132) and the answer for one VM: no I/O.

The agent serves DHCPv4 on each VM's tap (:mod:`romana.agent.dhcp`). Every tap has exactly
one client, the VM, and exactly one address to give, the one romanad allocated for its
Neutron port, so there is no pool and no lease database here: :func:`answer` maps a request
to its reply given the :class:`Lease` of the tap.

* DISCOVER → OFFER of the lease; REQUEST for the lease's address (selecting, renewing,
  rebinding, init-reboot) → ACK; REQUEST for any other address → NAK, so a VM that kept an
  old address starts over at once; REQUEST naming another server → nothing (the client chose
  it). Every other message type (DECLINE, RELEASE, INFORM) and every BOOTREPLY → nothing.
* A reply carries the message type, the server identifier, the lease time with its renewal
  (1/2) and rebinding (7/8) times, the subnet mask, the router and, when known, the
  interface MTU; it is padded to the 300 bytes of a BOOTP message, which some clients insist
  on.

:func:`decode` refuses (:class:`Malformed`) what is not a DHCP message: too short, wrong magic
cookie, an option running past the end. Option overloading (``sname``/``file`` holding
options) is not read: nothing a VM sends to this server needs it.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

BOOTREQUEST, BOOTREPLY = 1, 2
SERVER_PORT, CLIENT_PORT = 67, 68
MAGIC = b"\x63\x82\x53\x63"
BOOTP_MIN = 300
"""The size of a BOOTP message (RFC 951); shorter replies are padded to it."""

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)

OPT_PAD, OPT_END = 0, 255
OPT_SUBNET_MASK = 1
OPT_ROUTER = 3
OPT_MTU = 26
OPT_REQUESTED_ADDRESS = 50
OPT_LEASE_TIME = 51
OPT_MESSAGE_TYPE = 53
OPT_SERVER_ID = 54
OPT_RENEWAL_TIME = 58
OPT_REBINDING_TIME = 59

_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
ZERO = ipaddress.IPv4Address(0)


class Malformed(ValueError):
    """The bytes are not a DHCP message this server reads."""


@dataclass(frozen=True, slots=True)
class Message:
    """One BOOTP/DHCP message; ``options`` maps an option code to its raw value."""

    op: int
    xid: int
    chaddr: bytes
    """The client's hardware address (``hlen`` bytes; 6 for Ethernet)."""
    flags: int = 0
    ciaddr: ipaddress.IPv4Address = ZERO
    yiaddr: ipaddress.IPv4Address = ZERO
    siaddr: ipaddress.IPv4Address = ZERO
    giaddr: ipaddress.IPv4Address = ZERO
    options: Mapping[int, bytes] = field(default_factory=dict)
    htype: int = 1
    hops: int = 0
    secs: int = 0

    @property
    def message_type(self) -> int | None:
        raw = self.options.get(OPT_MESSAGE_TYPE, b"")
        return raw[0] if len(raw) == 1 else None

    def address_option(self, code: int) -> ipaddress.IPv4Address | None:
        raw = self.options.get(code, b"")
        return ipaddress.IPv4Address(raw) if len(raw) == 4 else None


@dataclass(frozen=True, slots=True)
class Lease:
    """What one tap's VM is given: its address and how it reaches everything else."""

    address: ipaddress.IPv4Address
    prefixlen: int
    router: ipaddress.IPv4Address
    """The host's gateway address, also the server identifier."""
    seconds: int = 3600
    mtu: int | None = None

    @property
    def netmask(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Network(f"0.0.0.0/{self.prefixlen}").netmask


def decode(data: bytes) -> Message:
    """The message in ``data`` (a UDP payload); Malformed when it is not one."""
    if len(data) < _HEADER.size + len(MAGIC):
        raise Malformed(f"{len(data)} bytes is shorter than a DHCP message")
    op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, _, _ = _HEADER.unpack_from(
        data
    )
    if data[_HEADER.size : _HEADER.size + 4] != MAGIC:
        raise Malformed("no DHCP magic cookie")
    if hlen > 16:
        raise Malformed(f"hardware address length {hlen} is over 16")
    options: dict[int, bytes] = {}
    at = _HEADER.size + 4
    while at < len(data):
        code = data[at]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            at += 1
            continue
        if at + 1 >= len(data) or at + 2 + data[at + 1] > len(data):
            raise Malformed(f"option {code} runs past the end of the message")
        size = data[at + 1]
        # RFC 3396: an option split over several instances is their concatenation.
        options[code] = options.get(code, b"") + data[at + 2 : at + 2 + size]
        at += 2 + size
    return Message(
        op=op,
        xid=xid,
        chaddr=chaddr[:hlen],
        flags=flags,
        ciaddr=ipaddress.IPv4Address(ci),
        yiaddr=ipaddress.IPv4Address(yi),
        siaddr=ipaddress.IPv4Address(si),
        giaddr=ipaddress.IPv4Address(gi),
        options=options,
        htype=htype,
        hops=hops,
        secs=secs,
    )


def encode(message: Message) -> bytes:
    """The wire form of ``message``, options in code order, padded to :data:`BOOTP_MIN`."""
    header = _HEADER.pack(
        message.op,
        message.htype,
        len(message.chaddr),
        message.hops,
        message.xid,
        message.secs,
        message.flags,
        message.ciaddr.packed,
        message.yiaddr.packed,
        message.siaddr.packed,
        message.giaddr.packed,
        message.chaddr.ljust(16, b"\0"),
        b"",
        b"",
    )
    body = bytearray(header + MAGIC)
    for code in sorted(message.options):
        value = message.options[code]
        for start in range(0, max(len(value), 1), 255):  # RFC 3396 for long values
            chunk = value[start : start + 255]
            body += bytes((code, len(chunk))) + chunk
    body.append(OPT_END)
    return bytes(body.ljust(BOOTP_MIN, b"\0"))


def _reply(request: Message, kind: int, lease: Lease) -> Message:
    options: dict[int, bytes] = {
        OPT_MESSAGE_TYPE: bytes((kind,)),
        OPT_SERVER_ID: lease.router.packed,
    }
    yiaddr = ZERO
    if kind != NAK:
        yiaddr = lease.address
        options[OPT_LEASE_TIME] = struct.pack("!I", lease.seconds)
        options[OPT_RENEWAL_TIME] = struct.pack("!I", lease.seconds // 2)
        options[OPT_REBINDING_TIME] = struct.pack("!I", lease.seconds * 7 // 8)
        options[OPT_SUBNET_MASK] = lease.netmask.packed
        options[OPT_ROUTER] = lease.router.packed
        if lease.mtu is not None:
            options[OPT_MTU] = struct.pack("!H", lease.mtu)
    return Message(
        op=BOOTREPLY,
        xid=request.xid,
        chaddr=request.chaddr,
        flags=request.flags,
        ciaddr=request.ciaddr if kind == ACK else ZERO,
        yiaddr=yiaddr,
        giaddr=request.giaddr,
        options=options,
        htype=request.htype,
    )


def answer(request: Message, lease: Lease) -> Message | None:
    """The reply to ``request`` from the server of one tap whose VM holds ``lease``; None
    when the request gets none (see the module docstring)."""
    if request.op != BOOTREQUEST:
        return None
    kind = request.message_type
    if kind == DISCOVER:
        return _reply(request, OFFER, lease)
    if kind != REQUEST:
        return None
    server = request.address_option(OPT_SERVER_ID)
    if server is not None and server != lease.router:
        return None
    wanted = request.address_option(OPT_REQUESTED_ADDRESS) or request.ciaddr
    if wanted not in (lease.address, ZERO):
        return _reply(request, NAK, lease)
    return _reply(request, ACK, lease)
