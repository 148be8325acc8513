"""Dataplane: throughput, policy load, ruleset size, programming time and memory of romana.

Everything runs in lab namespaces (``romana.lab``): romanad in a control namespace, two hosts
with ``romana-agent`` (nftables), endpoints wired through the agents' local API and, on the
same hosts, endpoints wired by the reference routed plugin ``ptp`` (:mod:`bench.paths`);
iperf3 between them (one TCP stream, receiver side).

Targets (DESIGN.md §9, issue 19), each measured against a reference taken in the same run:

* endpoint → endpoint across hosts, routed: >= 0.98 x ``ptp`` endpoint → endpoint across the
  same underlay, >= 0.95 x host → host on the underlay, and >= 1.2 x the same endpoints
  through a VXLAN overlay (the routes to the other host's prefix switched onto a VXLAN
  device);
* with 1,000 tenants and 2,000 policies loaded (each host holds an allocation of every
  tenant, so its view carries every policy): >= 0.95 x with none; and drop logging on
  >= 0.95 x off;
* with 100 ClusterNetworkPolicies (50 Admin, 50 Baseline; :mod:`bench.tiered`) on top of
  the 2,000 policies: >= 0.95 x with no policy (issue 20). The measured flow is judged by
  them (both tiers on the sending host, the Admin tier on the receiving one) and let
  through; the table is each host's view with the tiers added, compiled as the agent does;
* where romana's cost lies: romana's endpoints with no romana table, with its base chains
  empty, with conntrack, with the whole table without policies, with the policies — each
  beside ``ptp`` (which runs with no romana table, as on a host without romana) — and the
  policy-routing rules romana adds on a host;
* ruleset size: the same at 1,000 and 10,000 endpoints, for nftables and iptables (rules as
  the kernel holds them after the apply);
* programming 2,000 policies (compile + render + ``nft -f``): <= 1 s, and with the 100
  ClusterNetworkPolicies: <= 1 s; one policy change
  end to end (romanad POST → enforced, the agents' latency histogram): <= 100 ms;
* footprint: each agent <= 80 MB and romanad <= 150 MB resident, idle and under the load
  (:mod:`bench.footprint`).

Compared paths are measured in turns, ``--repeat`` rounds (A B A B …), because other work on
the machine makes single runs vary by a third; a row shows the median of each side's samples
and the median of the rounds' ratios, and every sample goes to the report's distributions.
The table states are switched with the agents stopped (the dataplane stays; they would undo
the switches).

A benchmark prints figures and ratios; it asserts nothing.

    python -m bench.dataplane [--seconds 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import common, footprint, paths, rulesets, tiered
from bench.policyload import POLICIES, TENANTS, TOPOLOGY, policies, tenant
from romana.agent import view
from romana.lab import Cluster, Lab, Node, cluster

LIVE_ROMANA = "romana endpoint→endpoint, agents running"
LIVE_UNDERLAY = "host→host underlay, agents running"
PTP = "ptp endpoint→endpoint"
UNDERLAY = "host→host underlay"
NONE = "romana endpoints, no romana table"
HOOKS = "romana endpoints, empty base chains"
CONNTRACK = "romana endpoints, base chains + conntrack"
BARE = "romana endpoints, romana table without policies"
FULL = f"romana endpoints, {POLICIES:,} policies"
NOLOG = f"romana endpoints, {POLICIES:,} policies, drop log off"
CNPS = tiered.LOAD
TIERS = f"romana endpoints, {POLICIES:,} policies + {CNPS}"
STEPS = {NONE: "none", HOOKS: "hooks", CONNTRACK: "conntrack", BARE: "bare", FULL: "full"}
"""Each series of romana's endpoints and the state of :data:`bench.paths.TABLE_STATES` it
is measured in; the references (ptp, the underlay) are measured with no romana table."""
DIRECT = "romana endpoint→endpoint, routed"
OVERLAY = "the same endpoints through VXLAN"
SETTLE_S = 1.0
IPERF_PORTS = (20000, 60000)
"""The ports iperf3 listens on (one at random per sample): those of the measured flow."""
AGENT_MB = 80.0
ROMANAD_MB = 150.0


def iperf(lab: Lab, client: Node, server: Node, address: object, seconds: float) -> float:
    """Gbit/s received by ``server`` from one TCP stream of ``client``."""
    port = random.randint(*IPERF_PORTS)
    proc = lab.popen_in(
        server,
        ["iperf3", "-s", "-1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            done = lab.run(
                client,
                ["iperf3", "-c", str(address), "-p", str(port), "-t", str(seconds), "-J"],
                check=False,
                timeout=seconds + 30,
            )
            report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
            received = report.get("end", {}).get("sum_received")
            if done.returncode == 0 and received:
                return float(received["bits_per_second"]) / 1e9
            problem = str(report.get("error", "")) or done.stderr
            if "unable to connect" not in problem:
                raise RuntimeError(f"iperf3 {client.ns} → {address} failed: {problem[-500:]}")
            time.sleep(0.1)
        raise RuntimeError("iperf3 server never listened")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def interleaved(rounds: int, measures: Mapping[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Every measure ``rounds`` times, taken in turns (A B C A B C …), so that a burst of load
    from elsewhere on the machine hits every side alike: each one's samples in round order."""
    found: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            found[name].append(measure())
    return found


