"""A TCP or UDP listener inside one namespace of the lab, served by a thread of the caller.

Probes need no extra processes and no fixed port: the socket is opened inside the
destination namespace, binds port 0 on every address (IPv4 and IPv6 alike) and reports the
port it got; each connection or datagram is answered with the listener's token and its
source recorded (:attr:`Listener.peers`), so a test can tell which path a packet took and
whether its source was rewritten.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from typing import TYPE_CHECKING, Any

from romana.dataplane import netns as netns_mod

if TYPE_CHECKING:
    from romana.lab.namespaces import Node


class Listener:
    """A TCP or UDP server on every address of one namespace, answering with a token."""

    def __init__(self, node: Node, kind: int, token: bytes, port: int = 0) -> None:
        self.token = token
        self.peers: list[str] = []
        """The source address of each connection or datagram, in arrival order (an
        IPv4 peer as itself, not IPv4-mapped)."""
        with netns_mod.entered(node.path):
            self._sock = socket.socket(socket.AF_INET6, kind)
        self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("::", port))
        self.port: int = self._sock.getsockname()[1]
        if kind == socket.SOCK_STREAM:
            self._sock.listen(16)
        self._thread = threading.Thread(target=self._serve, args=(kind,), daemon=True)
        self._thread.start()

    def _serve(self, kind: int) -> None:
        while True:
            try:
                if kind == socket.SOCK_STREAM:
                    conn, peer = self._sock.accept()
                    self._seen(peer)
                    with conn:
                        conn.sendall(self.token)
                else:
                    _, peer = self._sock.recvfrom(2048)
                    if peer is None:
                        return  # shut down by close()
                    self._seen(peer)
                    self._sock.sendto(self.token, peer)
            except OSError:
                return  # closed by close()

    def _seen(self, peer: Any) -> None:
        address = ipaddress.ip_address(str(peer[0]))
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        self.peers.append(str(mapped or address))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=2)
