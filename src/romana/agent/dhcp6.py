"""The agent's IPv6 servers on VM taps: router advertisements and stateful DHCPv6.

A tap endpoint's IPv6 address is routed to its tap (a ``/128``, :mod:`romana.dataplane.tap`);
these servers tell the VM. For each ready tap endpoint with an IPv6 address
(:func:`tap6_of`) the agent runs, bound to that tap (``SO_BINDTODEVICE``):

* an advertiser on an ICMPv6 raw socket: router advertisements
  (:mod:`romana.core.routeradvert`: Managed flag, router lifetime :data:`ROUTER_LIFETIME`,
  the endpoint MTU, no prefix) from the tap's link-local address to ``ff02::1``, one as soon
  as that address has passed duplicate address detection, :data:`INITIAL_COUNT` at
  :data:`INITIAL_INTERVAL`, then one every :data:`MIN_INTERVAL` … :data:`MAX_INTERVAL`
  seconds; a router solicitation brings the next one forward, no sooner than
  :data:`MIN_DELAY` after the last (RFC 4861 6.2.4, 6.2.6). The VM takes a default route via
  the host's link-local address;
* a DHCPv6 server on UDP port 547, member of ``ff02::1:2`` on the tap, answering with
  :func:`romana.core.dhcp6.answer` for the tap's :class:`romana.core.dhcp6.Binding`: exactly
  the port's IPv6 address, server identifier a DUID-LL of the tap's MAC address. Replies go
  to the client's (link-local) address on the tap.

The VM then holds a ``/128`` and a default route via the host; the host reaches the VM by
neighbour discovery on the tap, where its ``/128`` route points, from its link-local
address. An endpoint that stops being served while its tap is still there gets a last
advertisement with router lifetime 0, so the VM drops its default route via the host; a
stopping agent sends none (the dataplane stays while it is away).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import random
import socket
import struct
import time
from typing import Any

from romana.agent import desired, ledger, view
from romana.agent.dhcp import LEASE_SECONDS, SO_BINDTODEVICE, Device, TapServer, TapServers
from romana.core import dhcp6, routeradvert

log = logging.getLogger(__name__)

ROUTER_LIFETIME = 1800
"""Three times :data:`MAX_INTERVAL`, the default of RFC 4861 6.2.1."""
MIN_INTERVAL, MAX_INTERVAL = 200.0, 600.0
INITIAL_INTERVAL, INITIAL_COUNT = 4.0, 3
MIN_DELAY = 3.0
NOT_READY = 1.0
"""How often to look again for the tap's link-local address while it is tentative."""
ALL_NODES = "ff02::1"
ALL_ROUTERS = "ff02::2"
ICMP6_FILTER = 1
IF_INET6 = "/proc/net/if_inet6"
_UNUSABLE = 0x40 | 0x08  # IFA_F_TENTATIVE, IFA_F_DADFAILED


@dataclasses.dataclass(frozen=True, slots=True)
class Tap6:
    """What one tap's VM is told over IPv6."""

    binding: dhcp6.Binding
    advert: routeradvert.Advertisement


def tap6_of(record: ledger.EndpointRecord, hv: view.HostView, mtu: int) -> Tap6 | None:
    """The IPv6 service of a ready tap endpoint; None when it has no IPv6 address or its
    tap's MAC address is not recorded yet."""
    address = next((a for a in record.addresses if a.version == 6), None)
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    try:
        mac = bytes.fromhex(record.host_mac.replace(":", ""))
    except ValueError:
        return None
    if len(mac) != 6:
        return None
    spec = desired.endpoint_spec(record, desired.gateway_spec(hv), mtu, None)
    binding = dhcp6.Binding(address, dhcp6.duid_ll(mac), LEASE_SECONDS)
    return Tap6(binding, routeradvert.Advertisement(ROUTER_LIFETIME, spec.mtu, mac))


def link_local(ifindex: int, path: str = IF_INET6) -> ipaddress.IPv6Address | None:
    """The usable (not tentative) link-local address of interface ``ifindex``, if any."""
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5 or int(fields[1], 16) != ifindex or int(fields[3], 16) != 0x20:
                continue
            if not int(fields[4], 16) & _UNUSABLE:
                return ipaddress.IPv6Address(bytes.fromhex(fields[0]))
    return None


def _group(address: str, ifindex: int) -> bytes:
    return socket.inet_pton(socket.AF_INET6, address) + struct.pack("@I", ifindex)


