"""What one reconcile did, as the reconciler reports it and ``/v1/state`` shows it.

:class:`Report` is frozen and made on the writer thread at the end of each reconcile;
:func:`firewall_key` digests the inputs of the ruleset, so a report can say which policies
the firewall enforces.
"""

from __future__ import annotations

import hashlib
import json
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


def firewall_key(hv: view.HostView) -> str:
    """A digest of everything the ruleset depends on (address-set members too), to notice
    policy changes."""
    data = {
        "policies": list(hv.policies),
        # The whole record: ids, segments and isolation all change the ruleset.
        "tenants": sorted((t.to_dict() for t in hv.tenants.values()), key=lambda t: str(t["name"])),
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
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
