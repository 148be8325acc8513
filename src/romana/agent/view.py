"""The host view from romanad, read once at the wire edge into typed, frozen values.

``GET /v1/hosts/{name}/view`` (docs/api.md) returns everything one agent needs: its host
with its prefixes and gateways, the networks (field widths), the routes to other hosts, the
tenants, the policies that can affect an endpoint here, the address sets they name (name →
member prefixes, kept by the Kubernetes listener) and the allocations on this host.
``policy_tenants`` names the tenants whose own policies the view carries (those with an
endpoint here); a view without it (an earlier romanad) carries every policy.
:func:`parse` validates that JSON with the very model romanad serves it with
(:class:`romana.wire.rest_hostview.HostView`) and derives a :class:`HostView`; a malformed
view is refused whole (``InvalidInput`` naming every field at fault), so the reconciler
keeps working from the last good one rather than from half a view.
Policies stay raw documents here: their grammar belongs to :mod:`romana.core.policy`.

:class:`Reader` is :func:`parse` for one host's successive views: a section (tenants,
endpoints, address sets) whose JSON is the last view's gives the very values it gave then,
neither validated nor converted again, and in a changed tenants section each record whose
JSON is the last one's keeps its value; every other part of a view (labels, prefixes, routes,
``policy_tenants``…) equal to the last view's is the last view's value, so that a new view
keeps no new objects alive but those of what changed. It keeps digests of the last view's JSON
to tell, never the JSON itself. The result is always what :func:`parse` gives.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from romana.core import addressing, bgpplan, external, ipam, tenancy
from romana.core.errors import InvalidInput, Issue, Issues
from romana.core.policy import ids
from romana.core.render.bird import BirdHost
from romana.wire import rest, rest_hostview, validate


@dataclass(frozen=True, slots=True)
class HostPrefix:
    network: str
    prefix: addressing.IPNetwork
    gateway: addressing.IPAddress


@dataclass(frozen=True, slots=True)
class ViewRoute:
    dst: addressing.IPNetwork
    via: addressing.IPAddress
    moved_from: str | None = None
    """Set on an exception route (an address living on another host than it encodes)."""
    pool: str | None = None
    """Set on the route of an external address (held by an endpoint of another host)."""


@dataclass(frozen=True, slots=True)
class ExternalAddress:
    """An external address held by the endpoint of allocation ``key`` on this host."""

    address: addressing.IPAddress
    pool: str
    key: str
    romana: tuple[addressing.IPAddress, ...]


@dataclass(frozen=True, slots=True)
class ExternalView:
    """Every external pool, the external addresses of this host's endpoints, and each
    network's egress NAT (``docs/external.md``)."""

    pools: tuple[addressing.IPNetwork, ...] = ()
    addresses: tuple[ExternalAddress, ...] = ()
    nat: tuple[external.EgressNat, ...] = ()

    def of(self, key: str) -> tuple[addressing.IPAddress, ...]:
        """The external addresses of the endpoint of allocation ``key``."""
        return tuple(a.address for a in self.addresses if a.key == key)


@dataclass(frozen=True, slots=True)
class ViewVip:
    """VIP ``name``: forwarded to ``endpoints`` (romana addresses of its family); the
    allocations of those on this host (``local_keys``) make this host a contender."""

    name: str
    address: addressing.IPAddress
    endpoints: tuple[addressing.IPAddress, ...]
    local_keys: tuple[str, ...]
    holder: str | None = None


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
    bgp: BirdHost | None = None
    """What this host's BIRD announces and to whom; None in ``direct`` route mode."""
    external: ExternalView = field(default_factory=ExternalView)
    vips: tuple[ViewVip, ...] = ()

    def tenant(self, name: str) -> tenancy.Tenant | None:
        return self.tenants.get(name)

    def carries(self, tenant: str) -> bool:
        """Whether the policies ``tenant`` owns are in this view."""
        return self.policy_tenants is None or tenant in self.policy_tenants

    def exhausted(self, tenant: str, segment: str, used: int) -> str:
        """Why no address is left on this host for (tenant, segment), of which the agent
        holds ``used`` endpoints; '' when one is.

        The count is the agent's own (its ledger), not the view's allocations: those are as
        of the view's revision, and a host's own further allocations and releases do not
        wake the agent for a new view. Unknown tenants and segments are not exhausted: an ADD
        names them wrongly, or the view has not caught up with them yet, and the allocation
        itself will say which.
        """
        found = self.tenants.get(tenant)
        if found is None or segment not in found.segments:
            return ""
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


