"""The host's ruleset under the dataplane benchmark's load, without traffic: how long the
agent's code takes to program it, and whether its size grows with the endpoints.

Both take the host view ``bench.dataplane`` got from romanad under its load (1,000 tenants,
2,000 policies), and again that view with the 100 ClusterNetworkPolicies of
:mod:`bench.tiered`, and work in fresh lab namespaces of their own:

* programming: compile (the agent's :func:`romana.agent.desired.firewall`), render and
  ``nft -f`` into an empty namespace, best of three;
* size: the rules the kernel holds after applying the ruleset with 1,000 and with 10,000
  endpoints of one tenant in the view, for nftables and iptables — the same count at both.
"""

from __future__ import annotations

import ipaddress
import json
import time

from bench import common
from romana.agent import desired, view
from romana.agent import firewall as firewall_mod
from romana.core import kernelnames
from romana.core.identifiers import AllocationKey, HostName, SegmentName, TenantName
from romana.dataplane.proc import CommandFailed
from romana.lab import Lab, Node


def whole(hv: view.HostView) -> desired.Firewall:
    """The host's firewall, refusing none of the view's policies: a figure of a ruleset that
    left some out would not be the figure of the load."""
    fw = desired.firewall(hv)
    if fw.refused:
        raise RuntimeError(f"the agent refused policies of the load: {'; '.join(fw.refused)}")
    return fw


def kernel_refusal(hv: view.HostView) -> str:
    """'' when ``nft -f`` takes the ruleset of ``hv`` into a fresh namespace; else the first
    line of the kernel's refusal, so that a load the kernel cannot hold is reported as such
    instead of ending the run."""
    with Lab() as lab:
        node = lab.add_host("try")
        try:
            firewall_mod.Nftables(netns=node.path).apply(whole(hv).rules)
        except CommandFailed as exc:
            first = str(exc).splitlines()[0]
            return "nft: " + first.split("Error: ", 1)[1] if "Error: " in first else first
    return ""


def programming_results(hv: view.HostView, what: str = "") -> list[common.Result]:
    """Compile + render + apply the ruleset of ``hv`` into a fresh namespace; ``what`` names
    its policies in the row (by default their count)."""
    results = []
    what = what or f"{len(hv.policies)} policies"
    with Lab() as lab:
        node = lab.add_host("prog")
        fw = firewall_mod.Nftables(netns=node.path)
        timings = []
        for _ in range(3):
            started = time.monotonic()
            rules = whole(hv).rules
            compiled = time.monotonic()
            fw.apply(rules)
            timings.append((compiled - started, time.monotonic() - compiled))
        compile_s, apply_s = min(timings, key=lambda t: t[0] + t[1])
    total = compile_s + apply_s
    results.append(
        common.Result(
            f"program {what} (compile {compile_s * 1000:.0f} ms + nft -f {apply_s * 1000:.0f} ms)",
            round(total * 1000, 1),
            "ms",
            "<= 1000 ms",
            None,
            "",
            round(total, 3),
            total <= 1.0,
        )
    )
    return results


def endpoints_view(hv: view.HostView, count: int) -> view.HostView:
    """``hv`` with ``count`` allocations of this host (in the view, as romanad sends them)."""
    from dataclasses import replace

    from romana.core import ipam

    first = int(hv.prefixes[0].prefix.network_address) + (1 << 10)
    allocs: dict[str, ipam.Allocation] = {}
    for i in range(count):
        address = ipaddress.ip_address(first + i + 1)
        key = AllocationKey(f"k{i}")
        allocs[key] = ipam.Allocation(
            key, HostName(hv.host), TenantName("bt1"), SegmentName("default"), (address,)
        )
    return replace(hv, endpoints=allocs)


def kernel_rules(lab: Lab, node: Node, backend: str) -> int:
    if backend == "nftables":
        listed = json.loads(
            lab.run(
                node, ["nft", "-j", "list", "table", kernelnames.NFT_FAMILY, kernelnames.NFT_TABLE]
            ).stdout
        )
        return sum(1 for item in listed["nftables"] if "rule" in item)
    saved = lab.run(node, ["iptables-save", "-t", "filter"]).stdout
    return sum(
        1 for line in saved.splitlines() if line.startswith("-A " + kernelnames.IPTABLES_PREFIX)
    )


def size_results(hv: view.HostView, what: str = "") -> list[common.Result]:
    """The rules the kernel holds at 1,000 and 10,000 endpoints; ``what``: the load named in
    the rows (by default none: the benchmark's)."""
    results = []
    load = f" with {what}" if what else ""
    with Lab() as lab:
        for backend in ("nftables", "iptables"):
            counts = {}
            for count in (1000, 10000):
                node = lab.add_host(f"{backend[:3]}{count}")
                fw = firewall_mod.backend(backend, node.path)
                rules = whole(endpoints_view(hv, count)).rules
                fw.apply(rules)
                counts[count] = kernel_rules(lab, node, backend)
            results.append(
                common.Result(
                    f"{backend} rules{load} at 10,000 endpoints (reference: 1,000)",
                    counts[10000],
                    "rules",
                    "same as at 1,000",
                    counts[1000],
                    "1,000 endpoints",
                    round(counts[10000] / counts[1000], 3),
                    counts[10000] == counts[1000],
                )
            )
    return results
