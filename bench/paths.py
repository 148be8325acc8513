"""The paths ``bench.dataplane`` sends traffic over between two lab hosts, and their switches.

Beside romana's own endpoints, the same two host namespaces get:

* endpoints wired by the reference routed CNI plugin ``ptp`` with ``host-local`` IPAM
  (Debian's ``containernetworking-plugins`` in :data:`REFERENCE_DIR`), one ``/24`` per host,
  with a route to the other host's ``/24`` via its underlay address — added inside the lab's
  host namespaces only, as an operator would for ``ptp`` across hosts;
* a VXLAN device per host, onto which the routes to the other host's romana prefix can be
  moved (:func:`vxlan`).

romana's table ``inet romana`` on each host can be switched between the states of
:data:`TABLE_STATES`, from no table at all to the full ruleset, so that each step of the
firewall's cost is measured on the same hosts (:func:`tables`). The switches change only
the lab's namespaces, and only while the agents are stopped (they would undo them).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.rulesets import whole
from romana.agent import desired, view
from romana.core import kernelnames, ruleset
from romana.core.render import nftables as render_nftables
from romana.dataplane import nftables as nftables_adapter
from romana.lab import Cluster, Host, Node, Workload

REFERENCE_DIR = "/usr/lib/cni"
CNI_VERSION = "1.0.0"  # the highest that Debian's reference plugins (1.1.1) speak
PTP_NETWORK = ipaddress.IPv4Network("172.31.0.0/16")
"""The reference endpoints' addresses: ``172.31.<host index>.0/24`` per host, outside romana's
networks (so romana's table, while present, neither NATs nor dispatches them)."""

TABLE_STATES = ("none", "hooks", "conntrack", "bare", "full", "full-nolog", "tiers")
"""romana's table on each host, from nothing to the full ruleset:

``none``        no table: no hook, no conntrack (what a host without romana runs)
``hooks``       romana's filter base chains (forward, input), empty
``conntrack``   those chains with only ``ct state established,related accept``: conntrack on
``bare``        romana's ruleset for the host without any policy (tenants, segments, NAT)
``full``        the ruleset with every policy
``full-nolog``  the same as the agent renders it with ``drop_log`` off (no log statements)
``tiers``       the full ruleset of the host's view with the cluster-admin tiers added
                (:func:`bench.tiered.with_tiers`): only where :func:`tables` is given it
"""


def ptp_subnet(index: int) -> ipaddress.IPv4Network:
    """The reference endpoints' ``/24`` on the lab host of ``index``."""
    return ipaddress.IPv4Network((int(PTP_NETWORK.network_address) + (index << 8), 24))


def ptp_conf(subnet: ipaddress.IPv4Network, data_dir: Path) -> dict[str, Any]:
    """The network configuration a runtime hands ``ptp``: no masquerade, MTU of the underlay."""
    return {
        "cniVersion": CNI_VERSION,
        "name": "ptp-bench",
        "type": "ptp",
        "ipMasq": False,
        "mtu": 1500,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": str(subnet)}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(data_dir),
        },
    }