CONTEXT = "host view"


def parse(raw: Any) -> HostView:
    """A view as JSON → :class:`HostView`; InvalidInput naming every malformed field.

    The wire is validated by the model romanad serves it with
    (:class:`romana.wire.rest_hostview.HostView`); what is left here derives the agent's
    values, refusing what the JSON types cannot say (a network's field widths that do not
    fit its prefix, a prefix without its gateway)."""
    return _parse(raw, None)[0]


_SECTIONS: dict[str, Any] = {"tenants": [], "endpoints": [], "address_sets": {}}
"""The sections :class:`Reader` takes over from the last view when they are unchanged, each
with the empty value validated in its stead."""


def _digest(value: Any) -> bytes | None:
    """A digest of decoded JSON ``value``, equal for equal JSON texts; None for a value
    that is not JSON (it then equals nothing)."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class _Last:
    """What a :class:`Reader` takes over from the last view it gave: a digest of each raw
    section and of each tenant's record, and their values, and the view without its
    policies (``view``). Neither the raw sections nor the policies: the decoded JSON is
    several times the size of its digests, and the caller's copy of the view's policies
    (:func:`share_policies`) is the one that lives on."""

    sections: Mapping[str, bytes | None]
    records: Mapping[str, tuple[bytes | None, tenancy.Tenant]]
    tenants: Mapping[str, tenancy.Tenant]
    endpoints: Mapping[str, ipam.Allocation]
    address_sets: Mapping[str, tuple[addressing.IPNetwork, ...]]
    view: HostView


class Reader:
    """:func:`parse` over successive views of one host, redoing only what changed.

    Views follow each other with most of their bulk unchanged (every tenant's record, every
    address set): a section whose JSON is the last view's (compared by digest) is taken over
    from it whole (the very mapping, so that callers may compare by identity), and in a
    changed tenants section each record whose JSON is the last one's keeps its value. A view
    refused leaves the last one in place. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: _Last | None = None

    def parse(self, raw: Any) -> HostView:
        with self._lock:
            hv, self._last = _parse(raw, self._last)
            return hv


def _parse(raw: Any, last: _Last | None) -> tuple[HostView, _Last]:
    """The view, and what to compare the next one with: the values of sections whose JSON
    is the last view's are kept as they were (long-lived objects already, where the garbage
    collector looks least often), the others are the new ones."""
    same: set[str] = set()
    sections: dict[str, bytes | None] = {}
    if isinstance(raw, dict):
        sections = {k: _digest(raw[k]) for k in _SECTIONS if k in raw}
        if last is not None:
            # A section of the JSON of one that validated validates again; the client
            # validated the view already.
            same = {k for k, d in sections.items() if d is not None and last.sections.get(k) == d}
        raw = {**raw, **{k: _SECTIONS[k] for k in same}}
    wire = validate.parse(rest_hostview.HostView, raw, CONTEXT)
    issues = Issues(CONTEXT)
    layouts: dict[str, addressing.Layout] = {}
    for i, net in enumerate(wire.networks):
        try:
            lay = addressing.layout(
                net.name,
                net.cidr,
                net.tenant_bits,
                net.segment_bits,
                net.endpoint_bits,
                field=f"networks[{i}]",
            )
        except InvalidInput as exc:
            issues.extend(exc.issues)
            continue
        layouts[lay.name] = lay
    prefixes: list[HostPrefix] = []
    for net_name, prefix in sorted(wire.host.prefixes.items()):
        gateway = wire.host.gateways.get(net_name)
        if gateway is None:
            issues.add(f"host.gateways.{net_name}", "must be given for every prefix")
            continue
        prefixes.append(
            HostPrefix(net_name, validate.ip_network(prefix), validate.ip_address(gateway))
        )
    if last is not None and "tenants" in same:
        tenants, records = last.tenants, last.records
    else:
        tenants, records = _tenants(wire.tenants, raw.get("tenants"), last, issues)
    issues.raise_if_any()
    if last is not None and "endpoints" in same:
        endpoints = last.endpoints
    else:
        allocations = (ipam.Allocation.from_dict(a.model_dump()) for a in wire.endpoints)
        endpoints = {a.key: a for a in allocations}
    if last is not None and "address_sets" in same:
        address_sets = last.address_sets
    else:
        address_sets = {
            name: tuple(validate.ip_network(m) for m in members)
            for name, members in sorted(wire.address_sets.items())
        }
    hv = HostView(
        revision=wire.revision,
        host=wire.host.name,
        ip=validate.ip_address(wire.host.ip),
        labels=dict(wire.host.labels),
        prefixes=tuple(prefixes),
        layouts=layouts,
        routes=tuple(
            ViewRoute(validate.ip_network(r.dst), validate.ip_address(r.via), r.moved_from, r.pool)
            for r in wire.routes
        ),
        tenants=tenants,
        policies=tuple(wire.policies),
        endpoints=endpoints,
        address_sets=address_sets,
        skipped_routes=tuple(f"route to {x.dst}: {x.reason}" for x in wire.skipped_routes),
        policy_tenants=None if wire.policy_tenants is None else frozenset(wire.policy_tenants),
        bgp=None
        if wire.bgp is None
        else bgpplan.from_dict({**wire.bgp.model_dump(), "host": wire.host.name}),
        external=_external(wire.external),
        vips=tuple(
            ViewVip(
                v.name,
                validate.ip_address(v.address),
                tuple(validate.ip_address(a) for a in v.endpoints),
                tuple(v.local),
                v.holder,
            )
            for v in wire.vips
        ),
    )
    if last is not None:
        hv = _reuse(last.view, hv)
    kept = dataclasses.replace(hv, policies=())
    return hv, _Last(sections, records, hv.tenants, hv.endpoints, hv.address_sets, kept)


