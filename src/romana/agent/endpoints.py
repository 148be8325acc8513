"""The endpoint use cases behind the local API: ADD, DEL, CHECK, GC, STATUS.

Each call on one endpoint key (``<container_id>:<ifname>``, also its allocation key) runs
under that key's lock, so a runtime's ADD and DEL, a GC and a pending release never
interleave on the same endpoint; calls on different keys run concurrently. Every kernel
change that creates or repairs goes through the reconciler's single writer thread; what DEL
cut off is taken away on its reaper thread.

ADD: refuse if the namespace is missing (404, field ``netns``); start the veth pair on the
writer thread while the intent is recorded (``allocating``) and the address is allocated from
romanad by key (idempotent); then put the addresses on the pair and record the endpoint
``ready``. A romanad that is away (restarting, unreachable) makes the allocation wait for it up
to ``Waits.allocate`` seconds (``Romanad.allocate``). The pair needs no address, so its making
overlaps the allocation; a reconcile in between leaves the pair of an ``allocating`` record
alone (``hostplan.HostPlan.busy``). When ``ifname`` already exists in the namespace the answer
is 409, field ``ifname``. When the fast path cannot make a fresh pair (a veth of this key is
left from an earlier attempt) the convergent ``ensure`` wires it instead. A failure after the
record was written undoes everything this ADD made (veth, allocation, record) before the error
goes back. The answer does not wait for a reconcile: the endpoint is complete when it is wired,
since tenant and segment rules match addresses by mask and selector sets follow the host view.
The exception is the first endpoint of a tenant whose policies the host view does not carry
(romanad sends a host only the policies of tenants with an endpoint there): its address goes on
the pair only once the firewall enforces a view carrying them (:meth:`Reconciler.enforce`,
which the allocation itself brings about), so its first packet already meets them; no such view
within ``Waits.policy`` seconds is Unavailable (retry) and the ADD is undone.

An ADD into the agent's own or the host's network namespace is refused (:mod:`.hostns`).
DEL and every release are :mod:`romana.agent.releases`. ADD and DEL of a tap endpoint (a VM's
device, ``attachment`` ``tap``) are :mod:`romana.agent.tapendpoints`: no pair, and no release;
those of a docker endpoint (``attachment`` ``docker``) :mod:`romana.agent.dockerendpoints`: a
pair left in the host namespace for docker, and no release either.

GC: releases, as DEL does, every recorded endpoint of the network whose key is not valid and
that is older than the grace period (an ADD may be in flight). An empty ``valid`` list is not
taken as "no attachment is valid": a runtime sends one when it lost track of its sandboxes (a
restart that has not loaded them yet, a second runtime using the same network name) as much as
when none is left. With an empty list GC releases only endpoints whose network namespace no
longer exists; an endpoint whose namespace is still there is still in some runtime's hands,
and its DEL releases it. A docker endpoint is in no runtime's list: GC releases it once its
sandbox is gone, whatever the list (:mod:`romana.agent.dockerendpoints`). A request naming an
attachment judges only endpoints of that attachment: the Docker plugin's sweep asks about
docker endpoints only (:meth:`romana.integrations.docker.plugin.Plugin.sweep`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from romana.agent import desired, dockerendpoints, hostns, keylocks, ledger, releases, tapendpoints
from romana.agent.parts import Parts
from romana.core import endpoint, endpointwire, hostplan, tenancy
from romana.core.endpoint import (
    Address,
    Endpoint,
    EndpointPort,
    EndpointRequest,
    GcAnswer,
    GcRequest,
    Interface,
    Readiness,
    Route,
    at_field,
)
from romana.core.errors import (
    AlreadyExists,
    InvalidInput,
    Issue,
    NotFound,
    RomanaError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

GC_GRACE = 60.0
POLICY_WAIT = 20.0
"""How long an ADD waits for a view carrying its tenant's policies: a long poll round trip
and a reconcile, well inside a runtime's CNI timeout."""
ALLOCATE_WAIT = 20.0
"""How long an ADD's allocation waits for a romanad that is away (restarting, unreachable),
well inside the CNI plugin's default ``agent_timeout`` of 30 s."""


@dataclasses.dataclass(frozen=True, slots=True)
class Waits:
    """How long the use cases wait, in seconds."""

    gc_grace: float = GC_GRACE
    """How old an endpoint must be before GC may release it (an ADD may still be in flight)."""
    policy: float = POLICY_WAIT
    allocate: float = ALLOCATE_WAIT


