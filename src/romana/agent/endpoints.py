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
to ``allocate_wait`` seconds (``Romanad.allocate``). The pair needs no address, so its making
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
within ``policy_wait`` seconds is Unavailable (retry) and the ADD is undone.

DEL: always succeeds. Owes the release durably (with the addresses), drops the record, sets
the host veth down and answers; then, still under the key's lock, deletes the veth (gone
namespace or not), forgets the addresses' conntrack flows and releases the allocation (see
:meth:`Endpoints.delete`). When romanad cannot be reached the release stays owed and
:meth:`Endpoints.settle` finishes it later. An ADD of a key with an owed release settles that
release first, so a stale release can never free a fresh allocation.

GC: releases, as DEL does, every recorded endpoint of the network whose key is not valid and
that is older than the grace period (an ADD may be in flight). An empty ``valid`` list is not
taken as "no attachment is valid": a runtime sends one when it lost track of its sandboxes (a
restart that has not loaded them yet, a second runtime using the same network name) as much as
when none is left. With an empty list GC releases only endpoints whose network namespace no
longer exists; an endpoint whose namespace is still there is still in some runtime's hands,
and its DEL releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from romana.agent import desired, keylocks, localapi, registry
from romana.agent.metrics import Metrics
from romana.agent.reconciler import Reconciler
from romana.agent.romanad import Romanad
from romana.core import hostplan, tenancy
from romana.core.errors import (
    AlreadyExists,
    InvalidInput,
    Issue,
    NotFound,
    RomanaError,
    Unavailable,
)
from romana.integrations.cni import pending

log = logging.getLogger(__name__)

GC_GRACE = 60.0
POLICY_WAIT = 20.0
"""How long an ADD waits for a view carrying its tenant's policies: a long poll round trip
and a reconcile, well inside a runtime's CNI timeout."""
ALLOCATE_WAIT = 20.0
"""How long an ADD's allocation waits for a romanad that is away (restarting, unreachable),
well inside the CNI plugin's default ``agent_timeout`` of 30 s."""


def at_field(exc: RomanaError, field: str) -> RomanaError:
    """Name the request member ``exc`` is about (the problem answer's ``field``)."""
    exc.problem_field = field  # type: ignore[attr-defined]
    return exc


@dataclasses.dataclass(slots=True)
class Sync:
    """Whether the agent currently hears from romanad; written by the watcher."""

    connected: bool = False
    detail: str = "not connected to romanad yet"


def _unreadable(path: str) -> None:
    log.warning("pending release %s is unreadable; left for an operator", path)


