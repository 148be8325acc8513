"""``python -m romana.demo`` (``make demo``): a three-host romana cluster, explained as it runs.

Starts romanad on the embedded store, applies a topology with 2 racks, brings up 3 simulated
hosts (network namespaces) with an agent each, creates 2 tenants with 2 segments each, starts
workloads through the CNI plugin, applies two policies (one across tenants, one opening a
segment of a tenant to another of its segments), and prints the address plan, the routes
one host holds, and the reachability matrix measured with real packets, checked cell by
cell against ``romana explain``. Then it removes everything it created, unless ``--keep``.
Exits non-zero when any probe or explanation disagrees.

Needs root (it creates network namespaces); it never touches the machine's own interfaces,
routes or firewall.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from romana.client import reach as reach_client
from romana.core import kernelnames
from romana.core.policy import reach
from romana.demo import show
from romana.lab import Cluster, Endpoint, agent_user, cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PROBE_PORT = 80
PROBE = reach.Probe.parse(f"tcp/{PROBE_PORT}")
HOSTS = (("host-1", "rack=1"), ("host-2", "rack=2"), ("host-3", "rack=2"))

# (name, host, tenant, segment): every host runs workloads of both tenants.
WORKLOADS = (
    ("blue-web-1", "host-1", "blue", "web"),
    ("green-db-1", "host-1", "green", "db"),
    ("blue-db-2", "host-2", "blue", "db"),
    ("green-web-2", "host-2", "green", "web"),
    ("blue-web-3", "host-3", "blue", "web"),
    ("green-web-3", "host-3", "green", "web"),
)


def into_blue_db(pid: str, description: str, tenant: str, segment: str) -> dict[str, object]:
    """A Romana v2 policy: ``tenant``/``segment`` may reach blue's db segment on the probe port."""
    return {
        "id": pid,
        "description": description,
        "direction": "ingress",
        "applied_to": [{"tenant": "blue", "segment": "db"}],
        "ingress": [
            {
                "peers": [{"tenant": tenant, "segment": segment}],
                "rules": [{"protocol": "tcp", "ports": [PROBE_PORT]}],
            }
        ],
    }


POLICIES = (
    into_blue_db(
        "green-web-to-blue-db",
        "green's web tier may call blue's database tier on TCP 80",
        "green",
        "web",
    ),
    into_blue_db(
        "blue-web-to-blue-db",
        "blue's web segment may call blue's db segment on TCP 80",
        "blue",
        "web",
    ),
)
OPENED = {("green", "web", "blue", "db"), ("blue", "web", "blue", "db")}


def expected(src: Endpoint, dst: Endpoint) -> bool:
    """Tenant and segment isolation: the same tenant and segment talk freely; other segments
    and other tenants are denied, except what the two policies open."""
    if (src.tenant, src.segment) == (dst.tenant, dst.segment):
        return True
    return (src.tenant, src.segment, dst.tenant, dst.segment) in OPENED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m romana.demo", description=__doc__.split("\n\n")[0],
        epilog="Example: make demo ARGS=--keep   (then: python -m romana.demo --down DIR)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    parser.add_argument(
        "--firewall", choices=("nftables", "iptables"), default="nftables",
        help="the agents' firewall backend (default nftables)",
    )  # fmt: skip
    parser.add_argument("--down", metavar="DIR", help="tear down a cluster left by --keep")
    args = parser.parse_args(argv)
    console = Console()
    if os.geteuid() != 0:
        console.print("[red]The demo needs root: it creates network namespaces.[/red]")
        return 2
    if args.down:
        return down(console, Path(args.down))
    workdir = Path(tempfile.mkdtemp(prefix="romana-demo-", dir="/var/tmp"))
    started = time.monotonic()
    try:
        topology = json.loads((EXAMPLES / "demo-topology.json").read_text())
        with cluster(
            workdir, args.firewall, HOSTS, topology=topology, interval=5.0,
            log_level="warning", start=False, keep=args.keep, prefix="rdemo" + os.urandom(2).hex(),
        ) as c:  # fmt: skip
            wrong = run(console, c)
            if args.keep:
                keep(console, c, workdir)
            else:
                teardown(console, c)
    except Exception as exc:
        console.print(f"[bold red]demo failed:[/bold red] {exc}")
        console.print(f"logs are in {workdir}")
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    took = time.monotonic() - started
    verdict = (
        "[green]every probe as expected[/green]"
        if not wrong
        else (f"[bold red]{wrong} probe(s) NOT as expected[/bold red]")
    )
    console.print(f"\n{verdict} — demo took {took:.1f} s")
    return 1 if wrong else 0


