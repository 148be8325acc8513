"""What counts as drift in a reconcile, and the read-back of each endpoint's workload side.

The host side of the dataplane is read back whole by ``HostDataplane.current`` and compared
by :func:`romana.core.hostdiff.diff`. The workload side of an endpoint — its interface,
``/32`` (``/128``) addresses, default routes and gateway neighbours, all inside the
workload's namespace — is not in that read-back: a host with many endpoints would pay a
namespace switch per endpoint on every event-driven reconcile (a read-back costs about
1.5 ms per endpoint on the 2-core lab machine, all on the writer thread). :func:`workload_repairs`
reads it back on *full* reconciles (the drift timer, and after every reconnect, so after an
agent restart too), with the very check CNI CHECK uses
(:func:`romana.dataplane.veth.inside_problems`), and answers a ``RepairEndpoint`` for each
endpoint found wrong. The repair is the convergent ``ensure`` of the endpoint, which only
touches what the endpoint owns. The inside of a tap endpoint (the VM's) and of a docker
endpoint (docker moved the workload end into its sandbox and renamed it) is not ours: it is
never read back, and only their host side is repaired (``hostplan.HANDED_OVER``).

Every repair is counted in ``romana_agent_drift_repairs_total`` by *part* (:data:`REPAIRS`,
``workload`` for the inside) and named in the reconcile's report (:func:`describe`), which
the agent's ``/v1/state`` shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from romana.agent.metrics import Metrics
from romana.core import hostdiff, hostplan
from romana.core.errors import NotFound, RomanaError

log = logging.getLogger(__name__)

WORKLOAD = "workload"
"""The drift-repair part of an endpoint's inside (address, default routes, neighbours)."""

REPAIRS: dict[type, str] = {
    hostdiff.EnsureGateway: "gateway",
    hostdiff.AddRoute: "routes",
    hostdiff.ReplaceRoute: "routes",
    hostdiff.AddEndpoint: "endpoints",
    hostdiff.RepairEndpoint: "endpoints",
    hostdiff.AddProxy: "proxies",
}
"""The drift-repair part of each host-side operation; deletions are not repairs."""


class Inspector(Protocol):
    """The part of ``HostDataplane`` the workload read-back and repair need."""

    def inspect_workload(self, spec: hostplan.EndpointSpec) -> list[str]: ...

    def apply(self, op: hostdiff.Operation) -> None: ...


def was_applied(op: hostdiff.Operation, last: hostplan.HostPlan | None) -> bool:
    """True when ``op`` puts back something the ``last`` applied plan already held (drift)."""
    if last is None:
        return False
    match op:
        case hostdiff.EnsureGateway(gateway=gw):
            return gw == last.gateway
        case hostdiff.AddRoute(route=route) | hostdiff.ReplaceRoute(route=route):
            return route in last.routes
        case hostdiff.AddEndpoint(endpoint=ep):
            return ep in last.endpoints
        case hostdiff.RepairEndpoint():
            return True
        case hostdiff.AddProxy(proxy=proxy):
            return proxy in last.proxies
    return False


def workload_repairs(
    dp: Inspector,
    endpoints: Iterable[hostplan.EndpointSpec],
    *,
    handled: frozenset[str],
    current: Callable[[hostplan.EndpointSpec], bool],
) -> list[hostdiff.RepairEndpoint]:
    """A repair for each endpoint whose inside drifted.

    ``handled`` names the host veths this reconcile already added or repaired (``ensure``
    did their inside too). ``current(spec)`` says whether the endpoint is still recorded
    ready just before it is read: a DEL running meanwhile must not have its endpoint put
    back. An endpoint that cannot be read (its namespace or veth just went) is left to the
    next reconcile."""
    repairs: list[hostdiff.RepairEndpoint] = []
    for spec in endpoints:
        if spec.host_ifname in handled or not current(spec):
            continue
        try:
            problems = dp.inspect_workload(spec)
        except NotFound:
            continue
        except (RomanaError, OSError) as exc:
            log.warning("cannot read the inside of endpoint %s: %s", spec.id, exc)
            continue
        if problems:
            repairs.append(hostdiff.RepairEndpoint(spec, tuple(problems)))
    return repairs


def repair_workloads(
    dp: Inspector,
    endpoints: Iterable[hostplan.EndpointSpec],
    ops: Sequence[hostdiff.Operation],
    current: Callable[[hostplan.EndpointSpec], bool],
    metrics: Metrics,
    errors: list[str],
    repairs: list[str],
) -> int:
    """Read back the inside of each endpoint the host-side ``ops`` left alone and repair
    it; failures go to ``errors``, repairs to ``repairs``; how many repairs were applied."""
    handled = frozenset(
        op.endpoint.host_ifname
        for op in ops
        if isinstance(op, hostdiff.AddEndpoint | hostdiff.RepairEndpoint)
    )
    applied = 0
    for op in workload_repairs(dp, endpoints, handled=handled, current=current):
        try:
            dp.apply(op)
        except (RomanaError, OSError) as exc:
            errors.append(f"{describe(op)}: {exc}")
            metrics.apply_failures.labels(WORKLOAD).inc()
            continue
        applied += 1
        metrics.repairs.labels(WORKLOAD).inc()
        repairs.append(describe(op))
        log.warning("repaired the inside of endpoint %s: %s", op.endpoint.id, "; ".join(op.reasons))
    return applied


def describe(op: hostdiff.Operation) -> str:
    """One line naming ``op`` and its object, for errors and the list of repairs."""
    match op:
        case hostdiff.EnsureGateway(gateway=gw):
            return f"gateway {gw.ifname}"
        case (
            hostdiff.AddRoute(route=r)
            | hostdiff.ReplaceRoute(route=r)
            | hostdiff.DeleteRoute(route=r)
        ):
            return f"{type(op).__name__} {r.dst} via {r.via}"
        case hostdiff.AddEndpoint(endpoint=ep):
            return f"AddEndpoint {ep.id}"
        case hostdiff.RepairEndpoint(endpoint=ep, reasons=reasons):
            return f"RepairEndpoint {ep.id} ({'; '.join(reasons)})"
        case hostdiff.DeleteEndpoint(host_ifname=name, id=ident):
            return f"DeleteEndpoint {name} ({ident})"
        case hostdiff.AddProxy(proxy=p) | hostdiff.DeleteProxy(proxy=p):
            return f"{type(op).__name__} {p.address} dev {p.dev}"
    return type(op).__name__
