"""External addresses and egress NAT: the values and their checks.

An *external pool* is a set of IPv4 and IPv6 CIDRs outside every romana network, from which
an operator assigns *external IPs* to endpoints: an external IP names the allocation (its key)
it is assigned to and that allocation's tenant, and the agent of the endpoint's host
configures it on the endpoint's interface. A pool may be restricted to the hosts of one
topology group. *Egress NAT* says, per romana network, whether the traffic its endpoints
send to destinations outside every romana network is masqueraded: for everyone (``on``, the
default), for nobody (``off``) or for the listed tenants' endpoints only (``tenants``), and
never to the operator's no-NAT CIDRs.

Invariants:

* CIDRs parse strictly: one with host bits set is refused naming it, never masked.
* The checks (:func:`parse_pool`, :func:`check_pool`, :func:`parse_nat`, :func:`check_nat`)
  report every problem at once, each at its field (``cidrs[1]``, ``tenants[0]``,
  ``no_nat[2]``), and build nothing when there is one.
* No pool CIDR overlaps a romana network, another pool, or another CIDR of its own pool; an
  address of a pool therefore belongs to that one pool.

Which address of a pool an endpoint may hold, and which is free, is
:mod:`romana.core.externaladdress`'s.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

from romana.core import names, records
from romana.core.addressing import IPAddress, IPNetwork
from romana.core.errors import Issues
from romana.core.identifiers import AllocationKey, NetworkName, TenantName

POOL_PATTERN, POOL_MAX, POOL_RULE = names.NAME_PATTERN, names.NAME_MAX, names.NAME_RULE
"""A pool's name follows the tenant name rule."""
POOL_RE = re.compile(POOL_PATTERN)
GROUP_MAX = 253
"""Longest group name or path (``zone-a/rack-1``) a pool may name."""
MAX_CIDRS = 1024
"""Most CIDRs in one pool or one no-NAT list."""


