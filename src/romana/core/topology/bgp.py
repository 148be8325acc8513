"""BGP settings of a topology: how a tree's routes reach the fabric, and whom hosts peer with.

A ``topologies[]`` entry has a ``route_mode``: ``direct`` (the default: every agent routes
the other hosts' prefixes itself, over a shared underlay segment) or ``bgp`` (every agent
runs BIRD, announces its host's prefixes to its peers and installs what it learns). Its
``bgp`` object, and any group's, holds :class:`BgpSettings`; a group inherits each setting it
does not give from its parent (the tree's being the root's parent), and a host's own ``asn``
(on its host element) wins over its groups'. So a rack group names its ToR routers once, a
zone its AS, and the tree the timers.

Settings (all optional where given, every one required in effect for each leaf of a ``bgp``
tree but ``communities``, ``aggregate`` and ``underlay``):

* ``asn``: the local AS, 1 … 4294967294 but 23456 (``AS_TRANS``, which stands for a 4-byte AS
  to old speakers);
* ``peers``: ``[{"address", "asn", "name"?}]``, the routers the hosts speak BGP to (a rack's
  ToRs); a group's list replaces its parent's; an address appears once per list and is an
  address a host may reach on its underlay (never a romana network's, loopback, link-local,
  multicast or unspecified), inside ``underlay`` when that is given;
* ``underlay``: the CIDRs of the group's underlay segment(s); when given, the peers in effect
  for the group must be inside them;
* ``aggregate``: the hosts of this group also announce the group's aggregate prefix in each
  network (the fabric then needs one route per group, and more specific host routes stay
  inside it); not inherited: it names the group it is set on;
* ``communities``: standard (``A:B``, each 0 … 65535) or large (``A:B:C``, each
  0 … 4294967295) communities added to every announcement;
* ``hold_time``: seconds, 3 … 65535 (default :data:`HOLD_TIME`): a host that dies is
  withdrawn by its peers once it elapses;
* ``restart_time``: graceful-restart time in seconds, 1 … 4095 (default
  :data:`RESTART_TIME`): how long peers keep a restarting host's routes.

Pure: values and checks only; problems are added to an :class:`~romana.core.errors.Issues`
at the field's path (``topologies[0].map[0].bgp.peers[1].asn``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from romana.core import addressing
from romana.core.errors import Issues
from romana.core.topology import underlay

DIRECT, BGP = "direct", "bgp"
ROUTE_MODES = (DIRECT, BGP)
ASN_MAX = 4_294_967_294
AS_TRANS = 23456
HOLD_TIME = 9
RESTART_TIME = 120
_KEYS = frozenset(
    {"asn", "peers", "underlay", "aggregate", "communities", "hold_time", "restart_time"}
)
_PEER_KEYS = frozenset({"address", "asn", "name"})
ASN_RULE = f"must be an AS number, 1-{ASN_MAX} but {AS_TRANS} (AS_TRANS)"


@dataclass(frozen=True, slots=True)
class BgpPeer:
    address: addressing.IPAddress
    asn: int
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"address": str(self.address), "asn": self.asn}
        if self.name:
            out["name"] = self.name
        return out


@dataclass(frozen=True, slots=True)
class BgpSettings:
    """One ``bgp`` object as given (None: not given here, inherited)."""

    asn: int | None = None
    peers: tuple[BgpPeer, ...] | None = None
    underlay: tuple[addressing.IPNetwork, ...] | None = None
    aggregate: bool | None = None
    communities: tuple[str, ...] | None = None
    hold_time: int | None = None
    restart_time: int | None = None

    def over(self, parent: BgpSettings) -> BgpSettings:
        """These settings where given, ``parent``'s elsewhere (``aggregate`` excepted)."""
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        merged = {k: (v if v is not None else getattr(parent, k)) for k, v in given.items()}
        return BgpSettings(**{**merged, "aggregate": self.aggregate})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "peers":
                value = [p.to_dict() for p in value]
            elif f.name == "underlay":
                value = [str(n) for n in value]
            elif f.name == "communities":
                value = list(value)
            out[f.name] = value
        return out


NONE = BgpSettings()


def effective(chain: Iterable[BgpSettings | None], host_asn: int | None = None) -> BgpSettings:
    """The settings in effect below ``chain`` (the tree's, then each group's from the root
    down), with a host's own AS; timers defaulted."""
    merged = BgpSettings(hold_time=HOLD_TIME, restart_time=RESTART_TIME)
    for given in chain:
        merged = (given or NONE).over(merged)
    return merged if host_asn is None else replace(merged, asn=host_asn)


def parse_mode(raw: object, where: str, issues: Issues) -> str:
    if raw is None:
        return DIRECT
    if raw not in ROUTE_MODES:
        issues.add(where, f"must be one of {', '.join(ROUTE_MODES)}")
        return DIRECT
    return str(raw)


def parse_asn(raw: object, where: str, issues: Issues) -> int | None:
    if raw is None:
        return None
    if not _integer(raw, 1, ASN_MAX) or raw == AS_TRANS:
        issues.add(where, ASN_RULE)
        return None
    assert isinstance(raw, int)
    return raw


