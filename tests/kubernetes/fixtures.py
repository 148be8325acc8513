"""Load the policy scenarios (``scenarios/*.yaml`` over ``model.yaml``) into phases.

A scenario names its ``source`` (an upstream e2e case, a peers.md §4.7 edge case, a
``network-policy-api conformance`` test it re-expresses, or ``romana's own``), may
replace namespace labels (``namespaces``), pod labels (``pods``, keyed ``ns/pod``) and pod
named ports (``ports``), gives its NetworkPolicies and ClusterNetworkPolicies verbatim
(``policies``, told apart by ``kind``) and its ``probes``. Phases under ``then`` change any
of these again; each phase is checked on its own.

A probe is (protocol, port) plus the expected matrix in the upstream e2e style: every pair
starts at ``default`` and each ``[from, to, allowed]`` step (``*``, ``ns/*``, ``*/pod`` or
``ns/pod`` patterns; ``node/<host>`` rows with ``from_nodes``) overrides the pairs it
matches, in order. A pod's traffic to itself is left out (as upstream's ``ignoreLoopback``)
unless the probe sets ``loopback``; it is then expected to pass whatever the policies say.

Policy text may use ``{ip:ns/pod}`` (the pod's address) and ``{prefix:host}`` (the host's
block), filled in from the address plan before parsing.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from romana.core import addressing
from romana.core.kubernetes import explain, networkpolicy
from romana.core.kubernetes import objects as ko

HERE = Path(__file__).resolve().parent
SCENARIOS = sorted((HERE / "scenarios").glob("*.yaml"))
_PLACEHOLDER = re.compile(r"\{(ip|prefix):([^}]+)\}")
SOURCES = ("upstream e2e", "peers.md", "network-policy-api conformance", "romana's own")
"""What a scenario's ``source`` starts with: where the case it checks comes from."""


@dataclass(frozen=True)
class Probe:
    protocol: str
    port: int
    expected: dict[tuple[str, str], bool]


@dataclass(frozen=True)
class Phase:
    scenario: str
    index: int
    cluster: explain.Cluster
    probes: tuple[Probe, ...]

    @property
    def id(self) -> str:
        return self.scenario if self.index == 0 else f"{self.scenario}+{self.index}"


def model() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((HERE / "model.yaml").read_text())
    return data


def _cluster(base: dict[str, Any], state: dict[str, Any]) -> explain.Cluster:
    net = base["network"]
    lay = addressing.layout(
        net["name"], net["cidr"], net["tenant_bits"], net["segment_bits"], net["endpoint_bits"]
    )
    namespaces = tuple(
        ko.Namespace(name, tuple(sorted({**labels, "kubernetes.io/metadata.name": name}.items())))
        for name, labels in state["namespaces"].items()
    )
    default_ports = tuple(
        ko.NamedPort(p["name"], p["port"], p.get("protocol", "TCP")) for p in base["ports"]
    )
    pods = []
    for ns in state["namespaces"]:
        for name, host in base["pods"].items():
            key = f"{ns}/{name}"
            labels = state["pods"].get(key, {"pod": name})
            ports = state["ports"].get(key)
            pods.append(
                ko.Pod(
                    ns,
                    name,
                    tuple(sorted(labels.items())),
                    node=host,
                    ports=default_ports
                    if ports is None
                    else tuple(
                        ko.NamedPort(p["name"], p["port"], p.get("protocol", "TCP")) for p in ports
                    ),
                )
            )
    cluster = explain.with_addresses(
        explain.Cluster({lay.name: lay}, dict(base["hosts"]), namespaces, tuple(pods))
    )
    ips = {p.key: str(p.ips[0]) for p in cluster.pods}
    prefixes = {h: str(addressing.host_prefix(lay, i)) for h, i in base["hosts"].items()}

    def fill(match: re.Match[str]) -> str:
        table = ips if match[1] == "ip" else prefixes
        return table[match[2]]

    text = _PLACEHOLDER.sub(fill, yaml.safe_dump(state["policies"]))
    parsed = [ko.parse(p) for p in yaml.safe_load(text) or []]
    policies = tuple(p for p in parsed if isinstance(p, networkpolicy.NetworkPolicy))
    tiered = tuple(p for p in parsed if isinstance(p, ko.ClusterNetworkPolicy))
    assert len(policies) + len(tiered) == len(parsed), "policies: NetworkPolicy or CNP only"
    return explain.Cluster(
        cluster.layouts, cluster.hosts, namespaces, cluster.pods, policies, tiered
    )


def _probe(raw: dict[str, Any], cluster: explain.Cluster) -> Probe:
    sources = [p.key for p in cluster.pods]
    if raw.get("from_nodes"):
        sources += [f"node/{h}" for h in cluster.hosts]
    expected: dict[tuple[str, str], bool] = {}
    for src in sources:
        for dst in (p.key for p in cluster.pods):
            if src == dst and not raw.get("loopback"):
                continue
            allowed = bool(raw["default"])
            for pattern_from, pattern_to, value in raw["expect"]:
                if fnmatch.fnmatchcase(src, pattern_from) and fnmatch.fnmatchcase(dst, pattern_to):
                    allowed = bool(value)
            expected[src, dst] = True if src == dst else allowed
    return Probe(str(raw["protocol"]), int(raw["port"]), expected)


def phases(path: Path) -> list[Phase]:
    base = model()
    raw = yaml.safe_load(path.read_text())
    assert str(raw.get("source", "")).startswith(SOURCES), path
    state: dict[str, Any] = {
        "namespaces": dict(base["namespaces"]),
        "pods": {},
        "ports": {},
        "policies": [],
    }
    out = []
    for index, step in enumerate([raw, *raw.get("then", [])]):
        for key in ("namespaces", "pods", "ports"):
            state[key] = {**state[key], **step.get(key, {})}
        if "policies" in step:
            state["policies"] = step["policies"]
        cluster = _cluster(base, state)
        probes = tuple(_probe(p, cluster) for p in step["probes"])
        out.append(Phase(path.stem, index, cluster, probes))
    return out


def all_phases() -> list[Phase]:
    return [phase for path in SCENARIOS for phase in phases(path)]


def table(probe: Probe, observed: dict[tuple[str, str], bool]) -> str:
    """The expected/observed difference as text: one line per pair that differs."""
    lines = [
        f"  {src:>8} -> {dst:<5} expected {'allow' if want else 'deny '} got "
        f"{'allow' if observed.get((src, dst)) else 'deny'}"
        for (src, dst), want in sorted(probe.expected.items())
        if observed.get((src, dst)) != want
    ]
    return f"{probe.protocol}/{probe.port}:\n" + "\n".join(lines)