def median_ratio(ours: Sequence[float], reference: Sequence[float]) -> float:
    """The median of the rounds' ratios ``ours[i] / reference[i]`` (samples taken in turns)."""
    return statistics.median(o / r for o, r in zip(ours, reference, strict=True))


def paired_result(
    metric: str, ours: Sequence[float], reference: Sequence[float], name: str, target: float | None
) -> common.Result:
    """Medians of ``ours`` and ``reference`` (Gbit/s) and the median of their rounds' ratios;
    ``target``: the ratio it must reach (None: shown for the breakdown, no target)."""
    ratio = median_ratio(ours, reference)
    return common.Result(
        metric,
        round(statistics.median(ours), 3),
        "Gbit/s",
        "" if target is None else f">= {target} x {name}",
        round(statistics.median(reference), 3),
        name,
        round(ratio, 3),
        None if target is None else ratio >= target,
    )


def converged(cluster: Cluster, before: dict[str, float], timeout: float) -> None:
    """Wait until every agent observed one more policy programming than in ``before``."""
    deadline = time.monotonic() + timeout
    name = "romana_agent_policy_programming_seconds_count"
    for host, agent in cluster.agents.items():
        while agent.metric(name) <= before[host]:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"agent {host} did not program the policies:\n{agent.log_tail()}"
                )
            time.sleep(0.05)


def quiet(cluster: Cluster, still: float = 1.5, timeout: float = 120) -> None:
    """Wait until no agent has programmed a policy change for ``still`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = latency(cluster), time.monotonic()
    while time.monotonic() - since < still and time.monotonic() < deadline:
        time.sleep(0.1)
        now = latency(cluster)
        if now != last:
            last, since = now, time.monotonic()


def latency(cluster: Cluster) -> dict[str, tuple[float, float]]:
    return {
        h: (
            a.metric("romana_agent_policy_programming_seconds_sum"),
            a.metric("romana_agent_policy_programming_seconds_count"),
        )
        for h, a in cluster.agents.items()
    }


def policy_rules(listing: str) -> int:
    """The ``ip rule`` entries of ``listing`` beyond the kernel's own (local, main, default)."""
    kernel = {"0", "32766", "32767"}
    return sum(
        1 for line in listing.splitlines() if line.strip() and line.split(":")[0] not in kernel
    )


def daemons(c: Cluster) -> dict[str, int]:
    """The PID of every agent and of romanad (``ip netns exec`` execs the daemon: its PID)."""
    pids = {f"agent {name}": a.process.pid for name, a in c.agents.items() if a.process}
    assert c.romanad is not None, "romanad is not started"
    return {**pids, "romanad": c.romanad.pid}


def footprint_rows(
    idle: dict[str, footprint.Memory], loaded: dict[str, footprint.Memory]
) -> list[common.Result]:
    load = f"with {TENANTS:,} tenants, {POLICIES:,} policies"
    rows = []
    for name in idle:
        target = ROMANAD_MB if name == "romanad" else AGENT_MB
        rows += [
            footprint.row(name, "idle", idle[name], target),
            footprint.row(name, load, loaded[name], target),
            footprint.peak_row(name, "through the load", loaded[name], target),
        ]
    return rows


