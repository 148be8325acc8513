"""Properties over random trees and random placements and removals.

* every host prefix lies inside the prefix of each group above the host, in every network;
* no two host prefixes overlap, and no host sits on a reserved index;
* every host carries the labels its groups assign;
* the document round trip reproduces the topology;
* following route plans hop by hop delivers any address of any host prefix to that host, in
  at most (depth of its leaf + 1) hops, when both ends have an underlay address of the
  address's family (some hosts have no IPv6 one); otherwise the packet meets no route;
* every route's next hop is of its destination's family.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from romana.core import routeplan, topology
from romana.core.errors import Exhausted, InvalidInput
from romana.core.identifiers import HostName
from romana.core.topology import carving

VALUES = ("a", "b")


def _need(groups: list[dict[str, Any]]) -> int:
    """Topology bits a group list needs: its slots plus its deepest child's needs."""
    if not groups:
        return 0
    return carving.slot_bits(len(groups)) + max(_need(g["groups"]) for g in groups)


@st.composite
def group_lists(draw: st.DrawFn, depth: int = 0) -> list[dict[str, Any]]:
    count = draw(st.integers(1 if depth == 0 else 0, 4 if depth < 3 else 0))
    out = []
    for i in range(count):
        group: dict[str, Any] = {"name": f"g{i}", "groups": draw(group_lists(depth + 1))}
        key = draw(st.sampled_from([None, f"k{depth}"]))
        if key is not None:
            group["assignment"] = {key: draw(st.sampled_from(VALUES))}
        out.append(group)
    return out


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[topology.Topology, dict[str, frozenset[int]]]:
    groups = draw(group_lists())
    bits = _need(groups) + draw(st.integers(0, 3))
    v4 = {"name": "v4", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4}
    v4["endpoint_bits"] = 24 - bits - 8
    v6 = {"name": "v6", "cidr": "fd00::/64", "tenant_bits": 16, "segment_bits": 16}
    v6["endpoint_bits"] = 64 - bits - 32
    topo = topology.parse(
        {"networks": [v4, v6], "topologies": [{"networks": ["v4", "v6"], "map": groups}]}
    )
    reserved = {"v4": frozenset(draw(st.sets(st.integers(0, (1 << bits) - 1), max_size=3)))}
    label_sets = st.dictionaries(
        st.sampled_from([f"k{d}" for d in range(3)]), st.sampled_from(VALUES), min_size=2
    )
    for n in range(draw(st.integers(1, 16))):
        if topo.hosts and draw(st.integers(0, 4)) == 0:
            topo = topology.remove_host(topo, draw(st.sampled_from(topo.hosts)).name)
            continue
        ip6 = f"2001:db8::{n + 1}" if draw(st.booleans()) else None
        spec = topology.HostSpec(HostName(f"h{n}"), f"192.0.2.{n + 1}", draw(label_sets), ip6)
        try:
            topo, _ = topology.place_host(topo, spec, reserved)
        except (InvalidInput, Exhausted):
            continue
    return topo, reserved


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_host_prefixes_nest_in_their_groups_and_never_overlap(
    scenario: tuple[topology.Topology, dict[str, frozenset[int]]],
) -> None:
    topo, reserved = scenario
    tree = topo.trees[0]
    layouts = topo.layouts
    for host in topo.hosts:
        chain = tree.chain(host.name)
        assert chain is not None
        member = tree.member(host.name)
        assert member is not None and member.index not in reserved["v4"]
        need: dict[str, str] = {}
        for group in chain:
            need.update(dict(group.assignment))
        assert topology.model.satisfies(host.labels, topology.model.labels_of(need))
        for net in tree.networks:
            own = topology.host_prefix(layouts[net], member.index)
            for group in chain:
                outer = topology.group_prefix(layouts[net], tree.topology_bits, group)
                assert own.subnet_of(outer)  # type: ignore[arg-type]
    for net in tree.networks:
        prefixes = [topology.placement(topo, h.name).prefixes for h in topo.hosts]
        mine = [p.prefix for ps in prefixes for p in ps if p.network == net]
        for a, b in itertools.combinations(mine, 2):
            assert not a.overlaps(b)
    assert topology.parse(topology.to_document(topo)) == topo


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_route_plans_deliver_to_the_owner(
    scenario: tuple[topology.Topology, dict[str, frozenset[int]]],
) -> None:
    topo, _ = scenario
    tree = topo.trees[0]
    plans = routeplan.plans(topo)
    for plan in plans.values():
        assert all(r.via.version == r.dst.version for r in plan.routes)
    for src, dst in itertools.product(topo.hosts, repeat=2):
        chain = tree.chain(dst.name)
        assert chain is not None
        for p in topology.placement(topo, dst.name).prefixes:
            family = p.prefix.version
            reachable = src is dst or (
                src.address(family) is not None and dst.address(family) is not None
            )
            for address in (p.gateway, p.prefix[-1]):
                here, hops = src.name, 0
                while not plans[here].owns(address):
                    route = plans[here].lookup(address)
                    if route is None:
                        break
                    here, hops = route.via_host, hops + 1
                    assert hops <= len(chain)
                assert (here == dst.name) == reachable, (src.name, dst.name, address)
