"""A drop by a rule the kernel enforces while the agent is still applying it is named: the
reconciler makes a new ruleset's drop reasons known before it hands the ruleset to the
firewall (the kernel enforces new rules before the apply returns), and keeps the previous
ruleset's, whose drops may still be waiting in the log."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent_fakes import FakeDataplane, FakeFirewall, host_view

from romana.agent import drops, ledger
from romana.agent.metrics import Metrics
from romana.agent.reconciler import Reconciler
from romana.core import kernelnames, ruleset
from romana.dataplane import droplog

DENY_SSH = {
    "name": "no-ssh",
    "action": "deny",
    "applied_to": [{"tenant": "t2"}],
    "ingress": [{"peers": [{"tenant": "t1"}], "rules": [{"protocol": "tcp", "ports": [22]}]}],
}
DENY_WEB = {**DENY_SSH, "name": "no-web"}
DENY_WEB["ingress"] = [{"peers": [{"tenant": "t1"}], "rules": [{"protocol": "tcp", "ports": [80]}]}]


class ReadingFirewall(FakeFirewall):
    """A firewall whose kernel logs a drop of each reason of ``rules`` as soon as the apply
    starts, read by the agent's drop log before the apply returns."""

    def __init__(self) -> None:
        super().__init__()
        self.ring: drops.Drops | None = None
        self.named: list[list[dict[str, str]]] = []

    def apply(self, rules: ruleset.Ruleset, current: ruleset.Ruleset | None = None) -> bool:
        assert self.ring is not None
        events = [self.ring.record(_logged(reason)) for reason in rules.drop_reasons.values()]
        self.named.append([event.reason for event in events])
        return super().apply(rules, current)


def _logged(reason: ruleset.DropReason) -> droplog.Logged:
    prefix = f"{kernelnames.DROP_LOG_PREFIX}{reason.label}"
    return droplog.Logged(prefix, "10.1.16.5", "10.1.32.5", "tcp", sport=40000, dport=22)


def _policies(reasons: list[dict[str, str]]) -> set[str]:
    return {r["policy"] for r in reasons if r.get("policy")}


def test_drops_by_a_ruleset_being_applied_are_named(tmp_path: Path) -> None:
    async def scenario() -> None:
        firewall = ReadingFirewall()
        dp = FakeDataplane(firewall=firewall)
        registry = ledger.Ledger(tmp_path / "state")
        registry.load()
        reconciler = Reconciler(
            ledger=registry,
            metrics=Metrics(),
            make_dataplane=lambda: dp,  # type: ignore[arg-type, return-value]
            make_reaper=lambda: dp,  # type: ignore[arg-type, return-value]
            mtu=lambda: 1500,
            interval=3600,
        )
        firewall.ring = drops.Drops(lambda: reconciler.drop_reasons, lambda: None)
        task = asyncio.create_task(reconciler.run())
        for revision, policies in enumerate(([], [DENY_SSH], [DENY_WEB]), start=1):
            reconciler.set_view(host_view(revision, policies=policies))
            report = await reconciler.reconcile()
            assert report.ok and report.firewall_applied
        task.cancel()
        assert len(firewall.applied) == 3
        for named in firewall.named:
            assert named and not [r for r in named if r.get("default", "").startswith("unknown")]
        assert _policies(firewall.named[1]) == {"t2/no-ssh"}
        assert _policies(firewall.named[2]) == {"t2/no-web"}
        # After the apply, the previous ruleset's reasons are still known: a drop it logged
        # just before may be read now.
        known = reconciler.drop_reasons
        assert {r.policy for r in known.values() if r.policy} == {"t2/no-ssh", "t2/no-web"}
        old = next(r for r in known.values() if r.policy == "t2/no-ssh")
        assert firewall.ring.record(_logged(old)).reason["policy"] == "t2/no-ssh"

    asyncio.run(scenario())
