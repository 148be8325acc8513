"""CNI ADD and DEL latency: ``romana-cni`` against the reference ``ptp`` + ``host-local``.

Both plugins run in one lab host namespace (``romana.lab``) in the same run,
cycle after cycle, alternating: romana ADD, romana DEL, reference ADD, reference DEL, each
into its own empty workload namespace with a new container ID per cycle. romana-cni talks to a
real ``romana-agent`` on that host, which allocates from a real romanad (SQLite) in a control
namespace; the reference is Debian's ``containernetworking-plugins`` (``/usr/lib/cni``) with
its own conflist and ``host-local`` data directory. Every plugin process is started the way a
runtime starts it (CNI variables, configuration on stdin) from a thread that entered the host
namespace, so no ``ip netns exec`` or ``nsenter`` sits in the measured time.

Target (DESIGN.md §9): romana p50 and p95 <= the reference's, for ADD and for DEL.

``romana-cni`` is the compiled front: it hands each call to the agent, which runs the plugin
in-process. Where romana's time goes is measured beside, each part on its own (p50 of
``--probes`` runs): the front with one local call (STATUS), the agent's local API, the
allocation and release round trips to romanad, the agent's reconcile (its metrics), a
durable registry write (an entry of the agent's journal) and a release record, and the
agent's kernel work through its own adapters. The raw ADD and DEL samples of both are
written for the report, drawn as distributions.

A benchmark prints figures and ratios; it asserts nothing.

    python -m bench.cni [--cycles 200] [--probes 50]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from bench import common, paths
from romana.agent import ledger
from romana.client import Client, ClientSettings
from romana.core import hostplan
from romana.dataplane import conntrack, netlink, nlsock, wire
from romana.dataplane import netns as netns_mod
from romana.lab import Cluster, Host, agent_user, cluster

T = TypeVar("T")

ROMANA_CNI = os.path.join(os.path.dirname(sys.executable), "romana-cni")
REFERENCE_DIR = paths.REFERENCE_DIR
REFERENCE = "ptp + host-local"
CNI_VERSION = paths.CNI_VERSION
TENANT = "bench"
WARM_UP = 5  # cycles per plugin before measuring: page cache, romanad's caches, the agent


class InHost:
    """One worker thread that entered the host namespace; plugins are started from it."""

    def __init__(self, host: Host) -> None:
        self._path = host.path
        self._entered: list[contextlib.AbstractContextManager[None]] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(1, initializer=self._enter)

    def _enter(self) -> None:
        entered = netns_mod.entered(self._path)
        entered.__enter__()
        self._entered.append(entered)  # kept: collecting it would leave the namespace

    def call(self, work: Callable[[], T]) -> T:
        def checked() -> T:
            # A reference plugin started anywhere else would wire the machine's own namespace.
            if not netns_mod.same(netns_mod.THREAD_NETNS, self._path):
                raise RuntimeError("the bench worker is not in the host namespace")
            return work()

        return self._pool.submit(checked).result()

    def close(self) -> None:
        # Leave the namespace on the worker itself: a context closed later by the garbage
        # collector would switch whichever thread happens to collect it.
        def leave() -> None:
            while self._entered:
                self._entered.pop().__exit__(None, None, None)

        self._pool.submit(leave).result()
        self._pool.shutdown(wait=True)


class Plugin:
    """One plugin as a runtime drives it: its executable and its network configuration."""

    def __init__(
        self, name: str, argv: list[str], conf: dict[str, Any], env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.conf = conf
        self.env = env or {}
        """Beside the CNI variables, e.g. ``ROMANA_AGENT_SOCKET`` naming the lab host's agent."""
        self.last: dict[str, Any] = {}
        """The result of the last ADD."""
        self.add: list[float] = []
        self.delete: list[float] = []

    def invoke(
        self,
        command: str,
        container_id: str = "",
        netns: str = "",
        conf: dict[str, Any] | None = None,
    ) -> tuple[float, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": REFERENCE_DIR,
            **self.env,
        }
        stdin = json.dumps(self.conf if conf is None else conf).encode()
        began = time.perf_counter()
        done = subprocess.run(self.argv, input=stdin, env=env, capture_output=True, timeout=60)
        took = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(
                f"{self.name} {command} {container_id} failed: {done.stdout!r} {done.stderr!r}"
            )
        return took, done.stdout.decode()

    def cycle(self, container_id: str, netns: str) -> None:
        took, out = self.invoke("ADD", container_id, netns)
        self.add.append(took)
        self.last = json.loads(out)
        with_prev = {**self.conf, "prevResult": self.last}
        took, _ = self.invoke("DEL", container_id, netns, with_prev)
        self.delete.append(took)

    def version(self) -> float:
        return self.invoke("VERSION", conf={"cniVersion": CNI_VERSION})[0]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def part(metric: str, seconds: float) -> common.Result:
    return common.Result(metric=metric, value=ms(seconds), unit="ms")


