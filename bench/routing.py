"""Route convergence: a new host's prefix across a BGP fabric, a route-plan change into a VPC
route table; each beside the same path without romana, measured in the same run.

**BGP.** A lab cluster in ``bgp`` route mode behind the lab fabric (:mod:`romana.lab.fabric`):
two racks, each a group that peers with its ToR, both ToRs with a spine; ``h1`` in rack 1 and
``h2`` in rack 2 run agents. Neither rack group sets ``aggregate`` and the ToRs pass every
host route up, so a new host's own prefix is what has to travel: with aggregates, rack 2's
aggregate is routed in rack 1 already (announced by ``h2``), and a new host of rack 2 would be
reachable from rack 1 as soon as ToR 2 learned its prefix, which would flatter the figure.
Each run starts ``romana-agent`` on a fresh host of rack 2 (its first start: it logs in,
registers, gets its host prefix, writes and starts its BIRD) and times, from the agent's
start and from its registration (the agent log's ``registered host`` line, millisecond
resolution), until the host's prefix is in ``h1``'s kernel table (``ip route show proto
bird``, polled every :data:`PERIOD` s). The agent and its BIRD are then stopped and the
prefix waited out of ``h1``'s table (not timed).

Reference: a plain BIRD 2 (no agent, no romanad) started on a host of rack 2 with one static
route (:data:`REFERENCE_PREFIX`) and the same session settings as an agent's BIRD (hold time,
connect delay, graceful restart), timed from its start until that route is in ``h1``'s kernel
table: the fabric's own BGP convergence through the same ToRs and spine. The runs alternate.

**VPC.** romanad on loopback, moto's EC2 server (:mod:`romana.lab.aws`) with one VPC, its
route table and one instance per host, and ``romana-aws`` as a daemon. A topology of three
racks names the table; each change gives rack ``rack-c`` its one host or takes it away, so the
table gains or loses rack-c's route; a change waits a random part of a poll period first,
so that it lands anywhere in romana-aws's cycle. Each run times from the moment
``apply_topology`` returns until the table, polled every :data:`PERIOD` s by a boto3 client
of its own, holds exactly the routes romana-aws made for that state in a warm-up (one of
each). It is run once per ``--poll`` setting (romana-aws reads romanad's topology every
``--poll`` seconds, which bounds most of the figure). Reference: one ``create_route`` and
``describe_route_tables`` round trip of that boto3 client against the same moto.

No target: the figures are printed beside their references, nothing asserts on them.

    python -m bench.routing [--runs 20] [--polls 5,1]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.routing_vpc import vpc_runs
from romana.lab import Cluster, cluster
from romana.lab.agents import Agent
from romana.lab.fabric import Router
from romana.lab.fabricconf import racks
from romana.lab.namespaces import Host

PERIOD = 0.02  # seconds between polls of a routing table
WARM_UP = 1  # runs of each side before measuring
TIMEOUT = 60.0
HOLD_TIME = 3
REFERENCE_PREFIX = "10.254.0.0/16"
"""Inside the topology's network (h1's BIRD imports nothing else), beyond the host prefixes
the runs allocate in rack 2."""
BGP_REFERENCE = "plain BIRD start, static route"
REGISTERED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*registered host (\S+)")


def rack(n: int) -> dict[str, Any]:
    return {
        "name": f"rack-{n}",
        "assignment": {"rack": str(n)},
        "groups": [],
        "bgp": {
            "asn": 64600 + n,
            "peers": [{"address": f"198.18.{n}.1", "asn": 65100 + n, "name": f"tor-{n}"}],
            "underlay": [f"198.18.{n}.0/24"],
            "aggregate": False,
        },
    }


def topology() -> dict[str, Any]:
    return {
        "networks": [
            {"name": "pods", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4,
             "endpoint_bits": 8},
        ],
        "topologies": [
            {"networks": ["pods"], "route_mode": "bgp",
             "bgp": {"hold_time": HOLD_TIME, "restart_time": 60}, "map": [rack(1), rack(2)]}
        ],
    }  # fmt: skip


def reference_config(host: Host) -> str:
    """A BIRD announcing :data:`REFERENCE_PREFIX` to ToR 2 as an agent's BIRD announces its
    host prefix: same AS, same session timers, nothing imported."""
    return "\n".join(
        [
            f"router id {host.underlay_ip};",
            "protocol device { scan time 10; }",
            f"protocol static {{ ipv4; route {REFERENCE_PREFIX} unreachable; }}",
            "protocol bgp tor {",
            "  local as 64602;",
            "  neighbor 198.18.2.1 as 65102;",
            f"  hold time {HOLD_TIME};",
            f"  keepalive time {max(1, HOLD_TIME // 3)};",
            "  connect delay time 1;",
            "  error wait time 1, 10;",
            "  graceful restart on;",
            "  ipv4 { import none; export all; next hop self; };",
            "}",
            "",
        ]
    )


def routed(made: Cluster, prefix: str) -> bool:
    """Whether ``h1`` (rack 1) has ``prefix`` in its kernel table, learned by BGP."""
    out = made.lab.run(made.hosts[0], ["ip", "-4", "route", "show", "proto", "bird"]).stdout
    return any(line.startswith(f"{prefix} ") for line in out.splitlines())


def wait(check: Any, what: str) -> float:
    """Poll ``check`` every :data:`PERIOD` s; the wall time it first held."""
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(PERIOD)
    return time.time()


def registered_at(agent: Agent) -> tuple[float, str] | None:
    """When the agent logged its registration (epoch seconds), and its host name."""
    if not agent.log_path.exists():
        return None
    for line in agent.log_path.read_text(errors="replace").splitlines():
        found = REGISTERED.match(line)
        if found is not None:
            # The agent logs in local time.
            when = datetime.datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f").astimezone()
            return when.timestamp(), found[2]
    return None


def agent_run(made: Cluster, name: str) -> tuple[float, float]:
    """(start → routable, registration → routable) of an agent on a fresh host of rack 2."""
    host = made.add_host(name)
    made.hosts.append(host)
    agent = Agent(
        made.lab, host, made.url, made.workdir / name, made.firewall, "rack=2",
        made.interval, log_level=made.log_level, password=made.agent_password(name),
    )  # fmt: skip
    made.agents[name] = agent
    began = time.time()
    agent.start(ready=False)
    registration: list[float] = []
    prefix: list[str] = []

    def done() -> bool:
        if agent.process is not None and agent.process.poll() is not None:
            raise RuntimeError(f"agent on {name} exited:\n{agent.log_tail()}")
        if not prefix:
            found = registered_at(agent)
            if found is None:
                return False
            registration.append(found[0])
            prefix.append(made.api.get_host(name)["prefixes"]["pods"])
        return routed(made, prefix[0])

    at = wait(done, f"{name}'s prefix in rack 1")
    agent.stop()
    agent.stop_bird()
    wait(lambda: not routed(made, prefix[0]), f"{name}'s prefix withdrawn")
    return at - began, at - registration[0]


def reference_run(made: Cluster, host: Host, work: Path) -> float:
    """Plain BIRD start → its static route in rack 1's kernel table."""
    router = Router(made.lab, host, work, reference_config(host))
    began = time.time()
    router.start()
    try:
        at = wait(lambda: routed(made, REFERENCE_PREFIX), "the reference route in rack 1")
    finally:
        router.stop()
    wait(lambda: not routed(made, REFERENCE_PREFIX), "the reference route withdrawn")
    return at - began


