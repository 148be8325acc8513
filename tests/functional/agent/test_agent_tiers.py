"""Acceptance: the cluster admin's tiers around Romana's own isolation, with real agents.

On the shared cluster (``romana``-mode tenants t1 and t2, isolated by default; both firewall
backends) tiered policies are posted to romanad as an admin, and real TCP connections show:

* with no policy the tenants are isolated — the Baseline of romana-mode tenants;
* an Admin-tier allow opens a path the isolation closes;
* an ordinary policy (what a namespace owner writes) opens a path the isolation closes, and
  an Admin-tier deny closes it again: nothing below the Admin tier can open what it denies;
* an Admin-tier pass hands the traffic on to the ordinary policy, which then decides;
* ``romana explain`` names the tier, the policy, its priority and the rule that decided.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from probes import CONVERGE, converge, group, within

from romana.client import reach as client_reach
from romana.core.policy import reach
from romana.lab import Cluster, Endpoint

pytestmark = pytest.mark.root


def _tiered(name: str, tier: str, priority: int, action: str, **extra: Any) -> dict[str, Any]:
    """t1's ingress from t2 on every TCP port: ``action`` in ``tier``."""
    return {
        "name": name,
        "tier": tier,
        "priority": priority,
        "applied_to": [{"tenant": "t1"}],
        "ingress": [
            {
                "action": action,
                "name": f"{action} t2",
                "peers": [{"tenant": "t2"}],
                "rules": [{"protocol": "tcp"}],
                **extra,
            }
        ],
    }


ORDINARY: dict[str, Any] = {
    "name": "t1-from-t2",
    "applied_to": [{"tenant": "t1"}],
    "ingress": [{"peers": [{"tenant": "t2"}], "rules": [{"protocol": "tcp"}]}],
}


def _pairs(agents: Cluster) -> list[tuple[Endpoint, Endpoint]]:
    """t2 → t1 across hosts and segments: closed by the isolation of t1."""
    sources = group(agents, "t2", "default")[:2]
    targets = group(agents, "t1", "blue")[-2:]
    return [(s, d) for s in sources for d in targets if s.host.name != d.host.name][:3]


def _expect(agents: Cluster, allowed: bool) -> None:
    took = converge(agents, _pairs(agents), allowed, CONVERGE)
    assert within(took, CONVERGE), f"{'open' if allowed else 'closed'} after {took}"


@pytest.fixture
def clean(agents: Cluster) -> Iterator[Cluster]:
    yield agents
    for policy in agents.api.list_policies():
        if policy["id"] in {"guard", "opening", "passing", "t1/t1-from-t2"}:
            agents.api.remove_policy(policy["id"])
    _expect(agents, False)


def _explain(agents: Cluster) -> reach.Explanation:
    source, target = _pairs(agents)[0]
    model = client_reach.model(agents.api)
    return reach.Explainer(model).explain(source.address, target.address, f"tcp/{target.port}")


def test_isolation_is_the_baseline_and_the_admin_tier_opens_and_closes_over_it(
    clean: Cluster,
) -> None:
    agents = clean
    _expect(agents, False)
    closed = _explain(agents)
    assert not closed.ingress.allowed
    assert "tenant t1" in " ".join(closed.ingress.decided_by)

    agents.api.add_policies(_tiered("opening", "admin", 10, "allow"))
    _expect(agents, True)
    opened = _explain(agents)
    assert opened.ingress.rule is not None
    assert (opened.ingress.rule.tier, opened.ingress.rule.priority) == ("admin", 10)
    assert opened.ingress.decided_by[0].startswith(
        "allowed by admin tier policy opening (priority 10) ingress[0].rules[0] 'allow t2'"
    )
    agents.api.remove_policy("opening")
    _expect(agents, False)

    # A namespace owner's policy opens what the isolation closes ...
    agents.api.add_policies(ORDINARY)
    _expect(agents, True)
    # ... and an Admin-tier deny closes it again, whatever the ordinary policies say.
    agents.api.add_policies(_tiered("guard", "admin", 20, "deny"))
    _expect(agents, False)
    denied = _explain(agents)
    assert denied.ingress.rule is not None and denied.ingress.rule.policy == "guard"
    assert denied.ingress.decided_by[0].startswith("denied by admin tier policy guard")

    # A pass before the deny hands the decision to the ordinary policy: open again.
    agents.api.add_policies(_tiered("passing", "admin", 5, "pass"))
    _expect(agents, True)
    passed = _explain(agents)
    assert passed.ingress.rule is not None and passed.ingress.rule.policy == "t1/t1-from-t2"
    assert any("passing" in line and "pass" in line for line in passed.ingress.decided_by)