_REUSED = (
    "labels",
    "prefixes",
    "layouts",
    "routes",
    "skipped_routes",
    "policy_tenants",
    "bgp",
    "external",
    "vips",
)
"""The parts of a view other than its sections that :class:`Reader` takes over from the last
view while equal. Small, but made anew from every view's JSON while that JSON is still in
memory (``policy_tenants`` names every tenant): the ones that lived on would keep the memory
the JSON took from being given back."""


def _reuse(old: HostView, new: HostView) -> HostView:
    """``new``, holding ``old``'s value of every part of :data:`_REUSED` equal in both."""
    same = {
        name: getattr(old, name) for name in _REUSED if getattr(old, name) == getattr(new, name)
    }
    return dataclasses.replace(new, **same) if same else new


def _tenants(
    wire: list[rest.Tenant], raw: Any, last: _Last | None, issues: Issues
) -> tuple[dict[str, tenancy.Tenant], dict[str, tuple[bytes | None, tenancy.Tenant]]]:
    """The tenants of a view by name, and the digest of each one's record with its value;
    a record whose JSON is the last view's record of that tenant keeps its value."""
    earlier = last.records if last is not None else {}
    tenants: dict[str, tenancy.Tenant] = {}
    records: dict[str, tuple[bytes | None, tenancy.Tenant]] = {}
    for i, item in enumerate(wire):
        digest = _digest(raw[i])
        known = earlier.get(item.name)
        if known is not None and digest is not None and digest == known[0]:
            tenants[item.name] = known[1]
            records[item.name] = known
            continue
        try:
            tenant = tenancy.Tenant.from_dict(item.model_dump())
        except InvalidInput as exc:
            issues.extend(Issue(f"tenants[{i}].{x.field}", x.rule) for x in exc.issues)
            continue
        tenants[tenant.name] = tenant
        records[tenant.name] = (digest, tenant)
    return tenants, records


def _external(wire: rest_hostview.External) -> ExternalView:
    return ExternalView(
        pools=tuple(validate.ip_network(c) for c in wire.pools),
        addresses=tuple(
            ExternalAddress(
                validate.ip_address(a.address),
                a.pool,
                a.key,
                tuple(validate.ip_address(r) for r in a.romana),
            )
            for a in wire.addresses
        ),
        nat=tuple(external.EgressNat.from_dict(n.model_dump()) for n in wire.nat),
    )


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


def share_policies(old: HostView | None, new: HostView) -> HostView:
    """``new``, holding ``old``'s document of every policy that did not change.

    Views follow each other with most policies unchanged: sharing their documents keeps one
    copy of them in memory rather than one per view still referenced (the reconciler's and
    the compiler's last), and makes comparing the two views' policies an identity check."""
    if old is None or not old.policies or old.policies is new.policies:
        return new
    known = {str(p.get("id")): p for p in old.policies}
    shared = []
    changed = False
    for doc in new.policies:
        same = known.get(str(doc.get("id")))
        if same is not None and same is not doc and same == doc:
            shared.append(same)
            changed = True
        else:
            shared.append(doc)
    return dataclasses.replace(new, policies=tuple(shared)) if changed else new
