"""ADD and DEL of tap endpoints: a VM's existing device wired, never made, never released.

A tap endpoint (``attachment`` ``tap``, :mod:`romana.core.endpoint`) is a device Nova made in
the host namespace for one Neutron port; its key ``<port id>:tap<11 chars>`` is the port's
allocation key, which Neutron's IPAM driver allocated for (host, project tenant, network
segment) before Nova plugged the VM in.

ADD, under the key's lock: refuse a missing device (404, field ``ifname``); record the intent
(``allocating``); read the key's allocation from romanad, the one the IPAM driver made: the
ADD never allocates, since DEL never releases and an allocation it made would outlive the
port (:meth:`romana.agent.heldendpoints.HeldEndpoints.claim`, which also waits, when the host
view does not carry the tenant's policies yet, until the firewall enforces a view that does,
as a veth's ADD waits); wait for a reconcile, which
puts the tap's name into the firewall (:func:`romana.agent.desired.tap_devices` names every
recorded tap), so the VM's traffic is filtered as a veth's is before any route leads to it
(until then strict reverse-path filtering on the tap drops what the VM sends); then wire the
tap on the writer thread (:func:`romana.dataplane.tap.ensure`) and record the endpoint
``ready``. ADD again of a ready tap endpoint wires it again and answers it: the agent's
tap watcher repeats ADD for every tap it finds at start. A failure undoes the record and the
wiring, never the allocation (:mod:`romana.agent.heldendpoints`, as for a docker endpoint).

DEL, under the key's lock: drop the record, then unwire the tap (gateway addresses and our
routes off; the device stays) and ask for a reconcile, which takes its name out of the
firewall. It never releases: the Neutron port owns the allocation and the IPAM driver
releases it when the port is deleted. GC never reaches a tap endpoint.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import ClassVar

from romana.agent import desired, heldendpoints, ledger
from romana.core.endpoint import Endpoint, EndpointRequest, at_field
from romana.core.errors import NotFound

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class TapEndpoints(heldendpoints.HeldEndpoints):
    """The tap half of :class:`romana.agent.endpoints.Endpoints` (see the module docstring)."""

    unbound: ClassVar[str] = "no allocation {key} on this host: the port is not bound here"

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
                addresses = await self.claim(key, request, hv)
                if known is None or known.state != ledger.READY:
                    await self._filtered(key)
                record = record.ready(addresses)
                spec = desired.endpoint_spec(record, gateway, self.parts.mtu(), None)
                attached = await self.parts.reconciler.call(lambda dp: dp.ensure_endpoint(spec))
                record = dataclasses.replace(record, host_mac=attached.host_mac)
                self.parts.ledger.put(record)
            except BaseException:
                if known is None or known.state != ledger.READY:
                    await self.undo(record)
                raise
        log.info("tap endpoint %s added: %s", key, ", ".join(map(str, addresses)))
        return self.describe(record, spec)

    async def _filtered(self, key: str) -> None:
        """Reconcile, so that the firewall names the recorded tap before it is wired."""
        report = await self.parts.reconciler.reconcile()
        if not report.firewall_key:
            log.warning("tap %s: not filtered yet: %s", key, "; ".join(report.errors))
