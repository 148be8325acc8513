"""Kubernetes policies in the host view: address sets and per-pod isolation reach the ruleset.

The stored policies and set members come from the real translation
(:mod:`romana.core.kubernetes.translation`), as romanad holds them after a sync; verdicts come from
walking the compiled ruleset (:mod:`romana.core.policy.evaluate`).
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any

import agent_fakes
import pytest
from agent_fakes import FakeDataplane, host_view, raw_view

from romana.agent import desired, ledger, view
from romana.agent.metrics import Metrics
from romana.agent.reconciler import Reconciler
from romana.core import errors, ruleset
from romana.core.kubernetes import networkpolicy, translation
from romana.core.kubernetes import objects as ko
from romana.core.policy import evaluate, hostrules
from romana.core.render import nftables as render_nftables

DB, WEB, OTHER, FOREIGN = "10.1.16.5", "10.1.16.7", "10.1.16.8", "10.1.32.3"
NAMESPACES = (ko.Namespace("t1"), ko.Namespace("t2"))
POLICY = networkpolicy.network_policy(
    {
        "metadata": {"name": "db-from-web", "namespace": "t1"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"role": "web"}}}],
                    "ports": [{"port": 5432}],
                }
            ],
        },
    }
)


def pod(ns: str, name: str, ip: str, **labels: str) -> ko.Pod:
    return ko.Pod(ns, name, tuple(sorted(labels.items())), "h1", (ipaddress.ip_address(ip),))


def stored(pods: list[ko.Pod]) -> dict[str, Any]:
    """What romanad holds after syncing ``pods`` and the policy: view keyword arguments."""
    translated = translation.translate([POLICY], NAMESPACES, pods)
    members = translation.address_sets(translated.sets, pods)
    return {
        "policies": [{"id": p.name, **p.to_dict()} for p in translated.policies],
        "address_sets": {name: [str(n) for n in nets] for name, nets in members.items()},
        "tenants": [
            dict(t, isolation=translation.ISOLATION.to_dict()) for t in agent_fakes.TENANTS
        ],
    }


PODS = [
    pod("t1", "db", DB, app="db"),
    pod("t1", "web", WEB, role="web"),
    pod("t1", "other", OTHER),
    pod("t2", "web", FOREIGN, role="web"),
]
RELABELLED = [
    pod("t1", "db", DB, app="db"),
    pod("t1", "web", WEB),
    pod("t1", "other", OTHER, role="web"),
    pod("t2", "web", FOREIGN, role="web"),
]


def allowed(rules: ruleset.Ruleset, src: str, dst: str, port: int) -> bool:
    packet = evaluate.Packet(
        ipaddress.ip_address(src),
        ipaddress.ip_address(dst),
        ruleset.Proto.TCP,
        evaluate.Path.TO_ENDPOINT,
        dport=port,
    )
    return evaluate.verdict(rules, packet).allowed


def test_selected_pods_are_isolated_and_open_only_to_their_set_members() -> None:
    fw = desired.firewall(host_view(**stored(PODS)))
    assert not fw.refused
    assert allowed(fw.rules, WEB, DB, 5432)
    assert not allowed(fw.rules, WEB, DB, 80), "only the policy's port is open"
    assert not allowed(fw.rules, OTHER, DB, 5432), "same namespace, not in the peer set"
    assert not allowed(fw.rules, FOREIGN, DB, 5432), "a podSelector peer is same-namespace only"
    # A pod no policy selects accepts everyone, other namespaces too (the Kubernetes rule).
    assert allowed(fw.rules, FOREIGN, OTHER, 80)


def test_a_set_not_given_yet_is_empty() -> None:
    view_args = stored(PODS)
    sets = view_args["address_sets"]
    peers = next(name for name, members in sets.items() if members == [f"{WEB}/32"])
    view_args["address_sets"] = {n: m for n, m in sets.items() if n != peers}
    fw = desired.firewall(host_view(**view_args))
    assert not allowed(fw.rules, WEB, DB, 5432), "the target is isolated, its peers unknown"
    assert any(f"address set {peers!r} is not defined" in n for n in fw.rules.notes)


def test_a_membership_change_refills_sets_without_compiling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[int] = []
    real = hostrules.policy_compile.compile_ruleset

    def counting(inputs: Any) -> ruleset.Ruleset:
        compiled.append(1)
        return real(inputs)

    monkeypatch.setattr(hostrules.policy_compile, "compile_ruleset", counting)
    compiler = desired.Compiler()
    before = compiler.firewall(host_view(1, **stored(PODS)), "k1")
    after_view = host_view(2, **stored(RELABELLED))
    after = compiler.firewall(after_view, "k2")
    assert len(compiled) == 1
    assert after.rules == desired.firewall(after_view).rules
    assert allowed(after.rules, OTHER, DB, 5432) and not allowed(after.rules, WEB, DB, 5432)

    # The nftables backend then rewrites that one set and nothing else.
    changed = [s.name for s in after.rules.sets if s not in before.rules.sets]
    assert len(changed) == 1
    script = render_nftables.render_delta(before.rules, after.rules)
    assert script is not None
    assert f"flush set inet romana {changed[0]}" in script
    assert "chain" not in script
    assert [s.name for s in before.rules.sets if s.name != changed[0] and s.name in script] == []


def test_a_policy_change_still_compiles_again() -> None:
    compiler = desired.Compiler()
    first = compiler.firewall(host_view(1, **stored(PODS)), "k1")
    opened = stored(PODS)
    opened["policies"] = [p for p in opened["policies"] if p["id"] != "kube.t1.db-from-web"]
    second = compiler.firewall(host_view(2, **opened), "k2")
    assert not allowed(first.rules, OTHER, DB, 5432)
    assert allowed(second.rules, OTHER, DB, 5432)


def test_the_reconciler_programs_member_changes_incrementally(tmp_path: Path) -> None:
    async def scenario() -> None:
        dp = FakeDataplane()
        reg = ledger.Ledger(tmp_path / "state")
        reg.load()
        reconciler = Reconciler(
            ledger=reg,
            metrics=Metrics(),
            make_dataplane=lambda: dp,  # type: ignore[arg-type,return-value]
            make_reaper=lambda: dp,  # type: ignore[arg-type,return-value]
            mtu=lambda: 1500,
            interval=3600,
        )
        task = asyncio.create_task(reconciler.run())
        reconciler.set_view(host_view(1, **stored(PODS)))
        assert (await reconciler.reconcile()).firewall_applied
        reconciler.set_view(host_view(2, **stored(RELABELLED)))
        report = await reconciler.reconcile()
        task.cancel()
        assert report.ok and report.firewall_applied
        first, second = dp.firewall.applied
        assert dp.firewall.currents[-1] == first, "the backend is told what it holds now"
        assert first.chains == second.chains and first.sets != second.sets
        assert allowed(second, OTHER, DB, 5432)

    asyncio.run(scenario())


def test_malformed_address_sets_are_refused_with_the_view() -> None:
    raw = raw_view(address_sets={"kube.a": ["10.1.16.5/32", "nonsense"], "kube.b": "x"})
    with pytest.raises(errors.InvalidInput) as info:
        view.parse(raw)
    assert {i.field for i in info.value.issues} == {"address_sets.kube.a[1]", "address_sets.kube.b"}
    older = raw_view()
    del older["address_sets"]
    assert view.parse(older).address_sets == {}
