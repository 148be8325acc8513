"""Convergence at scale: how long a change made at romanad takes to be enforced on every host.

Everything runs in lab namespaces (``romana.lab``): romanad (SQLite) in a control namespace,
``--hosts`` hosts each with a real ``romana-agent`` (nftables); then the same again with
``--reference-hosts`` hosts, so that each figure stands beside what it is at 2 hosts.

Enforcement is read from the agents' own metrics, never from romanad's API
(:mod:`bench.enforcement`): each agent says when its firewall came to enforce the policy
input that holds the change.

A tenant's policies are in the view of a host only while the host holds an address of that
tenant. Each host holds (made by romanad's IPAM, as an agent's ADD would) one address of tenant
``bt1`` and of each tenant of its own window of ``--tenants-per-host`` tenants (100: the
windows of 10 hosts cover the 1,000 tenants, so each of the 2,000 policies is enforced by a
host, and each host enforces 200 of them, however many hosts there are). The single changes
are policies of ``bt1``, which every host needs. ``--tenants-per-host 1000`` makes every host
carry all 2,000, so that every agent compiles every policy on each change.

Measured, in this order, on each cluster:

* 2,000 policies (``bench.policyload``) in one POST → enforced on every host (target 5 s);
* one policy change POST → enforced on every host, with the 2,000 loaded: p50 and p99 over
  ``--changes`` changes (target 1 s);
* an endpoint added on the first host through its agent's local API (as the CNI plugin does)
  → its address in the address set a policy of every host names, enforced by the other hosts:
  p50 and p99 over ``--endpoints`` endpoints (target 1 s). Address sets are how the agents
  see remote endpoints; in production the Kubernetes listener writes the pod's address into
  the sets whose selectors pick it, here this benchmark writes it as soon as the ADD answers.

All hosts share this machine's cores: ten agents compiling the same change at once are ten
times the CPU of one, which real hosts would not share.

A benchmark prints figures and ratios; it asserts nothing.

    python -m bench.convergence [--hosts 10] [--reference-hosts 2] [--changes 50] [--endpoints 20]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import common
from bench.enforcement import ENFORCED, REFUSED, RULES, Agents, Converged, converged
from bench.policyload import POLICIES, TENANTS, TOPOLOGY, policies, tenant
from romana.lab import Cluster, cluster, hosts_in_racks

PEERS = "bench.peers"
"""The address set the endpoints' addresses go into, named by a policy of every host."""
POLICY_TARGET_S = 1.0
BULK_TARGET_S = 5.0
ENDPOINT_TARGET_S = 1.0


def pct(samples: Sequence[float], p: int) -> float:
    """The ``p``-th percentile (inclusive method); the one sample when there is one."""
    return samples[0] if len(samples) == 1 else common.percentile(list(samples), p)


@dataclass(frozen=True, slots=True)
class Run:
    """What one cluster of ``hosts`` hosts measured."""

    hosts: int
    bulk: Converged
    changes: list[Converged]
    endpoints: list[Converged]
    """Over the other hosts than the one the endpoints were added on."""
    setup: dict[str, float] = field(default_factory=dict)
    rules: dict[str, float] = field(default_factory=dict)
    """Rules in each host's ruleset with the 2,000 policies (the agents' gauge)."""


