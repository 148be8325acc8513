"""Fakes for the agent's unit tests: a host view builder, a kernel, a firewall, romanad.

:class:`FakeDataplane` keeps the host state :class:`romana.agent.kernel.HostDataplane`
would read from the kernel and applies :mod:`romana.core.hostplan` operations to it, so
tests assert on the resulting state, not on calls. Failures are injected per operation type.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from romana.agent import endpoints, ledger, parts, view
from romana.agent.metrics import Metrics
from romana.agent.reconciler import Reconciler
from romana.core import errors, hostdiff, hostplan, ruleset
from romana.core.endpoint import EndpointRequest
from romana.dataplane import veth, wire

NETWORK = {
    "name": "pods",
    "cidr": "10.0.0.0/8",
    "tenant_bits": 4,
    "segment_bits": 4,
    "endpoint_bits": 8,
    "topology_bits": 8,
    "tenants": [],
    "blackouts": [],
}
ROMANA = {"mode": "romana", "segments": "isolated"}
TENANTS = [
    {
        "name": "t1",
        "external_id": "",
        "ids": {"pods": 1},
        "segments": {"default": 0, "blue": 1},
        "requested_networks": [],
        "isolation": ROMANA,
    },
    {
        "name": "t2",
        "external_id": "",
        "ids": {"pods": 2},
        "segments": {"default": 0},
        "requested_networks": [],
        "isolation": ROMANA,
    },
]


def raw_view(
    revision: int = 1,
    *,
    policies: list[dict[str, Any]] | None = None,
    endpoints: list[dict[str, Any]] | None = None,
    routes: list[dict[str, Any]] | None = None,
    address_sets: dict[str, list[str]] | None = None,
    tenants: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON romanad sends for host h1 (10.1.0.0/16) of a two-host cluster."""
    return {
        "revision": revision,
        "host": {
            "name": "h1",
            "ip": "192.0.2.1",
            "ip6": None,
            "labels": {"rack": "1"},
            "group": "/rack-1",
            "prefixes": {"pods": "10.1.0.0/16"},
            "gateways": {"pods": "10.1.0.1"},
        },
        "networks": [NETWORK],
        "routes": routes
        if routes is not None
        else [{"dst": "10.2.0.0/16", "via": "192.0.2.2", "reason": "host h2"}],
        "tenants": TENANTS if tenants is None else tenants,
        "policies": policies or [],
        "address_sets": address_sets or {},
        "endpoints": endpoints or [],
    }


def host_view(revision: int = 1, **kwargs: Any) -> view.HostView:
    return view.parse(raw_view(revision, **kwargs))


class FakeFirewall:
    name = "fake"

    def __init__(self) -> None:
        self.applied: list[ruleset.Ruleset] = []
        self.currents: list[ruleset.Ruleset | None] = []
        self.fail: errors.RomanaError | None = None
        self.deleted = False

    def apply(self, rules: ruleset.Ruleset, current: ruleset.Ruleset | None = None) -> bool:
        if self.fail is not None:
            raise self.fail
        repaired = bool(self.applied) and self.deleted
        self.applied.append(rules)
        self.currents.append(current)
        self.deleted = False
        return repaired

    def present(self) -> bool:
        return bool(self.applied) and not self.deleted


@dataclass
class FakeEndpoint:
    spec: hostplan.EndpointSpec
    addresses: frozenset[hostplan.IPAddress]
    up: bool = True


