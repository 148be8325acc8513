"""``romana_agent_policy_enforced_timestamp_seconds``: when the firewall came to enforce the
policy input it holds. A change is known enforced on a host once this gauge passes the time
the change was made (``bench.convergence`` reads it so), so it must move when the policy
input changes and stay put when a full resync rewrites the same ruleset."""

from __future__ import annotations

import time
from pathlib import Path

from agent_fakes import EndpointsRig, host_view, scenario

GAUGE = "romana_agent_policy_enforced_timestamp_seconds"
ALLOW = {
    "name": "p1",
    "applied_to": [{"tenant": "t2"}],
    "ingress": [{"peers": [{"tenant": "t1"}], "rules": [{"protocol": "tcp"}]}],
}


def test_the_enforced_time_moves_with_the_policy_input_and_not_with_a_resync(
    tmp_path: Path,
) -> None:
    started = time.time()

    async def body(rig: EndpointsRig) -> None:
        def enforced() -> float:
            return rig.metrics.registry.get_sample_value(GAUGE) or 0.0

        first = enforced()  # the first view, enforced before the body runs
        assert started <= first <= time.time()

        resync = await rig.reconciler.reconcile(full=True)
        assert resync.firewall_applied and enforced() == first

        changed = time.time()
        rig.reconciler.set_view(host_view(2, policies=[ALLOW]))
        await rig.reconciler.reconcile()
        assert changed <= enforced() <= time.time() and enforced() > first

    scenario(tmp_path, body)
