"""``romana explain`` and ``romana policy apply -f`` on multi-document Kubernetes YAML."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from romana.cli.main import app
from romana.client import Client, ClientSettings
from romana.client.kube import KubeRomanad
from support import topologies
from support.romanad import Romanad

TOPOLOGY = topologies.pods(racks=())

CLUSTER = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {nodeName: h1}
---
kind: Pod
metadata: {name: web, namespace: shop, labels: {role: web}}
spec: {nodeName: h2}
---
kind: Pod
metadata: {name: web, namespace: other, labels: {role: web}}
spec: {nodeName: h1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: web}}}]
    ports: [{port: 5432}]
"""


def test_explain_names_the_deciding_rule_and_the_isolating_policy(tmp_path: Path) -> None:
    f = tmp_path / "cluster.yaml"
    f.write_text(CLUSTER)
    runner = CliRunner()
    base = ["explain", "-f", str(f), "--to", "shop/db"]
    ok = runner.invoke(app, [*base, "--from", "shop/web", "--port", "tcp/5432"])
    assert ok.exit_code == 0, ok.output
    assert "allowed" in ok.output.splitlines()[0]
    assert "NetworkPolicy shop/db-from-web ingress rule 0" in ok.output
    denied = runner.invoke(app, [*base, "--from", "other/web", "--port", "tcp/5432", "--json"])
    body = json.loads(denied.output)
    assert body["allowed"] is False
    assert (
        "isolated for ingress by NetworkPolicy shop/db-from-web" in body["ingress"]["decided_by"][0]
    )
    wrong_port = runner.invoke(app, [*base, "--from", "shop/web", "--port", "tcp/80", "--json"])
    assert json.loads(wrong_port.output)["allowed"] is False
    bad = runner.invoke(app, [*base, "--from", "shop/web", "--port", "icmp"])
    assert bad.exit_code != 0


def test_policy_apply_translates_like_the_listener(tmp_path: Path) -> None:
    f = tmp_path / "cluster.yaml"
    f.write_text(CLUSTER)
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps(TOPOLOGY))
    daemon = Romanad(
        tmp_path,
        store=f"sqlite:///{tmp_path / 'romana.db'}",
        insecure=True,
        extra=["--initial-topology", str(topology)],
    ).start()
    env = {"ROMANA_URL": daemon.url, "ROMANA_CONFIG": str(tmp_path / "config.toml")}
    try:
        done = CliRunner().invoke(app, ["policy", "apply", "-f", str(f)], env=env)
        assert done.exit_code == 0, done.output
        with Client(ClientSettings(url=(daemon.url,))) as client:
            target = KubeRomanad(client)
            assert {"shop", "other"} <= set(target.tenants())
            assert set(target.policies()) == {"kube.other", "kube.shop", "kube.shop.db-from-web"}
            rule = target.policies()["kube.shop.db-from-web"]["ingress"][0]["rules"][0]
            assert rule == {"protocol": "tcp", "ports": [5432]}
            assert target.address_sets(), "the podSelectors became address sets"
    finally:
        daemon.stop()
