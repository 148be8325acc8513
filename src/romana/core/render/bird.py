"""The BIRD 2 configuration of one host in ``bgp`` route mode, as text.

What the host's BIRD does (:mod:`romana.core.topology.bgp` says where the settings come from):

* announces the host's prefixes, and the aggregate of each group that asks for it, to every
  peer, with the communities in effect. Each is a static route ``unreachable``, in the
  kernel too: the host's endpoints are routed by their more specific ``/32`` (``/128``)
  routes, and a packet for an address of the prefix that no endpoint holds is refused here
  (ICMP unreachable) instead of going back to the fabric's default route and looping;
* imports from its peers only routes inside the romana networks (never a default route or
  an underlay prefix), and none of what it announces itself (nor anything inside its own
  prefixes), and exports to the kernel those learned by BGP and its own ``unreachable``
  ones (``proto bird`` in ``ip route``; the agent's own routes carry its route protocol, so
  neither removes the other's);
* graceful restart, both ways: peers keep this host's routes while its BIRD restarts
  (``restart_time``), and the kernel protocol keeps the learned routes in the kernel across
  a restart (``persist``), replacing them once the sessions are back (``graceful restart``),
  so a restart of the agent or of BIRD drops no traffic;
* ``hold_time``: a peer that goes silent is dropped, and its routes withdrawn, after it;
* each session carries the family of its peer's address (an IPv6 network needs IPv6 peers);
* ``allow local as``: hosts of one group may share an AS, so a route from a rack mate comes
  back through the ToR with this host's AS in its path.

Pure: :func:`render` maps a :class:`BirdHost` to the text; the agent writes it atomically
and applies it with ``birdc configure``. Every name in it is ours (``romana_*``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from romana.core import addressing
from romana.core.topology.bgp import BgpPeer

HEADER = "# Written by romana-agent for host {host}; replaced whole on every change.\n"
KERNEL_METRIC = 32
PERSIST = "persist;"
"""The kernel protocol's option that keeps its routes in the kernel when BIRD ends."""


@dataclass(frozen=True, slots=True)
class BirdHost:
    """Everything one host's BIRD configuration is made of."""

    host: str
    router_id: ipaddress.IPv4Address
    asn: int
    peers: tuple[BgpPeer, ...]
    prefixes: tuple[addressing.IPNetwork, ...]
    """The host's own prefixes: announced, and never imported back (nor anything inside)."""
    aggregates: tuple[addressing.IPNetwork, ...]
    """The aggregates of its groups that it announces too (imported back never either)."""
    accept: tuple[addressing.IPNetwork, ...]
    """The romana networks: what it imports from its peers (and nothing else)."""
    communities: tuple[str, ...] = ()
    hold_time: int = 9
    restart_time: int = 120
    log_file: str = ""


def protocol_name(peer: BgpPeer, index: int) -> str:
    """The BIRD protocol of a peer: ``romana_peer<position>``, or for a named peer
    ``romana_p<position>_`` and its name with every character but ASCII letters and digits
    as ``_``, cut to 32: unique (the position) and a valid BIRD symbol whatever the name."""
    label = re.sub(r"[^A-Za-z0-9]", "_", peer.name)[:32]
    return f"romana_p{index}_{label}" if label else f"romana_peer{index}"


def _community(text: str) -> str:
    parts = text.split(":")
    if len(parts) == 3:
        return f"bgp_large_community.add(({parts[0]}, {parts[1]}, {parts[2]}));"
    return f"bgp_community.add(({parts[0]}, {parts[1]}));"


def _prefix_set(nets: Sequence[addressing.IPNetwork]) -> str:
    return ", ".join(f"{n}+" for n in nets)


def render(spec: BirdHost) -> str:
    """The whole configuration file of ``spec``'s BIRD."""
    families = sorted({n.version for n in (*spec.prefixes, *spec.accept)}) or [4]
    lines = [HEADER.format(host=spec.host)]
    if spec.log_file:
        lines.append(f'log "{spec.log_file}" all;')
    lines += [
        f"router id {spec.router_id};",
        f"graceful restart wait {spec.restart_time};",
        "",
        "protocol device romana_device {",
        "  scan time 10;",
        "}",
        "",
    ]
    for version in families:
        ip = f"ipv{version}"
        own = [n for n in spec.prefixes if n.version == version]
        aggregates = [n for n in spec.aggregates if n.version == version]
        accept = [n for n in spec.accept if n.version == version]
        mine = [f"{n}+" for n in own] + [str(n) for n in aggregates]
        lines += [
            f"protocol kernel romana_kernel{version} {{",
            f"  {ip} {{",
            "    import none;",
            f'    export where source = RTS_BGP || proto = "romana_announce{version}";',
            "  };",
            f"  metric {KERNEL_METRIC};",
            "  merge paths on;",
            f"  {PERSIST}",
            "  graceful restart on;",
            "}",
            "",
            f"protocol static romana_announce{version} {{",
            f"  {ip};",
            *(f"  route {n} unreachable;" for n in (*own, *aggregates)),
            "}",
            "",
            f"filter romana_import{version} {{",
            *([f"  if net ~ [ {', '.join(mine)} ] then reject;"] if mine else []),
            *([f"  if net ~ [ {_prefix_set(accept)} ] then accept;"] if accept else []),
            "  reject;",
            "}",
            "",
            f"filter romana_export{version} {{",
            f'  if proto = "romana_announce{version}" then {{',
            *(f"    {_community(c)}" for c in spec.communities),
            "    accept;",
            "  }",
            "  reject;",
            "}",
            "",
        ]
    for index, peer in enumerate(spec.peers):
        keepalive = max(1, spec.hold_time // 3)
        lines += [
            f"protocol bgp {protocol_name(peer, index)} {{",
            f"  local as {spec.asn};",
            f"  neighbor {peer.address} as {peer.asn};",
            f"  hold time {spec.hold_time};",
            f"  keepalive time {keepalive};",
            "  connect delay time 1;",
            "  error wait time 1, 10;",
            "  graceful restart on;",
            f"  graceful restart time {spec.restart_time};",
            "  allow local as;",
        ]
        for version in [v for v in families if v == peer.address.version]:
            lines += [
                f"  ipv{version} {{",
                f"    import filter romana_import{version};",
                f"    export filter romana_export{version};",
                "    next hop self;",
                "  };",
            ]
        lines += ["}", ""]
    return "\n".join(lines)