def load(c: Cluster) -> tuple[list[common.Result], dict[str, Any]]:
    """Tenants, one allocation of each on every host (so that each host's view carries every
    policy: a tenant's policies reach only the hosts holding its allocations), the policies,
    then three policy changes timed end to end."""
    started = time.monotonic()
    for i in range(2, TENANTS + 1):
        c.api.create_tenant(tenant(i))
    tenants_s = time.monotonic() - started
    started = time.monotonic()
    for i in range(2, TENANTS + 1):
        for host in c.hosts:
            c.api.allocate(f"bench-{host.name}-{i}", host.name, tenant(i))
    allocations_s = time.monotonic() - started
    quiet(c)  # the agents catch up with the tenants first, so only the policies are timed
    before = {h: count for h, (_, count) in latency(c).items()}
    started = time.monotonic()
    c.api.add_policies(policies(TENANTS, POLICIES))
    converged(c, before, 120)
    bulk_e2e = time.monotonic() - started
    quiet(c)
    changes, walls = [], []
    for n in range(3):
        before_latency = latency(c)
        change = policies(TENANTS, POLICIES + n + 1)[-1]
        change["name"] = f"bench-change-{n}"
        started = time.monotonic()
        c.api.add_policies(change)
        converged(c, {h: v[1] for h, v in before_latency.items()}, 30)
        walls.append(time.monotonic() - started)
        after_latency = latency(c)
        changes.append(max(after_latency[h][0] - before_latency[h][0] for h in after_latency))
        quiet(c)
    one_change = sorted(changes)[1]
    row = common.Result(
        "one policy change, view received → enforced (worst agent, median of 3)",
        round(one_change * 1000, 1),
        "ms",
        "<= 100 ms",
        None,
        "",
        round(one_change * 1000 / 100, 3),
        one_change <= 0.1,
    )
    extra = {
        "tenants_create_s": round(tenants_s, 2),
        "allocations_s": round(allocations_s, 2),
        "bulk_policies_post_to_enforced_s": round(bulk_e2e, 3),
        "change_post_to_enforced_s": round(sorted(walls)[1], 3),
    }
    return [row], extra


def step_results(s: dict[str, list[float]]) -> list[common.Result]:
    """romana beside ptp, where its cost lies, and drop logging on vs off: from the samples
    of :data:`STEPS`, :data:`NOLOG`, :data:`PTP` and :data:`UNDERLAY`."""
    ptp = (PTP, "ptp endpoint→endpoint")
    compared: list[tuple[str, str, tuple[str, str], float | None]] = [
        ("endpoint→endpoint romana vs ptp (romana table, no policy)", BARE, ptp, 0.98),
        (f"endpoint→endpoint romana vs ptp ({POLICIES:,} policies)", FULL, ptp, 0.98),
        ("cost breakdown: romana routing, no romana table", NONE, ptp, None),
        ("cost breakdown: + romana's base chains, empty (hook)", HOOKS, ptp, None),
        ("cost breakdown: + conntrack in the base chains", CONNTRACK, ptp, None),
        ("cost breakdown: + romana's lookups (whole table, no policy)", BARE, ptp, None),
        (f"cost breakdown: + {POLICIES:,} policies", FULL, ptp, None),
        ("ptp endpoint→endpoint vs underlay", PTP, (UNDERLAY, "host→host underlay"), None),
        (f"routed with {TENANTS} tenants, {POLICIES} policies", FULL, (BARE, "no policy"), 0.95),
        ("routed through the romana table (no policy)", BARE, (NONE, "no romana table at all"),
         0.95),
        (f"routed with {POLICIES:,} policies, drop logging on vs off", FULL,
         (NOLOG, "drop logging off"), 0.95),
        (f"routed with {TENANTS} tenants, {POLICIES} policies + {CNPS}", TIERS,
         (BARE, "no policy"), 0.95),
        (f"cost breakdown: + {CNPS} on the {POLICIES:,} policies", TIERS,
         (FULL, f"{POLICIES:,} policies"), None),
    ]  # fmt: skip
    return [
        paired_result(metric, s[ours], s[ref], name, target)
        for metric, ours, (ref, name), target in compared
        if ours in s  # TIERS: not when the kernel refused their ruleset
    ]


