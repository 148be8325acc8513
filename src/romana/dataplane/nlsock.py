"""Netlink without a library: message framing, attributes, and batched requests.

The agent's hot paths (one endpoint added or removed, the conntrack flows of a released
address) are a dozen small kernel requests. Framed here by ``struct`` one costs a few
microseconds (a general netlink library spends about 0.6 ms of Python on each), and a whole
batch goes to the kernel in one ``send``. This is the agent's only netlink stack: the
messages of links, addresses, routes and neighbours are built in
:mod:`romana.dataplane.rtmsg`, the reconciler's dumps and repairs are
:mod:`romana.dataplane.rtnl`, a fresh endpoint is :mod:`romana.dataplane.wire`, conntrack
is :mod:`romana.dataplane.conntrack`.

:meth:`Socket.transact` sends requests together and returns each one's replies. The kernel
handles the messages of a batch one after the other and answers each (an ACK, data then an
ACK, or a dump ending in ``NLMSG_DONE``); a failed message does not stop the ones after it,
so callers put dependent requests in separate batches or accept that the later ones fail too.
The first error whose errno the request does not accept is raised, as the
:mod:`romana.core.errors` type of :data:`ERRNO_ERRORS`, once every
answer of the batch has been read (the socket is never left with unread answers).

Invariants: a :class:`Socket` is opened in one namespace (entered only for ``socket()``,
:mod:`romana.dataplane.netns`) and used by one thread at a time; sequence numbers are never
reused within a socket, so a late answer cannot be taken for another request's.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Self

from romana.core import errors
from romana.dataplane import netns as netns_mod

NETLINK_ROUTE = 0
NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_DUMP_INTR = 0x10
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_ACK_TLVS = 0x200  # on an NLMSG_ERROR answer: extended-ack attributes follow
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

# What a kernel errno means for the caller.
ERRNO_ERRORS: dict[int, type[errors.RomanaError]] = {
    errno.EEXIST: errors.AlreadyExists,
    errno.ENOTEMPTY: errors.AlreadyExists,
    errno.ENOENT: errors.NotFound,
    errno.ENODEV: errors.NotFound,
    errno.ESRCH: errors.NotFound,
    errno.ENXIO: errors.NotFound,
    errno.EADDRNOTAVAIL: errors.NotFound,
    errno.EPERM: errors.Forbidden,
    errno.EACCES: errors.Forbidden,
    errno.EOPNOTSUPP: errors.Unsupported,
    errno.EAFNOSUPPORT: errors.Unsupported,
    errno.EPROTONOSUPPORT: errors.Unsupported,
    errno.EINVAL: errors.InvalidInput,
    errno.ERANGE: errors.InvalidInput,
    errno.ENAMETOOLONG: errors.InvalidInput,
    errno.EBUSY: errors.Unavailable,
    errno.EAGAIN: errors.Unavailable,
    errno.EINTR: errors.Unavailable,
    errno.ENOBUFS: errors.Unavailable,
    errno.ENETDOWN: errors.Unavailable,
    errno.ENETUNREACH: errors.Unavailable,
    errno.EHOSTUNREACH: errors.Unavailable,
}

_HEADER = struct.Struct("=IHHII")
_ATTR = struct.Struct("=HH")
_RECV_BYTES = 1 << 18


@dataclass(frozen=True, slots=True)
class Request:
    """One message to send: its type, flags beyond REQUEST/ACK, body, and accepted errnos."""

    type: int
    body: bytes
    what: str
    flags: int = 0
    ok: tuple[int, ...] = ()
    dump: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    """One answer: type, flags and the payload after the netlink header."""

    type: int
    flags: int
    body: bytes


# --- attributes ------------------------------------------------------------------------------


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    size = _ATTR.size + len(payload)
    return _ATTR.pack(size, kind) + payload + b"\0" * (-size % 4)


def nested(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def u8(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=B", value))


def u16(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=H", value))


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def be32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("!I", value))


def string(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """Attribute type (flags stripped) → payload; a repeated type keeps the last."""
    return dict(iter_attrs(data, offset))


def iter_attrs(data: bytes, offset: int = 0) -> Iterator[tuple[int, bytes]]:
    end = len(data)
    while offset + _ATTR.size <= end:
        size, kind = _ATTR.unpack_from(data, offset)
        if size < _ATTR.size or offset + size > end:
            return
        yield kind & NLA_TYPE_MASK, data[offset + _ATTR.size : offset + size]
        offset += (size + 3) & ~3


def cstring(payload: bytes) -> str:
    return payload.split(b"\0", 1)[0].decode(errors="replace")


def translate(
    code: int, what: str, message: str = "", where: str | None = None
) -> errors.RomanaError:
    """The project error for a kernel errno; the text names the request and namespace."""
    name = errno.errorcode.get(code, str(code))
    text = f"netlink {what}: {name} ({os.strerror(code)})"
    if message:
        text += f": {message}"
    if where is not None:
        text += f" in network namespace {where}"
    return ERRNO_ERRORS.get(code, errors.RomanaError)(text)


# --- the socket ------------------------------------------------------------------------------


class Closing:
    """A handle on a kernel resource: :meth:`close` lets it go, and ``with`` closes it at the
    end of the block, however the block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Socket(Closing):
    """A netlink socket of ``protocol`` opened inside ``netns`` (None: the current one)."""

    def __init__(
        self, protocol: int = NETLINK_ROUTE, netns: str | None = None, *, strict: bool = False
    ) -> None:
        """``strict``: the kernel checks dump requests strictly and filters dumps by the
        fields they set (table, protocol, link), so a dump of our routes costs the same
        on a host with two routes or two thousand."""
        self.netns = netns
        with netns_mod.entered(netns):
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
        try:
            sock.bind((0, 0))
            sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            if strict:
                _strict(sock)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._seq = 0
        self._buffer = bytearray(_RECV_BYTES)

    def close(self) -> None:
        self._sock.close()

    def transact(self, requests: Sequence[Request]) -> list[list[Message]]:
        """Send ``requests`` in one batch; the answers of each (ACKs left out), in order."""
        frames = []
        first = self._seq + 1
        for request in requests:
            self._seq += 1
            flags = NLM_F_REQUEST | request.flags | (NLM_F_DUMP if request.dump else NLM_F_ACK)
            size = _HEADER.size + len(request.body)
            frames.append(_HEADER.pack(size, request.type, flags, self._seq, 0) + request.body)
        self._sock.sendall(b"".join(frames))
        replies: list[list[Message]] = [[] for _ in requests]
        failure: errors.RomanaError | None = None
        waiting = len(requests)
        try:
            while waiting:
                for seq, message in self._receive():
                    index = seq - first
                    if not 0 <= index < len(requests):
                        continue  # an answer to an earlier batch that gave up; not ours to keep
                    request = requests[index]
                    if message.flags & NLM_F_DUMP_INTR and failure is None:
                        # The kernel's table changed during the dump: the list may miss
                        # entries, and a caller acting on it would act on a partial truth.
                        text = "the dump was interrupted by a concurrent change; try again"
                        failure = translate(errno.EINTR, request.what, text, self.netns)
                    if message.type == NLMSG_DONE:
                        waiting -= 1
                        code = -struct.unpack_from("=i", message.body)[0] if message.body else 0
                        if code and code not in request.ok and failure is None:
                            failure = translate(code, request.what, "", self.netns)
                    elif message.type == NLMSG_ERROR:
                        waiting -= 1
                        code, text = _error(message)
                        if code and code not in request.ok and failure is None:
                            failure = translate(code, request.what, text, self.netns)
                    else:
                        replies[index].append(message)
        except OSError as exc:
            # ENOBUFS: answers overflowed the receive buffer and were dropped, so some of this
            # batch's will never come. The kernel reports no further drop until the queue has
            # been emptied: without the drain, the next request's answer could be dropped
            # silently and waited for forever.
            self._drain()
            what = requests[0].what if len(requests) == 1 else f"batch of {len(requests)}"
            raise translate(exc.errno or 0, what, "answers lost", self.netns) from exc
        if failure is not None:
            raise failure
        return replies

    def request(self, request: Request) -> list[Message]:
        return self.transact([request])[0]

    def _drain(self) -> None:
        """Read and drop every queued answer."""
        while True:
            try:
                self._sock.recv_into(self._buffer, len(self._buffer), socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    return

    def _receive(self) -> Iterator[tuple[int, Message]]:
        view = memoryview(self._buffer)
        size = self._sock.recv_into(view, len(view), socket.MSG_TRUNC)
        if size > len(view):
            raise errors.RomanaError(f"netlink answer of {size} bytes exceeds the buffer")
        data = bytes(view[:size])
        offset = 0
        while offset + _HEADER.size <= size:
            length, kind, flags, seq, _ = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                break
            yield seq, Message(kind, flags, data[offset + _HEADER.size : offset + length])
            offset += (length + 3) & ~3


def _strict(sock: socket.socket) -> None:
    """Ask for strict dump checking; kernels before 4.20 lack it, and every dump is also
    filtered by its caller, so its absence costs time, not correctness."""
    try:
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    except OSError as exc:
        if exc.errno != errno.ENOPROTOOPT:
            raise


def _error(message: Message) -> tuple[int, str]:
    """(errno, extended-ack text) of an NLMSG_ERROR answer; errno 0 is an ACK."""
    (code,) = struct.unpack_from("=i", message.body)
    text = ""
    if code and message.flags & NLM_F_ACK_TLVS:
        # With NETLINK_CAP_ACK the echoed request is its header alone.
        found = attrs(message.body, 4 + _HEADER.size)
        if NLMSGERR_ATTR_MSG in found:
            text = cstring(found[NLMSGERR_ATTR_MSG])
    return -code, text