def parse(
    raw: object, where: str, issues: Issues, layouts: Iterable[addressing.Layout]
) -> BgpSettings | None:
    """A ``bgp`` object (None when absent); each problem an issue under ``where``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        issues.add(where, "must be an object")
        return None
    for key in raw:
        if key not in _KEYS:
            issues.add(f"{where}.{key}", f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
    nets = _networks(raw.get("underlay"), f"{where}.underlay", issues)
    peers = _peers(raw.get("peers"), f"{where}.peers", issues, list(layouts))
    aggregate = raw.get("aggregate")
    if aggregate is not None and not isinstance(aggregate, bool):
        issues.add(f"{where}.aggregate", "must be true or false")
        aggregate = None
    return BgpSettings(
        asn=parse_asn(raw.get("asn"), f"{where}.asn", issues),
        peers=peers,
        underlay=nets,
        aggregate=aggregate,
        communities=_communities(raw.get("communities"), f"{where}.communities", issues),
        hold_time=_timer(raw.get("hold_time"), f"{where}.hold_time", 3, 65535, issues),
        restart_time=_timer(raw.get("restart_time"), f"{where}.restart_time", 1, 4095, issues),
    )


def check_group(merged: BgpSettings, given: BgpSettings | None, where: str, issues: Issues) -> None:
    """Where a group gives peers or an underlay: the peers in effect lie in the underlay in
    effect."""
    if given is None or (given.peers is None and given.underlay is None):
        return
    if not merged.peers or not merged.underlay:
        return
    for k, peer in enumerate(merged.peers):
        if not any(peer.address in net for net in merged.underlay):
            at = f"{where}.peers[{k}].address" if given.peers is not None else f"{where}.underlay"
            shown = ", ".join(map(str, merged.underlay))
            issues.add(at, f"peer {peer.address} is outside the underlay ({shown})")


def check_leaf(merged: BgpSettings, where: str, families: Iterable[int], issues: Issues) -> None:
    """A leaf of a ``bgp`` tree: an AS in effect (a host's own ``asn`` may override it, but
    a host placed later by its agent has none) and a peer of each address family of the
    tree's networks (a session carries its peer's family only)."""
    if merged.asn is None:
        issues.add(
            f"{where}.bgp.asn",
            "route_mode bgp needs an AS in effect for every group that may hold hosts: "
            "give asn here, on an enclosing group or on the topology's bgp",
        )
    if not merged.peers:
        issues.add(
            f"{where}.bgp.peers",
            "route_mode bgp needs at least one peer for every "
            "host: give peers here, on an enclosing group or on the topology's bgp",
        )
        return
    for version in sorted(set(families) - {p.address.version for p in merged.peers}):
        issues.add(
            f"{where}.bgp.peers",
            f"the topology has an IPv{version} network but no IPv{version} peer is in effect "
            "here: each session carries its peer's address family only",
        )


def _integer(raw: object, low: int, high: int) -> bool:
    return isinstance(raw, int) and not isinstance(raw, bool) and low <= raw <= high


def _timer(raw: object, where: str, low: int, high: int, issues: Issues) -> int | None:
    if raw is None:
        return None
    if not _integer(raw, low, high):
        issues.add(where, f"must be a whole number of seconds, {low}-{high}")
        return None
    assert isinstance(raw, int)
    return raw


def _networks(raw: object, where: str, issues: Issues) -> tuple[addressing.IPNetwork, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        issues.add(where, "must be a non-empty list of CIDRs")
        return None
    found: list[addressing.IPNetwork] = []
    for k, item in enumerate(raw):
        try:
            found.append(ipaddress.ip_network(str(item), strict=True))
        except ValueError as exc:
            issues.add(f"{where}[{k}]", f"{item!r} is not a CIDR ({exc})")
    return tuple(found)


def _peers(
    raw: object, where: str, issues: Issues, layouts: list[addressing.Layout]
) -> tuple[BgpPeer, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        issues.add(where, "must be a non-empty list of peers ({address, asn, name?})")
        return None
    found: list[BgpPeer] = []
    seen: dict[addressing.IPAddress, int] = {}
    for k, item in enumerate(raw):
        at = f"{where}[{k}]"
        if not isinstance(item, Mapping):
            issues.add(at, "must be an object {address, asn, name?}")
            continue
        for key in item:
            if key not in _PEER_KEYS:
                issues.add(f"{at}.{key}", f"unknown key (allowed: {', '.join(sorted(_PEER_KEYS))})")
        address = _address(item.get("address"), f"{at}.address", issues, layouts)
        asn = parse_asn(item.get("asn"), f"{at}.asn", issues)
        if item.get("asn") is None:
            issues.add(f"{at}.asn", f"is required; {ASN_RULE}")
        name = item.get("name", "")
        if not isinstance(name, str):
            issues.add(f"{at}.name", "must be a string")
            name = ""
        if address is not None and address in seen:
            issues.add(f"{at}.address", f"duplicate peer {address} (also {where}[{seen[address]}])")
            continue
        if address is not None and asn is not None:
            seen[address] = k
            found.append(BgpPeer(address, asn, name))
    return tuple(found)


def _address(
    raw: object, where: str, issues: Issues, layouts: list[addressing.Layout]
) -> addressing.IPAddress | None:
    try:
        address = ipaddress.ip_address(str(raw)) if isinstance(raw, str) else None
    except ValueError:
        address = None
    if address is None:
        issues.add(where, f"{raw!r} is not an IPv4 or IPv6 address")
        return None
    refused = Issues()
    underlay.check(address, where, layouts, refused)
    issues.extend(refused)
    return None if refused else address


def _communities(raw: object, where: str, issues: Issues) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        issues.add(where, "must be a list of communities (A:B or A:B:C)")
        return None
    found: list[str] = []
    for k, item in enumerate(raw):
        parts = item.split(":") if isinstance(item, str) else []
        limit = 65535 if len(parts) == 2 else 4_294_967_295
        digits = all(p.isascii() and p.isdigit() for p in parts)
        if len(parts) not in (2, 3) or not digits or any(int(p) > limit for p in parts):
            issues.add(
                f"{where}[{k}]",
                f"{item!r} is not a community: A:B with each 0-65535, or A:B:C with each "
                "0-4294967295",
            )
            continue
        found.append(":".join(str(int(p)) for p in parts))
    return tuple(found)
