"""Link notifications: drained at once, and naming the links they concern."""

from __future__ import annotations

import socket
import struct

from romana.dataplane import linkevents, nlsock, rtmsg


def _link_message(kind: int, ifname: str) -> bytes:
    body = rtmsg.IFINFO.pack(0, 0, 7, 0, 0) + nlsock.string(rtmsg.IFLA_IFNAME, ifname)
    header = struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0)
    return header + body


def test_drain_reads_everything_waiting_and_names_the_links() -> None:
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with ours, kernel:
        ours.setblocking(False)
        # One datagram may carry several messages; a route message names no link.
        kernel.send(
            _link_message(linkevents.RTM_NEWLINK, "romana0a1b2c3d4")
            + _link_message(linkevents.RTM_NEWLINK, "tap0123456789a")
        )
        kernel.send(_link_message(linkevents.RTM_DELLINK, "eth7"))
        kernel.send(struct.pack("=IHHII", 16, 24, 0, 0, 0))
        seen = linkevents.drain(ours)
        assert seen == linkevents.Notified(
            frozenset({"romana0a1b2c3d4", "tap0123456789a", "eth7"}), lost=False
        )
        # Nothing is left to wake a selector loop again.
        assert linkevents.drain(ours) == linkevents.Notified(frozenset(), lost=False)