def bgp_runs(runs: int, firewall: str, work: Path) -> tuple[list[common.Result], dict[str, object]]:
    """The figures, and their distribution for the report."""
    names = [f"n{i}" for i in range(1, WARM_UP + runs + 1)]
    spec = racks({"rack-1": ["h1"], "rack-2": ["h2", "ref", *names]})
    hosts = [("h1", "rack=1"), ("h2", "rack=2")]
    from_start: list[float] = []
    from_registration: list[float] = []
    reference: list[float] = []
    with cluster(work, firewall, hosts, topology=topology(), fabric=spec) as made:
        try:
            h2_prefix = made.api.get_host("h2")["prefixes"]["pods"]
            wait(lambda: routed(made, h2_prefix), "h2's prefix in rack 1")
            ref_host = made.add_host("ref")
            for i, name in enumerate(names):
                sides = ("agent", "reference") if i % 2 == 0 else ("reference", "agent")
                for side in sides:
                    if side == "agent":
                        start, registration = agent_run(made, name)
                        if i >= WARM_UP:
                            from_start.append(start)
                            from_registration.append(registration)
                    else:
                        took = reference_run(made, ref_host, work / f"ref-bird-{i}")
                        if i >= WARM_UP:
                            reference.append(took)
        except BaseException:
            print(made.log_tails(), file=sys.stderr)
            raise
    results = [
        common.compared(
            f"{metric} p{p}", ours, reference, p, reference_name=BGP_REFERENCE, target=None
        )
        for metric, ours in (
            ("BGP: agent start → host prefix routed in rack 1", from_start),
            ("BGP: registration → host prefix routed in rack 1", from_registration),
        )
        for p in (50, 95)
    ]
    ratio = {r.metric: r.ratio for r in results}
    chart = common.distribution(
        "How long until a new host's prefix is routed in the other rack, beside a plain BIRD?",
        f"romana/plain BIRD at p50: "
        f"{ratio['BGP: agent start → host prefix routed in rack 1 p50']:.2f}× from the agent's "
        f"start, {ratio['BGP: registration → host prefix routed in rack 1 p50']:.2f}× from its "
        "registration; no target.",
        "ms",
        {
            "romana: agent start → routed": [round(t * 1000, 3) for t in from_start],
            "romana: registration → routed": [round(t * 1000, 3) for t in from_registration],
            BGP_REFERENCE: [round(t * 1000, 3) for t in reference],
        },
    )
    return results, chart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="changes per measurement")
    parser.add_argument("--polls", default="5,1", help="romana-aws --poll settings, seconds")
    parser.add_argument("--firewall", default="nftables", choices=("nftables", "iptables"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.routing needs root (network namespaces)", file=sys.stderr)
        return 2
    if shutil.which("bird") is None and shutil.which("bird", path="/usr/sbin") is None:
        print("bench.routing needs BIRD 2 (bird, birdc)", file=sys.stderr)
        return 2
    polls = [float(p) for p in args.polls.split(",")]
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="romana-bench-routing-") as tmp:
        (Path(tmp) / "bgp").mkdir()
        results, bgp = bgp_runs(args.runs, args.firewall, Path(tmp) / "bgp")
        vpc_results, vpc = vpc_runs(args.runs, polls, Path(tmp) / "vpc")
        results += vpc_results
    load_after = os.getloadavg()
    notes = (
        f"{args.runs} changes per figure. BGP: after {WARM_UP} run of each side not counted, a "
        "lab cluster in bgp route mode behind the lab fabric (two racks, a BIRD 2 ToR each, a "
        f"spine; hold time {HOLD_TIME} s, connect delay 1 s on every session), rack groups without "
        "`aggregate` and ToRs passing every host route up, so the new host's own prefix "
        "travels; each run starts romana-agent on a fresh host of rack 2 and times, from its "
        "start and from its registration (agent log, ms resolution), until its prefix is in "
        "the kernel table of the rack-1 host (`ip route show proto bird`, polled every "
        f"{PERIOD * 1000:.0f} ms); reference, alternating run by run: a plain BIRD on a host "
        "of rack 2, same AS and session timers, from its start until its static route is in "
        "that table. VPC: romanad, moto's EC2 server and romana-aws as a daemon (--interval "
        "600, --poll as named in each metric); each change gives a rack its host or takes it "
        "away, at a random point of romana-aws's poll cycle, timed from apply_topology's "
        "answer until the route table (polled every "
        f"{PERIOD * 1000:.0f} ms by a boto3 client) holds exactly the routes of the new state; "
        "one warm-up change to each state first, not counted; reference: one create_route + "
        "describe_route_tables round trip of that client against the same moto (its first "
        f"not counted). Load average (1 min) {load[0]:.2f} before, "
        f"{load_after[0]:.2f} after the run, on a machine shared with other work."
    )
    return common.finish("routing", results, notes, distributions=[bgp, vpc])


if __name__ == "__main__":
    sys.exit(main())
