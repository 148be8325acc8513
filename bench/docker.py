"""``docker run`` on a romana network beside Docker's default bridge network, in the same run.

Two real dockerds (Debian's docker.io 20.10, :class:`romana.lab.docker.Dockerd`) run on this
machine at once, so both see the same load, each in a lab network namespace of its own with
its own directories and the same imported image (``lab/busybox:latest``, busybox-static):

* **romana**: host ``h1`` of a lab cluster built with ``docker=True`` (romanad in ``ctl``,
  ``romana-agent`` serving the plugin on ``h1``), its dockerd with the etcd cluster store that
  romana's global-scope driver needs and no networking of Docker's own, as docs/docker.md sets
  a host up; one Docker network ``-d romana --ipam-driver romana`` of tenant :data:`TENANT`,
  segment :data:`SEGMENT`;
* **reference**: a dockerd as it ships (docker0, NAT and its iptables chains, no cluster
  store) in a namespace ``ref`` of the same lab; its containers use the default bridge.

Each figure is the wall time of the ``docker`` client, started from the benchmark process,
until it exits. The flows, each alternating between the two dockerds run after run (which
goes first alternates too):

* ``docker run --rm IMAGE true``: create, attach, start, wait, remove;
* ``docker run -d IMAGE sleep``, then ``docker rm -f`` of that container, each timed.

Where the time goes, beside (no target):

* the same ``docker run --rm`` with ``--network none`` on each dockerd, in the same
  alternation: the container without networking (romana's dockerd still has its cluster store);
* the same ``docker run --rm`` on a user-defined bridge network of the reference dockerd, in
  the same alternation: what any user-defined network costs that the default bridge does not
  (Docker's embedded DNS resolver and per-network state), beside romana's;
* three stretches of each ``docker run --rm`` from both dockerds' debug logs, romana's beside
  the reference's: from the start call until the endpoint is made and joined ("Programming
  external connectivity"), the sandbox's SetKey (docker moves the interfaces into the
  container's namespace), and from the container's exit ("Revoking external connectivity")
  until its removal;
* romana's plugin calls, from the agent's debug log (each call is logged when it arrives and
  when it is answered, to the millisecond): each call's time, and all of them per run;
* what the cluster store served per run on romana's dockerd (HTTP requests, reads, writes,
  the time etcd spent on them), from etcd's metrics, over a few more runs made for that alone.

Target (DESIGN.md §9, issue 15): romana's ``docker run --rm`` p50 at most 1.1 x the
reference's. A benchmark prints figures and ratios; it asserts nothing about them (a
container without the address it should have stops it).

    python -m bench.docker [--runs 50] [--firewall nftables]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import common
from romana.dataplane import netns as netns_mod
from romana.lab import Cluster, cluster
from romana.lab import docker as lab_docker
from romana.lab.docker import DRIVER, IMAGE, Dockerd
from romana.lab.etcd import EtcdCluster

TARGET_RATIO = 1.1
STORE_PROBES = 5  # runs counted for the cluster store's load
WARM_UP = 3  # runs per flow and dockerd before measuring: image layers, first endpoint
TENANT = "bench"
SEGMENT = "default"
NETWORK = "bench-romana"
REFERENCE = "Docker's default bridge"
REFERENCE_PREFIX = "172.17."  # docker0's default pool
SLEEP = "600"  # seconds a detached container would live; docker rm -f ends it first
APPLETS = ("sh", "true", "sleep")


@dataclass
class Side:
    """One dockerd and the ``--network`` its containers use; its samples by flow."""

    name: str
    dockerd: Dockerd
    network: tuple[str, ...]
    user_network: tuple[str, ...] = ()
    """A user-defined network of this dockerd whose runs are timed too (:data:`RUN_USER`)."""
    samples: dict[str, list[float]] = field(default_factory=dict)
    windows: dict[str, list[Window]] = field(default_factory=dict)
    """When each counted run of a flow began and ended, by the wall clock (the logs')."""

    def docker(self, *argv: str) -> str:
        """The output of ``docker ARGV``; a failure stops the run."""
        done = self.dockerd.docker(*argv)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(argv)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def timed(self, flow: str, counted: bool, *argv: str) -> str:
        """``docker ARGV``, its wall time recorded under ``flow`` when ``counted``."""
        wall = datetime.datetime.now(datetime.UTC)
        began = time.perf_counter()
        out = self.docker(*argv)
        took = time.perf_counter() - began
        if counted:
            self.samples.setdefault(flow, []).append(took)
            self.windows.setdefault(flow, []).append((wall, datetime.datetime.now(datetime.UTC)))
        return out


RUN = "docker run --rm IMAGE true"
RUN_NONE = "docker run --rm --network none IMAGE true"
RUN_USER = "docker run --rm IMAGE true on a user-defined bridge network"
USER_BRIDGE = "userbridge"
USER_REFERENCE = "a user-defined bridge network of the reference dockerd"
DETACH = "docker run -d IMAGE sleep"
REMOVE = "docker rm -f of that container"
Window = tuple[datetime.datetime, datetime.datetime]


def image_archive(work: Path, busybox: str) -> Path:
    """A root file system of busybox-static alone, archived for ``docker import``."""
    rootfs = work / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", rootfs / "bin" / applet)
    for name in ("proc", "sys", "dev", "tmp", "run", "etc"):
        (rootfs / name).mkdir()
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return lab_docker.rootfs_archive(rootfs, work / "image.tar")


def run_rm(sides: tuple[Side, Side], runs: int) -> None:
    """:data:`RUN` and :data:`RUN_NONE` on both dockerds, alternating run after run."""
    for i in range(WARM_UP + runs):
        order = sides if i % 2 == 0 else sides[::-1]
        for side in order:
            side.timed(RUN, i >= WARM_UP, "run", "--rm", *side.network, IMAGE, "true")
            if side.user_network:
                side.timed(RUN_USER, i >= WARM_UP, "run", "--rm", *side.user_network, IMAGE, "true")
        for side in order:
            side.timed(RUN_NONE, i >= WARM_UP, "run", "--rm", "--network", "none", IMAGE, "true")


def run_detached(sides: tuple[Side, Side], runs: int) -> None:
    """:data:`DETACH` then :data:`REMOVE` on both dockerds, alternating run after run."""
    for i in range(WARM_UP + runs):
        order = sides if i % 2 == 0 else sides[::-1]
        for side in order:
            container = side.timed(
                DETACH, i >= WARM_UP, "run", "-d", *side.network, IMAGE, "sleep", SLEEP
            )
            side.timed(REMOVE, i >= WARM_UP, "rm", "-f", container)


def check_addresses(made: Cluster, sides: tuple[Side, Side]) -> None:
    """romana's containers get an address of h1, the tenant and segment; the reference's one
    of docker0. Anything else stops the run: the figures would not be what they say."""
    host = made.hosts[0].name
    for side in sides:
        container = side.docker("run", "-d", *side.network, IMAGE, "sleep", SLEEP)
        try:
            address = side.docker(
                "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                container,
            )  # fmt: skip
        finally:
            side.docker("rm", "-f", container)
        if side.name == "reference":
            if not address.startswith(REFERENCE_PREFIX):
                raise RuntimeError(f"reference container has {address!r}, not docker0's")
            continue
        decoded = made.api.decode(address)
        placed = (decoded["host"], decoded["tenant"], decoded["segment"])
        if placed != (host, TENANT, SEGMENT):
            raise RuntimeError(f"romana container has {address} of {placed}")


CALL = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) DEBUG +romana\.integrations\.docker\.plugin: "
    r"docker /\S+?\.(\w+) (answered )?"
)
INSTANT = ("EndpointOperInfo", "ProgramExternalConnectivity", "RevokeExternalConnectivity")
"""Calls the driver answers with nothing to do (under a millisecond): not listed."""
SLACK = datetime.timedelta(milliseconds=1)  # the agent's log's times are truncated to the ms
STAMP = re.compile(r'^time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)Z".*?msg="(.*)')
DURATION = re.compile(r"([\d.]+)(ns|µs|us|ms|s|m|h)")
SECONDS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
STRETCHES = {
    "start call .. endpoint joined (dockerd log)": (
        re.compile(r'^Calling POST /v[\d.]+/containers/\w+/start"'),
        re.compile(r"^Programming external connectivity"),
    ),
    "container exit .. removal (dockerd log)": (
        re.compile(r"^Revoking external connectivity"),
        re.compile(r"topic=/containers/delete "),
    ),
}
"""Stretch → what the dockerd log lines (after ``msg="``) that open and close it match."""
SETKEY = "sandbox SetKey, interfaces into the container (dockerd log)"


