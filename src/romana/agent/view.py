"""The host view from romanad, parsed once at the wire edge into typed, frozen values.

``GET /v1/hosts/{name}/view`` (docs/api.md) returns everything one agent needs: its host
with its prefixes and gateways, the networks (field widths), the routes to other hosts, the
tenants, the policies that can affect an endpoint here, the address sets they name (name →
member prefixes, kept by the Kubernetes listener) and the allocations on this host.
``policy_tenants`` names the tenants whose own policies the view carries (those with an
endpoint here); a view without it (an earlier romanad) carries every policy.
:func:`parse` turns that JSON into a :class:`HostView`; a malformed view is refused whole
(``InvalidInput`` listing every problem), so the reconciler keeps working from the last good
one rather than from half a view.
Policies stay raw documents here: their grammar belongs to :mod:`romana.core.policy`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from romana.core import addressing, ipam, tenancy
from romana.core.errors import Issues, RomanaError
from romana.core.policy import ids


@dataclass(frozen=True, slots=True)
class HostPrefix:
    network: str
    prefix: addressing.IPNetwork
    gateway: addressing.IPAddress


@dataclass(frozen=True, slots=True)
class ViewRoute:
    dst: addressing.IPNetwork
    via: addressing.IPAddress


@dataclass(frozen=True, slots=True)
class HostView:
    revision: int
    host: str
    ip: addressing.IPAddress
    labels: Mapping[str, str]
    prefixes: tuple[HostPrefix, ...]
    layouts: Mapping[str, addressing.Layout]
    routes: tuple[ViewRoute, ...]
    tenants: Mapping[str, tenancy.Tenant]
    policies: tuple[Mapping[str, Any], ...]
    endpoints: Mapping[str, ipam.Allocation] = field(default_factory=dict)
    """Allocations on this host, by key."""
    address_sets: Mapping[str, tuple[addressing.IPNetwork, ...]] = field(default_factory=dict)
    """Members of every address set, by set name."""
    skipped_routes: tuple[str, ...] = ()
    """Prefixes the route plan cannot route, each as ``route to <dst>: <reason>``."""
    policy_tenants: frozenset[str] | None = None
    """Tenants whose own policies the view carries; None: every tenant's."""

    def tenant(self, name: str) -> tenancy.Tenant | None:
        return self.tenants.get(name)

    def carries(self, tenant: str) -> bool:
        """Whether the policies ``tenant`` owns are in this view."""
        return self.policy_tenants is None or tenant in self.policy_tenants

    def exhausted(self, tenant: str, segment: str) -> str:
        """Why no address is left on this host for (tenant, segment); '' when one is.

        Unknown tenants and segments are not exhausted: an ADD names them wrongly, or the
        view has not caught up with them yet, and the allocation itself will say which.
        """
        found = self.tenants.get(tenant)
        if found is None or segment not in found.segments:
            return ""
        used = sum(
            1 for a in self.endpoints.values() if a.tenant == tenant and a.segment == segment
        )
        own = {p.network for p in self.prefixes}
        capacities = [
            max(0, self.layouts[network].max_ordinal - ipam.first_ordinal(tid) + 1)
            for network, tid in found.ids.items()
            if network in self.layouts and network in own
        ]
        if capacities and all(used >= c for c in capacities):
            return (
                f"tenant {tenant!r} segment {segment!r} holds {used} addresses on this host, "
                f"the capacity of its block"
            )
        return ""


def _list(raw: Mapping[str, Any], key: str, issues: Issues) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        issues.add(key, "must be a list")
        return []
    return value


