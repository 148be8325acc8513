"""Scale beyond this machine: what each host and the fabric hold at 10 to 5,000 hosts.

Nothing here touches a kernel. The figures come from the real code romanad and the agents
run, on topology documents of racks of :data:`RACK` hosts:

* routes one host holds: :func:`romana.core.routeplan.route_plan` with aggregation (the
  agent's default, ``direct`` route mode): its rack mates' host prefixes plus one aggregate
  per other rack. A ``bgp`` host learns the same set from its ToR.
* routes the fabric holds, ``bgp`` route mode with every rack group set to ``aggregate``
  (docs/routing.md, "The fabric side"): each host announces what
  :func:`romana.core.bgpplan.for_host` plans (its host prefix and its rack's aggregate);
  a ToR holds its rack's announcements plus the other racks' aggregates, and exports only
  its rack's aggregates to the spine, which holds one route per rack.
* the host view: :class:`romana.services.hostview.HostViewService` on a SQLite store (a
  single-node romanad's) loaded through the real services (topology, tenants, IPAM,
  policies); its size is the JSON romanad serves, its read time what romanad spends per view.
* firewall rules per host: :func:`romana.agent.desired.firewall` on that view (what the
  agent compiles), rendered by :func:`romana.core.render.nftables.render`; rules are the
  rendered rule lines of every chain. Policy load: the scenario of ``bench.dataplane``,
  :data:`TENANTS` tenants and :data:`POLICIES` policies (each opening one TCP port of a
  tenant to another), with the host's endpoints spread evenly over :data:`PRESENT` tenants.
  The view carries the policies those tenants own (romana's view scoping).
* romanad memory per host: tracemalloc of the topology state for N hosts, divided by N: the
  stored document in the in-memory store and the parsed topology romanad caches. An upper
  bound: with SQLite or etcd the stored document lives outside romanad's heap.

The network is IPv6 (``fd00:10::/48``, 16 tenant, 16 segment, 32 endpoint bits, /64 host
prefixes): 5,000 hosts with 10,000 endpoints each do not fit an IPv4 /8 under any scheme.
Route counts do not depend on the family.

References, computed from each project's documented scheme (not measured):

* per-node routing: kube-router (docs/bgp.md, "Full Node-To-Node Mesh": each node advertises
  the pod CIDR allocated to it to the other nodes) and Cilium native routing (docs
  "Routing", native routing: every node is told the pod CIDRs of all other nodes, by
  ``auto-direct-node-routes`` on one layer 2 or by a BGP daemon). Each node holds one route
  per other node (N - 1); a fabric peering with the nodes holds one per node (N), in every
  ToR and in the spine.
* per-block routing: Calico (docs "IP pool" resource: ``blockSize`` 26 for IPv4 and 122 for
  IPv6 pools, 64 addresses; blocks "are allocated on demand to hosts and are used to
  aggregate routes"). Each node holds one route per block of every other node,
  (N - 1) x B with B = max(1, ceil(endpoints / 64)); a fabric peering with the nodes holds
  every block, N x B, in every ToR and in the spine (no aggregation by route reflectors).
* firewall rules and host views: no reference; those schemes' rule counts depend on their
  policy engines, not on their routing.

A benchmark prints figures; it asserts nothing.

    python -m bench.scale [--hosts 10,100,1000,5000] [--endpoints 100,1000,10000]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import common
from bench.dataplane import policies
from romana.agent import desired, view
from romana.core import bgpplan, routeplan, topology
from romana.core.identifiers import AllocationKey, HostName, TenantName
from romana.core.render import nftables
from romana.services.hostview import HostViewService
from romana.services.ipam import IpamService
from romana.services.policy import PolicyService
from romana.services.quotas import QuotaService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.store.memory import MemoryStore
from romana.store.sqlite import SQLiteStore

RACK = 40
HOSTS = (10, 100, 1000, 5000)
ENDPOINTS = (100, 1000, 10000)
TENANTS = 1000
POLICIES = 2000
PRESENT = 50
"""Tenants with endpoints on the measured host, whatever its endpoint count."""
VIEW_ENDPOINTS = 100
"""Endpoints on the measured host in the series over host counts."""
RULES_HOSTS = 100
"""Hosts of the topology in the series over endpoint counts."""
CALICO_BLOCK = 64
NETWORK = {
    "name": "pods",
    "cidr": "fd00:10::/48",
    "tenant_bits": 16,
    "segment_bits": 16,
    "endpoint_bits": 32,
}


def document(hosts: int, mode: str = "direct") -> dict[str, Any]:
    """A topology of ``hosts`` hosts listed in racks of :data:`RACK`; in ``bgp`` mode each
    rack peers with its ToR (``::1`` of the rack's underlay /64) and announces its aggregate."""
    racks = []
    for r in range(math.ceil(hosts / RACK)):
        underlay = f"fd01:0:0:{r + 1:x}::"
        members = [
            {"name": f"h{i}", "ip": f"{underlay}{i - r * RACK + 10:x}"}
            for i in range(r * RACK, min(hosts, (r + 1) * RACK))
        ]
        rack: dict[str, Any] = {"name": f"rack-{r + 1}", "groups": members}
        if mode == "bgp":
            rack["bgp"] = {
                "peers": [{"address": f"{underlay}1", "asn": 65100 + r + 1, "name": "tor"}],
                "underlay": [f"{underlay}/64"],
                "aggregate": True,
            }
        racks.append(rack)
    tree: dict[str, Any] = {"networks": ["pods"], "map": racks}
    if mode == "bgp":
        tree |= {"route_mode": "bgp", "bgp": {"asn": 64512}}
    return {"networks": [dict(NETWORK)], "topologies": [tree]}


@dataclass(frozen=True, slots=True)
class Routes:
    hosts: int
    host_routes: int
    """Routes host h0 (a full rack, when there is one) holds."""
    tor_routes: int
    spine_routes: int
    plan_ms: float
    """Time to compute one host's route plan."""
    memory_per_host: float
    """Bytes of romanad's topology state per host."""


def routes(hosts: int) -> Routes:
    topo = topology.parse(document(hosts))
    started = time.perf_counter()
    plan = routeplan.route_plan(topo, HostName("h0"), aggregate=True)
    plan_ms = (time.perf_counter() - started) * 1000
    bgp_topo = topology.parse(document(hosts, "bgp"))
    announced: list[set[str]] = []
    exported: list[set[str]] = []
    for r in range(math.ceil(hosts / RACK)):
        rack: set[str] = set()
        up: set[str] = set()
        for i in range(r * RACK, min(hosts, (r + 1) * RACK)):
            bird = bgpplan.for_host(bgp_topo, HostName(f"h{i}"))
            assert bird is not None
            rack.update(str(p) for p in (*bird.prefixes, *bird.aggregates))
            up.update(str(p) for p in bird.aggregates)
        announced.append(rack)
        exported.append(up)
    spine = set().union(*exported)
    tor = max(len(announced[r] | (spine - exported[r])) for r in range(len(announced)))
    return Routes(
        hosts, len(plan.routes), tor, len(spine), round(plan_ms, 2), topology_memory(hosts) / hosts
    )


def topology_memory(hosts: int) -> float:
    """Bytes traced while romanad's topology state for ``hosts`` hosts is built and held."""
    doc = document(hosts)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    service = TopologyService(MemoryStore())
    service.apply(doc)
    service.view()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del service
    return float(held)


@dataclass(frozen=True, slots=True)
class Host:
    hosts: int
    endpoints: int
    view_bytes: int
    view_ms: float
    rules: int
    carried_policies: int
    compile_ms: float


class Loaded:
    """romanad's services on a SQLite store in a temporary directory, as a single-node
    romanad runs (the in-memory test store sorts every key on each range read, which would
    dominate the figures): the topology of ``hosts`` hosts, the tenants and the policies."""

    def __init__(self, hosts: int, tenants: int, policy_count: int) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="romana-scale-")
        store = self._store = SQLiteStore(Path(self._dir.name) / "romanad.db")
        quotas = QuotaService(store)
        self.topology = TopologyService(store)
        self.topology.apply(document(hosts))
        self.tenants = TenantService(store, self.topology)
        for t in range(1, tenants + 1):
            self.tenants.create(TenantName(f"bt{t}"))
        PolicyService(store, quotas).add(policies(tenants, policy_count))
        self.ipam = IpamService(store, self.topology, self.tenants)
        self.views = HostViewService(store, self.topology, self.tenants, self.ipam)
        self.placed = 0

    def __enter__(self) -> Loaded:
        return self

    def __exit__(self, *_: object) -> None:
        self._store.close()
        self._dir.cleanup()

    def fill(self, endpoints: int, present: int) -> None:
        """Endpoints on host h0 up to ``endpoints``, spread over tenants bt1..bt<present>."""
        for i in range(self.placed, endpoints):
            tenant = TenantName(f"bt{i % present + 1}")
            self.ipam.allocate(AllocationKey(f"e{i}"), HostName("h0"), tenant)
        self.placed = max(self.placed, endpoints)

    def measure(self, repeat: int) -> Host:
        """The view of h0 and its ruleset: the best of ``repeat`` reads and compiles."""
        reads: list[float] = []
        compiles: list[float] = []
        for _ in range(repeat):
            started = time.perf_counter()
            raw = self.views.view("h0")
            reads.append(time.perf_counter() - started)
        encoded = json.dumps(raw, separators=(",", ":"))
        hv = view.parse(json.loads(encoded))
        for _ in range(repeat):
            started = time.perf_counter()
            script = nftables.render(desired.firewall(hv).rules)
            compiles.append(time.perf_counter() - started)
        return Host(
            hosts=len(self.topology.view().topology.hosts),
            endpoints=self.placed,
            view_bytes=len(encoded.encode()),
            view_ms=round(min(reads) * 1000, 1),
            rules=rule_lines(script),
            carried_policies=len(hv.policies),
            compile_ms=round(min(compiles) * 1000, 1),
        )