def tail(path: Path, start: int) -> list[str]:
    """The lines of the file ``path`` from offset ``start``."""
    with open(path, "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace").splitlines()


def plugin_calls(
    lines: list[str], windows: list[Window]
) -> tuple[dict[str, list[float]], list[float]]:
    """Seconds of each plugin call in the agent's log by call (arrival to answer), and of all
    calls per run, over the runs of ``windows``."""
    arrived: dict[str, datetime.datetime] = {}
    calls: list[tuple[datetime.datetime, str, float]] = []
    for line in lines:
        found = CALL.match(line)
        if found is None or found[2] in INSTANT:
            continue
        # The agent logs in local time; the windows are UTC.
        when = datetime.datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f").astimezone()
        if found[3] is None:
            arrived[found[2]] = when
        elif found[2] in arrived:
            began = arrived.pop(found[2])
            calls.append((began, found[2], (when - began).total_seconds()))
    took: dict[str, list[float]] = {}
    per_run = []
    for began, ended in windows:
        inside = [c for c in calls if began - SLACK <= c[0] <= ended + SLACK]
        for _, name, seconds in inside:
            took.setdefault(name, []).append(seconds)
        per_run.append(sum(c[2] for c in inside))
    return took, per_run


def dockerd_stretches(lines: list[str], windows: list[Window]) -> dict[str, list[float]]:
    """Seconds of :data:`STRETCHES` and of the sandbox's SetKey in a dockerd's debug log, one
    of each per run of ``windows``."""
    events: list[tuple[datetime.datetime, str]] = []
    for line in lines:
        found = STAMP.match(line)
        if found is not None:
            when = datetime.datetime.fromisoformat(f"{found[1]}.{found[2][:6]:0<6}+00:00")
            events.append((when, found[3]))
    took: dict[str, list[float]] = {}
    for began, ended in windows:
        inside = [(when, msg) for when, msg in events if began <= when <= ended]
        for label, (opens, closes) in STRETCHES.items():
            first = next((w for w, m in inside if opens.search(m)), None)
            last = next((w for w, m in reversed(inside) if closes.search(m)), None)
            if first is not None and last is not None:
                took.setdefault(label, []).append((last - first).total_seconds())
        for _, msg in inside:
            if msg.startswith("sandbox set key processing took "):
                spent = msg.split()[5]
                seconds = sum(float(n) * SECONDS[u] for n, u in DURATION.findall(spent))
                took.setdefault(SETKEY, []).append(seconds)
    return took


