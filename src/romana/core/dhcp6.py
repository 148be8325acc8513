"""DHCPv6 messages (RFC 8415) and the answer for one VM: no I/O.

The agent serves DHCPv6 on each VM's tap (:mod:`romana.agent.dhcp6`). As with DHCPv4
(:mod:`romana.core.dhcp`), a tap has exactly one client and one address to give, the IPv6
address romanad allocated for its Neutron port: :func:`answer` maps a request to its reply
given the tap's :class:`Binding`, with no pool and no lease database.

* Every message a server answers must carry a Client Identifier; one without it is ignored.
  Every reply echoes it and carries the server's Server Identifier (:attr:`Binding.duid`).
* SOLICIT → ADVERTISE with preference 255 (the client need not wait for other servers), or
  REPLY when the client asked for rapid commit; a SOLICIT naming a server is ignored.
* REQUEST and RENEW naming another server are ignored; REQUEST → REPLY; RENEW, REBIND → REPLY.
* Each IA_NA of a reply holds exactly the binding's address, under the client's IAID, with
  T1 1/2 and T2 4/5 of the lifetime. Addresses a SOLICIT names are hints and make no
  difference. An IA_NA that names addresses, none of them the binding's, gets status
  NotOnLink in a REQUEST, NoBinding in a RENEW and, in a REBIND, those addresses back with
  lifetimes 0 (RFC 8415 18.3.2, 18.3.4, 18.3.5). Other addresses a client names beside the
  binding's are returned with lifetimes 0.
* A SOLICIT, REQUEST, RENEW or REBIND with no IA_NA gets status NoAddrsAvail: addresses are
  all this server gives.
* CONFIRM → REPLY with Success when every address it names is the binding's, NotOnLink when
  one is not; a CONFIRM naming none gets nothing (RFC 8415 18.3.3).
* RELEASE, DECLINE → REPLY with Success (the address stays the port's).
* Every other message (INFORMATION-REQUEST, a server's message, relay messages) → nothing.

:func:`decode` refuses (:class:`Malformed`) what is not a DHCPv6 client or server message: too
short, an option running past the end, an IA_NA or IA Address too short. Relay messages are
refused: a VM on a tap talks to its server directly.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SERVER_PORT, CLIENT_PORT = 547, 546
ALL_SERVERS = ipaddress.IPv6Address("ff02::1:2")
"""All_DHCP_Relay_Agents_and_Servers: where a client sends its messages."""

SOLICIT, ADVERTISE, REQUEST, CONFIRM, RENEW, REBIND, REPLY, RELEASE, DECLINE = range(1, 10)
RECONFIGURE, INFORMATION_REQUEST, RELAY_FORW, RELAY_REPL = range(10, 14)

OPT_CLIENTID = 1
OPT_SERVERID = 2
OPT_IA_NA = 3
OPT_IAADDR = 5
OPT_PREFERENCE = 7
OPT_STATUS_CODE = 13
OPT_RAPID_COMMIT = 14

SUCCESS, UNSPEC_FAIL, NO_ADDRS_AVAIL, NO_BINDING, NOT_ON_LINK = range(5)

_OPTION = struct.Struct("!HH")
_IA_NA = struct.Struct("!III")
_IAADDR = struct.Struct("!16sII")

Options = tuple[tuple[int, bytes], ...]


class Malformed(ValueError):
    """The bytes are not a DHCPv6 message this server reads."""


@dataclass(frozen=True, slots=True)
class Message:
    """One client or server message; ``options`` in wire order, a code may repeat (IA_NA)."""

    msg_type: int
    xid: int
    """The 24-bit transaction id."""
    options: Options = ()

    def option(self, code: int) -> bytes | None:
        """The value of the first option ``code``; None when there is none."""
        return next((v for c, v in self.options if c == code), None)

    def ia_nas(self) -> tuple[IaNa, ...]:
        return tuple(IaNa.decode(v) for c, v in self.options if c == OPT_IA_NA)


@dataclass(frozen=True, slots=True)
class IaAddress:
    address: ipaddress.IPv6Address
    preferred: int
    valid: int


@dataclass(frozen=True, slots=True)
class IaNa:
    """An Identity Association for Non-temporary Addresses, with the sub-options we read."""

    iaid: int
    t1: int = 0
    t2: int = 0
    addresses: tuple[IaAddress, ...] = ()
    status: int | None = None

    @classmethod
    def decode(cls, value: bytes) -> IaNa:
        if len(value) < _IA_NA.size:
            raise Malformed(f"an IA_NA of {len(value)} bytes is shorter than 12")
        iaid, t1, t2 = _IA_NA.unpack_from(value)
        addresses: list[IaAddress] = []
        status = None
        for code, sub in _options(value, _IA_NA.size):
            if code == OPT_IAADDR:
                if len(sub) < _IAADDR.size:
                    raise Malformed(f"an IA Address of {len(sub)} bytes is shorter than 24")
                raw, preferred, valid = _IAADDR.unpack_from(sub)
                addresses.append(IaAddress(ipaddress.IPv6Address(raw), preferred, valid))
            elif code == OPT_STATUS_CODE:
                if len(sub) < 2:
                    raise Malformed("a status code option shorter than 2 bytes")
                status = int.from_bytes(sub[:2], "big")
        return cls(iaid, t1, t2, tuple(addresses), status)

    def encode(self) -> bytes:
        body = bytearray(_IA_NA.pack(self.iaid, self.t1, self.t2))
        for a in self.addresses:
            body += _option(OPT_IAADDR, _IAADDR.pack(a.address.packed, a.preferred, a.valid))
        if self.status is not None:
            body += _option(OPT_STATUS_CODE, status_value(self.status))
        return bytes(body)


@dataclass(frozen=True, slots=True)
class Binding:
    """What one tap's VM is given: its one address and the server that gives it."""

    address: ipaddress.IPv6Address
    duid: bytes
    """The server's DUID, sent as its Server Identifier (:func:`duid_ll`)."""
    seconds: int = 3600
    """Preferred and valid lifetime of the address."""


