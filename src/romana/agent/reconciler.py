"""The single writer of this host's network state: full-snapshot reconcile, and requests.

One thread — the *writer* — does every kernel change of the agent that creates or repairs:
reconciles, and the endpoint work the local API asks for through :meth:`Reconciler.call`.
A second thread, the *reaper* (:meth:`Reconciler.reap`), only takes away what DEL already cut
off (veths, conntrack flows of released addresses), slow kernel work that would otherwise
make the next ADD wait. Its executor runs one
job at a time, so no two changes ever interleave (principle 4) and each netlink socket is
used by one thread at a time.

A reconcile is level-triggered (principle 3): it takes the latest host view and the whole
endpoint ledger, computes the desired state with :mod:`romana.agent.desired` (the ruleset
filters the taps of the ledger's ready tap endpoints by name), reads back what of ours is in
the kernel, applies :func:`romana.core.hostdiff.diff` operation by operation, then the
firewall, then BIRD's configuration in ``bgp`` route mode (:mod:`romana.agent.bird`), so
that nothing is announced before its rules are in place. Events (a new view, an endpoint
added or removed, a reconnect) only decide *when*: :meth:`trigger` asks for one, and any
number of requests made while one waits coalesce into it. A timer runs a *full* reconcile
every ``interval`` seconds, which also rewrites the firewall even when the ruleset did not
change, so that a table or chain deleted or edited by hand is restored, and reads back the
inside of every endpoint (its address, default routes and gateway neighbour in the
workload's namespace) to repair it (:mod:`romana.agent.drift`).

Invariants:

* Without a host view nothing is changed: after a restart with romanad unreachable the
  dataplane stays exactly as the previous agent left it.
* A failing operation is counted and logged and the reconcile goes on with the others;
  the firewall keeps the last good ruleset when a new one cannot be built or applied.
* An exception that is not a :class:`RomanaError` or ``OSError`` is a bug: it ends the
  writer task, and with it the agent (crash-only).
* A view lacking the policies of a tenant that has an endpoint in the ledger never takes
  them away: the last known ones stay until a view carries that tenant again
  (:func:`romana.agent.view.keep_policies`). :meth:`Reconciler.enforce` is how an ADD for a
  tenant the view does not carry waits for its policies to be in the firewall.
* :attr:`Reconciler.drop_reasons` names every reason a rule the kernel may be enforcing
  drops under: a new ruleset's reasons are added before its apply starts, as the kernel
  enforces the new rules before the apply returns, and the previous ruleset's stay until
  the next apply starts, as its logged drops may still wait to be read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import romana
from romana.agent import desired, drift, kernel, ledger, view
from romana.agent.bird import Bird
from romana.agent.ledger import Ledger
from romana.agent.metrics import Metrics
from romana.agent.report import FirewallKeys, Report
from romana.core import hostdiff, hostplan, ruleset
from romana.core.errors import RomanaError, Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class _Snapshot:
    hv: view.HostView
    routes: tuple[hostplan.RouteSpec, ...] | None
    records: tuple[ledger.EndpointRecord, ...]
    firewall_key: str


@dataclass(slots=True)
class _Applied:
    """What the writer thread last applied; touched on that thread only."""

    plan: hostplan.HostPlan | None = None
    rules: ruleset.Ruleset | None = None
    refused: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


class Reconciler:
    """Owns the writer thread; see the module docstring."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        metrics: Metrics,
        make_dataplane: Callable[[], kernel.HostDataplane],
        mtu: Callable[[], int],
        interval: float,
        make_reaper: Callable[[], kernel.Reaper],
        clock: Callable[[], float] = time.monotonic,
        bird: Bird | None = None,
    ) -> None:
        self._ledger = ledger
        self._bird = bird
        self._metrics = metrics
        self._mtu = mtu
        self._interval = interval
        self._clock = clock
        # Each kernel handle is made lazily on the thread that alone uses it.
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "romana-writer")
        self._make_dataplane = make_dataplane
        self._dp: kernel.HostDataplane | None = None
        self._reaping = concurrent.futures.ThreadPoolExecutor(1, "romana-reaper")
        self._make_reaper = make_reaper
        self._reaper: kernel.Reaper | None = None
        self._view: view.HostView | None = None
        self._routes: tuple[hostplan.RouteSpec, ...] | None = None
        self._pending_policy_since: float | None = None
        self._latest_key = ""
        self._enforced_key = ""
        self._applied = _Applied()
        self._reasons: Mapping[int, ruleset.DropReason] = {}
        self.underlay = ""
        """The host's underlay interface, once the agent found it: where the proxy
        neighbour entries of external addresses go (:func:`desired.proxies`)."""
        self._compiler = desired.Compiler()  # used on the writer thread only
        self._keys = FirewallKeys()  # used on the event loop only
        self._wake = asyncio.Event()
        self._new_view = asyncio.Event()
        self._reconciled = asyncio.Event()
        self._full = False
        self._waiters: list[asyncio.Future[Report]] = []
        self._inputs: object = None
        self.last: Report | None = None
        self._last_at: float | None = None
        """Wall time the last reconcile with a host view ended (reported to romanad)."""

    # -- inputs ----------------------------------------------------------------------------

    @property
    def host_view(self) -> view.HostView | None:
        return self._view

    def agent_state(self) -> dict[str, object]:
        """This agent as its routing report names it
        (:class:`romana.wire.rest_routing.AgentStateIn`): its release and its last reconcile
        with a host view."""
        last = self.last if self._last_at is not None else None
        return {
            "version": romana.__version__,
            "reconciled_at": self._last_at,
            "revision": last.revision if last is not None else None,
            "errors": len(last.errors) if last is not None else 0,
        }

    @property
    def drop_reasons(self) -> Mapping[int, ruleset.DropReason]:
        """The reasons of the rulesets the kernel may be enforcing, by id: the one being
        (or last) applied and the one applied before it. Read from any thread (an immutable
        value, swapped whole by the writer thread)."""
        return self._reasons

    def set_view(
        self, hv: view.HostView, routes: Sequence[hostplan.RouteSpec] | None = None
    ) -> None:
        """Take a new host view (and non-aggregated routes); ask for a reconcile when
        something the host plan or the ruleset is computed from changed.

        Every allocation on this host changes the view (its ``endpoints``), but endpoints
        are wired by the endpoint service itself: a reconcile for each would only compete
        with the next ADD or DEL for the writer thread.
        """
        hv = view.share_policies(self._view, hv)
        hv = view.keep_policies(self._view, hv, {r.tenant for r in self._ledger.records()})
        self._view = hv
        self._new_view.set()
        self._new_view = asyncio.Event()
        self._routes = None if routes is None else tuple(routes)
        key = self._keys(hv)
        if key != self._enforced_key and self._pending_policy_since is None:
            self._pending_policy_since = self._clock()
        self._latest_key = key
        self._metrics.view_revision.set(hv.revision)
        inputs = (
            key,
            hv.ip,
            hv.labels,
            hv.prefixes,
            hv.routes,
            hv.skipped_routes,
            self._routes,
            hv.bgp,
            hv.external,
        )
        if inputs != self._inputs:
            self._inputs = inputs
            self.trigger()

    def trigger(self, *, full: bool = False) -> None:
        """Ask for a reconcile soon; requests made before it starts coalesce into it."""
        self._full = self._full or full
        self._wake.set()

    async def reconcile(self, *, full: bool = False) -> Report:
        """Ask for a reconcile and wait for one that started after this call."""
        waiter: asyncio.Future[Report] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.trigger(full=full)
        return await waiter

    async def enforce(self, tenant: str, timeout: float) -> Report:
        """Return once the firewall enforces a view that carries ``tenant``'s own policies.

        Unavailable when no such view came within ``timeout`` seconds or the firewall could
        not be programmed with it: an endpoint of that tenant must not be answered before."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    hv = self._view
                    if hv is None or not hv.carries(tenant):
                        await self._new_view.wait()
                        continue
                    report = await self.reconcile()
                    if not report.firewall_key:
                        raise Unavailable(
                            f"the firewall could not be programmed with the policies of tenant "
                            f"{tenant!r}: {'; '.join(report.errors) or 'see the agent log'}"
                        )
                    if report.policy_tenants is None or tenant in report.policy_tenants:
                        return report
        except TimeoutError:
            raise Unavailable(
                f"no host view carrying the policies of tenant {tenant!r} came from romanad "
                f"within {timeout:g} s"
            ) from None

    async def call(self, work: Callable[[kernel.HostDataplane], T]) -> T:
        """Run ``work`` on the writer thread, between reconciles, and return its result."""
        return await self.submit(work)

    def submit(self, work: Callable[[kernel.HostDataplane], T]) -> asyncio.Future[T]:
        """:meth:`call`, handed to the writer thread at once: it may start before the
        caller's next await (an ADD makes its pair while it writes its intent)."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, lambda: work(self._dataplane()))

    async def reconciled(self) -> None:
        """Return once the next reconcile (or the one running) has finished."""
        await self._reconciled.wait()

    @property
    def bird(self) -> Bird | None:
        """The host's BIRD; use it on the writer thread only (:meth:`call`)."""
        return self._bird

    def applied_routes(self) -> tuple[hostplan.RouteSpec, ...]:
        """The routes of the host plan last applied, which the agent installs itself; call
        on the writer thread only (:meth:`call`)."""
        plan = self._applied.plan
        return plan.routes if plan is not None else ()

    async def reap(self, work: Callable[[kernel.Reaper], T]) -> T:
        """Run ``work`` on the reaper thread (:class:`romana.agent.kernel.Reaper`), beside
        the writer."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reaping, lambda: work(self._reaper_dp()))

    def _reaper_dp(self) -> kernel.Reaper:
        if self._reaper is None:
            self._reaper = self._make_reaper()
        return self._reaper

    def _dataplane(self) -> kernel.HostDataplane:
        if self._dp is None:
            self._dp = self._make_dataplane()
        return self._dp

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Reconcile when asked and every ``interval`` seconds, until cancelled."""
        next_full = self._clock() + self._interval
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, next_full - self._clock())):
                        await self._wake.wait()
                # Events never postpone the timer: a busy host still resyncs fully on time.
                full = self._full or self._clock() >= next_full
                if full:
                    next_full = self._clock() + self._interval
                self._wake.clear()
                self._full = False
                waiters, self._waiters = self._waiters, []
                try:
                    report = await self._reconcile(full)
                except BaseException as exc:
                    for w in waiters:
                        if not w.done():
                            w.set_exception(Unavailable(f"reconcile failed: {exc}"))
                    raise
                for w in waiters:
                    if not w.done():
                        w.set_result(report)
                self._reconciled.set()
                self._reconciled = asyncio.Event()
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._reaping.shutdown(wait=True, cancel_futures=True)
            if self._dp is not None:
                self._dp.close()
            if self._reaper is not None:
                self._reaper.close()

    async def _reconcile(self, full: bool) -> Report:
        hv = self._view
        if hv is None:
            report = Report(-1, full, 0, ("no host view from romanad yet",))
            self.last = report
            self._metrics.synced.set(0)
            return report
        snap = _Snapshot(hv, self._routes, tuple(self._ledger.records()), self._latest_key)
        loop = asyncio.get_running_loop()
        report = await loop.run_in_executor(self._executor, self._reconcile_sync, snap, full)
        self.last = report
        self._last_at = time.time()
        m = self._metrics
        m.reconciles.labels("ok" if report.ok else "error").inc()
        m.reconcile_seconds.observe(report.seconds)
        m.synced.set(1 if report.ok else 0)
        if report.ok:
            m.ready.set()
        states: dict[str, int] = {ledger.READY: 0, ledger.ALLOCATING: 0}
        for record in snap.records:
            states[record.state] = states.get(record.state, 0) + 1
        for state, count in states.items():
            m.endpoints.labels(state).set(count)
        if report.firewall_key:
            if report.firewall_key != self._enforced_key:
                m.policy_enforced.set_to_current_time()
            self._enforced_key = report.firewall_key
            since = self._pending_policy_since
            if since is not None and report.firewall_key == self._latest_key:
                m.policy_latency.observe(max(0.0, self._clock() - since))
                self._pending_policy_since = None
        if report.errors:
            log.warning("reconcile at revision %d: %s", report.revision, "; ".join(report.errors))
        else:
            # A full resync rewrites the firewall every time: only real changes are INFO.
            changed = report.operations or (report.firewall_applied and not report.full)
            log.log(
                logging.INFO if changed else logging.DEBUG,
                "reconciled revision %d: %d operations%s in %.3f s",
                report.revision,
                report.operations,
                ", firewall applied" if report.firewall_applied else "",
                report.seconds,
            )
        return report

    # -- on the writer thread --------------------------------------------------------------

    def _reconcile_sync(self, snap: _Snapshot, full: bool) -> Report:
        started = time.monotonic()
        dp = self._dataplane()
        m = self._metrics
        errors: list[str] = []
        route_errors = 0
        operations = 0
        skipped: tuple[str, ...] = ()
        repairs: list[str] = []
        live = {
            r.netns for r in snap.records if r.state == ledger.READY and os.path.exists(r.netns)
        }
        macs = {r.key: r.mac for r in snap.records if r.mac}
        plan: desired.Plan | None = None
        try:
            plan = desired.host_plan(
                snap.hv,
                snap.records,
                mtu=self._mtu(),
                live_netns=live,
                macs=macs,
                routes=snap.routes,
                underlay=self.underlay,
            )
        except RomanaError as exc:
            errors.append(f"host plan: {exc}")
        if plan is not None:
            skipped = plan.skipped
            if skipped != self._applied.skipped:
                for reason in skipped:
                    log.warning("left out: %s", reason)
                self._applied.skipped = skipped
            ops = self._diff(dp, plan.plan, errors)
            for op in ops:
                part = drift.REPAIRS.get(type(op))
                try:
                    dp.apply(op)
                    operations += 1
                except (RomanaError, OSError) as exc:
                    errors.append(f"{drift.describe(op)}: {exc}")
                    m.apply_failures.labels(part or "other").inc()
                    if isinstance(op, hostdiff.AddRoute | hostdiff.ReplaceRoute):
                        route_errors += 1
                    continue
                if part is not None and drift.was_applied(op, self._applied.plan):
                    m.repairs.labels(part).inc()
                    repairs.append(drift.describe(op))
            if full:
                operations += drift.repair_workloads(
                    dp, plan.plan.endpoints, ops, self._still_ready, m, errors, repairs
                )
            try:
                dp.ensure_sysctls(plan.plan.sysctls)
            except (RomanaError, OSError) as exc:
                errors.append(f"sysctls: {exc}")
                m.apply_failures.labels("sysctls").inc()
            self._applied.plan = plan.plan
            m.routes.set(len(plan.plan.routes))
        refused, applied, key = self._firewall(dp, snap, full, errors)
        # BIRD last: an address is announced only once the firewall admits its traffic (an
        # external address's replies leave the workload with it as their source).
        if self._bird is not None:
            try:
                self._bird.ensure(snap.hv.bgp)
            except (RomanaError, OSError) as exc:
                errors.append(f"bird: {exc}")
        return Report(
            snap.hv.revision,
            full,
            operations,
            tuple(errors),
            route_errors,
            skipped,
            refused,
            applied,
            key,
            time.monotonic() - started,
            policy_tenants=snap.hv.policy_tenants,
            repairs=tuple(repairs),
        )

    def _still_ready(self, spec: hostplan.EndpointSpec) -> bool:
        record = self._ledger.get(spec.id)
        return record is not None and record.state == ledger.READY

    def _diff(
        self, dp: kernel.HostDataplane, plan: hostplan.HostPlan, errors: list[str]
    ) -> tuple[hostdiff.Operation, ...]:
        try:
            return hostdiff.diff(dp.current(plan.proxy_ranges), plan)
        except (RomanaError, OSError) as exc:
            errors.append(f"reading the host state: {exc}")
            return ()

    def _firewall(
        self, dp: kernel.HostDataplane, snap: _Snapshot, full: bool, errors: list[str]
    ) -> tuple[tuple[str, ...], bool, str]:
        m = self._metrics
        try:
            taps = desired.tap_devices(snap.records)
            fw = self._compiler.firewall(snap.hv, snap.firewall_key, taps)
        except RomanaError as exc:
            errors.append(f"firewall: cannot build the ruleset, keeping the last one: {exc}")
            m.apply_failures.labels("firewall").inc()
            return (), False, ""
        m.refused_policies.set(len(fw.refused))
        if fw.refused != self._applied.refused:
            for reason in fw.refused:
                log.error("not enforced: %s", reason)
            self._applied.refused = fw.refused
        if not full and fw.rules == self._applied.rules:
            return fw.refused, False, snap.firewall_key
        try:
            gone = full and self._applied.rules is not None and not dp.firewall.present()
            # The kernel drops under the new rules before the apply returns: their reasons
            # must be known to the drop log's reader first. Reasons keep their ids across
            # rulesets, so the old ones are still right for drops logged by the old rules.
            self._reasons = _reasons(fw.rules, self._applied.rules)
            # A full resync rewrites everything; otherwise only what changed is sent. Either
            # may find part of ours deleted by hand and put it back: a repair, counted once.
            repaired = dp.firewall.apply(fw.rules, None if full else self._applied.rules)
            if gone or (repaired and self._applied.rules is not None):
                m.repairs.labels("firewall").inc()
        except (RomanaError, OSError) as exc:
            errors.append(f"firewall ({dp.firewall.name}): {exc}")
            m.apply_failures.labels("firewall").inc()
            return fw.refused, False, ""
        self._applied.rules = fw.rules
        m.rules.set(fw.rules.rule_count)
        m.sets.set(len(fw.rules.sets))
        m.set_elements.set(sum(len(s.elements) for s in fw.rules.sets))
        return fw.refused, True, snap.firewall_key


def _reasons(
    rules: ruleset.Ruleset, previous: ruleset.Ruleset | None
) -> Mapping[int, ruleset.DropReason]:
    """The reasons of ``rules`` and, behind them, of ``previous`` (not copied)."""
    if previous is None or previous.drop_reasons is rules.drop_reasons:
        return rules.drop_reasons
    return ChainMap(rules.drop_reasons, previous.drop_reasons)
