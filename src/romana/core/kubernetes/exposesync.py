"""The VIPs and external IPs of a Kubernetes sync (:mod:`.exposure`) written over the port.

:func:`reconcile` runs inside :func:`romana.core.kubernetes.sync.sync`, after the policies and
address sets and before the stored record is written the last time: it returns what the
record lists as the sync's own (:class:`record.Derived`, its ``vips`` and ``external_ips``).

Invariants:

* A VIP no Service wants any more is deleted only when an earlier sync recorded it; a VIP
  of a wanted name (``k-...``, :func:`exposure.vip_name`) is the syncs' to rewrite, as the
  ``kube.*`` policies are. An external IP is unassigned only when an earlier sync recorded
  it, and only while it is still assigned to the allocation recorded with it.
* A VIP's pool and address never change in place: a Service asking for another is given a new
  VIP of the same name (deleted, then created). Its endpoints change in place.
* Every write that fails is refused naming the Service or pod; nothing else waits for it, and
  the next sync tries again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Protocol

from romana.core.addressing import IPAddress
from romana.core.errors import RomanaError
from romana.core.kubernetes import exposure, record
from romana.core.vips import Vip


class Port(Protocol):
    def endpoint_keys(self, addresses: Sequence[str]) -> dict[str, str]:
        """Address → the allocation key holding it, for each of ``addresses`` allocated."""

    def vips(self) -> dict[str, Vip]:
        """Every VIP, by name (its endpoints are allocation keys)."""

    def create_vip(
        self, name: str, pool: str, endpoints: Sequence[str], address: str | None
    ) -> Vip:
        """Create VIP ``name`` (RomanaError when it cannot be: no such pool, an address
        outside it or in use)."""

    def set_vip_endpoints(self, name: str, endpoints: Sequence[str]) -> None: ...
    def delete_vip(self, name: str) -> None: ...
    def external_ips(self) -> dict[str, tuple[str, str]]:
        """Address → (pool, allocation key) of every external IP assigned to an endpoint."""

    def assign_external_ip(self, pool: str, endpoint: str, address: str | None) -> tuple[str, bool]:
        """Assign an external IP of ``pool`` to the allocation holding address ``endpoint``
        (the one it holds of that pool already, if any); the address, and whether this call
        assigned it. RomanaError when it cannot be."""

    def unassign_external_ip(self, address: str) -> None: ...


class Changes(Protocol):
    """Where a sync collects what it changed (:class:`romana.core.kubernetes.sync.Outcome`)."""

    created: list[str]
    updated: list[str]
    deleted: list[str]
    refused: list[tuple[str, str]]
    notes: list[str]
    load_balancers: list[tuple[str, str]]


def reconcile(
    r: Port,
    wanted: exposure.Exposure,
    earlier: record.Derived,
    changes: Changes,
    noted: set[str],
) -> record.Derived:
    """Make romanad hold the VIPs and external IPs ``wanted``; what the sync made of them
    (the VIPs it may delete, the external IPs it may unassign) afterwards.

    Only what an earlier sync recorded is removed; a VIP of a wanted name is rewritten
    whoever made it (the ``k-`` names are the syncs', as ``kube.*`` policies are)."""
    changes.refused.extend(wanted.refused)
    for note in wanted.notes:
        if note not in noted:
            noted.add(note)
            changes.notes.append(note)
    if not (wanted.vips or wanted.external_ips or earlier.vips or earlier.external_ips):
        return record.Derived()
    points = {a for v in wanted.vips for _, a in v.endpoints}
    keys = r.endpoint_keys(sorted(points | {w.endpoint for w in wanted.external_ips}))
    kept = _vips(r, wanted, earlier, keys, changes, noted)
    return record.Derived(vips=kept, external_ips=_ips(r, wanted, earlier, keys, changes))


def _vips(
    r: Port,
    wanted: exposure.Exposure,
    earlier: record.Derived,
    keys: Mapping[str, str],
    changes: Changes,
    noted: set[str],
) -> frozenset[str]:
    stored = r.vips()
    names = {v.name for v in wanted.vips}
    kept: set[str] = set()
    # Deleted first: a Service renamed keeps its address, which its old VIP still holds.
    for name in sorted(earlier.vips - names):
        if name not in stored:
            continue
        try:
            r.delete_vip(name)
        except RomanaError as exc:
            changes.refused.append((f"vips/{name}", str(exc)))
            kept.add(name)
            continue
        changes.deleted.append(f"vips/{name}")
    for v in wanted.vips:
        endpoints: list[str] = []
        for pod, address in v.endpoints:
            key = keys.get(address)
            if key is None:
                note = f"Service {v.service}: pod {pod} ({address}) is no romana endpoint"
                if note not in noted:
                    noted.add(note)
                    changes.notes.append(f"{note}; VIP {v.name} leaves it out")
            elif key not in endpoints:
                endpoints.append(key)
        current = stored.get(v.name)
        what = f"vips/{v.name}"
        try:
            if current is not None and (
                current.pool != v.pool or v.address not in (None, current.address)
            ):
                r.delete_vip(v.name)  # a VIP's pool and address never change in place
                current = None
                changes.deleted.append(what)
            if current is None:
                given = None if v.address is None else str(v.address)
                current = r.create_vip(v.name, v.pool, endpoints, given)
                changes.created.append(what)
            elif set(current.endpoints) != set(endpoints):
                r.set_vip_endpoints(v.name, endpoints)
                changes.updated.append(what)
        except RomanaError as exc:
            changes.refused.append((what, f"Service {v.service} gets no VIP: {exc}"))
            if current is not None:
                kept.add(v.name)
            continue
        kept.add(v.name)
        if v.load_balancer:
            changes.load_balancers.append((v.service, str(current.address)))
    return frozenset(kept)


def _ips(
    r: Port,
    wanted: exposure.Exposure,
    earlier: record.Derived,
    keys: Mapping[str, str],
    changes: Changes,
) -> frozenset[tuple[str, str]]:
    current = r.external_ips()
    # The earlier sync's assignments that are still in place, each still the same one.
    ours = {(a, k) for a, k in earlier.external_ips if current.get(a, ("", ""))[1] == k}
    asked = {
        (keys[w.endpoint], w.pool, w.address) for w in wanted.external_ips if w.endpoint in keys
    }
    made: dict[str, tuple[str, str]] = {}
    """Address → (allocation key, pool) of the sync's own assignments."""
    for address, key in sorted(ours):
        pool = current[address][0]
        if any(k == key and p == pool and a in (None, _ip(address)) for k, p, a in asked):
            made[address] = (key, pool)
            continue
        try:
            r.unassign_external_ip(address)
        except RomanaError as exc:
            changes.refused.append((f"external-ips/{address}", str(exc)))
            made[address] = (key, pool)
            continue
        changes.deleted.append(f"external-ips/{address}")
    for w in wanted.external_ips:
        owner = keys.get(w.endpoint)
        if owner is None:
            why = f"pod {w.pod}: its address {w.endpoint} is no romana endpoint"
            changes.refused.append(("external-ips", why))
            continue
        if (owner, w.pool) in made.values():
            continue
        try:
            given = None if w.address is None else str(w.address)
            address, assigned = r.assign_external_ip(w.pool, w.endpoint, given)
        except RomanaError as exc:
            changes.refused.append(("external-ips", f"pod {w.pod} gets no external IP: {exc}"))
            continue
        if assigned:
            made[address] = (owner, w.pool)
            changes.created.append(f"external-ips/{address}")
    return frozenset((address, key) for address, (key, _) in made.items())


def _ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)