def open_dhcp_socket(ifname: str, ifindex: int) -> socket.socket:
    """A non-blocking UDP socket on ``[::]:547`` that hears ``ff02::1:2`` on ``ifname`` only."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(("::", dhcp6.SERVER_PORT))
        group = _group(str(dhcp6.ALL_SERVERS), ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def open_icmp_socket(ifname: str, ifindex: int) -> socket.socket:
    """A non-blocking ICMPv6 raw socket on ``ifname`` that receives router solicitations
    only and sends with hop limit 255, as neighbour discovery requires."""
    sock = socket.socket(
        socket.AF_INET6, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.IPPROTO_ICMPV6
    )
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        # ICMP6_FILTER: a set bit blocks that type; only solicitations pass.
        blocked = [0xFFFFFFFF] * 8
        rs = routeradvert.ROUTER_SOLICITATION
        blocked[rs >> 5] &= ~(1 << (rs & 31))
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("@8I", *blocked))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        # A host that forwards is in ff02::2 already; joining again costs nothing.
        with contextlib.suppress(OSError):
            sock.setsockopt(
                socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, _group(ALL_ROUTERS, ifindex)
            )
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Dhcp6(TapServer[Tap6]):
    """Answers the DHCPv6 messages heard on one tap with its current binding, and runs the
    tap's router advertiser on ``raw``."""

    kind = "DHCPv6"

    def __init__(self, device: Device, tap6: Tap6, raw: socket.socket) -> None:
        super().__init__(device, tap6)
        self.advertiser = _Advertiser(self.ifname, self.ifindex, raw, self)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            request = dhcp6.decode(data)
            reply = dhcp6.answer(request, self.lease.binding)
        except dhcp6.Malformed as exc:
            log.debug("DHCPv6 on %s: ignored %d bytes: %s", self.ifname, len(data), exc)
            return
        if reply is None or self.transport is None:
            return
        if request.msg_type == dhcp6.DECLINE:
            log.warning("DHCPv6 on %s: the VM declined %s", self.ifname, self.lease.binding.address)
        self.transport.sendto(dhcp6.encode(reply), (addr[0], addr[1], 0, self.ifindex))
        log.debug("DHCPv6 on %s: type %d answered", self.ifname, request.msg_type)

    def stop(self, *, farewell: bool) -> None:
        self.advertiser.stop(farewell=farewell)
        super().stop(farewell=farewell)


class _Advertiser:
    """Sends one tap's router advertisements (see the module docstring)."""

    def __init__(self, ifname: str, ifindex: int, sock: socket.socket, server: _Dhcp6) -> None:
        self.ifname = ifname
        self.ifindex = ifindex
        self.sock = sock
        self.server = server
        self.solicited = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._read)
        self.task = asyncio.create_task(self._run(), name=f"ra {self.ifname}")

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                if routeradvert.is_solicitation(self.sock.recv(1500)):
                    self.solicited.set()

    def _send(self, advert: routeradvert.Advertisement) -> bool:
        source = link_local(self.ifindex)
        if source is None:
            return False
        info = source.packed + struct.pack("@I", self.ifindex)
        self.sock.sendmsg(
            [routeradvert.encode(advert)],
            [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)],
            0,
            (ALL_NODES, 0, 0, self.ifindex),
        )
        return True

    async def _run(self) -> None:
        sent, last = 0, -MIN_DELAY
        while True:
            await asyncio.sleep(max(0.0, last + MIN_DELAY - time.monotonic()))
            self.solicited.clear()
            try:
                ready = self._send(self.server.lease.advert)
            except OSError as exc:
                log.debug("RA on %s: %s", self.ifname, exc)
                ready = False
            if not ready:  # the link-local address is still tentative, or the tap going
                await asyncio.sleep(NOT_READY)
                continue
            sent, last = sent + 1, time.monotonic()
            if sent == 1:
                log.info("RA on %s: advertising the host as router", self.ifname)
            delay = (
                INITIAL_INTERVAL
                if sent < INITIAL_COUNT
                else random.uniform(MIN_INTERVAL, MAX_INTERVAL)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.solicited.wait(), delay)

    def stop(self, *, farewell: bool) -> None:
        """Stop advertising; ``farewell`` sends a last advertisement with lifetime 0."""
        if self.task is not None:
            self.task.cancel()
        if farewell:
            with contextlib.suppress(OSError, ValueError):
                self._send(dataclasses.replace(self.server.lease.advert, lifetime=0))
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


class Dhcp6Servers(TapServers[Tap6]):
    """The IPv6 servers of this host's taps: DHCPv6 and router advertisements."""

    async def _start(self, device: Device, tap6: Tap6) -> _Dhcp6 | None:
        ifname, ifindex = device
        try:
            udp = open_dhcp_socket(ifname, ifindex)
        except OSError as exc:
            log.warning("DHCPv6 on %s cannot start: %s", ifname, exc)
            return None
        try:
            raw = open_icmp_socket(ifname, ifindex)
        except OSError as exc:
            udp.close()
            log.warning("RA on %s cannot start: %s", ifname, exc)
            return None
        server = _Dhcp6(device, tap6, raw)
        await server.listen(udp)
        server.advertiser.start()
        log.info("DHCPv6 on %s: offering %s", ifname, tap6.binding.address)
        return server