STORE_METRICS = {
    "HTTP requests": "etcd_http_received_total",
    "reads": "etcd_debugging_store_reads_total",
    "writes": "etcd_debugging_store_writes_total",
    "time in etcd": "etcd_http_successful_duration_seconds_sum",
}
"""What the cluster store served, by etcd's metrics (its v2 API's)."""


def store_operations(dockerd: Dockerd, ctl: str) -> dict[str, float]:
    """What the cluster store (etcd's v2 API) served so far (:data:`STORE_METRICS`), from its
    metrics, fetched inside the namespace ``ctl`` where it listens."""
    address, _, port = dockerd.cluster_store.removeprefix("etcd://").rpartition(":")
    with netns_mod.entered(ctl):
        sock = socket.create_connection((address, int(port)), timeout=5)
    with sock:
        sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: etcd\r\n\r\n")
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    counts = dict.fromkeys(STORE_METRICS, 0.0)
    for line in b"".join(chunks).decode().splitlines():
        for kind, metric in STORE_METRICS.items():
            if line.startswith(metric) and line[len(metric)] in " {":
                counts[kind] += float(line.rsplit(" ", 1)[1])
    return counts


def store_per_run(side: Side, ctl: str, network: tuple[str, ...]) -> dict[str, float]:
    """What the cluster store served per ``docker run --rm`` with ``network`` on
    romana's dockerd, over :data:`STORE_PROBES` runs made for this alone (not timed)."""
    before = store_operations(side.dockerd, ctl)
    for _ in range(STORE_PROBES):
        side.docker("run", "--rm", *network, IMAGE, "true")
    after = store_operations(side.dockerd, ctl)
    return {kind: (after[kind] - before[kind]) / STORE_PROBES for kind in after}


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def compared(
    metric: str, ours: list[float], ref: list[float], p: int, gated: bool
) -> common.Result:
    target = TARGET_RATIO if gated else None
    return common.compared(f"{metric} p{p}", ours, ref, p, reference_name=REFERENCE, target=target)