def rule_lines(script: str) -> int:
    """Rule lines of an ``nft -f`` script: inside a chain, neither its hook declaration nor
    its braces."""
    count, in_chain = 0, False
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("chain "):
            in_chain = True
        elif in_chain and stripped == "}":
            in_chain = False
        elif in_chain and stripped and " hook " not in stripped:
            count += 1
    return count


def per_node(hosts: int) -> tuple[int, int]:
    """(routes per node, routes per fabric router) of per-node routing."""
    return hosts - 1, hosts


def per_block(hosts: int, endpoints: int) -> tuple[int, int]:
    """(routes per node, routes per fabric router) of per-/26-block routing."""
    blocks = max(1, math.ceil(endpoints / CALICO_BLOCK))
    return (hosts - 1) * blocks, hosts * blocks


def by_hosts(
    sizes: Sequence[int], tenants: int, policy_count: int
) -> tuple[list[Routes], list[Host]]:
    found: list[Routes] = []
    viewed: list[Host] = []
    for n in sizes:
        found.append(routes(n))
        with Loaded(n, tenants, policy_count) as loaded:
            loaded.fill(VIEW_ENDPOINTS, PRESENT)
            viewed.append(loaded.measure(1 if n >= 1000 else 3))
        print(f"  {n:>5} hosts: {found[-1]}; {viewed[-1]}", flush=True)
    return found, viewed


