"""Acceptance: real agents enforce Kubernetes NetworkPolicy applied with ``romana policy apply``.

One cluster per firewall backend (:func:`romana.lab.cluster`, three hosts): the namespaces of
the scenario model (``tests/kubernetes/model.yaml``: x, y, z labelled ``ns=<name>``) become
tenants through ``romana policy apply``; pods a, b, c of each namespace are endpoints added
through the agents' local API with their labels (a on h1, b on h2, c on h3 — so traffic also
crosses rack 2's aggregate route) and serve TCP on port 80. Each scenario's NetworkPolicies,
together with the Namespace and Pod documents (labels, addresses), go to romanad through the
CLI, run in-process in the control namespace as a user would against romanad. The TCP matrix
between all pods must then match the scenario's expected matrix — the one the evaluator is
checked against in ``tests/kubernetes`` — and label changes, new pods and a deleted policy
must be enforced within a second.
"""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kubernetes import fixtures
from romana.cli.main import app
from romana.lab import Cluster, Host, Workload, cluster, topologies
from support import env

pytestmark = [pytest.mark.root, pytest.mark.slow]

PORT = 80
PROBE_TIMEOUT = 0.5
SETTLE = 5.0  # a whole scenario (new policies, sets, tenants' isolation) on every host
CONVERGE = 1.0  # one label, pod or policy change
PLACEMENT = {"a": 0, "b": 1, "c": 2}  # pod name → host index
SCENARIOS = (
    "e2e-01-default-deny-ingress",
    "e2e-03-podselector-within-namespace",
    "e2e-06-namespace-selector",
    "e2e-35-ipblock-except",
)
_IP = re.compile(r"\{ip:([^}]+)\}")


@dataclass
class Pod:
    namespace: str
    name: str
    host: Host
    workload: Workload
    address: str
    labels: dict[str, str]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def document(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels},
            "spec": {"nodeName": self.host.name},
            "status": {"podIP": self.address},
        }


