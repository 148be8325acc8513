"""The plan of the lab's routed fabric (:mod:`romana.lab.fabric`): its addresses, AS numbers
and racks, and the BIRD 2 configuration of each ToR and of the spine, as text.

Addresses: rack ``n`` (from 1) is 198.18.<n>.0/24, beside the lab's flat underlay
198.18.0.0/24 and inside the benchmarking block like it (2001:db8:ff:<n>::/64 for IPv6,
rack-local); its ToR is .1, its host ``k`` .<10+k>; the /31 between the spine and ToR ``n`` is
198.19.255.<2n-2>/31 (the spine's end first). AS numbers: the spine 65000, ToR ``n`` 65100+n.

Pure: values in, text out; :mod:`romana.lab.fabric` builds and runs what they describe.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SPINE_ASN = 65000
TOR_ASN_BASE = 65100
HOLD_TIME = 3
SPINE_IP = ipaddress.IPv4Address("198.18.0.254")
"""The spine's address on the lab's flat underlay, the gateway of ``ctl``."""
LINKS = ipaddress.IPv4Network("198.19.255.0/24")
MAX_RACKS = LINKS.num_addresses // 2
FIRST_HOST = 10
"""Host ``k`` (from 1) of a rack takes the rack subnet's address ``FIRST_HOST + k``."""


def rack_network(index: int) -> ipaddress.IPv4Network:
    """The underlay subnet of rack ``index`` (from 1): 198.18.<index>.0/24."""
    return ipaddress.IPv4Network(f"198.18.{index}.0/24")


def rack_network6(index: int) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(f"2001:db8:ff:{index:x}::/64")


def link_addresses(index: int) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """(spine, ToR) on the /31 between the spine and rack ``index``'s ToR."""
    base = LINKS.network_address + 2 * (index - 1)
    return base, base + 1


@dataclass(frozen=True)
class RackSpec:
    """A rack: its name, the hosts the cluster builder puts into it, and the aggregates its
    ToR passes up (empty: everything its hosts announce)."""

    name: str
    hosts: tuple[str, ...] = ()
    aggregates: tuple[str, ...] = ()


@dataclass(frozen=True)
class FabricSpec:
    racks: tuple[RackSpec, ...]
    hold_time: int = HOLD_TIME

    def __post_init__(self) -> None:
        if not 1 <= len(self.racks) <= MAX_RACKS:
            raise ValueError(f"racks: 1 to {MAX_RACKS} (the spine's links share {LINKS})")
        names = [r.name for r in self.racks]
        hosts = [h for r in self.racks for h in r.hosts]
        if len(set(names)) != len(names) or len(set(hosts)) != len(hosts):
            raise ValueError(f"racks: each rack name, and each host, once: {names}, {hosts}")

    def rack_of(self, host: str) -> RackSpec | None:
        return next((r for r in self.racks if host in r.hosts), None)


def racks(
    mapping: Mapping[str, Sequence[str]], aggregates: Mapping[str, Sequence[str]] | None = None
) -> FabricSpec:
    """``{"rack-1": ["h1", "h2"], …}`` as a spec, with the aggregates of each rack by name."""
    given = aggregates or {}
    return FabricSpec(
        tuple(
            RackSpec(name, tuple(hosts), tuple(given.get(name, ())))
            for name, hosts in mapping.items()
        )
    )


# --- configurations ----------------------------------------------------------------------


def _timers(hold_time: int) -> list[str]:
    return [
        f"  hold time {hold_time};",
        f"  keepalive time {max(1, hold_time // 3)};",
        "  connect delay time 1;",
        "  error wait time 1, 10;",
        "  graceful restart aware;",
    ]


def _head(router_id: ipaddress.IPv4Address, log_file: str) -> list[str]:
    return [
        *([f'log "{log_file}" all;'] if log_file else []),
        f"router id {router_id};",
        "",
        "protocol device fabric_device {",
        "  scan time 10;",
        "}",
        "",
        "protocol kernel fabric_kernel {",
        "  ipv4 { import none; export where source = RTS_BGP; };",
        "  merge paths on;",
        "}",
        "",
    ]


def tor_config(
    index: int,
    aggregates: Sequence[str] = (),
    *,
    hold_time: int = HOLD_TIME,
    log_file: str = "",
) -> str:
    """The BIRD configuration of rack ``index``'s ToR."""
    rack = rack_network(index)
    me = rack.network_address + 1
    spine, uplink = link_addresses(index)
    upward = (
        [f"  if net ~ [ {', '.join(aggregates)} ] then accept;"]
        if aggregates
        else ["  if source = RTS_BGP then accept;"]
    )
    return "\n".join(
        [
            *_head(me, log_file),
            "protocol direct fabric_rack {",
            "  ipv4;",
            '  interface "rack";',
            "}",
            "",
            "# Up: the rack subnet and the rack's aggregates; host routes stay in the rack.",
            "filter fabric_to_spine {",
            '  if proto = "fabric_rack" then accept;',
            *upward,
            "  reject;",
            "}",
            "",
            "# Any host of the rack, passively, in any AS but this one (a protocol per host).",
            "protocol bgp fabric_hosts {",
            f"  local {me} as {TOR_ASN_BASE + index};",
            f"  neighbor range {rack} external;",
            '  dynamic name "fabric_host";',
            *_timers(hold_time),
            "  ipv4 { import all; export where source = RTS_BGP; };",
            "}",
            "",
            "protocol bgp fabric_spine {",
            f"  local {uplink} as {TOR_ASN_BASE + index};",
            f"  neighbor {spine} as {SPINE_ASN};",
            *_timers(hold_time),
            "  ipv4 { import all; export filter fabric_to_spine; };",
            "}",
            "",
        ]
    )


def spine_config(count: int, *, hold_time: int = HOLD_TIME, log_file: str = "") -> str:
    """The BIRD configuration of the spine of ``count`` racks."""
    lines = [
        *_head(SPINE_IP, log_file),
        "# The segment of ctl (romanad), for the hosts of every rack.",
        "protocol direct fabric_services {",
        "  ipv4;",
        '  interface "svc";',
        "}",
        "",
    ]
    for index in range(1, count + 1):
        spine, tor = link_addresses(index)
        lines += [
            f"protocol bgp fabric_tor{index} {{",
            f"  local {spine} as {SPINE_ASN};",
            f"  neighbor {tor} as {TOR_ASN_BASE + index};",
            *_timers(hold_time),
            '  ipv4 { import all; export where source = RTS_BGP || proto = "fabric_services"; };',
            "}",
            "",
        ]
    return "\n".join(lines)