def step_distributions(s: dict[str, list[float]]) -> list[dict[str, object]]:
    def pick(*names: str) -> dict[str, list[float]]:
        return {name: s[name] for name in names if name in s}

    tiers = common.distribution(
        f"{CNPS} on top of {POLICIES:,} policies, beside those alone and no policy",
        "The measured flow walks both tiers; overlapping samples mean judging it through "
        "them costs the accepted traffic nothing.",
        "Gbit/s",
        pick(TIERS, FULL, BARE),
    )

    return [
        common.distribution(
            "Endpoint to endpoint across two hosts: romana beside ptp, the reference routed plugin",
            "Read romana's samples against ptp's: the same routed path class on the same hosts "
            "and underlay, measured in turns; the underlay is the ceiling.",
            "Gbit/s",
            pick(BARE, FULL, PTP, UNDERLAY),
        ),
        common.distribution(
            "Where romana's throughput cost lies: its table built up step by step",
            "Each series adds one part of romana's table to the one before; the step after "
            "which the samples fall is where the throughput goes (ptp, with no table, beside).",
            "Gbit/s",
            pick(NONE, HOOKS, CONNTRACK, BARE, FULL, PTP),
        ),
        *([tiers] if TIERS in s else []),
        common.distribution(
            f"Drop logging on vs off, {POLICIES:,} policies loaded",
            "Overlapping samples mean logging the drops costs accepted traffic nothing.",
            "Gbit/s",
            pick(FULL, NOLOG),
        ),
    ]


def cluster_results(
    seconds: float, rounds: int
) -> tuple[list[common.Result], dict[str, Any], list[dict[str, object]]]:
    results: list[common.Result] = []
    distributions: list[dict[str, object]] = []
    with (
        tempfile.TemporaryDirectory(prefix="romana-bench-") as tmp,
        cluster(Path(tmp), "nftables", hosts=2, topology=TOPOLOGY, interval=10.0) as c,
    ):
        h1, h2 = c.hosts
        c.api.create_tenant(tenant(1))
        e1 = c.add_endpoint(h1, "e1", tenant(1), "default", listen=False)
        e2 = c.add_endpoint(h2, "e2", tenant(1), "default", listen=False)
        p1, _ = paths.ptp_endpoint(c, h1, "p1", Path(tmp) / "host-local")
        p2, p2_address = paths.ptp_endpoint(c, h2, "p2", Path(tmp) / "host-local")
        paths.ptp_routes(c, [h1, h2])
        pids = daemons(c)
        idle = {name: footprint.memory(pid) for name, pid in pids.items()}

        def routed() -> float:
            return iperf(c.lab, e1.workload, e2.workload, e2.address, seconds)

        def underlay() -> float:
            return iperf(c.lab, h1, h2, h2.underlay_ip, seconds)

        def ptp() -> float:
            return iperf(c.lab, p1, p2, p2_address, seconds)

        live = interleaved(rounds, {LIVE_ROMANA: routed, LIVE_UNDERLAY: underlay})
        results.append(
            paired_result(
                "endpoint→endpoint routed vs underlay",
                live[LIVE_ROMANA],
                live[LIVE_UNDERLAY],
                "host→host underlay",
                0.95,
            )
        )
        distributions.append(
            common.distribution(
                "Throughput while the agents run: romana's endpoints beside the underlay",
                "Read romana's samples against the underlay's, host to host on the same link.",
                "Gbit/s",
                live,
            )
        )
        change_rows, extra = load(c)
        loaded = {name: footprint.memory(pid) for name, pid in pids.items()}
        views = {h.name: view.parse(c.api.host_view(h.name)) for h in c.hosts}
        flow = tiered.Flow(
            tenant(1),
            "default",
            ipaddress.ip_address(e1.address),
            ipaddress.ip_address(e2.address),
            IPERF_PORTS,
        )
        tiered_views = {name: tiered.with_tiers(hv, flow) for name, hv in views.items()}
        extra["view"] = views[h1.name]
        extra["tiered_view"] = tiered_views[h1.name]
        extra["tiers_refused"] = rulesets.kernel_refusal(tiered_views[h1.name])
        if extra["tiers_refused"]:
            print(f"{CNPS}: not measured, the kernel refuses their ruleset: ", end="")
            print(extra["tiers_refused"])
            tiered_views = {}
        rules = (
            c.lab.run(h1, ["ip", "-4", "rule"]).stdout + c.lab.run(h1, ["ip", "-6", "rule"]).stdout
        )

        for agent in c.agents.values():
            agent.stop()  # the dataplane stays; the agents would undo the switches below
        table = paths.tables(c, views, tiered_views)

        def on(state: str, measure: Callable[[], float]) -> Callable[[], float]:
            def switched() -> float:
                table(state)
                # The kernel frees the table it replaced on a work queue after the commit:
                # let that finish before the sample, so that it is not charged to the path.
                time.sleep(SETTLE_S)
                return measure()

            return switched

        steps = interleaved(
            rounds,
            {
                **{name: on(state, routed) for name, state in STEPS.items()},
                **({TIERS: on("tiers", routed)} if tiered_views else {}),
                NOLOG: on("full-nolog", routed),
                PTP: on("none", ptp),
                UNDERLAY: on("none", underlay),
            },
        )
        results += step_results(steps)
        distributions += step_distributions(steps)
        table("full")
        overlay_routes = paths.vxlan(c)

        def through(on: bool) -> Callable[[], float]:
            return lambda: (overlay_routes(on), routed())[1]

        overlay = interleaved(rounds, {DIRECT: through(False), OVERLAY: through(True)})
        results.append(
            paired_result(
                "endpoint→endpoint routed vs VXLAN",
                overlay[DIRECT],
                overlay[OVERLAY],
                "VXLAN overlay",
                1.2,
            )
        )
        distributions.append(
            common.distribution(
                "Routed beside a VXLAN overlay, the same endpoints and policies",
                "The gap between the two is what encapsulation would cost; romana routes.",
                "Gbit/s",
                overlay,
            )
        )
        results.append(
            common.Result(
                "policy-routing rules romana adds on a host (ip rule, IPv4 and IPv6)",
                policy_rules(rules),
                "rules",
            )
        )
        results += change_rows
        results += footprint_rows(idle, loaded)
    return results, extra, distributions


