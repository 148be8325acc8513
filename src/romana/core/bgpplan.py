"""What one host announces over BGP and to whom: its BIRD configuration, from the topology.

For a host placed in a ``bgp`` tree (:mod:`romana.core.topology.bgp`), :func:`for_host`
gathers the settings in effect at its leaf (the tree's, then each group's from the root
down, then the host's own AS), its host prefix in each network of the tree, the aggregate
prefix of each group on its path that sets ``aggregate``, and the CIDRs of the tree's
networks (what it may learn), into a :class:`romana.core.render.bird.BirdHost`. A host in
no ``bgp`` tree gets None: its routes are the agent's own (:mod:`romana.core.routeplan`).

A host's BIRD speaks for every ``bgp`` tree it sits in; when it sits in several, the first
tree's settings (AS, peers, timers) hold and the others add their prefixes. The router id
is the host's IPv4 underlay address (BIRD needs an IPv4-shaped id even for IPv6 only; a host
with an IPv6 ``ip`` only takes 32 bits of a hash of its name, :func:`router_id`).

Pure: values in, a value out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from romana.core import addressing, topology
from romana.core.identifiers import HostName
from romana.core.render.bird import BirdHost
from romana.core.topology import bgp
from romana.core.topology.bgp import BgpPeer


def router_id(host: topology.Host) -> ipaddress.IPv4Address:
    """The host's IPv4 underlay address; for a host with none, 32 bits of a hash of its
    name (never 0, which BIRD refuses): the low bits of IPv6 addresses repeat across
    subnets (``fd00:1::5``, ``fd00:2::5``), names are unique in the topology."""
    v4 = host.address(4)
    if isinstance(v4, ipaddress.IPv4Address):
        return v4
    digest = int.from_bytes(hashlib.sha256(host.name.encode()).digest()[:4], "big")
    return ipaddress.IPv4Address(digest or 1)


def for_host(topo: topology.Topology, name: HostName, log_file: str = "") -> BirdHost | None:
    """The BIRD configuration values of host ``name``; None when it is in no ``bgp`` tree."""
    host = topo.host(name)
    found: BirdHost | None = None
    prefixes: list[addressing.IPNetwork] = []
    aggregates: list[addressing.IPNetwork] = []
    accept: list[addressing.IPNetwork] = []
    layouts = topo.layouts
    for tree in topo.trees:
        chain = tree.chain(name)
        if tree.route_mode != bgp.BGP or chain is None:
            continue
        member = tree.member(name)
        assert member is not None
        settings = bgp.effective([tree.bgp, *(g.bgp for g in chain)], host.asn)
        for network in tree.networks:
            lay = layouts[network]
            accept.append(lay.cidr)
            prefixes.append(topology.host_prefix(lay, member.index))
            aggregates.extend(
                topology.group_prefix(lay, tree.topology_bits, g)
                for g in chain
                if g.bgp is not None and g.bgp.aggregate
            )
        if found is None:
            assert settings.asn is not None and settings.peers  # parse checks every bgp leaf
            found = BirdHost(
                host=name,
                router_id=router_id(host),
                asn=settings.asn,
                peers=settings.peers,
                prefixes=(),
                aggregates=(),
                accept=(),
                communities=settings.communities or (),
                hold_time=settings.hold_time or bgp.HOLD_TIME,
                restart_time=settings.restart_time or bgp.RESTART_TIME,
                log_file=log_file,
            )
    if found is None:
        return None
    return dataclasses.replace(
        found,
        prefixes=tuple(prefixes),
        aggregates=tuple(dict.fromkeys(aggregates)),
        accept=tuple(accept),
    )


def to_dict(plan: BirdHost) -> dict[str, Any]:
    """The wire shape of a plan (:class:`romana.wire.rest_hostview.Bgp`)."""
    return {
        "asn": plan.asn,
        "router_id": str(plan.router_id),
        "peers": [p.to_dict() for p in plan.peers],
        "prefixes": [str(n) for n in plan.prefixes],
        "aggregates": [str(n) for n in plan.aggregates],
        "accept": [str(n) for n in plan.accept],
        "communities": list(plan.communities),
        "hold_time": plan.hold_time,
        "restart_time": plan.restart_time,
    }


def from_dict(raw: Mapping[str, Any]) -> BirdHost:
    """A plan read back from its wire shape (already validated by the wire model)."""

    def nets(key: str) -> tuple[addressing.IPNetwork, ...]:
        return tuple(ipaddress.ip_network(str(n)) for n in raw[key])

    return BirdHost(
        host=str(raw.get("host", "")),
        router_id=ipaddress.IPv4Address(str(raw["router_id"])),
        asn=int(raw["asn"]),
        peers=tuple(
            BgpPeer(ipaddress.ip_address(str(p["address"])), int(p["asn"]), str(p.get("name", "")))
            for p in raw["peers"]
        ),
        prefixes=nets("prefixes"),
        aggregates=nets("aggregates"),
        accept=nets("accept"),
        communities=tuple(str(c) for c in raw["communities"]),
        hold_time=int(raw["hold_time"]),
        restart_time=int(raw["restart_time"]),
    )
