"""Named packet counters of the kernel (nfnetlink_acct), for the iptables backend's drops.

An accounting object is a named pair of counters (packets, bytes) that lives in a network
namespace on its own, apart from any rule: an iptables rule with ``--match nfacct
--nfacct-name NAME`` adds what reaches that match to it, and a restore that rewrites the
rule leaves it alone. That is what the iptables backend counts attributed drops in, so that
its counts, like the nftables backend's named counters, survive every rewrite of the
chains (:mod:`romana.core.render.iptables`). The objects are made and read over netlink
(``NFNL_SUBSYS_ACCT``), the way the ``nfacct`` tool does, which the agent does not need.

Invariants: only names starting with ``prefix`` are ever made, deleted or listed; an object
that exists is never reset (made again, it keeps its count), and one a rule still uses is
not deleted (the kernel refuses; it is left for a later apply).
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterable

from romana.dataplane import nlsock

NFNL_SUBSYS_ACCT = 7
NFNL_MSG_ACCT_NEW = 0
NFNL_MSG_ACCT_GET = 1
NFNL_MSG_ACCT_DEL = 3
NFACCT_NAME = 1
NFACCT_PKTS = 2
NAME_MAX = 31  # NFACCT_NAME_MAX less the terminating NUL
NFNETLINK_V0 = 0
_NFGENMSG = struct.Struct("=BBH")
_BATCH = 128  # requests per batch: their ACKs fit the socket's receive buffer


def _header() -> bytes:
    return _NFGENMSG.pack(socket.AF_UNSPEC, NFNETLINK_V0, socket.htons(0))


def _type(msg: int) -> int:
    return (NFNL_SUBSYS_ACCT << 8) | msg


def _named(name: str) -> bytes:
    if len(name) > NAME_MAX:
        raise ValueError(f"accounting object name {name!r} is longer than {NAME_MAX}")
    return _header() + nlsock.string(NFACCT_NAME, name)


def new_request(name: str) -> nlsock.Request:
    """Make object ``name`` unless it exists (then it keeps its count)."""
    flags = nlsock.NLM_F_CREATE | nlsock.NLM_F_EXCL
    what = f"create accounting object {name}"
    return nlsock.Request(_type(NFNL_MSG_ACCT_NEW), _named(name), what, flags, (errno.EEXIST,))


def delete_request(name: str) -> nlsock.Request:
    """Delete object ``name``; gone already, or still used by a rule, is fine."""
    what = f"delete accounting object {name}"
    ok = (errno.ENOENT, errno.EBUSY)
    return nlsock.Request(_type(NFNL_MSG_ACCT_DEL), _named(name), what, ok=ok)


def parse(messages: Iterable[nlsock.Message], prefix: str) -> dict[str, int]:
    """Name → packets of the objects in a dump whose name starts with ``prefix``."""
    found: dict[str, int] = {}
    for message in messages:
        fields = nlsock.attrs(message.body, _NFGENMSG.size)
        name = nlsock.cstring(fields.get(NFACCT_NAME, b""))
        packets = fields.get(NFACCT_PKTS)
        if name.startswith(prefix) and packets is not None:
            found[name] = int(struct.unpack("!Q", packets)[0])
    return found


class Accounting:
    """The accounting objects named ``prefix...`` in namespace ``netns`` (None: ours)."""

    def __init__(self, prefix: str, netns: str | None = None) -> None:
        self.prefix = prefix
        self.netns = netns

    def _transact(self, requests: list[nlsock.Request]) -> list[list[nlsock.Message]]:
        replies: list[list[nlsock.Message]] = []
        with nlsock.Socket(nlsock.NETLINK_NETFILTER, self.netns) as sock:
            for i in range(0, len(requests), _BATCH):
                replies += sock.transact(requests[i : i + _BATCH])
        return replies

    def _ours(self, names: Iterable[str]) -> list[str]:
        names = sorted(set(names))
        foreign = [n for n in names if not n.startswith(self.prefix)]
        if foreign:
            raise ValueError(f"accounting objects not named {self.prefix}...: {foreign}")
        return names

    def ensure(self, names: Iterable[str]) -> None:
        """Make every object of ``names`` that does not exist."""
        self._transact([new_request(n) for n in self._ours(names)])

    def delete(self, names: Iterable[str]) -> None:
        self._transact([delete_request(n) for n in self._ours(names)])

    def read(self) -> dict[str, int]:
        """Name → packets counted, of every object of ours."""
        dump = nlsock.Request(_type(NFNL_MSG_ACCT_GET), _header(), "accounting dump", dump=True)
        return parse(self._transact([dump])[0], self.prefix)