@dataclass
class FakeDataplane:
    """The kernel state of one host, as far as the agent owns it."""

    firewall: FakeFirewall = field(default_factory=FakeFirewall)
    gateway: hostdiff.CurrentGateway | None = None
    routes: dict[hostplan.IPNetwork, hostplan.RouteSpec] = field(default_factory=dict)
    endpoints: dict[str, FakeEndpoint] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    interfaces: set[tuple[str, str]] = field(default_factory=set)
    fail: Mapping[type, errors.RomanaError] = field(default_factory=dict)
    applied: list[hostdiff.Operation] = field(default_factory=list)
    forgotten: list[hostplan.IPAddress] = field(default_factory=list)
    inside: dict[str, list[str]] = field(default_factory=dict)
    """Host veth name → what is wrong inside its workload (until ``ensure`` repairs it)."""
    proxies: set[hostplan.ProxySpec] = field(default_factory=set)
    closed: bool = False

    def current(self, proxy_ranges: Sequence[hostplan.IPNetwork] = ()) -> hostdiff.CurrentHost:
        return hostdiff.CurrentHost(
            self.gateway,
            tuple(self.routes.values()),
            tuple(
                hostdiff.CurrentEndpoint(ep.spec.id, name, ep.addresses, ep.spec.mtu, ep.up)
                for name, ep in sorted(self.endpoints.items())
            ),
            tuple(
                p
                for p in sorted(self.proxies, key=str)
                if any(p.address.version == n.version and p.address in n for n in proxy_ranges)
            ),
        )

    def apply(self, op: hostdiff.Operation) -> None:
        if type(op) in self.fail:
            raise self.fail[type(op)]
        self.applied.append(op)
        match op:
            case hostdiff.EnsureGateway(gateway=gw):
                self.gateway = hostdiff.CurrentGateway(frozenset(gw.addresses), True)
            case hostdiff.AddRoute(route=r) | hostdiff.ReplaceRoute(route=r):
                self.routes[r.dst] = r
            case hostdiff.DeleteRoute(route=r):
                self.routes.pop(r.dst, None)
            case hostdiff.AddEndpoint(endpoint=spec) | hostdiff.RepairEndpoint(endpoint=spec):
                self.ensure_endpoint(spec)
            case hostdiff.DeleteEndpoint(host_ifname=name):
                self.remove_endpoint(name)
            case hostdiff.AddProxy(proxy=p):
                self.proxies.add(p)
            case hostdiff.DeleteProxy(proxy=p):
                self.proxies.discard(p)

    def ensure_sysctls(self, sysctls: Any) -> tuple[str, ...]:
        changed = tuple(s.key for s in sysctls if self.sysctls.get(s.key) != s.value)
        self.sysctls.update({s.key: s.value for s in sysctls})
        return changed

    def ensure_endpoint(self, spec: hostplan.EndpointSpec) -> veth.Attached:
        if hostdiff.AddEndpoint in self.fail:
            raise self.fail[hostdiff.AddEndpoint]
        if spec.netns not in self.namespaces:
            raise errors.NotFound(f"network namespace {spec.netns} does not exist")
        self.endpoints[spec.host_ifname] = FakeEndpoint(spec, frozenset(spec.addresses))
        self.interfaces.add((spec.netns, spec.ifname))
        self.inside.pop(spec.host_ifname, None)
        return veth.Attached(
            spec.host_ifname,
            "02:00:00:00:00:01",
            spec.ifname,
            spec.mac or "02:00:00:00:00:02",
            spec.netns,
        )

    def create_pair(self, spec: hostplan.EndpointSpec) -> wire.Pair | None:
        """The fast path's pair: None when a veth of this id is left over (ensure takes it)."""
        if hostdiff.AddEndpoint in self.fail:
            raise self.fail[hostdiff.AddEndpoint]
        if spec.netns not in self.namespaces:
            raise errors.NotFound(f"network namespace {spec.netns} does not exist")
        if (spec.netns, spec.ifname) in self.interfaces:
            raise errors.AlreadyExists(f"interface {spec.ifname} exists in {spec.netns}")
        if spec.host_ifname in self.endpoints:
            return None
        self.endpoints[spec.host_ifname] = FakeEndpoint(spec, frozenset())
        self.interfaces.add((spec.netns, spec.ifname))
        # The MACs ensure_endpoint reports, so either path records the same ones.
        return wire.Pair(
            spec.host_ifname,
            1,
            "02:00:00:00:00:01",
            spec.ifname,
            2,
            "02:00:00:00:00:02",
            spec.netns,
        )

    def address_pair(self, pair: wire.Pair, spec: hostplan.EndpointSpec) -> veth.Attached:
        return self.ensure_endpoint(spec)

    def disconnect_endpoint(self, host_ifname: str) -> bool:
        ep = self.endpoints.get(host_ifname)
        if ep is not None:
            ep.up = False
        return ep is not None

    def remove_endpoint(self, host_ifname: str) -> bool:
        ep = self.endpoints.pop(host_ifname, None)
        if ep is not None:
            self.interfaces.discard((ep.spec.netns, ep.spec.ifname))
        return ep is not None

    def interface_exists(self, netns: str, ifname: str) -> bool:
        if netns not in self.namespaces:
            raise errors.NotFound(f"network namespace {netns} does not exist")
        return (netns, ifname) in self.interfaces

    def forget_flows(self, addresses: Any) -> None:
        self.forgotten.extend(addresses)

    def inspect(self, spec: hostplan.EndpointSpec) -> list[str]:
        return [] if spec.host_ifname in self.endpoints else ["host interface missing"]

    def inspect_workload(self, spec: hostplan.EndpointSpec) -> list[str]:
        if spec.host_ifname not in self.endpoints:
            raise errors.NotFound(f"host interface {spec.host_ifname} is missing")
        return list(self.inside.get(spec.host_ifname, ()))

    def close(self) -> None:
        self.closed = True


