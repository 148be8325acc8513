"""What one reconcile did, as the reconciler reports it and ``/v1/state`` shows it.

:class:`Report` is frozen and made on the writer thread at the end of each reconcile;
:func:`firewall_key` digests the inputs of the ruleset, so a report can say which policies
the firewall enforces; :class:`FirewallKeys` computes it over successive views, encoding
only the parts that may have changed and keeping of each part only its digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from romana.agent import view


@dataclass(frozen=True, slots=True)
class Report:
    """What one reconcile did and what it could not do."""

    revision: int
    """The revision of the host view reconciled; -1 before romanad sent one."""
    full: bool
    """A full reconcile reads back every object (and repairs the workload side too); the
    others apply what the view changed."""
    operations: int
    """Kernel changes made: routes, endpoint repairs, the gateway."""
    errors: tuple[str, ...] = ()
    """One sentence per failure; the next reconcile tries again."""
    route_errors: int = 0
    skipped: tuple[str, ...] = ()
    """Why the view's routes that were not programmed were skipped (from romanad)."""
    refused: tuple[str, ...] = ()
    """Policies the firewall could not enforce, one reason each."""
    firewall_applied: bool = False
    firewall_key: str = ""
    """The policy input the firewall now enforces; '' when the firewall step failed."""
    seconds: float = 0.0
    policy_tenants: frozenset[str] | None = None
    """The tenants whose own policies that input carried (None: every tenant's)."""
    repairs: tuple[str, ...] = ()
    """The drift this reconcile put back, one line each (:func:`romana.agent.drift.describe`)."""

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_state(self) -> dict[str, Any]:
        """The ``last_reconcile`` member of the agent's ``/v1/state``."""
        return {
            "revision": self.revision,
            "full": self.full,
            "ok": self.ok,
            "operations": self.operations,
            "errors": list(self.errors),
            "skipped": list(self.skipped),
            "repairs": list(self.repairs),
            "firewall_programmed": bool(self.firewall_key),
            "seconds": round(self.seconds, 6),
        }


def firewall_key(
    hv: view.HostView, tenants: bytes | None = None, policies: Sequence[bytes] | None = None
) -> str:
    """A digest of everything the ruleset depends on (address-set members too), to notice
    policy changes. ``tenants``: :func:`tenants_digest` of the view's tenants, and
    ``policies``: :func:`policy_digest` of each of its policies, if known."""
    data = {
        "layouts": sorted(
            (lay.name, str(lay.cidr), lay.tenant_bits, lay.segment_bits, lay.endpoint_bits)
            for lay in hv.layouts.values()
        ),
        "prefixes": sorted((p.network, str(p.prefix), str(p.gateway)) for p in hv.prefixes),
        "address_sets": sorted((n, [str(m) for m in ms]) for n, ms in hv.address_sets.items()),
        # External addresses are judged as their endpoints and rewritten on the way out.
        "external": [
            [str(p) for p in hv.external.pools],
            sorted((str(a.address), [str(r) for r in a.romana]) for a in hv.external.addresses),
            [n.to_dict() for n in hv.external.nat],
        ],
        "vips": [
            (v.name, str(v.address), [str(a) for a in v.endpoints], bool(v.local_keys))
            for v in hv.vips
        ],
    }
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode())
    # Each part is a digest of one size: their sequence cannot be read two ways.
    digest.update(tenants_digest(hv) if tenants is None else tenants)
    for part in [policy_digest(p) for p in hv.policies] if policies is None else policies:
        digest.update(part)
    return digest.hexdigest()


PART_DIGEST = 16
"""Bytes of the digest of each part of :func:`firewall_key`: what :class:`FirewallKeys`
keeps of a policy, rather than its text."""


def _digest(value: object) -> bytes:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=PART_DIGEST).digest()


def policy_digest(doc: Mapping[str, Any]) -> bytes:
    """A policy document's part of :func:`firewall_key`."""
    return _digest(doc)


def tenants_digest(hv: view.HostView) -> bytes:
    """The tenants' part of :func:`firewall_key`: the whole records, as ids, segments and
    isolation all change the ruleset."""
    return _digest(sorted((t.to_dict() for t in hv.tenants.values()), key=lambda t: str(t["name"])))


class FirewallKeys:
    """:func:`firewall_key` over successive views: the tenants, most of a view, are encoded
    again only when a view holds another mapping of them than the last one
    (:class:`romana.agent.view.Reader` hands on the very mapping while they are unchanged),
    and a policy only when its document is not one of the last view's
    (:func:`romana.agent.view.share_policies`). Views are never changed once made, so the
    same object always gives the same digest. One instance per caller thread."""

    def __init__(self) -> None:
        self._tenants: tuple[object, bytes] = (None, b"")
        # By id, each entry holding its document: no other object can have that id meanwhile.
        self._policies: dict[int, tuple[Mapping[str, Any], bytes]] = {}

    def __call__(self, hv: view.HostView) -> str:
        known, tenants = self._tenants
        if known is not hv.tenants:
            tenants = tenants_digest(hv)
            self._tenants = (hv.tenants, tenants)
        policies: dict[int, tuple[Mapping[str, Any], bytes]] = {}
        for doc in hv.policies:
            entry = self._policies.get(id(doc))
            if entry is None or entry[0] is not doc:
                entry = (doc, policy_digest(doc))
            policies[id(doc)] = entry
        self._policies = policies
        return firewall_key(hv, tenants, [policies[id(doc)][1] for doc in hv.policies])
