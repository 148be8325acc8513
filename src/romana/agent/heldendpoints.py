"""What tap and docker endpoints share: an allocation someone else made, never released.

A tap endpoint (:mod:`romana.agent.tapendpoints`) and a docker endpoint
(:mod:`romana.agent.dockerendpoints`) are wired on an allocation that a front end made in
romanad under the endpoint's key before the ADD (Neutron's IPAM driver for a port, the Docker
plugin's IPAM for a libnetwork endpoint; :data:`romana.core.endpoint.HELD`). Their ADD never
allocates: the allocation outlives the endpoint, and the front end that made it releases it.
:class:`HeldEndpoints` holds the steps both take:

* :meth:`~HeldEndpoints.held`: the key's allocation if it is this host's, for the request's
  tenant and segment (none: 404, field ``container_id``; another host, tenant or segment:
  409, field ``tenant``); :meth:`~HeldEndpoints.claim`: its addresses, once the firewall
  enforces the tenant's policies (:meth:`romana.agent.reconciler.Reconciler.enforce`, when
  the host view does not carry them yet);
* :meth:`~HeldEndpoints.undo`: a failed ADD's record and device taken back, never the
  allocation;
* :meth:`~HeldEndpoints.delete`: DEL, under the key's lock: the record dropped, the device
  unwired (a tap: our addresses and routes off, the device stays) or deleted (a docker
  endpoint's host veth, and its peer with it wherever it is), a reconcile asked for; never a
  release. Whether an endpoint was recorded.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from romana.agent import keylocks, ledger, view
from romana.agent.parts import Parts
from romana.core import hostplan
from romana.core.endpoint import Endpoint, EndpointRequest, IPAddress, at_field
from romana.core.errors import AlreadyExists, NotFound, RomanaError

log = logging.getLogger(__name__)

Describe = Callable[[ledger.EndpointRecord, hostplan.EndpointSpec], Endpoint]


def device(record: ledger.EndpointRecord) -> str:
    """The host-namespace device of a held endpoint: the tap, or the host veth."""
    return record.ifname if record.is_tap else hostplan.host_ifname(record.key)


@dataclasses.dataclass(frozen=True, slots=True)
class HeldEndpoints:
    """The part of :class:`romana.agent.endpoints.Endpoints` for one held attachment; it
    shares that object's key locks and answer shape."""

    parts: Parts
    _: dataclasses.KW_ONLY
    keys: keylocks.KeyLocks
    describe: Describe
    policy_wait: float
    """How long an ADD waits for a view carrying its tenant's policies (as a veth's does)."""
    wall: Callable[[], float] = time.time

    unbound: ClassVar[str] = "no allocation {key} on this host"
    """What an ADD without an allocation answers (``{key}``: the endpoint key)."""

    async def held(self, key: str, request: EndpointRequest) -> Any:
        """The allocation of ``key`` if it is this host's, for the request's tenant and
        segment; a temporary failure of romanad is the caller's to retry."""
        try:
            alloc = await self.parts.romanad.get_allocation(key)
        except NotFound as exc:
            raise at_field(NotFound(self.unbound.format(key=key)), "container_id") from exc
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

    async def claim(
        self, key: str, request: EndpointRequest, hv: view.HostView
    ) -> tuple[IPAddress, ...]:
        """The addresses of the key's allocation (:meth:`held`), once the firewall enforces
        the tenant's policies: when the host view does not carry them yet (the tenant's
        first endpoint here), it waits as a veth's ADD does."""
        alloc = await self.held(key, request)
        if not hv.carries(request.tenant):
            await self.parts.reconciler.enforce(request.tenant, self.policy_wait)
        return tuple(ipaddress.ip_address(a) for a in alloc["addresses"])

    async def _unwire(self, record: ledger.EndpointRecord, doing: str) -> None:
        name = device(record)
        try:
            await self.parts.reconciler.call(lambda dp: dp.remove_endpoint(name))
        except (RomanaError, OSError) as exc:
            log.warning("%s %s: taking %s away failed: %s", doing, record.key, name, exc)
            self.parts.reconciler.trigger()

    async def undo(self, record: ledger.EndpointRecord) -> None:
        """Take back the device and the record of a failed ADD; never raises. The
        allocation stays: it is the front end's."""
        self.parts.ledger.remove(record.key)
        await self._unwire(record, "undoing ADD")

    async def delete(self, key: str) -> bool:
        """DEL: unwired, the allocation kept; whether one was recorded."""
        async with self.keys.locked(key):
            record = self.parts.ledger.remove(key)
            if record is None:
                return False
            await self._unwire(record, "DEL")
            self.parts.reconciler.trigger()
        log.info("%s endpoint %s deleted (its allocation stays)", record.attachment, key)
        return True