def describe(record: ledger.EndpointRecord, spec: hostplan.EndpointSpec) -> Endpoint:
    """The answer for one endpoint (ADD, CHECK, list)."""
    addresses = []
    for address in record.addresses:
        gateway = spec.gateway_for(address.version)
        cidr = f"{address}/{address.max_prefixlen}"
        addresses.append(Address(cidr, "" if gateway is None else str(gateway)))
    routes = tuple(
        Route("0.0.0.0/0" if gw.version == 4 else "::/0", str(gw)) for gw in spec.gateways
    )
    return Endpoint(
        container_id=record.container_id,
        ifname=record.ifname,
        netns=record.netns,
        network=record.network,
        tenant=record.tenant,
        segment=record.segment,
        addresses=tuple(addresses),
        interface=Interface(record.ifname, record.mac, spec.mtu, record.netns),
        host_interface=Interface(spec.host_ifname, record.host_mac),
        routes=routes,
        mtu=spec.mtu,
    )


class Endpoints:
    """The agent's :class:`~romana.core.endpoint.EndpointPort`, and the operators' list and
    state.

    ``refused_netns``: the namespaces no ADD may use; by default those of
    :data:`.hostns.HOST_NAMESPACES` as they are now (make the service on the thread that stays
    in the agent's namespace)."""

    def __init__(
        self,
        parts: Parts,
        *,
        pending_dir: str,
        waits: Waits = Waits(),
        wall: Callable[[], float] = time.time,
        refused_netns: Mapping[hostns.NamespaceId, str] | None = None,
    ) -> None:
        self._parts = parts
        self._waits = waits
        self._wall = wall
        self._keys = keylocks.KeyLocks()
        self._refused = hostns.namespace_ids() if refused_netns is None else dict(refused_netns)
        self._releases = releases.Releases(parts, keys=self._keys, pending_dir=pending_dir)
        self._taps = tapendpoints.TapEndpoints(
            parts, keys=self._keys, describe=describe, policy_wait=waits.policy, wall=wall
        )
        self._docker = dockerendpoints.DockerEndpoints(
            parts, keys=self._keys, describe=describe, policy_wait=waits.policy, wall=wall
        )

    # -- ADD -------------------------------------------------------------------------------

    async def add(self, request: EndpointRequest) -> Endpoint:
        if request.attachment == endpoint.TAP:
            return await self._taps.add(request)
        hostns.check(request.netns, self._refused)
        if request.attachment == endpoint.DOCKER:
            return await self._docker.add(request)
        key = request.key
        async with self._keys.locked(key):
            hv = self._parts.synced_view()  # its gateway is what the endpoint is wired to
            if not os.path.exists(request.netns):
                raise at_field(
                    NotFound(f"network namespace {request.netns} does not exist"), "netns"
                )
            known = self._parts.ledger.get(key)
            if known is not None and known.netns == request.netns:
                # The same endpoint again: if its interface is there, the ADD was answered
                # and the endpoint stays as it is; if not, it is wired again below.
                exists = await self._parts.reconciler.call(
                    lambda dp: dp.interface_exists(request.netns, request.ifname)
                )
                if exists:
                    raise at_field(
                        AlreadyExists(
                            f"interface {request.ifname!r} already exists in {request.netns}"
                        ),
                        "ifname",
                    )
            await self._releases.settle_owed(key)
            record = ledger.EndpointRecord.of(request, self._wall())
            gateway = desired.gateway_spec(hv)
            bare = desired.endpoint_spec(record, gateway, self._parts.mtu(), None)
            # Submitted before the record is written and with no await in between: a
            # reconcile snapshot is taken on this loop, so any later one sees the record. The
            # writer thread makes the pair while the intent is written.
            pair = self._parts.reconciler.submit(lambda dp: dp.create_pair(bare))
            try:
                self._parts.ledger.put(record)
                alloc = await self._allocate(key, request)
                if not hv.carries(request.tenant):
                    await self._parts.reconciler.enforce(request.tenant, self._waits.policy)
                addresses = tuple(ipaddress.ip_address(a) for a in alloc["addresses"])
                record = record.ready(addresses)
                spec = desired.endpoint_spec(record, gateway, self._parts.mtu(), None)
                made = await pair
                if made is None:
                    attached = await self._parts.reconciler.call(
                        lambda dp: dp.ensure_endpoint(spec)
                    )
                    record = dataclasses.replace(
                        record, mac=attached.mac, host_mac=attached.host_mac
                    )
                    self._parts.ledger.put(record)
                else:
                    # The pair's MACs are known before it is addressed, so the ready record is
                    # made durable while the writer thread addresses the pair. A crash in
                    # between leaves a ready record of an unanswered ADD, as a crash just
                    # after the write always could: the next reconcile completes it.
                    record = dataclasses.replace(record, mac=made.mac, host_mac=made.host_mac)
                    addressed = self._parts.reconciler.submit(
                        lambda dp: dp.address_pair(made, spec)
                    )
                    await _beside(addressed, lambda: self._parts.ledger.put(record))
            except BaseException as exc:
                await asyncio.wait([pair])  # the writer must be done with the pair first
                if not pair.cancelled():
                    pair.exception()  # retrieved: the error that matters is ``exc``
                await self._undo(record)
                if isinstance(exc, AlreadyExists):
                    raise at_field(AlreadyExists(str(exc)), "ifname") from exc
                if isinstance(exc, NotFound) and not os.path.exists(request.netns):
                    raise at_field(NotFound(str(exc)), "netns") from exc
                raise
        log.info("endpoint %s added: %s in %s", key, ", ".join(map(str, addresses)), request.netns)
        return describe(record, spec)

    async def _allocate(self, key: str, request: EndpointRequest) -> Any:
        """Allocate from romanad; an unknown tenant or segment is the request's fault."""
        try:
            return await self._parts.romanad.allocate(
                key, self._parts.host, request.tenant, request.segment, within=self._waits.allocate
            )
        except NotFound as exc:
            hv = self._parts.reconciler.host_view
            tenant = None if hv is None else hv.tenant(request.tenant)
            if tenant is None:
                raise InvalidInput([Issue("tenant", str(exc))]) from exc
            if request.segment not in tenant.segments:
                raise InvalidInput([Issue("segment", str(exc))]) from exc
            raise

    async def _undo(self, record: ledger.EndpointRecord) -> None:
        """Take back everything a failed ADD made; never raises.

        The release is made whether or not the allocation answered: a lost answer may hide
        an allocation, and releasing a key that holds nothing is harmless."""
        try:
            await self._parts.reconciler.call(
                lambda dp: dp.remove_endpoint(hostplan.host_ifname(record.key))
            )
        except (RomanaError, OSError) as exc:
            log.warning("undoing ADD %s: removing the veth failed: %s", record.key, exc)
        await self._releases.release(record.key)
        self._parts.ledger.remove(record.key)

    # -- DEL and releases (romana.agent.releases) ------------------------------------------

    async def delete(self, container_id: str, ifname: str) -> bool:
        endpointwire.identity(container_id, ifname)
        key = endpoint.endpoint_key(container_id, ifname)
        known = self._parts.ledger.get(key)
        # A tap's or docker endpoint's key releases nothing even unrecorded: the allocation
        # is the port's, or the docker plugin's.
        if known is not None:
            tap, docker = known.is_tap, known.is_docker
        else:
            tap = endpoint.is_tap_name(ifname)
            docker = endpoint.is_docker_endpoint(container_id, ifname)
        if tap or docker:
            return await (self._taps if tap else self._docker).delete(key)
        return await self._releases.delete(key)

    async def drain(self) -> None:
        """Wait for the work DEL left running (at shutdown: the releases are owed durably)."""
        await self._releases.drain()

    async def settle(self) -> int:
        """Finish owed releases and the CNI plugin's pending releases; how many were done."""
        return await self._releases.settle()

    # -- CHECK, list -----------------------------------------------------------------------

    async def check(self, container_id: str, ifname: str) -> Endpoint:
        endpointwire.identity(container_id, ifname)
        key = endpoint.endpoint_key(container_id, ifname)
        async with self._keys.locked(key):
            record = self._parts.ledger.get(key)
            hv = self._parts.reconciler.host_view
            if record is None or record.state != ledger.READY or hv is None:
                raise NotFound(f"no endpoint is recorded for {key}")
            spec = self._spec(record, hv)
            problems = await self._parts.reconciler.call(lambda dp: dp.inspect(spec))
        try:
            alloc = await self._parts.romanad.get_allocation(key)
            held = {ipaddress.ip_address(a) for a in alloc["addresses"]}
            if held != set(record.addresses):
                problems.append(
                    f"romanad holds {sorted(map(str, held))} for {key}, not "
                    f"{[str(a) for a in record.addresses]}"
                )
        except NotFound:
            problems.append(f"the addresses of {key} are no longer allocated in romanad")
        except RomanaError as exc:
            problems.append(f"cannot confirm the allocation with romanad: {exc}")
        last = self._parts.reconciler.last
        if last is None or not last.firewall_key:
            problems.append("the firewall is not programmed with the current policies")
        return dataclasses.replace(describe(record, spec), problems=tuple(problems))

    async def list(self) -> list[Endpoint]:
        hv = self._parts.reconciler.host_view
        out = []
        for record in self._parts.ledger.records():
            if record.state == ledger.READY and hv is not None:
                out.append(describe(record, self._spec(record, hv)))
        return out

    def _spec(self, record: ledger.EndpointRecord, hv: Any) -> hostplan.EndpointSpec:
        return desired.endpoint_spec(
            record, desired.gateway_spec(hv), self._parts.mtu(), record.mac or None
        )

    # -- STATUS, state, GC -----------------------------------------------------------------

    async def state(self) -> dict[str, Any]:
        """For operators: sync state, the last reconcile, refused policies, endpoints."""
        last = self._parts.reconciler.last
        hv = self._parts.reconciler.host_view
        return {
            "host": self._parts.host,
            "connected": self._parts.sync.connected,
            "detail": self._parts.sync.detail,
            "revision": None if hv is None else hv.revision,
            "last_reconcile": None if last is None else last.to_state(),
            "refused_policies": [] if last is None else list(last.refused),
            "endpoints": [r.key for r in self._parts.ledger.records()],
            "owed_releases": self._parts.ledger.releases(),
        }

    async def status(self, tenant: str | None, segment: str | None) -> Readiness:
        hv = self._parts.reconciler.host_view
        if hv is None or not self._parts.sync.connected:
            return Readiness(False, "not-ready", self._parts.sync.detail)
        last = self._parts.reconciler.last
        if last is None or last.revision < 0:
            return Readiness(False, "not-ready", "the first reconcile has not run yet")
        if last.route_errors:
            return Readiness(
                False,
                "limited-connectivity",
                f"{last.route_errors} routes to other hosts could not be installed",
            )
        if tenant is not None:
            segment = segment or tenancy.DEFAULT_SEGMENT
            used = sum(
                1
                for r in self._parts.ledger.records()
                if (r.tenant, r.segment) == (tenant, segment)
            )
            full = hv.exhausted(tenant, segment, used)
            if full:
                return Readiness(False, "exhausted", full)
        return Readiness(True)

    async def gc(self, request: GcRequest) -> GcAnswer:
        released: list[tuple[str, str]] = []
        failures: list[str] = []
        cutoff = self._wall() - self._waits.gc_grace
        for record in self._parts.ledger.records():
            if record.is_tap:
                continue  # a VM's: its tap watcher and Neutron decide, not a runtime's GC
            if request.attachment and record.attachment != request.attachment:
                continue
            if record.created_at > cutoff:
                continue
            if record.is_docker:
                if not await self._docker.gone(record):
                    continue
            elif not _invalid(record, request):
                continue
            try:
                async with self._keys.locked(record.key):
                    if self._parts.ledger.get(record.key) is None:
                        continue
                    await self._releases.delete_locked(record.key)
            except (RomanaError, OSError) as exc:
                failures.append(f"{record.key}: {exc}")
                continue
            released.append((record.container_id, record.ifname))
        if released:
            self._parts.reconciler.trigger()
            log.info("GC released %d endpoints", len(released))
        return GcAnswer(tuple(released), tuple(failures))


_: type[EndpointPort] = Endpoints


def _invalid(record: ledger.EndpointRecord, request: GcRequest) -> bool:
    """Whether GC ``request`` finds the runtime's endpoint ``record`` no longer valid."""
    if (record.container_id, record.ifname) in request.valid:
        return False
    if request.network and record.network != request.network:
        return False
    # See the module docstring: an empty list spares the living.
    return bool(request.valid) or not os.path.exists(record.netns)


async def _beside(running: asyncio.Future[T], work: Callable[[], object]) -> T:
    """``work()`` on the loop while ``running`` goes on in its thread, then ``running``'s
    result. A failure of ``work`` is raised once ``running`` is done (its own failure is then
    retrieved, not raised): the undo that follows must find the thread's work finished."""
    try:
        work()
    except BaseException:
        await asyncio.wait([running])
        if not running.cancelled():
            running.exception()
        raise
    return await running
