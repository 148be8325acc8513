"""External IPs of this host's endpoints: where the trees classify them, and their set members.

An endpoint may hold an *external IP* next to its romana address: an address of an operator's
pool, outside every romana network, configured on the endpoint's interface so that the outside
reaches the workload without NAT. Its tenant and segment are not in its bits, so the masked
dispatches of the trees (:mod:`romana.core.policy.trees`) cannot see them; the compiler is
given the pairs (external address, the endpoint's romana address of the same family) of the
endpoints of its host and classifies each external address as its romana address:

* at the root of a tree, before the per-network tenant dispatch, one :class:`ruleset.Dispatch`
  per address family with the full mask maps each external address to the tenant chain its
  romana address reaches; inside that tenant chain, before the per-network segment dispatch,
  another maps it to the segment chain its romana address reaches. Only chains that exist in
  the tree are named: where the romana address falls through, so does the external address;
* an external address is a member of every address set its romana address is a member of
  (:func:`with_externals`), so policies applied to a set (a pod selector) select it too.

Only the endpoints of this host matter: each agent enforces ingress and egress for its own.
What does not follow an endpoint's external address: tenant and segment *peers* of policies
(masks on the other side of the packet) and the ``local`` set keep meaning romana addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from romana.core import addressing, ruleset
from romana.core.errors import Issues
from romana.core.policy import scope

Pair = tuple[addressing.IPAddress, addressing.IPAddress]
"""(external address, the endpoint's romana address of the same family)."""


class External(NamedTuple):
    """One external address inside its tenant: the segment its romana address is in."""

    version: int
    address: int
    segment: int


def ordered(pairs: Iterable[Pair]) -> tuple[Pair, ...]:
    """``pairs`` in the order inputs hold them: by family, then external, then romana address
    (addresses of two families do not compare)."""
    return tuple(sorted(pairs, key=lambda p: (p[0].version, int(p[0]), p[1].version, int(p[1]))))


def issues(
    layouts: Mapping[str, addressing.Layout],
    host_prefixes: Sequence[addressing.IPNetwork],
    pairs: Sequence[Pair],
) -> Issues:
    """What is wrong with ``pairs`` (the ``externals`` of a compile input)."""
    found = Issues()
    seen: set[addressing.IPAddress] = set()
    for i, (external, address) in enumerate(pairs):
        at = f"externals[{i}]"
        if external.version != address.version:
            found.add(at, "the external and the romana address must be of one address family")
        if any(
            external.version == lay.version and external in lay.cidr for lay in layouts.values()
        ):
            found.add(f"{at}.external", f"{external} must be outside every romana network")
        if not any(address.version == p.version and address in p for p in host_prefixes):
            found.add(f"{at}.address", f"{address} must be inside one of this host's prefixes")
        if external in seen:
            found.add(f"{at}.external", f"{external} is given for two endpoints")
        seen.add(external)
    return found


def by_tenant(
    frame: scope.Frame, tenants: Iterable[scope.FrozenTenant], pairs: Sequence[Pair]
) -> dict[str, tuple[External, ...]]:
    """Each tenant's external addresses, sorted; those of an address no tenant holds (the
    infrastructure, an unassigned tenant id) are left out, as that address falls through."""
    owners = {(n, tid): t.name for t in tenants for n, tid in t.id_items}
    out: dict[str, list[External]] = {}
    for external, address in pairs:
        for network, lay in frame.layouts:
            if address.version == lay.version and address in lay.cidr:
                d = addressing.decode(lay, address)
                owner = owners.get((network, d.tenant))
                if owner is not None and d.tenant != addressing.INFRASTRUCTURE_TENANT:
                    entry = External(external.version, int(external), d.segment)
                    out.setdefault(owner, []).append(entry)
                break
    return {name: tuple(sorted(entries)) for name, entries in out.items()}


def dispatch(
    side: ruleset.Side, entries: Iterable[tuple[int, int, str]], what: str
) -> list[ruleset.Rule]:
    """Full-mask dispatches, one per address family, of (version, address, chain) entries."""
    items = sorted(entries)
    out = []
    for version, bits in ((4, 32), (6, 128)):
        targets = tuple((address, chain) for v, address, chain in items if v == version)
        if targets:
            verdict = ruleset.Dispatch(side, version, (1 << bits) - 1, targets)
            comment = f"{what} of external {side} IPv{version}"
            out.append(ruleset.Rule((), verdict, comment))
    return out


def with_externals(
    members: Mapping[str, tuple[addressing.IPNetwork, ...]], pairs: Sequence[Pair]
) -> Mapping[str, tuple[addressing.IPNetwork, ...]]:
    """``members`` with each external address added to every set its romana address is in."""
    if not pairs:
        return members
    out = {}
    for name, nets in members.items():
        hosts = {n.network_address for n in nets if n.prefixlen == n.max_prefixlen}
        wider = [n for n in nets if n.prefixlen < n.max_prefixlen]
        added = tuple(
            ipaddress.ip_network(external)
            for external, address in pairs
            if address in hosts or any(address in n for n in wider)
        )
        out[name] = (*nets, *added)
    return out
