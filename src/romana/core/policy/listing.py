"""Policies as an operator reads them: in evaluation order, tier by tier, isolation included.

One model for every rule that can decide: the Admin tier (tiered policies by ascending
priority, ties by id), the ordinary policies (NetworkPolicy translations and Romana-native
policies, which all apply together), then the Baseline tier. A ``romana``-mode tenant's
isolation ("other tenants denied unless allowed") decides every ingress to its endpoints
that no ordinary policy opened, before any Baseline policy is read
(:mod:`romana.core.policy.trees`); it is listed as the first entry of the Baseline tier, a
row of its own per tenant (:func:`isolation_row`), so ``romana policy list --tier baseline``
shows what closes traffic by default.

Works on the REST shapes (stored policy documents and tenants as dicts), standard library
only, so the CLI can import it without the compiler. Invariant: every stored policy given
appears exactly once, in the position its tier and priority give it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ORDINARY = "none"
"""How a filter names the policies of no tier."""
TIERS = ("admin", ORDINARY, "baseline")
"""Evaluation order."""
ISOLATION_PREFIX = "isolation:"


def tier_of(policy: Mapping[str, Any]) -> str:
    tier = policy.get("tier")
    return tier if isinstance(tier, str) and tier in TIERS else ORDINARY


def isolation_row(tenant: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Baseline row of a ``romana``-mode tenant's isolation; None for other modes."""
    isolation = tenant.get("isolation") or {}
    if isolation.get("mode", "romana") != "romana":
        return None
    name = str(tenant.get("name"))
    segments = isolation.get("segments", "isolated")
    own = "its own segment" if segments == "isolated" else "its own tenant"
    return {
        "id": ISOLATION_PREFIX + name,
        "tier": "baseline",
        "priority": None,
        "kind": "tenant-isolation",
        "action": "deny",
        "applied_to": [{"tenant": name}],
        "isolation": {"mode": "romana", "segments": segments},
        "description": (
            f"tenant isolation of {name}: ingress from {own} and the hosts' gateways only; "
            "other tenants denied unless a policy allows (decides before every Baseline "
            "ClusterNetworkPolicy)"
        ),
    }


def ordered(
    policies: Iterable[Mapping[str, Any]],
    tenants: Iterable[Mapping[str, Any]] = (),
    tier: str | None = None,
) -> list[dict[str, Any]]:
    """``policies`` (and the isolation rows of ``tenants``) in evaluation order; only
    ``tier`` (``admin``, ``none``, ``baseline``) when given."""
    if tier is not None and tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}")
    by_tier: dict[str, list[dict[str, Any]]] = {t: [] for t in TIERS}
    for policy in policies:
        by_tier[tier_of(policy)].append(dict(policy))
    for name in ("admin", "baseline"):
        by_tier[name].sort(key=lambda p: (_priority(p), str(p.get("id", ""))))
    by_tier[ORDINARY].sort(key=lambda p: str(p.get("id", "")))
    rows = [r for r in map(isolation_row, tenants) if r is not None]
    by_tier["baseline"][:0] = sorted(rows, key=lambda r: str(r["id"]))
    return [p for t in TIERS if tier in (None, t) for p in by_tier[t]]


def actions(policy: Mapping[str, Any]) -> str:
    """What a listed policy does: its action, or a tiered policy's rules' actions in order
    (``deny,pass``); "" when it says none."""
    if policy.get("tier") is None or policy.get("kind") is not None:
        return str(policy.get("action") or "")
    clauses = [
        c for d in ("ingress", "egress") for c in policy.get(d) or [] if isinstance(c, Mapping)
    ]
    return ",".join(str(c.get("action")) for c in clauses)


def priority_text(policy: Mapping[str, Any]) -> str:
    """A listed policy's priority: "" for an ordinary one, ``first`` for an isolation row."""
    if policy.get("tier") is None:
        return ""
    priority = policy.get("priority")
    return "first" if priority is None else str(priority)


def _priority(policy: Mapping[str, Any]) -> int:
    value = policy.get("priority")
    return value if isinstance(value, int) else 0