def _network(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


@dataclass(frozen=True, slots=True)
class ExternalPool:
    """A named set of external CIDRs; only hosts of topology group ``group`` may hold its
    addresses (None: any host), and only endpoints with an address in romana network
    ``network`` (None: any endpoint)."""

    name: str
    cidrs: tuple[IPNetwork, ...]
    group: str | None = None
    network: NetworkName | None = None

    def to_dict(self) -> dict[str, object]:
        return records.fields_dict(self, {"cidrs": records.strings})

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> ExternalPool:
        group = raw.get("group")
        network = raw.get("network")
        return cls(
            name=str(raw["name"]),
            cidrs=tuple(_network(str(c)) for c in _items(raw.get("cidrs"))),
            group=None if group is None else str(group),
            network=None if network is None else NetworkName(str(network)),
        )

    def of_version(self, version: int) -> tuple[IPNetwork, ...]:
        """Its CIDRs of IP ``version``, lowest first."""
        return tuple(sorted((c for c in self.cidrs if c.version == version), key=_order))

    def holding(self, address: IPAddress) -> IPNetwork | None:
        """The CIDR of the pool ``address`` is in; None when in none."""
        return next((c for c in self.cidrs if address in c), None)


@dataclass(frozen=True, slots=True)
class ExternalIp:
    """An external ``address`` of ``pool``, assigned to the allocation ``key`` of ``tenant``;
    or, with ``vip``, reserved as the address of that VIP (:mod:`romana.core.vips`), ``key``
    and ``tenant`` then empty: one record per address keeps the two from sharing one."""

    address: IPAddress
    pool: str
    key: AllocationKey
    tenant: TenantName
    vip: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Its fields; ``vip`` only when set, so an assignment reads as it always did."""
        out = records.fields_dict(self, {"address": str})
        if self.vip is None:
            del out["vip"]
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> ExternalIp:
        vip = raw.get("vip")
        return cls(
            address=ipaddress.ip_address(str(raw["address"])),
            pool=str(raw["pool"]),
            key=AllocationKey(str(raw.get("key", ""))),
            tenant=TenantName(str(raw.get("tenant", ""))),
            vip=None if vip is None else str(vip),
        )


class NatMode(enum.StrEnum):
    ON = "on"
    """Masquerade every endpoint's traffic that leaves the romana networks."""
    OFF = "off"
    """Masquerade nothing: endpoint addresses are routed outside as they are."""
    TENANTS = "tenants"
    """Masquerade the traffic of the listed tenants' endpoints only."""


NAT_MODE_RULE = f"must be one of {', '.join(m.value for m in NatMode)}"


@dataclass(frozen=True, slots=True)
class EgressNat:
    """The egress NAT setting of one romana network; ``no_nat``: destinations never
    masqueraded (a corporate network reached without NAT)."""

    network: NetworkName
    mode: NatMode = NatMode.ON
    tenants: tuple[TenantName, ...] = ()
    no_nat: tuple[IPNetwork, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return records.fields_dict(self, {"mode": str, "tenants": list, "no_nat": records.strings})

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> EgressNat:
        return cls(
            network=NetworkName(str(raw["network"])),
            mode=NatMode(str(raw.get("mode", NatMode.ON))),
            tenants=tuple(TenantName(str(t)) for t in _items(raw.get("tenants"))),
            no_nat=tuple(_network(str(c)) for c in _items(raw.get("no_nat"))),
        )


def default_nat(network: NetworkName) -> EgressNat:
    """The setting of a network nobody set: NAT on, no no-NAT CIDRs."""
    return EgressNat(network)


def _items(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _order(net: IPNetwork) -> tuple[int, int, int]:
    return net.version, int(net.network_address), net.prefixlen


# -- checks ------------------------------------------------------------------------------


def parse_cidrs(texts: Sequence[str], field: str, issues: Issues) -> tuple[IPNetwork, ...]:
    """Every text of ``texts`` as a strict CIDR; an issue at ``field[i]`` for each that is
    not one (the unparsable ones are left out of the answer)."""
    if len(texts) > MAX_CIDRS:
        issues.add(field, f"must hold at most {MAX_CIDRS} CIDRs")
        return ()
    parsed: list[IPNetwork] = []
    for i, text in enumerate(texts):
        try:
            parsed.append(_network(text))
        except ValueError as exc:
            issues.add(f"{field}[{i}]", _cidr_problem(text, exc))
    return tuple(parsed)


def overlap(a: IPNetwork, b: IPNetwork) -> bool:
    """Whether ``a`` and ``b`` share an address (networks of two families never do)."""
    return a.version == b.version and a.overlaps(b)


def _cidr_problem(text: object, exc: ValueError) -> str:
    if "host bits set" in str(exc):
        try:
            masked = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            masked = None
        return f"{text!r} has host bits set (the network is {masked})"
    return f"{text!r} is not a CIDR (e.g. 203.0.113.0/24 or 2001:db8:e::/64)"


def parse_pool(
    name: str, cidrs: Sequence[str], group: str | None = None, network: str | None = None
) -> ExternalPool:
    """The pool ``name`` of the CIDR texts ``cidrs``; InvalidInput naming every field that
    breaks its rule (:func:`check_pool`'s own checks included, against no network or pool)."""
    issues = Issues()
    parsed = parse_cidrs(cidrs, "cidrs", issues)
    pool = ExternalPool(name, parsed, group, None if network is None else NetworkName(network))
    if not issues:
        issues.extend(pool_issues(pool, {}, ()))
    else:
        _check_name(pool, issues)
    issues.raise_if_any()
    return pool


def _check_name(pool: ExternalPool, issues: Issues) -> None:
    if not names.matches(POOL_RE, pool.name):
        issues.add("name", f"{pool.name!r} {POOL_RULE}")
    if pool.group is not None and not (0 < len(pool.group) <= GROUP_MAX):
        issues.add("group", f"must be 1-{GROUP_MAX} characters (a topology group's name or path)")


def pool_issues(
    pool: ExternalPool, networks: Mapping[str, IPNetwork], others: Iterable[ExternalPool]
) -> Issues:
    """Every problem of ``pool`` beside the romana ``networks`` (name → CIDR) and the
    ``others`` pools: its name, and each of its CIDRs that overlaps one of them or another
    CIDR of the pool itself."""
    issues = Issues()
    _check_name(pool, issues)
    if not pool.cidrs:
        issues.add("cidrs", "must hold at least one CIDR")
    other_pools = [p for p in others if p.name != pool.name]
    for i, cidr in enumerate(pool.cidrs):
        where = f"cidrs[{i}]"
        for j, earlier in enumerate(pool.cidrs[:i]):
            if overlap(cidr, earlier):
                issues.add(where, f"{cidr} overlaps {earlier}, cidrs[{j}] of the same pool")
        for name, net in sorted(networks.items()):
            if overlap(cidr, net):
                issues.add(where, f"{cidr} overlaps romana network {name!r} ({net})")
        for other in other_pools:
            hit = next((c for c in other.cidrs if overlap(c, cidr)), None)
            if hit is not None:
                issues.add(where, f"{cidr} overlaps {hit} of external pool {other.name!r}")
    return issues


def check_pool(
    pool: ExternalPool, networks: Mapping[str, IPNetwork], others: Iterable[ExternalPool]
) -> None:
    """InvalidInput with every issue :func:`pool_issues` finds; nothing when there is none."""
    pool_issues(pool, networks, others).raise_if_any()


def parse_nat(
    network: str, mode: str, tenants: Sequence[str] = (), no_nat: Sequence[str] = ()
) -> EgressNat:
    """The egress NAT setting of the texts given; InvalidInput naming every field that
    breaks its rule (:func:`check_nat`'s checks included)."""
    issues = Issues()
    parsed = parse_cidrs(no_nat, "no_nat", issues)
    known = mode in {m.value for m in NatMode}
    if not known:
        issues.add("mode", f"{mode!r} {NAT_MODE_RULE}")
    setting = EgressNat(
        NetworkName(network),
        NatMode(mode) if known else NatMode.ON,
        tuple(TenantName(t) for t in tenants),
        parsed,
    )
    issues.extend(nat_issues(setting, check_mode=known))
    issues.raise_if_any()
    return setting


def nat_issues(setting: EgressNat, *, check_mode: bool = True) -> Issues:
    """Every problem of ``setting``: its names, and that mode ``tenants`` lists at least one
    tenant and the other modes none."""
    issues = Issues()
    names.check_network(setting.network, "network", issues)
    seen: dict[str, int] = {}
    for i, tenant in enumerate(setting.tenants):
        if not names.matches(names.NAME_RE, tenant):
            issues.add(f"tenants[{i}]", f"{tenant!r} {names.NAME_RULE}")
        elif tenant in seen:
            issues.add(f"tenants[{i}]", f"{tenant!r} is listed already, at tenants[{seen[tenant]}]")
        seen.setdefault(tenant, i)
    if check_mode and setting.mode is NatMode.TENANTS and not setting.tenants:
        issues.add("tenants", "mode 'tenants' needs at least one tenant")
    elif check_mode and setting.mode is not NatMode.TENANTS and setting.tenants:
        issues.add("tenants", f"mode {setting.mode.value!r} takes no tenants (only 'tenants' does)")
    if len(setting.no_nat) > MAX_CIDRS:
        issues.add("no_nat", f"must hold at most {MAX_CIDRS} CIDRs")
    return issues


def check_nat(setting: EgressNat) -> None:
    """InvalidInput with every issue :func:`nat_issues` finds; nothing when there is none."""
    nat_issues(setting).raise_if_any()


def differing(stored: ExternalPool, wanted: ExternalPool) -> list[str]:
    """The fields in which ``wanted`` differs from the ``stored`` pool, in field order."""
    return [f.name for f in fields(stored) if getattr(stored, f.name) != getattr(wanted, f.name)]
