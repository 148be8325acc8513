"""ADD and DEL of tap endpoints: a VM's existing device wired, never made, never released.

A tap endpoint (``attachment`` ``tap``, :mod:`romana.core.endpoint`) is a device Nova made in
the host namespace for one Neutron port; its key ``<port id>:tap<11 chars>`` is the port's
allocation key, which Neutron's IPAM driver allocated for (host, project tenant, network
segment) before Nova plugged the VM in.

ADD, under the key's lock: refuse a missing device (404, field ``ifname``); record the intent
(``allocating``); read the key's allocation from romanad, the one the IPAM driver made: the
ADD never allocates, since DEL never releases and an allocation it made would outlive the
port (none: 404, field ``container_id``; one of another host, tenant or segment: 409, field
``tenant``); when the host view does not carry the tenant's policies yet (the first endpoint
of the tenant here), wait until the firewall enforces a view that does, as a veth's ADD
waits (:meth:`romana.agent.reconciler.Reconciler.enforce`); wait for a reconcile, which
puts the tap's name into the firewall (:func:`romana.agent.desired.tap_devices` names every
recorded tap), so the VM's traffic is filtered as a veth's is before any route leads to it
(until then strict reverse-path filtering on the tap drops what the VM sends); then wire the
tap on the writer thread (:func:`romana.dataplane.tap.ensure`) and record the endpoint
``ready``. ADD again of a ready tap endpoint wires it again and answers it: the agent's
tap watcher repeats ADD for every tap it finds at start. A failure undoes the record and the
wiring, never the allocation.

DEL, under the key's lock: drop the record, then unwire the tap (gateway addresses and our
routes off; the device stays) and ask for a reconcile, which takes its name out of the
firewall. It never releases: the Neutron port owns the allocation and the IPAM driver
releases it when the port is deleted. GC never reaches a tap endpoint.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any

from romana.agent import desired, keylocks, ledger
from romana.agent.parts import Parts
from romana.core import hostplan
from romana.core.endpoint import Endpoint, EndpointRequest, at_field
from romana.core.errors import AlreadyExists, NotFound, RomanaError

log = logging.getLogger(__name__)

Describe = Callable[[ledger.EndpointRecord, hostplan.EndpointSpec], Endpoint]


@dataclasses.dataclass(frozen=True, slots=True)
class TapEndpoints:
    """The tap half of :class:`romana.agent.endpoints.Endpoints` (see the module docstring);
    it shares that object's key locks, allocation and answer shape."""

    parts: Parts
    _: dataclasses.KW_ONLY
    keys: keylocks.KeyLocks
    describe: Describe
    policy_wait: float
    """How long an ADD waits for a view carrying its tenant's policies (as a veth's does)."""
    wall: Callable[[], float] = time.time

    async def add(self, request: EndpointRequest) -> Endpoint:
        key = request.key
        async with self.keys.locked(key):
            hv = self.parts.synced_view()
            exists = await self.parts.reconciler.call(lambda dp: dp.device_exists(request.ifname))
            if not exists:
                raise at_field(NotFound(f"tap {request.ifname} does not exist"), "ifname")
            known = self.parts.ledger.get(key)
            record = ledger.EndpointRecord.of(request, self.wall())
            if known is not None and known.is_tap and known.state == ledger.READY:
                record = dataclasses.replace(record, created_at=known.created_at)
            gateway = desired.gateway_spec(hv)
            try:
                if known is None or known.state != ledger.READY:
                    self.parts.ledger.put(record)
                alloc = await self._held(key, request)
                if not hv.carries(request.tenant):
                    await self.parts.reconciler.enforce(request.tenant, self.policy_wait)
                if known is None or known.state != ledger.READY:
                    await self._filtered(key)
                addresses = tuple(ipaddress.ip_address(a) for a in alloc["addresses"])
                record = record.ready(addresses)
                spec = desired.endpoint_spec(record, gateway, self.parts.mtu(), None)
                attached = await self.parts.reconciler.call(lambda dp: dp.ensure_endpoint(spec))
                record = dataclasses.replace(record, host_mac=attached.host_mac)
                self.parts.ledger.put(record)
            except BaseException:
                if known is None or known.state != ledger.READY:
                    await self._undo(record)
                raise
        log.info("tap endpoint %s added: %s", key, ", ".join(map(str, addresses)))
        return self.describe(record, spec)

    async def _filtered(self, key: str) -> None:
        """Reconcile, so that the firewall names the recorded tap before it is wired."""
        report = await self.parts.reconciler.reconcile()
        if not report.firewall_key:
            log.warning("tap %s: not filtered yet: %s", key, "; ".join(report.errors))

    async def _held(self, key: str, request: EndpointRequest) -> Any:
        """The allocation of ``key`` if it is this host's, for the request's tenant and
        segment; a temporary failure of romanad is the caller's to retry."""
        try:
            alloc = await self.parts.romanad.get_allocation(key)
        except NotFound as exc:
            raise at_field(
                NotFound(f"no allocation {key} on this host: the port is not bound here"),
                "container_id",
            ) from exc
        owner = (str(alloc["host"]), str(alloc["tenant"]), str(alloc["segment"]))
        if owner != (self.parts.host, request.tenant, request.segment):
            raise at_field(
                AlreadyExists(
                    f"allocation {key} is for host {owner[0]}, tenant {owner[1]}, "
                    f"segment {owner[2]}"
                ),
                "tenant",
            )
        return alloc

    async def _undo(self, record: ledger.EndpointRecord) -> None:
        """Take back the wiring and the record of a failed ADD; never raises. The
        allocation stays: it is the Neutron port's."""
        self.parts.ledger.remove(record.key)
        try:
            await self.parts.reconciler.call(lambda dp: dp.remove_endpoint(record.ifname))
        except (RomanaError, OSError) as exc:
            log.warning("undoing ADD %s: unwiring the tap failed: %s", record.key, exc)

    async def delete(self, key: str) -> bool:
        """DEL of a tap endpoint: unwired, the allocation kept; whether one was recorded."""
        async with self.keys.locked(key):
            record = self.parts.ledger.remove(key)
            if record is None:
                return False
            tap = record.ifname
            try:
                await self.parts.reconciler.call(lambda dp: dp.remove_endpoint(tap))
            except (RomanaError, OSError) as exc:
                log.warning("DEL %s: %s (the next reconcile unwires it)", key, exc)
            self.parts.reconciler.trigger()
        log.info("tap endpoint %s deleted (its allocation stays with the port)", key)
        return True