@dataclass(frozen=True, slots=True)
class Found:
    """Where the runs spent their time, from the logs and the cluster store."""

    dockerd: dict[str, tuple[dict[str, list[float]], dict[str, list[float]]]]
    """Flow → romana's and the reference's :func:`dockerd_stretches`."""
    calls: dict[str, list[float]]
    in_plugin: list[float]
    store: dict[str, dict[str, float]]
    """Flow → the cluster store's load per run (:data:`STORE_METRICS`)."""


def breakdown(sides: tuple[Side, Side], found: Found) -> list[common.Result]:
    """The parts beside the figures: p50s with no target."""
    romana, reference = sides
    results = [compared(RUN_NONE, romana.samples[RUN_NONE], reference.samples[RUN_NONE], 50, False)]
    for flow, (ours, theirs) in found.dockerd.items():
        short = flow.removeprefix("docker ").removesuffix(" IMAGE true")
        for label in (*STRETCHES, SETKEY):
            if ours.get(label) and theirs.get(label):
                results.append(compared(f"{short}, {label}", ours[label], theirs[label], 50, False))
    plugin = statistics.median(found.in_plugin)
    results.append(
        common.Result("run --rm, romana's plugin: all calls of one run p50", ms(plugin), "ms")
    )
    for name, took in sorted(found.calls.items(), key=lambda item: -statistics.median(item[1])):
        metric = f"run --rm, romana's plugin: {name} p50"
        results.append(common.Result(metric, ms(statistics.median(took)), "ms"))
    for flow, kinds in found.store.items():
        short = flow.removeprefix("docker ").removesuffix(" IMAGE true")
        for kind, per_run in kinds.items():
            metric = f"cluster store {kind} per {short} on romana's dockerd"
            if kind == "time in etcd":
                results.append(common.Result(metric, ms(per_run), "ms"))
            else:
                results.append(common.Result(metric, round(per_run, 1), "requests"))
    return results


def _ms(samples: list[float]) -> list[float]:
    return [round(s * 1000, 3) for s in samples]