def by_endpoints(
    hosts: int,
    sizes: Sequence[int],
    tenants: int,
    policy_count: int,
    present: int = PRESENT,
) -> list[Host]:
    measured: list[Host] = []
    with Loaded(hosts, tenants, policy_count) as loaded:
        for e in sorted(sizes):
            loaded.fill(e, present)
            measured.append(loaded.measure(1 if e >= 10000 else 3))
            print(f"  {e:>5} endpoints: {measured[-1]}", flush=True)
    return measured


def results(found: list[Routes], viewed: list[Host], rules: list[Host]) -> list[common.Result]:
    out: list[common.Result] = []
    node_name, block_name = "per-node (kube-router, Cilium)", "per-/26 block (Calico)"
    for r in found:
        node_host, node_fabric = per_node(r.hosts)
        block_host = per_block(r.hosts, VIEW_ENDPOINTS)[0]
        n = f"{r.hosts:,} hosts"
        out += [
            _versus(f"routes per host, {n}", r.host_routes, "routes", node_host, node_name),
            _versus(f"routes per host, {n}", r.host_routes, "routes", block_host, block_name),
            _versus(f"routes per ToR (bgp), {n}", r.tor_routes, "routes", node_fabric, node_name),
            _versus(
                f"routes in the spine (bgp), {n}", r.spine_routes, "routes", node_fabric, node_name
            ),
        ]
    for r, v in zip(found, viewed, strict=True):
        n = f"{r.hosts:,} hosts"
        out += [
            common.Result(f"route plan of one host, {n}", r.plan_ms, "ms"),
            common.Result(f"romanad topology memory per host, {n}", round(r.memory_per_host), "B"),
            common.Result(f"host view, {n}", round(v.view_bytes / 1024, 1), "KiB"),
            common.Result(f"romanad reads the host view, {n}", v.view_ms, "ms"),
            common.Result(
                f"compile + render the ruleset ({v.rules} rules), {n}", v.compile_ms, "ms"
            ),
        ]
    first = rules[0]
    for h in rules:
        e = f"{h.endpoints:,} endpoints"
        out += [
            common.Result(
                f"firewall rules per host, {e} (reference: {first.endpoints:,})",
                h.rules,
                "rules",
                f"same as at {first.endpoints:,}",
                first.rules,
                f"{first.endpoints:,} endpoints",
                round(h.rules / first.rules, 3),
                h.rules == first.rules,
            ),
            common.Result(f"compile + render the ruleset, {e}", h.compile_ms, "ms"),
            common.Result(
                f"host view, {e} ({h.hosts} hosts)", round(h.view_bytes / 1024, 1), "KiB"
            ),
            common.Result(f"romanad reads the host view, {e}", h.view_ms, "ms"),
        ]
    return out