def repeat(count: int, work: Callable[[int], float]) -> float:
    """p50 of ``count`` timings returned by ``work(i)``."""
    return statistics.median(work(i) for i in range(count))


def timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


@contextlib.contextmanager
def workload(made: Cluster, name: str) -> Iterator[str]:
    """A fresh workload namespace on the host, deleted afterwards, as a runtime does per pod."""
    node = made.lab.add_workload(made.hosts[0], name)
    try:
        yield node.path
    finally:
        made.lab.remove_namespace(node)


@contextlib.contextmanager
def bench_cluster(workdir: Path) -> Iterator[Cluster]:
    # The agent's default log level: the lab's debug logging would be measured too.
    with cluster(workdir, "nftables", hosts=1, interval=10.0, log_level="info") as made:
        made.api.create_tenant(TENANT)
        yield made


def breakdown(
    made: Cluster, worker: InHost, romana: Plugin, ref: Plugin, probes: int
) -> list[common.Result]:
    """Where one romana ADD and DEL spend their time, each part measured alone."""
    host = made.hosts[0]
    agent = made.agent(host)
    api = agent.api
    body: dict[str, Any] = {
        "ifname": "eth0",
        "network": "bench",
        "tenant": TENANT,
        "segment": "default",
        "labels": {},
    }
    adds: list[float] = []
    dels: list[float] = []
    reconcile = "romana_agent_reconcile_duration_seconds"
    sum0, count0 = agent.metric(f"{reconcile}_sum"), agent.metric(f"{reconcile}_count")
    for i in range(probes):
        cid = f"bench-api-{i}"
        with workload(made, f"a{i}") as netns:
            request = {"container_id": cid, "netns": netns, **body}
            adds.append(timed(functools.partial(api.add_endpoint, request)))
            dels.append(timed(functools.partial(api.delete_endpoint, cid, "eth0")))
    runs = agent.metric(f"{reconcile}_count") - count0
    per_reconcile = (agent.metric(f"{reconcile}_sum") - sum0) / max(runs, 1)

    client = worker.call(lambda: Client(ClientSettings(url=(made.url,), retries=1)))
    # The host's own agent credential: allocations are bound to the host that asks.
    worker.call(lambda: client.login(agent_user(host.name), made.agent_password(host.name)))
    try:
        alloc = worker.call(
            lambda: repeat(
                probes, lambda i: timed(lambda: client.allocate(f"probe-{i}", host.name, TENANT))
            )
        )
        unallocate = worker.call(
            lambda: repeat(probes, lambda i: timed(lambda: client.release(f"probe-{i}")))
        )
    finally:
        client.close()
    with tempfile.TemporaryDirectory(dir=agent.workdir) as scratch:
        registry = ledger.Ledger(scratch)
        registry.load()
        record = ledger.EndpointRecord(
            container_id="x" * 64,
            ifname="eth0",
            netns="/run/netns/x",
            tenant=TENANT,
            segment="default",
        )
        write = repeat(probes, lambda i: timed(lambda: registry.put(record)))
        owed = [ipaddress.ip_address("10.0.0.1")]
        release = repeat(
            probes, lambda i: timed(lambda: registry.owe_release(f"x{i}:eth0", tuple(owed)))
        )
    start_ours = worker.call(lambda: repeat(probes, lambda i: romana.version()))
    status_conf = {**romana.conf, "cniVersion": "1.1.0"}  # STATUS came with CNI 1.1.0
    status = worker.call(
        lambda: repeat(probes, lambda i: romana.invoke("STATUS", conf=status_conf)[0])
    )
    status_api = repeat(probes, lambda i: timed(api.status))
    start_ref = worker.call(lambda: repeat(probes, lambda i: ref.version()))
    # Last, with the agent stopped: its reconcile removes veths it has no record of, such as
    # the ones made here on its behalf.
    agent.stop()
    with workload(made, "k") as netns:
        spec = released_endpoint(romana.last, netns)
        wiring = worker.call(lambda: kernel_parts(spec, probes))
    return [
        part("romana-cni STATUS: front process, plugin in the agent, 1 local call (p50)", status),
        part("agent local API STATUS from the benchmark process (p50)", status_api),
        part("romana-cni VERSION: the front starts the Python plugin (p50)", start_ours),
        part("ptp start-up: VERSION process (p50)", start_ref),
        part("agent local API ADD, POST /v1/endpoints (p50)", statistics.median(adds)),
        part("agent local API DEL, DELETE /v1/endpoints (p50)", statistics.median(dels)),
        part("romanad allocate round trip (p50)", alloc),
        part("romanad release round trip (p50)", unallocate),
        part("agent reconcile, mean per run", per_reconcile),
        common.Result("agent reconciles per ADD+DEL", round(runs / probes, 2), "runs"),
        part(
            "registry write, one journal entry (p50; 2 per ADD, 1 per DEL before it answers)", write
        ),
        part("release record, a file replaced durably (p50; 1 per DEL before it answers)", release),
        part("veth pair, one netlink batch per namespace (p50)", wiring["pair"]),
        part("addresses, routes, neighbours, one batch per namespace (p50)", wiring["address"]),
        part("veth removal (p50)", wiring["remove"]),
        part("conntrack flows forgotten over ctnetlink, after DEL answers (p50)", wiring["forget"]),
        part("for comparison: the same endpoint by the convergent path (p50)", wiring["ensure"]),
        part(
            "for comparison: conntrack -D, both directions, 2 processes (p50)", wiring["conntrack"]
        ),
    ]