def refused_row(refusal: str) -> common.Result:
    """The row standing for the tiers' throughput, programming and size rows when the kernel
    refused their ruleset (``refusal``: its first line): the run goes on without them."""
    return common.Result(
        f"{POLICIES:,} policies + {CNPS}: not measured, nft -f refused the ruleset ({refusal})",
        0.0,
        "",
        ">= 0.95 x no policy; program <= 1000 ms",
        meets_target=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one iperf3 run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of each comparison, paths taken in turns"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    results, extra, distributions = cluster_results(args.seconds, args.repeat)
    hv: view.HostView = extra.pop("view")
    with_tiers: view.HostView = extra.pop("tiered_view")
    refused: str = extra.pop("tiers_refused")
    results += rulesets.programming_results(hv)
    if refused:
        results.append(refused_row(refused))
    else:
        what = f"{len(hv.policies)} policies + {CNPS}"
        results += rulesets.programming_results(with_tiers, what)
    results += rulesets.size_results(hv)
    results += [] if refused else rulesets.size_results(with_tiers, CNPS)
    notes = (
        f"iperf3 one stream {args.seconds:g} s per sample, {args.repeat} rounds of each "
        "comparison with the paths taken in turns; figures are the medians of the samples, "
        "ratios the median of the rounds' ratios. 2 hosts, nftables; ptp + host-local "
        f"endpoints on the same hosts. {TENANTS} tenants created in "
        f"{extra['tenants_create_s']} s over REST, one allocation of each on each host in "
        f"{extra['allocations_s']} s (so that each host's view carries every policy); "
        f"{POLICIES} policies POST → enforced on both agents in "
        f"{extra['bulk_policies_post_to_enforced_s']} s; one change POST → enforced on both "
        f"agents in {extra['change_post_to_enforced_s']} s (metrics polled every 50 ms). "
        "Breakdown and drop-log rows: the agents stopped, each host's table switched between "
        "states (bench.paths.TABLE_STATES); ptp and the underlay with no romana table. "
        f"{CNPS}: tiered policies and address sets written as romanad stores the translation "
        "(bench.tiered), added to each host's view; the measured flow walks both tiers. "
        f"Whole run: {time.monotonic() - started:.0f} s."
    )
    print(notes)
    return common.finish("dataplane", results, notes, distributions=distributions)


if __name__ == "__main__":
    sys.exit(main())