def duid_ll(mac: bytes) -> bytes:
    """A DUID-LL (type 3) of an Ethernet address (hardware type 1), RFC 8415 11.4."""
    return struct.pack("!HH", 3, 1) + mac


def status_value(code: int, text: str = "") -> bytes:
    return code.to_bytes(2, "big") + text.encode()


def _option(code: int, value: bytes) -> bytes:
    return _OPTION.pack(code, len(value)) + value


def _options(data: bytes, at: int) -> Iterable[tuple[int, bytes]]:
    while at < len(data):
        if at + _OPTION.size > len(data):
            raise Malformed(f"an option header at byte {at} runs past the end")
        code, size = _OPTION.unpack_from(data, at)
        at += _OPTION.size
        if at + size > len(data):
            raise Malformed(f"option {code} of {size} bytes runs past the end")
        yield code, data[at : at + size]
        at += size


def decode(data: bytes) -> Message:
    """The message in ``data`` (a UDP payload); Malformed when it is not one."""
    if len(data) < 4:
        raise Malformed(f"{len(data)} bytes is shorter than a DHCPv6 message")
    if data[0] in (RELAY_FORW, RELAY_REPL):
        raise Malformed("a relay message: relays are not served")
    xid = int.from_bytes(data[1:4], "big")
    return Message(data[0], xid, tuple(_options(data, 4)))


def encode(message: Message) -> bytes:
    """The wire form of ``message``, its options in their order."""
    head = bytes((message.msg_type,)) + message.xid.to_bytes(3, "big")
    return head + b"".join(_option(code, value) for code, value in message.options)


def _named(ia: IaNa) -> list[ipaddress.IPv6Address]:
    return [a.address for a in ia.addresses]


def _granted(ia: IaNa, binding: Binding) -> IaNa:
    """The IA_NA with the binding's address, other addresses named withdrawn."""
    keep = IaAddress(binding.address, binding.seconds, binding.seconds)
    gone = tuple(IaAddress(a, 0, 0) for a in _named(ia) if a != binding.address)
    return IaNa(ia.iaid, binding.seconds // 2, binding.seconds * 4 // 5, (keep, *gone))


def _ia_reply(kind: int, ia: IaNa, binding: Binding) -> IaNa:
    named = _named(ia)
    if kind == SOLICIT or not named or binding.address in named:
        return _granted(ia, binding)
    if kind == REQUEST:
        return IaNa(ia.iaid, status=NOT_ON_LINK)
    if kind == RENEW:
        return IaNa(ia.iaid, status=NO_BINDING)
    return IaNa(ia.iaid, addresses=tuple(IaAddress(a, 0, 0) for a in named))


def _reply(
    request: Message, kind: int, binding: Binding, body: Sequence[tuple[int, bytes]]
) -> Message:
    client = request.option(OPT_CLIENTID) or b""
    head = ((OPT_SERVERID, binding.duid), (OPT_CLIENTID, client))
    return Message(kind, request.xid, head + tuple(body))


def answer(request: Message, binding: Binding) -> Message | None:
    """The reply to ``request`` from the server of one tap whose VM holds ``binding``; None
    when the request gets none (see the module docstring)."""
    kind = request.msg_type
    if request.option(OPT_CLIENTID) is None:
        return None
    server = request.option(OPT_SERVERID)
    if kind in (SOLICIT, CONFIRM, REBIND) and server is not None:
        return None
    if kind in (REQUEST, RENEW, RELEASE, DECLINE) and server != binding.duid:
        return None
    if kind in (RELEASE, DECLINE):
        return _reply(request, REPLY, binding, [(OPT_STATUS_CODE, status_value(SUCCESS))])
    if kind == CONFIRM:
        named = [a for ia in request.ia_nas() for a in _named(ia)]
        if not named:
            return None
        status = SUCCESS if all(a == binding.address for a in named) else NOT_ON_LINK
        return _reply(request, REPLY, binding, [(OPT_STATUS_CODE, status_value(status))])
    if kind not in (SOLICIT, REQUEST, RENEW, REBIND):
        return None
    ias = request.ia_nas()
    body: list[tuple[int, bytes]] = [
        (OPT_IA_NA, _ia_reply(kind, ia, binding).encode()) for ia in ias
    ]
    if not ias:
        body.append((OPT_STATUS_CODE, status_value(NO_ADDRS_AVAIL, "only addresses are served")))
    if kind != SOLICIT:
        return _reply(request, REPLY, binding, body)
    if request.option(OPT_RAPID_COMMIT) is not None and ias:
        return _reply(request, REPLY, binding, [(OPT_RAPID_COMMIT, b""), *body])
    return _reply(request, ADVERTISE, binding, [(OPT_PREFERENCE, b"\xff"), *body])
