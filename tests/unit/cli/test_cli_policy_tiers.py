"""``romana policy list`` in evaluation order: Admin, ordinary, then Baseline — the isolation of
romana-mode tenants first, as the Baseline tier's first entries. Runs against a real romanad
(the ``planned`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from romana.core.policy import listing


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def tiered(name: str, tier: str, priority: int, tenant: str, action: str) -> dict[str, Any]:
    return {
        "name": name,
        "tier": tier,
        "priority": priority,
        "applied_to": [{"tenant": tenant}],
        "ingress": [{"action": action, "peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}],
    }


def test_policy_list_shows_the_tiers_in_order_and_isolation_as_baseline(
    planned: Any, tmp_path: Path
) -> None:
    ok(planned("tenant", "create", "iso-shop"))
    ok(planned("tenant", "create", "kube-shop", "--isolation", "kubernetes"))
    documents = [
        tiered("late-guard", "admin", 20, "kube-shop", "deny"),
        tiered("early-guard", "admin", 3, "kube-shop", "pass"),
        tiered("floor", "baseline", 1, "kube-shop", "deny"),
        {
            "name": "web",
            "applied_to": [{"tenant": "kube-shop"}],
            "ingress": [
                {"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [80]}]}
            ],
        },
    ]
    path = tmp_path / "tiers.json"
    path.write_text(json.dumps(documents))
    ok(planned("policy", "add", "-f", str(path)))
    rows = json.loads(ok(planned("policy", "list", "-o", "json")).stdout)
    ids = [
        r["id"] for r in rows if r["id"] in {"late-guard", "early-guard", "floor", "kube-shop/web"}
    ]
    assert ids == ["early-guard", "late-guard", "kube-shop/web", "floor"]
    assert not [r for r in rows if r.get("kind")], "JSON lists stored policies only"
    table = ok(planned("policy", "list")).stdout
    assert listing.ISOLATION_PREFIX + "iso-shop" in table
    baseline = json.loads(ok(planned("policy", "list", "--tier", "baseline", "-o", "json")).stdout)
    assert {r["tier"] for r in baseline} == {"baseline"}
    isolation = [r for r in baseline if r.get("kind") == "tenant-isolation"]
    assert listing.ISOLATION_PREFIX + "iso-shop" in [r["id"] for r in isolation]
    assert listing.ISOLATION_PREFIX + "kube-shop" not in [r["id"] for r in baseline]
    # Isolation decides before every Baseline policy, so it is listed first.
    assert baseline.index(isolation[-1]) < [r["id"] for r in baseline].index("floor")
    table = ok(planned("policy", "list", "--tier", "admin")).stdout
    assert "early-guard" in table and "pass" in table and "iso-shop" not in table
    refused = planned("policy", "list", "--tier", "top")
    assert refused.exit_code != 0