def step(console: Console, text: str) -> None:
    console.rule(f"[bold]{text}")


def run(console: Console, c: Cluster) -> int:
    step(console, "1. romanad on the embedded store (SQLite), topology with 2 racks")
    c.start_romanad()
    console.print(f"romanad at {c.url} (in namespace {c.ctl.ns}); "
                  f"admin credentials in {c.credentials}; each agent logs in as a user "
                  f"bound to its host ({agent_user('host-1')!r} for host-1, ...)")  # fmt: skip

    step(console, "2. three hosts, one romana-agent each")
    c.start_agents(HOSTS)
    show.tree(console, c.call(lambda a: a.topology_tree()))

    step(console, "3. two tenants with two segments each, isolated by tenant and segment")
    for tenant in ("blue", "green"):
        c.call(lambda a, t=tenant: a.create_tenant(t))  # type: ignore[misc]
        for segment in ("web", "db"):
            c.call(lambda a, t=tenant, s=segment: a.add_segment(t, s))  # type: ignore[misc]
    for t in c.call(lambda a: a.list_tenants()):
        iso = t["isolation"]
        console.print(
            f"  tenant {t['name']}: ids {t['ids']}, segments {t['segments']}, "
            f"isolation {iso['mode']} (segments {iso['segments']})"
        )

    step(console, "4. workloads started through the CNI plugin (romana-cni ADD)")
    for name, host, tenant, segment in WORKLOADS:
        w = c.start_workload(
            c.host(host), name, tenant, segment, port=PROBE_PORT, container_id=f"demo-{host}-{name}"
        )
        console.print(f"  {name:<12} on {host}: {w.address:<14} tenant {tenant}, segment {segment}")

    step(console, "5. the address plan")
    networks = {n["name"]: n for n in c.call(lambda a: a.list_networks())}
    for net in networks.values():
        show.layout_table(console, net)
    first = c.endpoints[0]
    decoded = c.call(lambda a: a.decode(first.address))
    show.decoded_table(console, decoded, networks[decoded["network"]])

    step(console, "6. routes: one per group, not one per host")
    host = "host-1"
    plan = c.call(lambda a: a.routes(host))
    kernel = c.lab.run(
        c.host(host), ["ip", "route", "show", "proto", str(kernelnames.ROUTE_PROTOCOL)]
    ).stdout.splitlines()
    show.routes(console, host, plan, [k for k in kernel if "via" in k], len(c.hosts))

    step(console, "7. two policies: green/web → blue/db across tenants, blue/web → blue/db")
    console.print(json.dumps(list(POLICIES), indent=2))
    c.call(lambda a: a.add_policies(list(POLICIES)))
    time.sleep(1.0)  # agents watch romanad; programming takes well under a second

    step(console, f"8. reachability, measured with real TCP connections to port {PROBE_PORT}")
    measured = measured_by_name = probe_all(c)
    names = [f"{w.tenant}/{w.segment} on {w.host.name}" for w in c.endpoints]
    label = dict(zip([w.name for w in c.endpoints], names, strict=True))
    measured = {(label[s], label[d]): ok for (s, d), ok in measured.items()}
    want = {
        (label[s.name], label[d.name]): expected(s, d) for s in c.endpoints for d in c.endpoints
    }
    wrong = show.matrix(
        console, names, measured, want, "TCP connect, every workload to every other"
    )
    console.print(
        "  same tenant and segment: allowed on every host; other segments and other tenants: "
        "denied — except green/web → blue/db and blue/web → blue/db, opened by the policies"
    )
    return wrong + explained(console, c, measured_by_name)