def _versus(metric: str, value: int, unit: str, reference: int, name: str) -> common.Result:
    return common.Result(
        metric, value, unit, "", reference, name, round(value / reference, 3) if reference else None
    )


def series(found: list[Routes], rules: list[Host]) -> dict[str, Any]:
    """What the report's chart draws: each line by hosts (routes) or by endpoints (rules)."""
    hosts = [r.hosts for r in found]
    return {
        "hosts": hosts,
        "endpoints_per_host": VIEW_ENDPOINTS,
        "romana_host": [r.host_routes for r in found],
        "romana_tor": [r.tor_routes for r in found],
        "romana_spine": [r.spine_routes for r in found],
        "per_node_host": [per_node(n)[0] for n in hosts],
        "per_node_fabric": [per_node(n)[1] for n in hosts],
        "per_block_host": [per_block(n, VIEW_ENDPOINTS)[0] for n in hosts],
        "per_block_fabric": [per_block(n, VIEW_ENDPOINTS)[1] for n in hosts],
        "endpoints": [h.endpoints for h in rules],
        "rules": [h.rules for h in rules],
        "view_kib": [round(h.view_bytes / 1024, 1) for h in rules],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--hosts", default=",".join(map(str, HOSTS)))
    parser.add_argument("--endpoints", default=",".join(map(str, ENDPOINTS)))
    parser.add_argument("--tenants", type=int, default=TENANTS)
    parser.add_argument("--policies", type=int, default=POLICIES)
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.hosts.split(",")]
    counts = [int(n) for n in args.endpoints.split(",")]
    started = time.monotonic()
    print("by hosts", flush=True)
    found, viewed = by_hosts(sizes, args.tenants, args.policies)
    print("by endpoints", flush=True)
    rules = by_endpoints(RULES_HOSTS, counts, args.tenants, args.policies)
    notes = (
        f"Computed by romana's own code, no kernel (method in bench/scale.py): racks of "
        f"{RACK} hosts; routes per host are h0's aggregated route plan (a full rack), the ToR "
        f"and spine figures those of the docs/routing.md fabric in bgp mode with rack "
        f"aggregates. References come from the documented schemes, not from runs: per-node "
        f"routing holds N - 1 routes per node and N per fabric router; per-/26 blocks "
        f"(Calico, 64 addresses per block, {VIEW_ENDPOINTS} endpoints per host) (N - 1) x "
        f"blocks per node and N x blocks per fabric router. Policy load: "
        f"{args.tenants:,} tenants, {args.policies:,} policies (bench.dataplane's scenario); "
        f"the host's endpoints belong to {PRESENT} tenants, whose "
        f"{rules[0].carried_policies} policies its view carries. Host views at "
        f"{VIEW_ENDPOINTS} endpoints; memory per host is tracemalloc of the topology "
        f"state (stored document in the in-memory store and romanad's parsed cache) over N; "
        f"views read from a SQLite store. IPv6 network fd00:10::/48 "
        f"(/64 host prefixes). Whole run {time.monotonic() - started:.0f} s."
    )
    out = results(found, viewed, rules)
    common.show(out)
    print(f"written to {common.write('scale', out, notes, extra={'series': series(found, rules)})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
