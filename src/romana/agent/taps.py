"""The tap watcher: a VM's tap appears on this host → its endpoint is wired and served DHCP.

Nova plugs a VM into a tap it creates in the host namespace, named ``tap`` + the first 11
characters of the Neutron port id, after Neutron bound the port to this host, which is when
the IPAM driver allocated the port's addresses for this host under the key
``<port id>:<tap name>`` (:func:`romana.integrations.openstack.mapping.allocation_key`).

How taps are noticed: a route-netlink socket subscribed to link notifications
(:mod:`romana.dataplane.linkevents`) wakes the watcher whenever a tap comes, changes or goes
(other links' notifications are read and ignored); it then lists the taps
(:func:`romana.dataplane.tap.present`) and compares them with the tap endpoints of the
ledger. It also does so at start, every :data:`RESCAN` seconds and,
while a tap waits for something (its allocation, a view from romanad), every :data:`RETRY`
seconds, so a lost notification delays, never loses, a change.

* A tap with no ready endpoint: its allocation is looked up among this host's allocations,
  first in the host view, then, when the view does not hold it yet (romanad does not wake
  a host's long poll for every allocation), by listing them from romanad (the agent role
  may read exactly its own host's); one whose key is the tap's endpoint key is ADDed
  through the endpoint port (attachment ``tap``, the allocation's tenant and segment). A
  tap with no such allocation is logged once and left alone (a tap of something else, or a
  port not yet bound), and looked up again later.
* A recorded tap endpoint whose device is gone: DEL through the endpoint port, which unwires
  and never releases (the Neutron port owns the allocation).
* The DHCP servers (:class:`romana.agent.dhcp.DhcpServers`) and the IPv6 servers (router
  advertisements and DHCPv6, :class:`romana.agent.dhcp6.Dhcp6Servers`) serve exactly the
  ready tap endpoints whose device is present, each bound to the device it is now (a tap
  made again under its name gets new servers).
* Whenever the taps present (names and interface indexes) changed, a reconcile is asked
  for: it wires a tap that was deleted and made again between two scans, whose endpoint is
  still recorded ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import Callable, Mapping

from romana.agent import dhcp, dhcp6, ledger
from romana.agent.endpoints import Endpoints
from romana.agent.parts import Parts
from romana.core import endpoint, hostplan
from romana.core.endpoint import EndpointRequest
from romana.core.errors import RomanaError
from romana.dataplane import linkevents, rtnl, tap

log = logging.getLogger(__name__)

RESCAN = 30.0
RETRY = 1.0
SETTLE = 0.1
"""After a notification, how long to wait for more before reading the links: a burst of
link changes (fifty CNI ADDs at once) costs one read, not fifty."""


def port_of(key: str, tap_name: str) -> str | None:
    """The port id of an allocation key that is the endpoint key of ``tap_name``."""
    port, sep, ifname = key.rpartition(":")
    if sep and ifname == tap_name and endpoint.tap_name(port) == tap_name:
        return port
    return None


def _present(netns: str | None) -> Mapping[str, int]:
    with rtnl.Rtnl(netns) as host:
        return tap.present(host)


@dataclasses.dataclass(slots=True)
class TapWatcher:
    """Keeps the tap endpoints and their DHCP and IPv6 servers in step with the taps present."""

    parts: Parts
    endpoints: Endpoints
    servers: dhcp.DhcpServers
    _: dataclasses.KW_ONLY
    netns: str | None = None
    servers6: dhcp6.Dhcp6Servers = dataclasses.field(default_factory=dhcp6.Dhcp6Servers)
    subscribe: Callable[[str | None], socket.socket] = linkevents.subscribe
    present: Callable[[str | None], Mapping[str, int]] = _present
    unmatched: set[str] = dataclasses.field(default_factory=set, init=False)
    """Taps already logged as having no allocation (logged once)."""
    seen: Mapping[str, int] = dataclasses.field(default_factory=dict, init=False)
    """The taps present at the last scan: name → interface index."""

    async def run(self) -> None:
        sock = self.subscribe(self.netns)
        changed = asyncio.Event()
        loop = asyncio.get_running_loop()

        def notified() -> None:
            # Read at once (see linkevents), and wake only for taps: every CNI ADD and DEL
            # makes and deletes links too, and a scan during an ADD would only slow it.
            seen = linkevents.drain(sock)
            if seen.lost or any(hostplan.is_tap_ifname(name) for name in seen.names):
                changed.set()

        loop.add_reader(sock.fileno(), notified)
        try:
            while True:
                await asyncio.sleep(SETTLE)
                changed.clear()
                waiting = await self.scan()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), RETRY if waiting else RESCAN)
        finally:
            loop.remove_reader(sock.fileno())
            sock.close()
            self.servers.close()
            self.servers6.close()

    async def scan(self) -> bool:
        """One comparison of taps and tap endpoints; True when a tap still waits."""
        try:
            present = await asyncio.to_thread(self.present, self.netns)
        except (RomanaError, OSError) as exc:
            # A dump interrupted by a concurrent change (EINTR) among them: read again soon.
            log.debug("reading the taps: %s", exc)
            return True
        recorded = {r.ifname: r for r in self.parts.ledger.records() if r.is_tap}
        waiting = False
        if present != self.seen:
            self.parts.reconciler.trigger()
            self.seen = present
        for name in sorted(recorded.keys() - present.keys()):
            record = recorded.pop(name)
            try:
                await self.endpoints.delete(record.container_id, name)
            except RomanaError as exc:
                log.warning("tap %s went away; its DEL failed: %s", name, exc)
                waiting = True
        self.unmatched &= present.keys()
        new = [n for n in sorted(present) if n not in recorded or recorded[n].state != ledger.READY]
        hv = self.parts.reconciler.host_view
        if new and hv is not None:
            held: dict[str, tuple[str, str]] = {
                k: (a.tenant, a.segment) for k, a in hv.endpoints.items()
            }
            if any(not self._allocation(held, n) for n in new):
                held.update(await self._listed())
            for name in new:
                waiting |= not await self._add(name, self._allocation(held, name))
        waiting |= hv is None  # DHCP too waits for a view: retry soon, not at RESCAN
        await self._serve(present)
        return waiting

    async def _listed(self) -> dict[str, tuple[str, str]]:
        """This host's allocations from romanad, key → (tenant, segment); {} when it cannot
        be reached (the scan is tried again shortly)."""
        try:
            found = await self.parts.romanad.list_allocations(self.parts.host)
        except RomanaError as exc:
            log.warning("listing this host's allocations: %s", exc)
            return {}
        return {str(a["key"]): (str(a["tenant"]), str(a["segment"])) for a in found}

    @staticmethod
    def _allocation(held: Mapping[str, tuple[str, str]], name: str) -> tuple[str, str, str] | None:
        """(port id, tenant, segment) of the allocation of the tap ``name`` in ``held``."""
        for key, (tenant, segment) in held.items():
            port = port_of(key, name)
            if port is not None:
                return port, tenant, segment
        return None

    async def _add(self, name: str, found: tuple[str, str, str] | None) -> bool:
        """ADD the tap ``name`` for its allocation ``found``; False when it must wait."""
        if found is None:
            if name not in self.unmatched:
                log.info("tap %s: no allocation of this host has key <port id>:%s", name, name)
                self.unmatched.add(name)
            return False
        port, tenant, segment = found
        request = EndpointRequest(
            container_id=port,
            ifname=name,
            netns="",
            tenant=tenant,
            segment=segment,
            attachment=endpoint.TAP,
        )
        try:
            await self.endpoints.add(request)
        except RomanaError as exc:
            log.warning("tap %s: ADD failed, tried again shortly: %s", name, exc)
            return False
        self.unmatched.discard(name)
        return True

    async def _serve(self, present: Mapping[str, int]) -> None:
        hv = self.parts.reconciler.host_view
        if hv is None:
            return
        leases = {}
        served6 = {}
        for record in self.parts.ledger.records():
            if record.is_tap and record.state == ledger.READY and record.ifname in present:
                device = record.ifname, present[record.ifname]
                lease = dhcp.lease_of(record, hv, self.parts.mtu())
                if lease is not None:
                    leases[device] = lease
                tap6 = dhcp6.tap6_of(record, hv, self.parts.mtu())
                if tap6 is not None:
                    served6[device] = tap6
        await self.servers.sync(leases)
        await self.servers6.sync(served6)