@dataclass
class Kube:
    """The cluster, its pods, and ``romana policy apply`` of the whole desired state."""

    agents: Cluster
    namespaces: dict[str, dict[str, str]]
    pods: dict[str, Pod] = field(default_factory=dict)
    applied: int = 0

    def add_pod(self, namespace: str, name: str, host: Host, labels: dict[str, str]) -> Pod:
        workload = self.agents.lab.add_workload(host, f"{namespace}{name}")
        answer = self.agents.agent(host).api.add_endpoint(
            {
                "container_id": f"c-{self.agents.lab.prefix}-{namespace}-{name}",
                "ifname": "eth0",
                "netns": workload.path,
                "network": "romana-test",
                "tenant": namespace,
                "segment": "default",
                "labels": labels,
            }
        )
        self.agents.lab.listen(workload, "tcp", PORT)
        address = answer["addresses"][0]["address"].split("/")[0]
        pod = Pod(namespace, name, host, workload, address, dict(labels))
        self.pods[pod.key] = pod
        return pod

    def apply(self, policies: list[dict[str, Any]] | None = None) -> None:
        """``romana policy apply -f`` of the namespaces, every pod and ``policies``."""
        docs: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}
            for n, labels in self.namespaces.items()
        ]
        docs += [p.document() for p in self.pods.values()]
        docs += policies or []
        self.applied += 1
        path = self.agents.workdir / f"apply-{self.applied}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        environ = {
            "ROMANA_URL": self.agents.url,
            "ROMANA_CONFIG": str(self.agents.workdir / "cli.toml"),
            "ROMANA_TOKEN": self.agents.api.client.token,
            "ROMANA_RETRIES": "1",
        }
        result = self.agents.api.call(
            lambda: CliRunner().invoke(app, ["policy", "apply", "-f", str(path)], env=environ)
        )
        assert result.exit_code == 0, result.output

    def tcp(self, src: str, dst: str, timeout: float = PROBE_TIMEOUT) -> bool:
        target = self.pods[dst]
        return self.agents.lab.tcp_probe(
            self.pods[src].workload, target.address, PORT, timeout=timeout
        )

    def matrix(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        with concurrent.futures.ThreadPoolExecutor(36) as pool:
            return dict(zip(pairs, pool.map(lambda p: self.tcp(*p), pairs), strict=True))

    def settle(self, expected: dict[tuple[str, str], bool]) -> dict[tuple[str, str], bool]:
        """The matrix once it equals ``expected``, or the last one after :data:`SETTLE` s."""
        deadline = time.monotonic() + SETTLE
        while True:
            seen = self.matrix(list(expected))
            if seen == expected or time.monotonic() > deadline:
                return seen

    def converge(self, src: str, dst: str, allowed: bool) -> float | None:
        """Seconds until ``src`` → ``dst`` first gave ``allowed``; None after CONVERGE + 2 s."""
        started = time.monotonic()
        while time.monotonic() - started < CONVERGE + 2.0:
            at = time.monotonic()
            if self.tcp(src, dst, timeout=0.2) == allowed:
                return at - started
        return None


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def kube(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kube]:
    env.need_root()
    for binary in ("ip", "nft", "iptables-restore", "ipset"):
        env.need_binary(binary)
    firewall = str(request.param)
    workdir: Path = tmp_path_factory.mktemp(f"kube-{firewall}")
    model = fixtures.model()
    with cluster(workdir, firewall, hosts=3, topology=topologies.pods()) as made:
        try:
            namespaces = {
                ns: {**labels, "kubernetes.io/metadata.name": ns}
                for ns, labels in model["namespaces"].items()
            }
            k = Kube(made, namespaces)
            k.apply()  # the namespaces become tenants before any pod is wired
            for ns in namespaces:
                for name, index in PLACEMENT.items():
                    k.add_pod(ns, name, made.hosts[index], {"pod": name})
            yield k
        except BaseException:
            print(made.log_tails())
            raise


def scenario(name: str, kube: Kube) -> tuple[list[fixtures.Phase], list[dict[str, Any]]]:
    """The scenario's phases and its NetworkPolicies with ``{ip:ns/pod}`` filled in."""
    path = fixtures.HERE / "scenarios" / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    text = _IP.sub(lambda m: kube.pods[m[1]].address, yaml.safe_dump(raw["policies"]))
    return fixtures.phases(path), list(yaml.safe_load(text))


def tcp_expected(phase: fixtures.Phase) -> dict[tuple[str, str], bool]:
    probe = next(p for p in phase.probes if (p.protocol, p.port) == ("TCP", PORT))
    return {k: v for k, v in probe.expected.items() if not k[0].startswith("node/")}


def difference(expected: dict[tuple[str, str], bool], seen: dict[tuple[str, str], bool]) -> str:
    return "\n".join(
        f"  {s:>4} -> {d:<4} expected {'allow' if want else 'deny'}"
        for (s, d), want in sorted(expected.items())
        if seen.get((s, d)) != want
    )


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_tcp_matrix_is_the_scenarios(kube: Kube, name: str) -> None:
    phases, policies = scenario(name, kube)
    expected = tcp_expected(phases[0])
    assert len(expected) == 9 * 8
    kube.apply(policies)
    seen = kube.settle(expected)
    assert seen == expected, f"{name}:\n{difference(expected, seen)}\n{kube.agents.log_tails()}"


def test_relabel_new_pod_and_deletion_are_enforced_within_a_second(kube: Kube) -> None:
    phases, policies = scenario("e2e-22-pod-label-update", kube)
    before, after = (tcp_expected(p) for p in phases)
    kube.apply(policies)
    seen = kube.settle(before)
    assert seen == before, difference(before, seen)
    assert not kube.tcp("x/b", "x/a")

    # x/b gains the label the policy's podSelector asks for: only the set members change.
    kube.pods["x/b"].labels = {"pod": "b", "updated": "yes"}
    kube.apply(policies)
    took = kube.converge("x/b", "x/a", True)
    assert took is not None and took <= CONVERGE, f"relabel enforced after {took} s"
    seen = kube.matrix(list(after))
    assert seen == after, difference(after, seen)

    # A new pod on another host that matches the selector is let in; one that does not, not.
    kube.add_pod("x", "d", kube.agents.hosts[2], {"pod": "b", "updated": "yes"})
    kube.add_pod("y", "e", kube.agents.hosts[0], {"pod": "b", "updated": "yes"})
    kube.apply(policies)
    took = kube.converge("x/d", "x/a", True)
    assert took is not None and took <= CONVERGE, f"new pod enforced after {took} s"
    assert not kube.tcp("y/e", "x/a"), "a podSelector peer is of the policy's namespace only"

    # Deleting the NetworkPolicy reopens x/a to everyone.
    kube.apply([])
    took = kube.converge("x/c", "x/a", True)
    assert took is not None and took <= CONVERGE, f"deletion enforced after {took} s"
    assert kube.tcp("y/e", "x/a") and kube.tcp("z/b", "x/a")
