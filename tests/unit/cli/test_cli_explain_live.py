"""``romana explain`` without ``-f``: the verdict from romanad's model, over HTTP.

A real romanad (its own SQLite store) is given a topology; ``romana policy apply -f`` then
stores NetworkPolicy scenarios whose pods hold addresses from romanad's IPAM, and
``romana explain --from … --to … --port …`` must give, for every pair tried, the verdict the
explainer gives on the scenario's offline model (:func:`explain.model`, its own address
plan) and the scenario's expected matrix says, and name the NetworkPolicy that decided.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kubernetes import fixtures
from romana.cli import main
from romana.client import Client, ClientSettings
from romana.core import errors
from romana.core.kubernetes import dump, explain, networkpolicy
from romana.core.kubernetes import objects as ko
from romana.core.policy import reach
from romana.lab import topologies
from romana.lab.romanad import Romanad
from unit.cli.conftest import Cli, logged_in

TOPOLOGY = topologies.pods(racks=())
NODES = [
    {
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }
    for name, ip in (("h1", "192.0.2.1"), ("h2", "192.0.2.2"))
]
SCENARIOS = ["e2e-03-podselector-within-namespace", "e2e-06-namespace-selector"]


def start(workdir: Path) -> Romanad:
    topology = workdir / "topology.json"
    topology.write_text(json.dumps(TOPOLOGY))
    store = f"sqlite:///{workdir / 'romana.db'}"
    return Romanad(workdir, store=store, extra=["--initial-topology", str(topology)]).start()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Romanad]:
    running = start(tmp_path_factory.mktemp("romanad-explain"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cli(daemon: Romanad, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return logged_in(daemon.url, tmp_path_factory.mktemp("config-explain"), *daemon.admin())


def apply(cli: Cli, daemon: Romanad, phase: fixtures.Phase, path: Path) -> explain.Cluster:
    """Store the phase in romanad with pod addresses from romanad's IPAM; the live pods."""
    cluster = phase.cluster
    base = [*NODES, *(dump.dump(n) for n in cluster.namespaces)]
    path.write_text(yaml.safe_dump_all(base))
    done = cli("policy", "apply", "-f", str(path))
    assert done.exit_code == 0, done.output
    with Client(ClientSettings(url=(daemon.url,))) as client:
        client.login(*daemon.admin())
        pods = [
            dataclasses.replace(
                p,
                ips=tuple(
                    ipaddress.ip_address(a.split("/")[0])
                    for a in client.allocate(f"{p.namespace}.{p.name}", p.node, p.namespace)[
                        "addresses"
                    ]
                ),
            )
            for p in cluster.pods
        ]
    objects: list[ko.Pod | networkpolicy.NetworkPolicy] = [*pods, *cluster.policies]
    docs = [*base, *(dump.dump(o) for o in objects)]
    path.write_text(yaml.safe_dump_all(docs))
    done = cli("policy", "apply", "-f", str(path))
    assert done.exit_code == 0, done.output
    return dataclasses.replace(cluster, pods=tuple(pods))


def test_no_objects_stored_is_one_clear_line(tmp_path: Path) -> None:
    empty = start(tmp_path)
    try:
        env = {"ROMANA_URL": empty.url, "ROMANA_CONFIG": str(tmp_path / "config.toml")}
        runner = Cli(CliRunner(), {**env, "ROMANA_TOKEN": None}, tmp_path)
        assert runner("login", "-u", empty.admin()[0], "-p", empty.admin()[1]).exit_code == 0
        result = runner("explain", "--from", "x/a", "--to", "x/b", "--port", "tcp/80")
        code = next(c for k, c, _ in main.EXIT_CODES if k is errors.NotFound)
        assert result.exit_code == code, result.output
        assert len(result.stderr.strip().splitlines()) == 1
        assert "romana policy apply -f" in result.stderr
    finally:
        empty.stop()


@pytest.mark.parametrize("name", SCENARIOS)
def test_live_verdicts_equal_the_pure_evaluator(
    name: str, cli: Cli, daemon: Romanad, tmp_path: Path
) -> None:
    phase = fixtures.phases(fixtures.HERE / "scenarios" / f"{name}.yaml")[0]
    apply(cli, daemon, phase, tmp_path / "cluster.yaml")
    probe = next(p for p in phase.probes if p.protocol == "TCP" and p.port == 80)
    pure_engine = reach.Explainer(explain.model(phase.cluster))
    pairs = [(s, d) for s, d in probe.expected if d == "x/a" or s == "x/a"]
    verdicts = {True: 0, False: 0}
    for src, dst in pairs:
        pure = pure_engine.explain(src, dst, "tcp/80")
        args = ["explain", "--from", src, "--to", dst, "--port", "tcp/80", "--json"]
        result = cli(*args)
        assert result.exit_code == 0, result.output
        live = json.loads(result.stdout)
        assert live["allowed"] == pure.allowed == probe.expected[src, dst], (src, dst)
        assert live["ingress"]["decided_by"] == list(pure.ingress.decided_by), (src, dst)
        verdicts[pure.allowed] += 1
    assert verdicts[True] and verdicts[False], "the pairs hold both verdicts"
    policy = phase.cluster.policies[0].key
    allowed = next(p for p in pairs if probe.expected[p] and p[1] == "x/a")
    text = cli("explain", "--from", allowed[0], "--to", "x/a", "--port", "tcp/80")
    assert text.exit_code == 0 and ": allowed" in text.stdout.splitlines()[0]
    assert f"NetworkPolicy {policy} ingress rule 0" in text.stdout
    denied = next(p for p in pairs if not probe.expected[p])
    text = cli("explain", "--from", denied[0], "--to", denied[1], "--port", "tcp/80")
    assert ": denied" in text.stdout.splitlines()[0]
    assert f"isolated for ingress by NetworkPolicy {policy}" in text.stdout


def test_unknown_namespace_or_pod_is_named(cli: Cli, daemon: Romanad, tmp_path: Path) -> None:
    phase = fixtures.phases(fixtures.HERE / "scenarios" / f"{SCENARIOS[0]}.yaml")[0]
    apply(cli, daemon, phase, tmp_path / "cluster.yaml")
    code = next(c for k, c, _ in main.EXIT_CODES if k is errors.NotFound)
    no_ns = cli("explain", "--from", "q/a", "--to", "x/a", "--port", "tcp/80")
    assert no_ns.exit_code == code and "no namespace 'q'" in no_ns.stderr
    no_pod = cli("explain", "--from", "x/a", "--to", "y/nope", "--port", "tcp/80")
    assert no_pod.exit_code == code and "'y/nope'" in no_pod.stderr


def test_the_stored_objects_round_trip(cli: Cli, daemon: Romanad, tmp_path: Path) -> None:
    phase = fixtures.phases(fixtures.HERE / "scenarios" / f"{SCENARIOS[1]}.yaml")[0]
    live = apply(cli, daemon, phase, tmp_path / "cluster.yaml")
    with Client(ClientSettings(url=(daemon.url,))) as client:
        client.login(*daemon.admin())
        stored = client.kube_objects()
    assert {ko.parse(o) for o in stored["pods"]} == set(live.pods)
    assert [ko.parse(o) for o in stored["networkpolicies"]] == sorted(
        live.policies, key=lambda p: p.key
    )