def say(what: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


def held(index: int, per_host: int, tenants: int) -> list[int]:
    """The numbers of the tenants the host at ``index`` (from 0) holds an address of: 1, and
    its window of ``per_host`` tenants, the windows of successive hosts following each other
    round the ``tenants``."""
    window = {(index * per_host + i) % tenants + 1 for i in range(min(per_host, tenants))}
    return sorted(window | {1})


def load(c: Cluster, hosts: int, tenants: int, per_host: int) -> dict[str, float]:
    """Hosts with agents, the tenants, and on every host the addresses of :func:`held`; the
    seconds each took.

    The tenants are made before the agents start and the addresses while they are stopped:
    every tenant and every first address of a tenant on a host wakes agents, and each of
    those thousands of views is work unrelated to the convergence measured here. The agents
    are started again one after another."""
    took: dict[str, float] = {}
    c.start_romanad()
    started = time.monotonic()
    for i in range(1, tenants + 1):
        c.api.create_tenant(tenant(i))
    took["tenants_s"] = time.monotonic() - started
    c.start_agents(hosts_in_racks(hosts))  # which registers the hosts
    for agent in c.agents.values():
        agent.stop()
    started = time.monotonic()
    for index, host in enumerate(c.hosts):
        for i in held(index, per_host, tenants):
            c.api.allocate(f"bench-{host.name}-{i}", host.name, tenant(i))
    took["allocations_s"] = time.monotonic() - started
    for agent in c.agents.values():
        # One at a time: all at once, their first full views (each thousands of entries)
        # and logins time out against one romanad on a shared machine, and retry.
        agent.start(ready=False)
        agent.wait_ready(timeout=300)
    return took


def measure(
    workdir: Path,
    hosts: int,
    tenants: int,
    per_host: int,
    count: int,
    changes: int,
    endpoints: int,
) -> Run:
    with cluster(
        workdir,
        "nftables",
        hosts=hosts,
        topology=TOPOLOGY,
        interval=10.0,
        log_level="info",
        start=False,
    ) as c:
        say(f"{hosts} hosts: {tenants} tenants, {per_host} a host")
        setup = load(c, hosts, tenants, per_host)
        names = [h.name for h in c.hosts]
        agents = Agents(c, names)
        before = agents.settle()

        say(f"{hosts} hosts: {count} policies")
        t0 = time.time()
        c.api.add_policies(policies(tenants, count))
        answered = time.time() - t0
        after = agents.after(before, 300)
        bulk = dataclasses.replace(converged(t0, before, after), answered=answered)
        rules = {h: after[h][RULES] for h in names}
        refused = sum(after[h][REFUSED] for h in names)
        if refused:
            raise RuntimeError(f"the agents refused {refused:g} policies")

        say(f"{hosts} hosts: {changes} changes")
        change_s = []
        for n in range(changes):
            before = agents.settle()
            change = policies(tenants, count + n + 1)[-1]
            change.update(name=f"bench-change-{n}", applied_to=[{"tenant": tenant(1)}])
            t0 = time.time()
            c.api.add_policies(change)
            answered = time.time() - t0
            one = converged(t0, before, agents.after(before, 120))
            change_s.append(dataclasses.replace(one, answered=answered))

        say(f"{hosts} hosts: {endpoints} endpoints")
        c.api.put_address_set(PEERS, [])
        before = agents.settle()
        c.api.add_policies(
            {
                "name": "bench-peers",
                "applied_to": [{"tenant": tenant(1)}],
                "ingress": [
                    {
                        "peers": [{"address_set": PEERS}],
                        "rules": [{"protocol": "tcp", "ports": [80]}],
                    }
                ],
            }
        )
        agents.after(before, 120)
        first, others = c.hosts[0], Agents(c, names[1:])
        members: list[str] = []
        endpoint_s = []
        for n in range(endpoints):
            before = others.settle()
            t0 = time.time()
            ep = c.add_endpoint(first, f"ep{n}", tenant(1), "default", listen=False)
            members.append(ep.address)
            c.api.put_address_set(PEERS, members)
            answered = time.time() - t0
            one = converged(t0, before, others.after(before, 120))
            endpoint_s.append(dataclasses.replace(one, answered=answered))
    return Run(hosts, bulk, change_s, endpoint_s, setup, rules)


def row(
    metric: str,
    ours: Sequence[float],
    theirs: Sequence[float] | None,
    p: int,
    target: float | None,
    reference_name: str,
) -> common.Result:
    """The ``p``-th percentile of ``ours`` (seconds) beside that of ``theirs``; in ms when
    the target is below 2 s. With a reference the ratio is to it (how the figure scales);
    without, to the target."""
    value = pct(ours, p)
    reference = None if theirs is None else pct(theirs, p)
    unit, scale, digits = ("s", 1.0, 3) if target is not None and target >= 2 else ("ms", 1e3, 1)
    ratio = value / reference if reference else (value / target if target else None)
    return common.Result(
        metric,
        round(value * scale, digits),
        unit,
        "" if target is None else f"<= {target * scale:g} {unit}",
        None if reference is None else round(reference * scale, digits),
        reference_name if reference is not None else "",
        None if ratio is None else round(ratio, 2),
        None if target is None else value <= target,
    )


def rows(run: Run, ref: Run | None, count: int) -> list[common.Result]:
    """The figures of ``run`` beside those of ``ref`` (the same at fewer hosts)."""
    n, changes, added = run.hosts, len(run.changes), len(run.endpoints)
    others = f"the other {n - 1} host{'s' * (n > 2)}"

    def worst(pick: Callable[[Run], list[Converged]]) -> Callable[[Run], list[float]]:
        return lambda r: [c.worst for c in pick(r)]

    table: list[tuple[str, Callable[[Run], list[float]], int, float | None]] = [
        (f"{count:,} policies POST → enforced on all {n} hosts", worst(lambda r: [r.bulk]), 50,
         BULK_TARGET_S),
        (f"{count:,} policies: of which view received → enforced, last agent",
         lambda r: [r.bulk.in_agent], 50, None),
        *((f"one policy change POST → enforced on all {n} hosts, p{p} of {changes}",
           worst(lambda r: r.changes), p, POLICY_TARGET_S) for p in (50, 99)),
        (f"one policy change: of which POST answered, p50 of {changes}",
         lambda r: [c.answered for c in r.changes], 50, None),
        (f"one policy change: of which view received → enforced, last agent, p50 of {changes}",
         lambda r: [c.in_agent for c in r.changes], 50, None),
        *((f"endpoint added → its address enforced by {others}, p{p} of {added}",
           worst(lambda r: r.endpoints), p, ENDPOINT_TARGET_S) for p in (50, 99)),
        (f"endpoint added: of which ADD and address-set PUT answered, p50 of {added}",
         lambda r: [c.answered for c in r.endpoints], 50, None),
    ]  # fmt: skip
    name = "" if ref is None else f"{ref.hosts} hosts"
    return [
        row(metric, pick(run), None if ref is None else pick(ref), p, target, name)
        for metric, pick, p, target in table
    ]


def charts(runs: Sequence[Run]) -> list[dict[str, object]]:
    """Raw samples in ms, the cluster under test first, then the reference."""

    def series(samples: Callable[[Run], Iterable[float]]) -> dict[str, list[float]]:
        return {f"{r.hosts} hosts": [round(v * 1000, 1) for v in samples(r)] for r in runs}

    n, fewest = runs[0].hosts, runs[-1].hosts
    return [
        common.distribution(
            "One policy change POST → enforced on every host",
            f"Until the last agent enforces a change, {n} hosts beside {fewest}: how "
            "convergence grows with the hosts sharing this machine's cores.",
            "ms",
            series(lambda r: (c.worst for c in r.changes)),
        ),
        common.distribution(
            "Endpoint added on one host → its address enforced by the others",
            "From the ADD on one host until every other host's firewall holds the address in "
            "the address set its policy names.",
            "ms",
            series(lambda r: (c.worst for c in r.endpoints)),
        ),
        common.distribution(
            f"{POLICIES:,} policies POST → enforced, per host",
            "Each agent's own latency for the whole load; the cluster converged at the slowest.",
            "ms",
            series(lambda r: r.bulk.hosts.values()),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--hosts", type=int, default=10, help="hosts of the cluster measured")
    parser.add_argument(
        "--reference-hosts", type=int, default=2, help="hosts of the reference cluster (0: none)"
    )
    parser.add_argument("--changes", type=int, default=50, help="single policy changes timed")
    parser.add_argument("--endpoints", type=int, default=20, help="endpoints added and timed")
    parser.add_argument("--tenants", type=int, default=TENANTS, help="tenants created")
    parser.add_argument("--policies", type=int, default=POLICIES, help="policies in the load")
    parser.add_argument(
        "--tenants-per-host", type=int, default=100, help="tenants each host holds an address of"
    )
    args = parser.parse_args(argv)
    sizes = [args.hosts] + ([args.reference_hosts] if args.reference_hosts else [])
    runs = []
    started = time.monotonic()
    for hosts in sizes:
        with tempfile.TemporaryDirectory(prefix="romana-bench-") as tmp:
            runs.append(
                measure(
                    Path(tmp),
                    hosts,
                    args.tenants,
                    args.tenants_per_host,
                    args.policies,
                    args.changes,
                    args.endpoints,
                )
            )
    ref = runs[1] if len(runs) > 1 else None
    results = rows(runs[0], ref, args.policies)
    setup = "; ".join(
        f"{r.hosts} hosts: {args.tenants} tenants created in {r.setup['tenants_s']:.1f} s, "
        f"their addresses on the hosts allocated in {r.setup['allocations_s']:.1f} s, "
        f"{min(r.rules.values()):,.0f}–{max(r.rules.values()):,.0f} rules per host"
        for r in runs
    )
    slowest = "; ".join(
        f"{r.hosts} hosts: the last host to enforce a change was "
        + ", ".join(f"{h} {k}×" for h, k in collections.Counter(c.last for c in r.changes).items())
        + (
            f"; slowest change {worst.worst:.1f} s, last on {worst.last}, of which "
            f"{worst.in_agent:.2f} s from its view received to enforced"
            if (worst := max(r.changes, key=lambda c: c.worst, default=None))
            else ""
        )
        for r in runs
    )
    notes = (
        f"nftables; {args.tenants} tenants; each host holds an address of bt1 and of "
        f"{args.tenants_per_host} more, and enforces their policies of the {args.policies}; the "
        f"single changes are policies of bt1; enforcement read from each agent's "
        f"{ENFORCED}; all hosts share this machine's {common.machine()['cpus']} CPUs. "
        f"{setup}. {slowest}; whole run {time.monotonic() - started:.0f} s"
    )
    print(notes)
    return common.finish("convergence", results, notes, distributions=charts(runs))


if __name__ == "__main__":
    sys.exit(main())