def released_endpoint(result: dict[str, Any], netns: str) -> hostplan.EndpointSpec:
    """An endpoint like the one of ``result`` (its address is free again) into ``netns``."""
    ip = result["ips"][0]
    address = ipaddress.ip_address(ip["address"].split("/")[0])
    mtu = int(result["interfaces"][-1].get("mtu", 1500))
    gateway = ipaddress.ip_address(ip["gateway"])
    return hostplan.EndpointSpec("bench-netlink", netns, "eth0", (address,), (gateway,), mtu)


def kernel_parts(spec: hostplan.EndpointSpec, probes: int) -> dict[str, float]:
    """The agent's kernel work for one endpoint, done alone from the host namespace.

    The agent's own adapters are used, so the figures are what its writer thread spends;
    the address is one the agent just released, so the agent's reconcile has nothing of it.
    The other ways beside (the convergent ``veth.ensure`` path, which reads before it
    changes, and two ``conntrack -D`` processes) show what the blind batches and ctnetlink
    save.
    """
    found: dict[str, list[float]] = {
        "pair": [],
        "address": [],
        "remove": [],
        "forget": [],
        "ensure": [],
        "conntrack": [],
    }
    address = spec.addresses[0]
    routing = nlsock.Socket()
    ct = nlsock.Socket(nlsock.NETLINK_NETFILTER)
    with routing, ct, netlink.Netlink() as nl:
        for _ in range(probes):
            began = time.perf_counter()
            pair = wire.create_pair(routing, spec)
            found["pair"].append(time.perf_counter() - began)
            found["address"].append(timed(lambda: wire.address_pair(routing, pair, spec)))  # noqa: B023
            found["remove"].append(timed(lambda: wire.remove(routing, spec.host_ifname)))
            found["forget"].append(timed(lambda: conntrack.forget(ct, [address])))
            found["ensure"].append(timed(lambda: nl.ensure_endpoint(spec)))
            nl.remove_endpoint(spec.host_ifname)
            found["conntrack"].append(
                timed(
                    lambda: [
                        subprocess.run(
                            ["conntrack", "-D", side, str(address)],
                            capture_output=True,
                            timeout=10,
                        )
                        for side in ("--orig-src", "--orig-dst")
                    ]
                )
            )
    return {k: statistics.median(v) for k, v in found.items()}