def explained(console: Console, c: Cluster, measured: dict[tuple[str, str], bool]) -> int:
    """Asks ``romana explain`` (the same model and code) about every measured cell; returns
    how many answers differ from what the packets did."""
    step(console, "9. romana explain, for every cell of the matrix")
    model = c.call(reach_client.model)
    explainer = reach.Explainer(model)
    by_name = {w.name: w for w in c.endpoints}
    answers = {
        (s, d): explainer.explain(by_name[s].address, by_name[d].address, PROBE)
        for (s, d) in measured
    }
    differ = sorted(k for k, a in answers.items() if a.allowed != measured[k])
    for s, d in differ:
        console.print(f"  [bold red]{s} → {d}: explain says {answers[s, d].allowed}, "
                      f"the packets said {measured[s, d]}[/bold red]")  # fmt: skip
    for s, d in (("blue-web-1", "blue-db-2"), ("green-db-1", "green-web-2")):
        answer = answers[s, d]
        console.print(f"  romana explain --from {by_name[s].address} --to {by_name[d].address} "
                      f"--port {PROBE}: {'allowed' if answer.allowed else 'denied'}")  # fmt: skip
        for line in (*answer.egress.decided_by, *answer.ingress.decided_by):
            console.print(f"    {line}")
    agree = len(answers) - len(differ)
    colour = "green" if not differ else "bold red"
    console.print(f"  [{colour}]romana explain agrees with {agree} of {len(answers)} "
                  "measured cells[/]")  # fmt: skip
    return len(differ)


def probe_all(c: Cluster) -> dict[tuple[str, str], bool]:
    pairs = [(s, d) for s in c.endpoints for d in c.endpoints if s is not d]

    def probe(pair: tuple[Endpoint, Endpoint]) -> bool:
        src, dst = pair
        return c.lab.tcp_probe(src.workload, dst.address, PROBE_PORT, timeout=1.0)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(probe, pairs))
    return {(s.name, d.name): ok for (s, d), ok in zip(pairs, results, strict=True)}


RELEASE_WITHIN = 5.0
"""Seconds the addresses of deleted workloads may take to return to romanad."""


def teardown(console: Console, c: Cluster) -> None:
    step(console, "10. clean up: CNI DEL every workload, then stop everything")
    for w in c.endpoints:
        c.stop_workload(w)
    # DEL answers once a workload is cut off; its veth, flows and address go right after.
    deadline = time.monotonic() + RELEASE_WITHIN
    left = c.call(lambda a: a.list_allocations())
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = c.call(lambda a: a.list_allocations())
    console.print(f"  allocations left in romanad after DEL: {len(left)}")
    if left:
        raise RuntimeError(f"allocations left behind: {[a['key'] for a in left]}")
    console.print("  agents and romanad stopped by PID; namespaces deleted")


def keep(console: Console, c: Cluster, workdir: Path) -> None:
    pids = {"romanad_and_agents": [p.pid for p in c.lab._procs], "prefix": c.lab.prefix}
    (workdir / "cluster.json").write_text(json.dumps(pids))
    ctl = c.ctl.ns
    console.rule("[bold]the cluster is still running")
    console.print(
        "Explore it with the CLI from inside the control namespace, for example:\n"
        f"  ip netns exec {ctl} .venv/bin/romana --url {c.url} login -u admin"
        f"  (password in {c.credentials})\n"
        f"  ip netns exec {ctl} .venv/bin/romana --url {c.url} status\n"
        f"  ip netns exec {ctl} .venv/bin/romana --url {c.url} topology show\n"
        f"  ip netns exec {ctl} .venv/bin/romana --url {c.url} decode {c.endpoints[0].address}\n"
        f"  ip netns exec {ctl} .venv/bin/romana --url {c.url} route show host-1\n"
        f"  ip netns exec {c.host('host-1').ns} nft list table {kernelnames.NFT_TABLE_REF}\n"
        f"The web view (docs/ui.md) is at {c.url}/ui, reachable from the control namespace:\n"
        f"  ip netns exec {ctl} chromium --no-sandbox {c.url}/ui  (log in as admin)\n"
        f"Logs and state: {workdir}\n"
        f"Tear it down with:  .venv/bin/python -m romana.demo --down {workdir}"
    )


def down(console: Console, workdir: Path) -> int:
    state = json.loads((workdir / "cluster.json").read_text())
    for pid in state["romanad_and_agents"]:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    time.sleep(1.0)
    for pid in state["romanad_and_agents"]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    prefix = state["prefix"] + "-"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for line in listed.stdout.splitlines():
        ns = line.split()[0] if line.strip() else ""
        if ns.startswith(prefix):
            subprocess.run(["ip", "netns", "del", ns], check=False)
    shutil.rmtree(workdir, ignore_errors=True)
    console.print(f"removed the demo cluster {state['prefix']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