def distributions(
    sides: tuple[Side, Side], found: Found, results: list[common.Result]
) -> list[dict[str, object]]:
    """The report's charts: each flow, romana's beside the references' (ms), then where a
    romana ``docker run --rm`` spends its time; captions quote the ratios of ``results``."""
    romana, reference = sides
    ratio = {r.metric: r.ratio for r in results}
    run_p50 = ratio[f"{RUN} p50"] or 0.0
    verdict = "met" if run_p50 <= TARGET_RATIO else "missed"
    charts = [
        common.distribution(
            "How long does docker run --rm take on a romana network, beside Docker's bridges?",
            f"romana/default bridge {run_p50:.2f}× at p50 (target {TARGET_RATIO}×, {verdict}); "
            f"romana/user-defined bridge {ratio[f'{RUN} p50, beside {USER_REFERENCE}']:.2f}×.",
            "ms",
            {
                "romana": _ms(romana.samples[RUN]),
                REFERENCE: _ms(reference.samples[RUN]),
                "a user-defined bridge of the reference dockerd": _ms(reference.samples[RUN_USER]),
            },
        )
    ]
    for flow, question in (
        (DETACH, "How long does docker run -d take, beside Docker's default bridge?"),
        (REMOVE, "How long does docker rm -f of that container take, beside the default bridge?"),
        (RUN_NONE, "How long does a container without networking (--network none) take?"),
    ):
        p95 = f", {ratio[f'{flow} p95']:.2f}× at p95" if f"{flow} p95" in ratio else ""
        charts.append(
            common.distribution(
                question,
                f"romana/reference {ratio[f'{flow} p50']:.2f}× at p50{p95}; no target.",
                "ms",
                {"romana": _ms(romana.samples[flow]), REFERENCE: _ms(reference.samples[flow])},
            )
        )
    ours, theirs = found.dockerd[RUN]
    stretches = [label for label in (*STRETCHES, SETKEY) if ours.get(label) and theirs.get(label)]
    if stretches:
        gap = max(
            stretches, key=lambda s: statistics.median(ours[s]) - statistics.median(theirs[s])
        )
        series = {}
        for label in stretches:
            short = label.removesuffix(" (dockerd log)")
            series[f"romana: {short}"] = _ms(ours[label])
            series[f"default bridge: {short}"] = _ms(theirs[label])
        charts.append(
            common.distribution(
                "Where does docker run --rm spend its time, by dockerd's debug log?",
                f"The widest gap at p50 is {gap.removesuffix(' (dockerd log)')}: "
                f"{statistics.median(ours[gap]) * 1000:.0f} ms on romana's network beside "
                f"{statistics.median(theirs[gap]) * 1000:.0f} ms on the default bridge.",
                "ms",
                series,
            )
        )
    if found.in_plugin:
        calls = sorted(found.calls.items(), key=lambda item: -statistics.median(item[1]))
        slowest = calls[0][0] if calls else "none"
        charts.append(
            common.distribution(
                "How long do romana's plugin calls take in one docker run --rm?",
                f"All calls of one run take {statistics.median(found.in_plugin) * 1000:.0f} ms "
                f"at p50, the slowest being {slowest}; the agent logs to the millisecond.",
                "ms",
                {
                    "romana: all calls of one run": _ms(found.in_plugin),
                    **{f"romana: {name}": _ms(took) for name, took in calls},
                },
            )
        )
    return charts


@contextlib.contextmanager
def started(daemon: Dockerd, archive: Path) -> Iterator[Dockerd]:
    """``daemon`` started with the image :data:`IMAGE`; stopped by PID at the end."""
    try:
        daemon.start()
        daemon.import_image(archive)
        yield daemon
    finally:
        daemon.remove_containers()
        try:
            daemon.stop()
        finally:
            daemon.clean()


@contextlib.contextmanager
def romana_dockerd(made: Cluster, archive: Path) -> Iterator[Dockerd]:
    """The dockerd of the cluster's one host, at debug level, with its etcd cluster store in
    ``ctl`` (as :func:`romana.lab.docker.running` starts them) and a romana network."""
    host = made.hosts[0]
    etcd = EtcdCluster(1, v2=True, netns=made.ctl.path, host=str(made.ctl.underlay_ip))
    try:
        etcd.start()
        store = f"etcd://{made.ctl.underlay_ip}:{etcd.members[0].client_port}"
        with started(Dockerd(host, made.docker_dir(host.name), store, debug=True), archive) as d:
            created = d.docker(
                "network", "create", "-d", DRIVER, "--ipam-driver", DRIVER,
                "-o", f"romana.tenant={TENANT}", "-o", f"romana.segment={SEGMENT}", NETWORK,
            )  # fmt: skip
            if created.returncode != 0:
                raise RuntimeError(f"docker network create: {created.stderr.strip()}")
            yield d
    finally:
        etcd.stop()