def distributions(pairs: list[tuple[Plugin, Plugin]]) -> list[dict[str, object]]:
    """ADD and DEL of both plugins, every measured cycle of every run, as distributions (ms)."""
    charts = []
    for command in ("ADD", "DEL"):

        def samples(plugin: Plugin, command: str = command) -> list[float]:
            return plugin.add if command == "ADD" else plugin.delete

        ours = [t for romana, _ in pairs for t in samples(romana)]
        theirs = [t for _, ref in pairs for t in samples(ref)]
        p50, p95 = (common.percentile(ours, p) / common.percentile(theirs, p) for p in (50, 95))
        charts.append(
            common.distribution(
                f"How long does a CNI {command} take, beside {REFERENCE}?",
                f"Each run is one {command} process as a runtime starts it, alternating with the "
                f"reference, over all {len(pairs)} runs; romana's p50 is {p50:.2f}x and its p95 "
                f"{p95:.2f}x the reference's.",
                "ms",
                {pairs[0][0].name: [ms(t) for t in ours], REFERENCE: [ms(t) for t in theirs]},
            )
        )
    return charts


def run(
    runs: int, probes: int, rounds: int = 3
) -> tuple[list[common.Result], list[dict[str, object]]]:
    """``rounds`` whole runs, each on a cluster of its own; the breakdown is measured in the
    last. The headline rows are the median of the runs' ratios, each run's ratio beside it."""
    measured = [one_run(runs, probes if i == rounds - 1 else 0) for i in range(rounds)]
    pairs = [(romana, ref) for romana, ref, _ in measured]
    rows = [
        common.median_of_runs(
            f"CNI {command} p{p}",
            [(romana.add if add else romana.delete, ref.add if add else ref.delete)
             for romana, ref in pairs],
            p,
            reference_name=REFERENCE,
            target=1.0,
            digits=2,
        )
        for p in (50, 95)
        for command, add in (("ADD", True), ("DEL", False))
    ]  # fmt: skip
    return rows + measured[-1][2], distributions(pairs)


def one_run(runs: int, probes: int) -> tuple[Plugin, Plugin, list[common.Result]]:
    """One run: ``runs`` alternating cycles per plugin, then (``probes`` > 0) the breakdown."""
    with tempfile.TemporaryDirectory(prefix="romana-bench-cni-") as tmp:
        workdir = Path(tmp)
        with bench_cluster(workdir) as made:
            host = made.hosts[0]
            agent = made.agent(host)
            romana = Plugin(
                "romana-cni",
                [ROMANA_CNI],
                {
                    "cniVersion": CNI_VERSION,
                    "name": "romana-bench",
                    "type": "romana-cni",
                    "tenant": TENANT,
                    "pending_dir": str(agent.pending_dir),
                },
                {"ROMANA_AGENT_SOCKET": agent.socket},
            )
            ref = Plugin(
                "ptp",
                [os.path.join(REFERENCE_DIR, "ptp")],
                paths.ptp_conf(ipaddress.IPv4Network("172.31.255.0/24"), workdir / "host-local"),
            )
            worker = InHost(host)
            try:
                for i in range(WARM_UP + runs):
                    if i == WARM_UP:
                        for samples in (romana.add, romana.delete, ref.add, ref.delete):
                            samples.clear()
                    for plugin in (romana, ref):
                        tag = f"{plugin.name[0]}{i}"
                        with workload(made, tag) as netns:
                            worker.call(lambda: plugin.cycle(f"bench-{tag}", netns))  # noqa: B023
                parts = breakdown(made, worker, romana, ref, probes) if probes else []
            finally:
                worker.close()
    return romana, ref, parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cni", description=__doc__)
    parser.add_argument(
        "--cycles", "--runs", dest="runs", type=int, default=200, help="ADD+DEL cycles per plugin"
    )
    parser.add_argument("--probes", type=int, default=50, help="runs of each breakdown part")
    parser.add_argument(
        "--rounds", type=int, default=3, help="whole runs, each on its own cluster (odd: median)"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.cni needs root (network namespaces)", file=sys.stderr)
        return 2
    results, charts = run(args.runs, args.probes, args.rounds)
    notes = (
        f"{args.rounds} runs of {args.runs} ADD+DEL cycles per plugin, each on a cluster of its "
        "own, alternating, in one lab host namespace; the headline rows are the median of the "
        "runs' ratios, every run's ratio beside it; "
        f"romana-cni with romana-agent (nftables) and romanad (SQLite), reference {REFERENCE} "
        f"from {REFERENCE_DIR}, CNI {CNI_VERSION}. Breakdown parts are p50 of {args.probes} "
        "runs each, measured alone. romana's DEL answers once the endpoint is cut off (host "
        "veth down, release recorded); deleting the veth, forgetting its conntrack flows and "
        "the release follow on the agent's reaper thread, and their own costs are listed."
    )
    return common.finish("cni", results, notes, charts)


if __name__ == "__main__":
    sys.exit(main())
