"""What ``bench.convergence`` reads from the agents' metrics (``bench.enforcement``) and how
it reports a run.

The benchmark tells when a change was enforced from each agent's own exposition text; these
tests feed it the text a real :class:`romana.agent.metrics.Metrics` serves, and check that
each figure lands beside the same figure at fewer hosts and is judged by its target.
"""

from __future__ import annotations

import pytest
from bench import convergence, enforcement
from bench.convergence import Run
from bench.enforcement import ENFORCED, PROGRAMMING, REFUSED, RULES, Converged

from romana.agent.metrics import Metrics


def test_the_enforcement_time_and_programming_latency_are_read_from_an_agents_metrics() -> None:
    metrics = Metrics()
    metrics.policy_enforced.set(1_800_000_000.25)
    metrics.policy_latency.observe(0.2)
    metrics.policy_latency.observe(0.3)
    metrics.rules.set(7027)

    found = enforcement.values(metrics.text().decode(), enforcement.READ)

    assert found == {ENFORCED: 1_800_000_000.25, PROGRAMMING: 0.5, RULES: 7027, REFUSED: 0}


def test_labelled_samples_are_not_taken_for_the_unlabelled_one() -> None:
    metrics = Metrics()
    metrics.endpoints.labels("ready").set(3)

    assert enforcement.values(metrics.text().decode(), ["romana_agent_endpoints"]) == {}


def test_a_change_has_converged_when_the_last_host_enforced_it() -> None:
    before = {"h1": {ENFORCED: 90.0, PROGRAMMING: 1.0}, "h2": {ENFORCED: 95.0, PROGRAMMING: 2.0}}
    after = {"h1": {ENFORCED: 100.25, PROGRAMMING: 1.1}, "h2": {ENFORCED: 100.75, PROGRAMMING: 2.5}}

    found = enforcement.converged(100.0, before, after)

    assert found.hosts == {"h1": 0.25, "h2": 0.75}
    assert found.last == "h2" and found.worst == 0.75
    assert found.in_agent == pytest.approx(0.5)  # h2's histogram sum moved by the change's


def change(worst: float, answered: float = 0.01, in_agent: float = 0.1) -> Converged:
    return Converged({"h1": worst / 2, "h2": worst}, "h2", in_agent, answered)


def run(hosts: int, scale: float) -> Run:
    return Run(
        hosts,
        bulk=Converged({"h1": 3.0 * scale, "h2": 4.0 * scale}, "h2", 2.0 * scale),
        changes=[change(0.1 * scale * i) for i in range(1, 11)],
        endpoints=[change(0.2 * scale)] * 3,
    )


def test_each_figure_stands_beside_the_reference_and_is_judged_by_its_target() -> None:
    found = {r.metric: r for r in convergence.rows(run(10, 2.0), run(2, 1.0), 2000)}

    bulk = found["2,000 policies POST → enforced on all 10 hosts"]
    assert (bulk.value, bulk.unit, bulk.reference, bulk.reference_name) == (
        8.0,
        "s",
        4.0,
        "2 hosts",
    )
    assert bulk.ratio == 2.0 and bulk.target == "<= 5 s" and bulk.meets_target is False
    p50 = found["one policy change POST → enforced on all 10 hosts, p50 of 10"]
    assert (p50.value, p50.unit, p50.reference, p50.target) == (1100.0, "ms", 550.0, "<= 1000 ms")
    assert p50.meets_target is False
    added = found["endpoint added → its address enforced by the other 9 hosts, p99 of 3"]
    assert (added.value, added.reference, added.meets_target) == (400.0, 200.0, True)
    share = found["one policy change: of which view received → enforced, last agent, p50 of 10"]
    assert (share.value, share.target, share.meets_target) == (100.0, "", None)


def test_without_a_reference_the_ratio_is_to_the_target() -> None:
    found = convergence.rows(run(3, 1.0), None, 2000)

    assert found[0].reference is None and found[0].reference_name == ""
    assert found[0].ratio == 0.8  # 4 s of the 5 s target


def test_the_charts_hold_every_raw_sample_of_both_clusters_in_ms() -> None:
    charts = convergence.charts([run(10, 2.0), run(2, 1.0)])

    changes = charts[0]["series"]
    assert isinstance(changes, dict) and list(changes) == ["10 hosts", "2 hosts"]
    assert len(changes["10 hosts"]) == 10 and changes["2 hosts"][0] == 100.0
    assert all(chart["unit"] == "ms" for chart in charts)


def test_the_windows_of_ten_hosts_cover_every_tenant_once_and_all_hold_the_first() -> None:
    windows = [convergence.held(i, 100, 1000) for i in range(10)]

    assert all(w[0] == 1 for w in windows)  # bt1: the single changes are its policies
    assert sorted(t for w in windows for t in w if t != 1) == list(range(2, 1001))
    assert [len(w) for w in windows] == [100] + [101] * 9  # h1's window starts at bt1


def test_a_window_wider_than_the_tenants_holds_each_tenant_once() -> None:
    assert convergence.held(3, 100, 20) == list(range(1, 21))