class Endpoints:
    """Implements :class:`romana.agent.localapi.Service`."""

    def __init__(
        self,
        *,
        host: str,
        registry: registry.Registry,
        reconciler: Reconciler,
        romanad: Romanad,
        metrics: Metrics,
        sync: Sync,
        mtu: Callable[[], int],
        pending_dir: str,
        gc_grace: float = GC_GRACE,
        policy_wait: float = POLICY_WAIT,
        allocate_wait: float = ALLOCATE_WAIT,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._host = host
        self._registry = registry
        self._reconciler = reconciler
        self._romanad = romanad
        self._metrics = metrics
        self._sync = sync
        self._mtu = mtu
        self._pending_dir = pending_dir
        self._gc_grace = gc_grace
        self._policy_wait = policy_wait
        self._allocate_wait = allocate_wait
        self._wall = wall
        self._keys = keylocks.KeyLocks()
        self._background: set[asyncio.Task[None]] = set()

    # -- ADD -------------------------------------------------------------------------------

    async def add(self, request: localapi.AddRequest) -> dict[str, Any]:
        key = registry.endpoint_key(request.container_id, request.ifname)
        async with self._keys.locked(key):
            hv = self._reconciler.host_view
            if hv is None:
                # Without any view there is no gateway to wire; once one came, a romanad
                # that is away only makes the allocation below wait for it.
                raise Unavailable(f"romana-agent is not synced with romanad: {self._sync.detail}")
            if not os.path.exists(request.netns):
                raise at_field(
                    NotFound(f"network namespace {request.netns} does not exist"), "netns"
                )
            known = self._registry.get(key)
            if known is not None and known.netns == request.netns:
                # The same endpoint again: if its interface is there, the ADD was answered
                # and the endpoint stays as it is; if not, it is wired again below.
                exists = await self._reconciler.call(
                    lambda dp: dp.interface_exists(request.netns, request.ifname)
                )
                if exists:
                    raise at_field(
                        AlreadyExists(
                            f"interface {request.ifname!r} already exists in {request.netns}"
                        ),
                        "ifname",
                    )
            await self._settle_owed(key)
            record = registry.EndpointRecord(
                container_id=request.container_id,
                ifname=request.ifname,
                netns=request.netns,
                tenant=request.tenant,
                segment=request.segment,
                network=request.network,
                labels=dict(request.labels),
                k8s=dict(request.k8s),
                mtu=request.mtu,
                created_at=self._wall(),
            )
            gateway = desired.gateway_spec(hv)
            bare = desired.endpoint_spec(record, gateway, self._mtu(), None)
            # Submitted before the record is written and with no await in between: a
            # reconcile snapshot is taken on this loop, so any later one sees the record.
            pair = asyncio.ensure_future(self._reconciler.call(lambda dp: dp.create_pair(bare)))
            try:
                self._registry.put(record)
                alloc = await self._allocate(key, request)
                if not hv.carries(request.tenant):
                    await self._reconciler.enforce(request.tenant, self._policy_wait)
                addresses = tuple(ipaddress.ip_address(a) for a in alloc["addresses"])
                record = record.ready(addresses)
                spec = desired.endpoint_spec(record, gateway, self._mtu(), None)
                made = await pair
                attached = await self._reconciler.call(
                    lambda dp: (
                        dp.ensure_endpoint(spec) if made is None else dp.address_pair(made, spec)
                    )
                )
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
            record = dataclasses.replace(record, mac=attached.mac, host_mac=attached.host_mac)
            self._registry.put(record)
        log.info("endpoint %s added: %s in %s", key, ", ".join(map(str, addresses)), request.netns)
        return localapi.describe(record, spec)

    async def _allocate(self, key: str, request: localapi.AddRequest) -> Any:
        """Allocate from romanad; an unknown tenant or segment is the request's fault."""
        try:
            return await self._romanad.allocate(
                key, self._host, request.tenant, request.segment, within=self._allocate_wait
            )
        except NotFound as exc:
            hv = self._reconciler.host_view
            tenant = None if hv is None else hv.tenant(request.tenant)
            if tenant is None:
                raise InvalidInput([Issue("tenant", str(exc))]) from exc
            if request.segment not in tenant.segments:
                raise InvalidInput([Issue("segment", str(exc))]) from exc
            raise

    async def _undo(self, record: registry.EndpointRecord) -> None:
        """Take back everything a failed ADD made; never raises.

        The release is made whether or not the allocation answered: a lost answer may hide
        an allocation, and releasing a key that holds nothing is harmless."""
        try:
            await self._reconciler.call(
                lambda dp: dp.remove_endpoint(hostplan.host_ifname(record.key))
            )
        except (RomanaError, OSError) as exc:
            log.warning("undoing ADD %s: removing the veth failed: %s", record.key, exc)
        await self._release(record.key)
        self._registry.remove(record.key)

    # -- DEL -------------------------------------------------------------------------------

    async def delete(self, container_id: str, ifname: str) -> dict[str, Any]:
        """DEL; answers once the endpoint is cut off and its release is owed durably.

        Cutting off is setting the host veth down (0.1 ms). Deleting the pair (about 20 ms
        of the kernel's time), forgetting the address's conntrack flows (a walk of the
        kernel's whole table, about 10 ms) and the release in romanad follow, in that order,
        in the background, still under the endpoint's lock: the same key's next ADD or DEL
        waits for them, and the address cannot be handed out again before its veth and its
        old flows are gone.
        """
        key = registry.endpoint_key(container_id, ifname)
        await self._keys.hold(key)
        try:
            recorded = await self._unwire(key)
        except BaseException:
            self._keys.let_go(key)
            raise
        if not recorded:
            # Nothing recorded here: release whatever romanad may hold, and answer that.
            try:
                released = await self._release(key)
            finally:
                self._keys.let_go(key)
            return {"released": released is True}
        task = asyncio.create_task(self._finish_then_let_go(key))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return {"released": True}

    async def _finish_then_let_go(self, key: str) -> None:
        try:
            await self._finish(key)
        finally:
            self._keys.let_go(key)

    async def drain(self) -> None:
        """Wait for the work DEL left running (at shutdown: the releases are owed durably)."""
        if self._background:
            await asyncio.wait(set(self._background))

    async def _unwire(self, key: str) -> bool:
        """Owe the release, drop the record and cut the endpoint off (:meth:`_finish`
        removes it); False when nothing was recorded, and then any veth of the key is
        removed at once."""
        record = self._registry.get(key)
        name = hostplan.host_ifname(key)
        if record is not None:
            # Owe the release durably, then drop the record *before* the veth goes: a
            # reconcile running meanwhile must not see a recorded endpoint with no veth and
            # wire it again, and a crash from here on still ends in a release.
            self._registry.owe_release(key, record.addresses)
            self._registry.remove(key)
            self._metrics.pending_releases.set(len(self._registry.releases()))
        if record is None:
            await self._kernel(key, lambda dp: dp.remove_endpoint(name))
        else:
            await self._kernel(key, lambda dp: dp.disconnect_endpoint(name))
        if record is not None:
            log.info("endpoint %s deleted", key)
        return record is not None

    async def _finish(self, key: str) -> None:
        """After :meth:`_unwire`: the veth gone, then the owed flows and release settled."""
        name = hostplan.host_ifname(key)
        try:
            await self._reconciler.reap(lambda reaper: reaper.remove_endpoint(name))
        except (RomanaError, OSError) as exc:
            log.warning("DEL %s: %s (the next reconcile removes it)", key, exc)
            self._reconciler.trigger()
        try:
            await self._settle_owed(key)
        except RomanaError as exc:
            log.warning("release of %s owed until romanad answers: %s", key, exc)

    async def _kernel(self, key: str, work: Callable[[Any], object]) -> None:
        """``work`` on the writer thread; a failure is left to the next reconcile."""
        try:
            await self._reconciler.call(work)
        except (RomanaError, OSError) as exc:
            log.warning("DEL %s: %s (the next reconcile retries)", key, exc)
            self._reconciler.trigger()

    async def _delete_locked(self, key: str) -> bool:
        """DEL all the way, release included (GC, pending releases of the plugin)."""
        if await self._unwire(key):
            await self._finish(key)
            return True
        return await self._release(key) is True

    async def _release(self, key: str) -> bool | None:
        """Release ``key`` in romanad: True, False when it held nothing, None when owed."""
        try:
            await self._romanad.release(key)
            return True
        except NotFound:
            return False
        except RomanaError as exc:
            log.warning("release of %s owed until romanad answers: %s", key, exc)
            self._registry.owe_release(key, self._registry.owed_addresses(key))
            self._metrics.pending_releases.set(len(self._registry.releases()))
            return None

    async def _settle_owed(self, key: str) -> bool:
        """Forget the owed addresses' flows, then release ``key``; False when nothing was
        owed (any more); RomanaError: still owed."""
        if key not in self._registry.releases():
            return False
        addresses = self._registry.owed_addresses(key)
        if addresses:
            await self._reconciler.reap(lambda reaper: reaper.forget_flows(addresses))
        with contextlib.suppress(NotFound):
            await self._romanad.release(key)
        self._registry.released(key)
        self._metrics.pending_releases.set(len(self._registry.releases()))
        return True

    async def settle(self) -> int:
        """Finish owed releases and the CNI plugin's pending releases; how many were done."""
        done = 0
        for key in self._registry.releases():
            async with self._keys.locked(key):
                try:
                    # False when a DEL finished it meanwhile (it held the key's lock).
                    settled = await self._settle_owed(key)
                except RomanaError as exc:
                    log.debug("owed release of %s still waits: %s", key, exc)
                    continue
                done += settled
        for entry in pending.list_pending(self._pending_dir, _unreadable):
            key = registry.endpoint_key(entry.container_id, entry.ifname)
            async with self._keys.locked(key):
                if not pending.is_pending(self._pending_dir, entry):
                    continue
                await self._delete_locked(key)
                pending.complete(self._pending_dir, entry)
                log.info("finished the release of %s the CNI plugin left pending", key)
                done += 1
        if done:
            self._reconciler.trigger()
        return done

    # -- CHECK, list -----------------------------------------------------------------------

    async def check(self, container_id: str, ifname: str) -> dict[str, Any]:
        key = registry.endpoint_key(container_id, ifname)
        async with self._keys.locked(key):
            record = self._registry.get(key)
            hv = self._reconciler.host_view
            if record is None or record.state != registry.READY or hv is None:
                raise NotFound(f"no endpoint is recorded for {key}")
            spec = self._spec(record, hv)
            problems = await self._reconciler.call(lambda dp: dp.inspect(spec))
        try:
            alloc = await self._romanad.get_allocation(key)
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
        last = self._reconciler.last
        if last is None or not last.firewall_key:
            problems.append("the firewall is not programmed with the current policies")
        return {**localapi.describe(record, spec), "problems": problems}

    async def list(self) -> list[dict[str, Any]]:
        hv = self._reconciler.host_view
        out = []
        for record in self._registry.records():
            if record.state == registry.READY and hv is not None:
                out.append(localapi.describe(record, self._spec(record, hv)))
        return out

    def _spec(self, record: registry.EndpointRecord, hv: Any) -> hostplan.EndpointSpec:
        return desired.endpoint_spec(
            record, desired.gateway_spec(hv), self._mtu(), record.mac or None
        )

    # -- STATUS, state, GC -----------------------------------------------------------------

    async def state(self) -> dict[str, Any]:
        """For operators: sync state, the last reconcile, refused policies, endpoints."""
        last = self._reconciler.last
        hv = self._reconciler.host_view
        return {
            "host": self._host,
            "connected": self._sync.connected,
            "detail": self._sync.detail,
            "revision": None if hv is None else hv.revision,
            "last_reconcile": None if last is None else last.to_state(),
            "refused_policies": [] if last is None else list(last.refused),
            "endpoints": [r.key for r in self._registry.records()],
            "owed_releases": self._registry.releases(),
        }

    async def status(self, tenant: str | None, segment: str | None) -> localapi.Readiness:
        hv = self._reconciler.host_view
        if hv is None or not self._sync.connected:
            return localapi.Readiness(False, "not-ready", self._sync.detail)
        last = self._reconciler.last
        if last is None or last.revision < 0:
            return localapi.Readiness(False, "not-ready", "the first reconcile has not run yet")
        if last.route_errors:
            return localapi.Readiness(
                False,
                "limited-connectivity",
                f"{last.route_errors} routes to other hosts could not be installed",
            )
        if tenant is not None:
            full = hv.exhausted(tenant, segment or tenancy.DEFAULT_SEGMENT)
            if full:
                return localapi.Readiness(False, "exhausted", full)
        return localapi.Readiness(True)

    async def gc(self, request: localapi.GcRequest) -> dict[str, Any]:
        released: list[dict[str, str]] = []
        failures: list[str] = []
        cutoff = self._wall() - self._gc_grace
        for record in self._registry.records():
            if (record.container_id, record.ifname) in request.valid:
                continue
            if request.network and record.network != request.network:
                continue
            if record.created_at > cutoff:
                continue
            if not request.valid and os.path.exists(record.netns):
                continue  # see the module docstring: an empty list spares the living
            try:
                async with self._keys.locked(record.key):
                    if self._registry.get(record.key) is None:
                        continue
                    await self._delete_locked(record.key)
            except (RomanaError, OSError) as exc:
                failures.append(f"{record.key}: {exc}")
                continue
            released.append({"container_id": record.container_id, "ifname": record.ifname})
        if released:
            self._reconciler.trigger()
            log.info("GC released %d endpoints", len(released))
        return {"released": released, "errors": failures}
