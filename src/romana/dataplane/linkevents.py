"""Link notifications of a network namespace: a wake-up when an interface comes or goes.

:func:`subscribe` opens a route-netlink socket bound to the ``RTNLGRP_LINK`` multicast group
inside a namespace; the kernel then sends it an ``RTM_NEWLINK`` or ``RTM_DELLINK`` message
for every link created, changed or deleted. :func:`drain` empties the socket without
blocking and says only which links the messages named, so a reader can ignore the links it
does not care about (every CNI veth, for a watcher of taps) and read the ones it does again
(:meth:`romana.dataplane.rtnl.Rtnl.links`): a lost or coalesced notification costs nothing
but a later read. A socket whose buffer overflowed (ENOBUFS) is drained all the same and
says that some were lost, and the next read catches up.

Drain on every readiness: a selector loop that only noted "readable" and read later would
be woken again at once, for as long as the messages wait.
"""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass

from romana.dataplane import netns as netns_mod
from romana.dataplane import nlsock, rtmsg
from romana.dataplane.nlsock import NETLINK_ROUTE

RTM_NEWLINK, RTM_DELLINK = 16, 17
_HEADER = struct.Struct("=IHHII")
"""The netlink header: length, type, flags, sequence number, port id."""

RTMGRP_LINK = 1
"""The legacy group bitmask of ``RTNLGRP_LINK`` (group 1), as ``bind`` takes it."""


def subscribe(netns: str | None = None) -> socket.socket:
    """A non-blocking socket that receives the link notifications of ``netns``."""
    with netns_mod.entered(netns):
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
        )
    try:
        sock.bind((0, RTMGRP_LINK))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(frozen=True, slots=True)
class Notified:
    """What one :func:`drain` read: the names of the links the messages named, and whether
    some messages were lost (then any link may have changed)."""

    names: frozenset[str]
    lost: bool


def drain(sock: socket.socket) -> Notified:
    """Read every notification waiting on ``sock`` without blocking."""
    names: set[str] = set()
    lost = False
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return Notified(frozenset(names), lost)
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
            lost = True
            continue
        names.update(_names(data))


def _names(data: bytes) -> set[str]:
    """The interface names of the link messages in one datagram."""
    found: set[str] = set()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, *_ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            break
        if kind in (RTM_NEWLINK, RTM_DELLINK):
            body = data[offset + _HEADER.size : offset + length]
            name = nlsock.attrs(body, rtmsg.IFINFO.size).get(rtmsg.IFLA_IFNAME)
            if name is not None:
                found.add(nlsock.cstring(name))
        offset += (length + 3) & ~3
    return found
