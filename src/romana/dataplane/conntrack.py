"""Forget the conntrack flows of released addresses, over ctnetlink, in-process.

When an endpoint goes away its addresses return to the pool; a workload that gets one of
them next must not inherit the old workload's flows (an ESTABLISHED entry would let the old
peer's late packets through, a NAT binding would steer them). :func:`forget` deletes every
conntrack entry whose *original* source or destination is one of the addresses, in every
protocol and zone, of the namespace the socket was opened in.

Finding the entries is the cost. Every ctnetlink dump walks the kernel's whole conntrack hash
table, which all namespaces share (262144 buckets on the lab machine: about 9 ms per dump
however few entries match), and each entry that crosses into Python adds about 2.8 µs. So:

* up to :data:`FULL_DUMP_LIMIT` entries in the namespace (one ``IPCTNL_MSG_CT_GET_STATS``
  request, no walk, says how many), a single unfiltered dump brings them all and Python keeps
  the matching ones: one walk for any number of addresses of both families;
* above it, the kernel filters (``CTA_FILTER`` with ``CTA_FILTER_F_CTA_IP_SRC`` or ``_DST`` on
  ``CTA_TUPLE_ORIG``, Linux 5.8 and later): one walk per IPv4 address and side, so only
  matching entries cross. Not for IPv6: the kernel compares filter addresses with
  ``!ipv6_addr_cmp`` and returns every IPv6 entry *except* the matching ones (seen on 6.18),
  so IPv6 gets one dump of the IPv6 family, filtered in Python;
* an empty table needs no dump at all.

Then one ``IPCTNL_MSG_CT_DELETE`` per entry, naming it by its dumped ``CTA_TUPLE_ORIG`` bytes
(verbatim) and its ``CTA_ZONE``, with ``ENOENT`` accepted: an entry may expire, or be deleted
by someone else, between the dump and the delete.

Invariants: only entries whose original tuple names one of the addresses are ever deleted;
every dumped entry is checked in Python whichever way it was found, so a kernel whose filter
is missing (it ignores ``CTA_FILTER`` and dumps everything) or wrong costs time, never a wrong
deletion. An entry found by two dumps is deleted once.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator

from romana.dataplane import nlsock

NFNL_SUBSYS_CTNETLINK = 1
NFNETLINK_V0 = 0
IPCTNL_MSG_CT_GET = 1
IPCTNL_MSG_CT_DELETE = 2
IPCTNL_MSG_CT_GET_STATS = 5

CTA_TUPLE_ORIG = 1
CTA_ZONE = 18
CTA_FILTER = 25
CTA_TUPLE_IP = 1
CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC, CTA_IP_V6_DST = 1, 2, 3, 4
CTA_FILTER_ORIG_FLAGS = 1
CTA_FILTER_REPLY_FLAGS = 2
CTA_STATS_GLOBAL_ENTRIES = 1
# Not in the UAPI headers: net/netfilter/nf_internals.h, unchanged since Linux 5.8.
CTA_FILTER_F_CTA_IP_SRC = 1 << 0
CTA_FILTER_F_CTA_IP_DST = 1 << 1

FULL_DUMP_LIMIT = 3000
"""Most entries for which one unfiltered walk is cheaper than two filtered ones (measured
crossing at about 3500 entries: 10 ms + 2.8 µs per entry against 2 × 9.5 ms)."""

# Every answer of a batch is queued on the socket before the first is read, and an ACK
# takes about 750 bytes of the receive buffer (its skb, not its 36 bytes): from about 280
# deletes in one batch the default 208 KiB overflows and answers are lost.
DELETE_BATCH = 128

_NFGENMSG = struct.Struct("=BBH")
_ADDRESS_KINDS = (CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC, CTA_IP_V6_DST)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Entry = tuple[int, bytes, bytes | None]
"""A conntrack entry's identity: family, original tuple (attribute payload) and zone."""


def _type(msg: int) -> int:
    return (NFNL_SUBSYS_CTNETLINK << 8) | msg


def _nfgenmsg(family: int) -> bytes:
    return _NFGENMSG.pack(family, NFNETLINK_V0, socket.htons(0))


def _count(sock: nlsock.Socket) -> int:
    """Conntrack entries in the socket's namespace; a counter read, no table walk."""
    request = nlsock.Request(
        _type(IPCTNL_MSG_CT_GET_STATS), _nfgenmsg(socket.AF_UNSPEC), "conntrack stats"
    )
    for message in sock.request(request):
        entries = nlsock.attrs(message.body, _NFGENMSG.size).get(CTA_STATS_GLOBAL_ENTRIES)
        if entries is not None:
            return int(struct.unpack("!I", entries)[0])
    return 0