def ptp_endpoint(cluster: Cluster, host: Host, name: str, data_dir: Path) -> tuple[Workload, str]:
    """A workload namespace on ``host`` wired by ``ptp`` ADD; the workload and its address."""
    workload = cluster.lab.add_workload(host, name)
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": f"ptp-{cluster.lab.prefix}-{host.name}-{name}",
        "CNI_NETNS": workload.path,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": REFERENCE_DIR,
    }
    conf = ptp_conf(ptp_subnet(host.index), data_dir / host.name)
    done = subprocess.run(
        ["ip", "netns", "exec", host.ns, os.path.join(REFERENCE_DIR, "ptp")],
        input=json.dumps(conf),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ptp ADD on {host.name} failed: {done.stdout}{done.stderr}")
    address = json.loads(done.stdout)["ips"][0]["address"].split("/")[0]
    return workload, address


def ptp_routes(cluster: Cluster, hosts: list[Host]) -> None:
    """On each host, a route to every other host's reference ``/24`` via its underlay address."""
    for host in hosts:
        for other in hosts:
            if other is not host:
                cluster.lab.run(
                    host,
                    ["ip", "route", "replace", str(ptp_subnet(other.index)), "via",
                     str(other.underlay_ip), "dev", host.ifname],
                )  # fmt: skip


def vxlan(cluster: Cluster) -> Callable[[bool], None]:
    """A VXLAN device on each host, and a switch that moves the routes to the other host's
    prefix onto it (True) or back onto the underlay (False). Agents must be stopped."""
    hosts = cluster.hosts
    scripts: dict[bool, list[tuple[Node, str]]] = {True: [], False: []}
    for n, host in enumerate(hosts, start=1):
        other = hosts[2 - n]
        ours = cluster.lab.run(
            host, ["ip", "-4", "route", "show", "proto", str(kernelnames.ROUTE_PROTOCOL)]
        ).stdout
        routes = [line.split() for line in ours.splitlines() if " via " in line]
        setup = [
            f"link add rbvx0 type vxlan id 42 dstport 4789 local {host.underlay_ip} "
            f"dev {host.ifname} nolearning",
            f"addr add 10.255.254.{n}/24 dev rbvx0",
            "link set rbvx0 up",
        ]
        cluster.lab.run(host, ["ip", "-batch", "-"], input="\n".join(setup) + "\n")
        fdb = ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "rbvx0", "dst"]
        cluster.lab.run(host, [*fdb, str(other.underlay_ip)])
        over = "".join(f"route replace {r[0]} via 10.255.254.{3 - n} dev rbvx0\n" for r in routes)
        back = "".join(
            f"route replace {r[0]} via {r[2]} dev {host.ifname} proto 82\n" for r in routes
        )
        scripts[True].append((host, over))
        scripts[False].append((host, back))

    def switch(on: bool) -> None:
        for host, script in scripts[on]:
            cluster.lab.run(host, ["ip", "-batch", "-"], input=script)

    return switch


def hooks_only(rules: ruleset.Ruleset, *, conntrack: bool) -> ruleset.Ruleset:
    """The filter base chains of ``rules`` (same hooks, same priorities) with no rule, or with
    only ``ct state established,related accept`` when ``conntrack``: the hook's own cost, then
    that of tracking connections, without any of romana's lookups."""
    tracked = ruleset.Rule(
        (ruleset.Conntrack((ruleset.CtState.ESTABLISHED, ruleset.CtState.RELATED)),),
        ruleset.ACCEPT,
    )
    chains = tuple(
        dataclasses.replace(chain, rules=(tracked,) if conntrack else ())
        for chain in rules.chains
        if chain.hook is not None and chain.kind is ruleset.ChainKind.FILTER
    )
    return ruleset.Ruleset(sets=(), chains=chains)


def table_scripts(hv: view.HostView, tiered: view.HostView | None = None) -> dict[str, str]:
    """The ``nft -f`` script of every state of :data:`TABLE_STATES` but ``none``, for one host;
    ``tiers`` only with ``tiered``, the view it is compiled from."""
    full = desired.firewall(hv).rules
    bare = desired.firewall(dataclasses.replace(hv, policies=())).rules
    tiers = {} if tiered is None else {"tiers": render_nftables.render(whole(tiered).rules)}
    return {
        **tiers,
        "hooks": render_nftables.render(hooks_only(full, conntrack=False)),
        "conntrack": render_nftables.render(hooks_only(full, conntrack=True)),
        "bare": render_nftables.render(bare),
        "full": render_nftables.render(full),
        # As the agent renders it with its setting drop_log off.
        "full-nolog": render_nftables.render(full, drop_log=False),
    }


def tables(
    cluster: Cluster,
    views: Mapping[str, view.HostView],
    tiered: Mapping[str, view.HostView] | None = None,
) -> Callable[[str], None]:
    """A switch of every host's table to one of :data:`TABLE_STATES` (``tiers``: only with
    ``tiered``, each host's view with the tiers)."""
    scripts = {name: table_scripts(hv, (tiered or {}).get(name)) for name, hv in views.items()}
    walls = {h.name: nftables_adapter.Nftables(netns=h.path) for h in cluster.hosts}

    def switch(state: str) -> None:
        if state not in TABLE_STATES:
            raise ValueError(f"table state {state!r} is not one of {', '.join(TABLE_STATES)}")
        for name, wall in walls.items():
            if state == "none":
                wall.delete()
            elif state not in scripts[name]:
                raise ValueError(f"table state {state!r} needs the views with the tiers")
            else:
                wall.apply(scripts[name][state])

    return switch
