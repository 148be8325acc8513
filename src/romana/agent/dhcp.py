"""The agent's DHCPv4 server: one UDP socket per wired tap, answering only that tap's VM.

A VM learns its address the way a VM does, by DHCP on its first interface. Each ready tap
endpoint gets a socket bound to ``0.0.0.0:67`` with ``SO_BINDTODEVICE`` on the tap (so it
hears only that tap, and the sockets of many taps share the port) that answers with the
:class:`romana.core.dhcp.Lease` of the tap (:func:`lease_of`), through
:func:`romana.core.dhcp.answer`.

What the VM is told (:func:`lease_of`):

* its address: the IPv4 address romanad allocated for its port;
* the netmask of the romana network that holds the address (``10.0.0.0/8`` → ``/8``), not a
  ``/32``: the router is then on the VM's subnet, also for a VM that migrated here with an
  address of another host's prefix, and DHCP clients (busybox ``udhcpc`` among them) install
  their default route without special cases. The tap answers ARP for every other address of
  that subnet (proxy ARP, :mod:`romana.dataplane.tap`), so the VM still sends everything to
  the host, which routes it;
* router and server identifier: the host's gateway address in that network (also on the
  tap), the lease time :data:`LEASE_SECONDS` and the endpoint MTU.

Replies go to the limited broadcast ``255.255.255.255:68`` out of the tap: the VM has no
address to receive a unicast at before its ACK, and the tap has only the VM behind it.
IPv6 (router advertisements, DHCPv6) is served by :mod:`romana.agent.dhcp6`, on the same
per-tap server and set of servers (:class:`TapServer`, :class:`TapServers`): a tap's server
keeps its socket while only its lease changes.
"""

from __future__ import annotations

import abc
import asyncio
import ipaddress
import logging
import socket
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar, cast

from romana.agent import desired, ledger, view
from romana.core import dhcp

log = logging.getLogger(__name__)

LEASE_SECONDS = 3600
"""A VM renews after half of it; its address never changes while its port lives, so the
lease only bounds how long a VM that lost its port keeps using the address."""
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def lease_of(record: ledger.EndpointRecord, hv: view.HostView, mtu: int) -> dhcp.Lease | None:
    """The DHCPv4 lease of a ready tap endpoint; None when it has no IPv4 address or no
    gateway of this host serves it."""
    address = next((a for a in record.addresses if a.version == 4), None)
    if not isinstance(address, ipaddress.IPv4Address):
        return None
    spec = desired.endpoint_spec(record, desired.gateway_spec(hv), mtu, None)
    router = spec.gateway_for(4)
    layout = next((x for x in hv.layouts.values() if address in x.cidr), None)
    if not isinstance(router, ipaddress.IPv4Address) or layout is None:
        return None
    return dhcp.Lease(address, layout.cidr.prefixlen, router, LEASE_SECONDS, spec.mtu)


def open_socket(ifname: str) -> socket.socket:
    """A non-blocking UDP socket on ``0.0.0.0:67`` that hears and sends on ``ifname`` only."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        sock.bind(("0.0.0.0", dhcp.SERVER_PORT))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


Device = tuple[str, int]
"""A tap by name and interface index: a socket stays bound to the index it was bound to."""

L = TypeVar("L")


class TapServer(asyncio.DatagramProtocol, Generic[L]):
    """A UDP server on one tap that answers the tap's VM with its current ``lease`` (which
    :meth:`TapServers.sync` replaces in place when it changes)."""

    kind: ClassVar[str]
    """The protocol's name in log lines."""

    def __init__(self, device: Device, lease: L) -> None:
        self.ifname, self.ifindex = device
        self.lease = lease
        self.transport: asyncio.DatagramTransport | None = None

    async def listen(self, sock: socket.socket) -> None:
        """Serve on ``sock``, a bound socket this server then owns."""
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        log.warning("%s on %s: %s", self.kind, self.ifname, exc)

    def stop(self, *, farewell: bool) -> None:
        """Stop serving; ``farewell``: the tap's VM is no longer served (not: the agent
        stops), for a protocol that tells the VM so."""
        if self.transport is not None:
            self.transport.close()


class TapServers(abc.ABC, Generic[L]):
    """The servers of this host's taps, kept equal to a wanted set by :meth:`sync`."""

    def __init__(self) -> None:
        self._servers: dict[Device, TapServer[L]] = {}

    @property
    def serving(self) -> frozenset[Device]:
        return frozenset(self._servers)

    async def sync(self, leases: Mapping[Device, L]) -> None:
        """Serve exactly the taps of ``leases``, each with its lease; a tap whose sockets
        cannot be opened (it just went away) is logged and tried again at the next sync."""
        for device in sorted(self._servers.keys() - leases.keys()):
            self._stop(device, farewell=True)
        for device in sorted(leases):
            running = self._servers.get(device)
            if running is not None:
                running.lease = leases[device]
                continue
            server = await self._start(device, leases[device])
            if server is not None:
                self._servers[device] = server

    @abc.abstractmethod
    async def _start(self, device: Device, lease: L) -> TapServer[L] | None:
        """A server of ``lease`` on the tap ``device``, listening; None (logged) when its
        sockets cannot be opened."""

    def _stop(self, device: Device, *, farewell: bool) -> None:
        server = self._servers.pop(device)
        server.stop(farewell=farewell)
        log.info("%s on %s stopped", server.kind, server.ifname)

    def close(self) -> None:
        """Stop every server and say nothing to the VMs: a stopping agent leaves the
        dataplane in place, and the VMs keep their routes until it is back."""
        for device in sorted(self._servers):
            self._stop(device, farewell=False)


class _Server(TapServer[dhcp.Lease]):
    """Answers the DHCP requests heard on one tap with its current lease."""

    kind = "DHCP"

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            request = dhcp.decode(data)
        except dhcp.Malformed as exc:
            log.debug("DHCP on %s: ignored %d bytes: %s", self.ifname, len(data), exc)
            return
        reply = dhcp.answer(request, self.lease)
        if reply is None or self.transport is None:
            return
        self.transport.sendto(dhcp.encode(reply), ("255.255.255.255", dhcp.CLIENT_PORT))
        log.debug("DHCP on %s: type %s answered", self.ifname, request.message_type)


class DhcpServers(TapServers[dhcp.Lease]):
    """The DHCPv4 servers of this host's taps."""

    async def _start(self, device: Device, lease: dhcp.Lease) -> _Server | None:
        try:
            sock = open_socket(device[0])
        except OSError as exc:
            log.warning("DHCP on %s cannot start: %s", device[0], exc)
            return None
        server = _Server(device, lease)
        await server.listen(sock)
        log.info("DHCP on %s: offering %s/%d", device[0], lease.address, lease.prefixlen)
        return server