def run(
    runs: int, firewall: str, busybox: str
) -> tuple[list[common.Result], list[dict[str, object]]]:
    with tempfile.TemporaryDirectory(prefix="romana-bench-docker-") as tmp:
        work = Path(tmp)
        archive = image_archive(work, busybox)
        (work / "lab").mkdir()
        # A long reconcile interval keeps the agent's periodic work out of the figures.
        with cluster(work / "lab", firewall, hosts=1, interval=10.0, docker=True) as made:
            made.api.create_tenant(TENANT)
            # Docker as it ships, in a lab namespace of its own.
            reference = Dockerd(
                made.lab.add_host("ref"), work / "reference", default_bridge=True, debug=True
            )
            with romana_dockerd(made, archive) as ours, started(reference, archive):
                sides = (
                    Side("romana", ours, ("--network", NETWORK)),
                    Side("reference", reference, (), ("--network", USER_BRIDGE)),
                )
                # A user-defined network gets what the default bridge does not (Docker's
                # embedded DNS, per-network state): a second reference, same dockerd.
                sides[1].docker("network", "create", "-d", "bridge", USER_BRIDGE)
                check_addresses(made, sides)
                logs = (made.agent(made.hosts[0]).log_path, ours.log_path, reference.log_path)
                offsets = [log.stat().st_size for log in logs]
                run_rm(sides, runs)
                agent, *dockerds = (tail(log, at) for log, at in zip(logs, offsets, strict=True))
                calls, in_plugin = plugin_calls(agent, sides[0].windows[RUN])
                stretches = {
                    flow: (
                        dockerd_stretches(dockerds[0], sides[0].windows[flow]),
                        dockerd_stretches(dockerds[1], sides[1].windows[flow]),
                    )
                    for flow in (RUN, RUN_NONE)
                }
                store = {
                    flow: store_per_run(sides[0], made.ctl.path, argv)
                    for flow, argv in ((RUN, sides[0].network), (RUN_NONE, ("--network", "none")))
                }
                run_detached(sides, runs)
    romana, reference_side = sides
    results = [
        compared(
            flow, romana.samples[flow], reference_side.samples[flow], p, flow == RUN and p == 50
        )
        for flow in (RUN, DETACH, REMOVE)
        for p in (50, 95)
    ]
    results += [
        common.compared(
            f"{RUN} p{p}, beside {USER_REFERENCE}",
            romana.samples[RUN],
            reference_side.samples[RUN_USER],
            p,
            reference_name=USER_REFERENCE,
            target=None,
        )
        for p in (50, 95)
    ]
    found = Found(stretches, calls, in_plugin, store)
    results += breakdown(sides, found)
    return results, distributions(sides, found, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.docker", description=__doc__)
    parser.add_argument("--runs", type=int, default=50, help="runs per flow and dockerd")
    parser.add_argument("--firewall", default="nftables", choices=("nftables", "iptables"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.docker needs root (network namespaces, dockerd)", file=sys.stderr)
        return 2
    busybox = shutil.which("busybox")
    if busybox is None:
        print("bench.docker needs busybox-static for its image", file=sys.stderr)
        return 2
    results, charts = run(args.runs, args.firewall, busybox)
    notes = (
        f"{args.runs} runs per flow and dockerd (after {WARM_UP} not counted), alternating run "
        "after run between two dockerds 20.10 (Debian's docker.io) running at once on this "
        "machine, each in a lab network namespace with its own directories and the same "
        "imported busybox-static image: romana's (one lab host, romana-agent with "
        f"{args.firewall} serving the plugin, romanad on SQLite, the etcd v2 cluster store "
        "romana's global-scope driver needs, no Docker networking of its own; one network of "
        f"tenant {TENANT}, segment {SEGMENT}) and the reference, Docker as it ships (docker0, "
        "NAT and iptables in its namespace, no cluster store), its containers on the default "
        "bridge; both dockerds log at debug level. Each figure is the wall time of the docker "
        "client; only the p50 of docker run --rm has a target. Beside: the same run with "
        "`--network none` on each dockerd; the same run on a user-defined bridge network of "
        "the reference dockerd (created with `docker network create -d bridge`); three "
        "stretches of each run from both dockerds' logs (start call to endpoint joined, the "
        "sandbox's SetKey, container exit to removal); "
        "romana's plugin calls from the agent's debug log (arrival to answer, millisecond "
        "resolution); what the etcd v2 cluster store served per run (requests, reads, writes, "
        f"its own time), from etcd's metrics over {STORE_PROBES} more runs of each kind."
    )
    return common.finish("docker", results, notes, distributions=charts)


if __name__ == "__main__":
    sys.exit(main())