class FakeRomanad:
    """romanad's allocation calls over a dict; ``down`` makes every call Unavailable."""

    def __init__(self) -> None:
        self.allocations: dict[str, dict[str, Any]] = {}
        self.down = False
        self.next = 1
        self.calls: list[str] = []
        self.fail_allocate: errors.RomanaError | None = None
        self.release_gate: asyncio.Event | None = None
        """When set, releases wait for it (a slow romanad)."""

    def _check(self, what: str) -> None:
        self.calls.append(what)
        if self.down:
            raise errors.Unavailable("romanad is down")

    async def allocate(
        self, key: str, host: str, tenant: str, segment: str, *, within: float = 0.0
    ) -> dict[str, Any]:
        self._check(f"allocate {key}")
        if self.fail_allocate is not None:
            raise self.fail_allocate
        if tenant not in ("t1", "t2"):
            raise errors.NotFound(f"tenant {tenant!r} does not exist")
        if key not in self.allocations:
            tid = {"t1": 1, "t2": 2}[tenant]
            sid = {"default": 0, "blue": 1}[segment]
            address = ipaddress.ip_address(f"10.1.{tid * 16 + sid}.{self.next}")
            self.next += 1
            self.allocations[key] = {
                "key": key,
                "host": host,
                "tenant": tenant,
                "segment": segment,
                "addresses": [str(address)],
            }
        return self.allocations[key]

    async def release(self, key: str) -> dict[str, Any]:
        if self.release_gate is not None:
            await self.release_gate.wait()
        self._check(f"release {key}")
        if key not in self.allocations:
            raise errors.NotFound(f"no allocation {key}")
        return self.allocations.pop(key)

    async def get_allocation(self, key: str) -> dict[str, Any]:
        self._check(f"get {key}")
        if key not in self.allocations:
            raise errors.NotFound(f"no allocation {key}")
        return self.allocations[key]


class EndpointsRig:
    """An :class:`Endpoints` service over the fake kernel and romanad, with a real ledger."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.dp = FakeDataplane()
        self.romanad = FakeRomanad()
        self.registry = ledger.Ledger(tmp_path / "state")
        self.registry.load()
        self.pending_dir = tmp_path / "pending"
        self.now = 1000.0
        self.metrics = metrics = Metrics()
        self.reconciler = Reconciler(
            ledger=self.registry,
            metrics=metrics,
            make_dataplane=lambda: self.dp,  # type: ignore[arg-type, return-value]
            make_reaper=lambda: self.dp,  # type: ignore[arg-type, return-value]
            mtu=lambda: 1500,
            interval=3600,
        )
        self.sync = parts.Sync(connected=True, detail="")
        self.service = endpoints.Endpoints(
            parts.Parts(
                host="h1",
                ledger=self.registry,
                reconciler=self.reconciler,
                romanad=self.romanad,  # type: ignore[arg-type]
                metrics=metrics,
                sync=self.sync,
                mtu=lambda: 1500,
            ),
            pending_dir=str(self.pending_dir),
            waits=endpoints.Waits(gc_grace=60),
            wall=lambda: self.now,
        )

    def netns(self, name: str) -> str:
        path = self.tmp / f"ns-{name}"
        path.touch()
        self.dp.namespaces.add(str(path))
        return str(path)

    def request(self, name: str, **changes: Any) -> EndpointRequest:
        fields: dict[str, Any] = {
            "container_id": name,
            "ifname": "eth0",
            "netns": self.netns(name),
            "tenant": "t1",
            "segment": "default",
            "network": "net1",
        }
        fields.update(changes)
        return EndpointRequest(**fields)


def scenario(
    tmp_path: Path,
    body: Callable[[Any], Awaitable[None]],
    rig: Callable[[Path], EndpointsRig] | None = None,
) -> None:
    """Run ``body`` with a rig (an :class:`EndpointsRig` unless ``rig`` makes another)
    whose reconciler runs and holds a first host view."""

    async def main() -> None:
        made = (rig or EndpointsRig)(tmp_path)
        task = asyncio.create_task(made.reconciler.run())
        made.reconciler.set_view(host_view(1))
        await made.reconciler.reconcile()
        try:
            await body(made)
        finally:
            task.cancel()

    asyncio.run(main())