def parse(raw: Any) -> HostView:
    """A view as JSON → :class:`HostView`; InvalidInput naming every malformed field."""
    issues = Issues("host view")
    if not isinstance(raw, Mapping):
        issues.add("", "must be a JSON object")
        issues.raise_if_any()
    revision = raw.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool):
        issues.add("revision", "must be an integer")
        revision = 0
    host = raw.get("host")
    if not isinstance(host, Mapping):
        issues.add("host", "must be an object")
        host = {}
    name = str(host.get("name", ""))
    ip: addressing.IPAddress = ipaddress.IPv4Address(0)
    try:
        ip = ipaddress.ip_address(str(host.get("ip")))
    except ValueError:
        issues.add("host.ip", "must be an IP address")
    layouts: dict[str, addressing.Layout] = {}
    for i, net in enumerate(_list(raw, "networks", issues)):
        try:
            lay = addressing.layout(
                str(net["name"]),
                str(net["cidr"]),
                int(net["tenant_bits"]),
                int(net["segment_bits"]),
                int(net["endpoint_bits"]),
                field=f"networks[{i}]",
            )
        except (KeyError, TypeError, ValueError) as exc:
            issues.add(f"networks[{i}]", f"is malformed ({exc!r})")
            continue
        except RomanaError as exc:
            issues.add(f"networks[{i}]", str(exc))
            continue
        layouts[lay.name] = lay
    prefixes: list[HostPrefix] = []
    gateways = host.get("gateways") or {}
    for net_name, prefix in sorted(dict(host.get("prefixes") or {}).items()):
        try:
            prefixes.append(
                HostPrefix(
                    str(net_name),
                    ipaddress.ip_network(str(prefix)),
                    ipaddress.ip_address(str(gateways[net_name])),
                )
            )
        except (KeyError, ValueError) as exc:
            issues.add(f"host.prefixes.{net_name}", f"is malformed ({exc!r})")
    routes: list[ViewRoute] = []
    for i, route in enumerate(_list(raw, "routes", issues)):
        try:
            routes.append(
                ViewRoute(
                    ipaddress.ip_network(str(route["dst"])),
                    ipaddress.ip_address(str(route["via"])),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            issues.add(f"routes[{i}]", f"is malformed ({exc!r})")
    tenants: dict[str, tenancy.Tenant] = {}
    for i, item in enumerate(_list(raw, "tenants", issues)):
        try:
            tenant = tenancy.Tenant.from_dict(item)
        except (AssertionError, AttributeError, KeyError, TypeError, ValueError) as exc:
            issues.add(f"tenants[{i}]", f"is malformed ({exc!r})")
            continue
        tenants[tenant.name] = tenant
    policies = [p for p in _list(raw, "policies", issues) if isinstance(p, Mapping)]
    endpoints: dict[str, ipam.Allocation] = {}
    for i, item in enumerate(_list(raw, "endpoints", issues)):
        try:
            alloc = ipam.Allocation.from_dict(item)
        except (AssertionError, AttributeError, KeyError, TypeError, ValueError) as exc:
            issues.add(f"endpoints[{i}]", f"is malformed ({exc!r})")
            continue
        endpoints[alloc.key] = alloc
    address_sets = _address_sets(raw.get("address_sets", {}), issues)
    skipped_routes = [
        f"route to {item.get('dst')}: {item.get('reason')}"
        for item in _list(raw, "skipped_routes", issues)
        if isinstance(item, Mapping)
    ]
    policy_tenants: frozenset[str] | None = None
    if "policy_tenants" in raw:
        names = _list(raw, "policy_tenants", issues)
        if not all(isinstance(n, str) for n in names):
            issues.add("policy_tenants", "must be a list of tenant names")
        policy_tenants = frozenset(str(n) for n in names)
    issues.raise_if_any()
    labels = host.get("labels") or {}
    return HostView(
        revision=int(revision),
        host=name,
        ip=ip,
        labels={str(k): str(v) for k, v in dict(labels).items()},
        prefixes=tuple(prefixes),
        layouts=layouts,
        routes=tuple(routes),
        tenants=tenants,
        policies=tuple(policies),
        endpoints=endpoints,
        address_sets=address_sets,
        skipped_routes=tuple(skipped_routes),
        policy_tenants=policy_tenants,
    )


def _address_sets(raw: Any, issues: Issues) -> dict[str, tuple[addressing.IPNetwork, ...]]:
    if not isinstance(raw, Mapping):
        issues.add("address_sets", "must be an object of set name to member CIDRs")
        return {}
    out: dict[str, tuple[addressing.IPNetwork, ...]] = {}
    for name, members in sorted(raw.items()):
        if not isinstance(members, list):
            issues.add(f"address_sets.{name}", "must be a list of CIDRs")
            continue
        nets: list[addressing.IPNetwork] = []
        for i, member in enumerate(members):
            try:
                nets.append(ipaddress.ip_network(str(member)))
            except ValueError:
                issues.add(f"address_sets.{name}[{i}]", f"{member!r} is not a CIDR")
        out[str(name)] = tuple(nets)
    return out


def owner(doc: Mapping[str, Any]) -> str | None:
    """The tenant owning a policy document, by its id; None for one of no single tenant."""
    return ids.owner_of_id(str(doc.get("id", "")))


def keep_policies(old: HostView | None, new: HostView, needed: Collection[str]) -> HostView:
    """``new``, also carrying the policies ``old`` carried of the ``needed`` tenants it lacks.

    A view romanad read between a tenant's last endpoint here going and its next one coming
    lacks that tenant's policies, and may arrive after the next one was wired: enforcing it
    would leave that endpoint without its policies until the following view. The agent keeps
    what it last knew of them instead, and the following view replaces them."""
    if old is None or new.policy_tenants is None:
        return new
    keep = {t for t in needed if not new.carries(t) and old.carries(t)}
    if not keep:
        return new
    present = {str(p.get("id")) for p in new.policies}
    extra = [p for p in old.policies if owner(p) in keep and str(p.get("id")) not in present]
    names = {n for p in extra for n in ids.named_sets(p)} - set(new.address_sets)
    sets = {n: m for n, m in old.address_sets.items() if n in names}
    return dataclasses.replace(
        new,
        policies=new.policies + tuple(extra),
        address_sets={**new.address_sets, **sets},
        policy_tenants=new.policy_tenants | keep,
    )