def _dump(family: int) -> nlsock.Request:
    """Every entry of ``family`` (AF_UNSPEC: all) in the namespace."""
    what = "conntrack dump of IPv6 entries" if family == socket.AF_INET6 else "conntrack dump"
    return nlsock.Request(_type(IPCTNL_MSG_CT_GET), _nfgenmsg(family), what, dump=True)


def _filtered_dump(address: ipaddress.IPv4Address, source: bool) -> nlsock.Request:
    """The entries whose original source (or destination) is ``address``, as the kernel
    finds them."""
    body = (
        _nfgenmsg(socket.AF_INET)
        + nlsock.nested(
            CTA_TUPLE_ORIG,
            nlsock.nested(
                CTA_TUPLE_IP,
                nlsock.attr(CTA_IP_V4_SRC if source else CTA_IP_V4_DST, address.packed),
            ),
        )
        + nlsock.nested(
            CTA_FILTER,
            nlsock.u32(
                CTA_FILTER_ORIG_FLAGS,
                CTA_FILTER_F_CTA_IP_SRC if source else CTA_FILTER_F_CTA_IP_DST,
            ),
            nlsock.u32(CTA_FILTER_REPLY_FLAGS, 0),
        )
    )
    side = "source" if source else "destination"
    return nlsock.Request(
        _type(IPCTNL_MSG_CT_GET), body, f"conntrack dump of original {side} {address}", dump=True
    )


def _plan(addresses: list[Address], entries: int, full_dump_limit: int) -> list[nlsock.Request]:
    if entries <= full_dump_limit:
        return [_dump(socket.AF_UNSPEC)]
    dumps = [
        _filtered_dump(address, source)
        for address in addresses
        if isinstance(address, ipaddress.IPv4Address)
        for source in (True, False)
    ]
    if any(address.version == 6 for address in addresses):
        dumps.append(_dump(socket.AF_INET6))
    return dumps


def _matching(messages: list[nlsock.Message], wanted: frozenset[bytes]) -> Iterator[Entry]:
    """The dumped entries whose original source or destination is in ``wanted``."""
    for message in messages:
        body = message.body
        # A substring test in C rejects most entries of a full dump before any parsing.
        if not any(packed in body for packed in wanted):
            continue
        found = nlsock.attrs(body, _NFGENMSG.size)
        tuple_orig = found.get(CTA_TUPLE_ORIG)
        if tuple_orig is None:
            continue
        ip = nlsock.attrs(tuple_orig).get(CTA_TUPLE_IP, b"")
        if any(
            kind in _ADDRESS_KINDS and payload in wanted for kind, payload in nlsock.iter_attrs(ip)
        ):
            yield body[0], tuple_orig, found.get(CTA_ZONE)


def _delete(entry: Entry) -> nlsock.Request:
    family, tuple_orig, zone = entry
    body = _nfgenmsg(family) + nlsock.nested(CTA_TUPLE_ORIG, tuple_orig)
    if zone is not None:
        body += nlsock.attr(CTA_ZONE, zone)
    return nlsock.Request(_type(IPCTNL_MSG_CT_DELETE), body, "conntrack delete", ok=(errno.ENOENT,))


def forget(
    sock: nlsock.Socket,
    addresses: Iterable[Address],
    *,
    full_dump_limit: int = FULL_DUMP_LIMIT,
) -> int:
    """Delete every conntrack entry whose original source or destination is one of
    addresses (IPv4 and IPv6, any protocol, any zone); the number deleted. Entries already
    gone are fine.

    ``sock`` is a ``NETLINK_NETFILTER`` socket of the namespace whose table is meant. An
    entry that expires between its dump and its delete still counts: the kernel's ENOENT is
    accepted, not told apart from a deletion. ``full_dump_limit`` is the most entries for
    which the whole table is dumped and filtered here rather than by the kernel.
    """
    unique = list(dict.fromkeys(addresses))
    if not unique:
        return 0
    entries = _count(sock)
    if entries == 0:
        return 0
    wanted = frozenset(address.packed for address in unique)
    found: dict[Entry, None] = {}
    # One dump per batch: the kernel refuses a second dump (EBUSY) while the first one is
    # still waiting for its reader.
    for dump in _plan(unique, entries, full_dump_limit):
        found.update(dict.fromkeys(_matching(sock.request(dump), wanted)))
    deletes = [_delete(entry) for entry in found]
    for start in range(0, len(deletes), DELETE_BATCH):
        sock.transact(deletes[start : start + DELETE_BATCH])
    return len(deletes)
