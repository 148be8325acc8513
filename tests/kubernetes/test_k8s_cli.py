"""``romana explain`` and ``romana policy apply -f`` on multi-document Kubernetes YAML."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kubernetes import applied
from romana.cli.main import app
from romana.lab import topologies

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
    assert body["ingress"]["rule"] is None and body["target"]["pod"] == "shop/db"
    wrong_port = runner.invoke(app, [*base, "--from", "shop/web", "--port", "tcp/80", "--json"])
    assert json.loads(wrong_port.output)["allowed"] is False
    bad = runner.invoke(app, [*base, "--from", "shop/web", "--port", "tcp/x"])
    assert bad.exit_code != 0 and "must be tcp/PORT" in bad.output


def test_explain_offline_answers_like_the_online_explainer(tmp_path: Path) -> None:
    """One engine: the same lines as without -f (endpoints, hosts, the policy rule)."""
    f = tmp_path / "cluster.yaml"
    f.write_text(CLUSTER)
    runner = CliRunner()
    base = ["explain", "-f", str(f), "--from", "shop/web", "--to", "shop/db"]
    ok = runner.invoke(app, [*base, "--port", "tcp/5432"])
    assert ok.exit_code == 0, ok.output
    text = ok.output
    assert "pod shop/db, host h1, tenant shop (kubernetes)" in text
    assert "ingress at host h1: allowed" in text
    assert "as allow policy shop/kube.shop.db-from-web ingress[0].rules[0]" in text
    # ICMP is explained too: no rule of the NetworkPolicy allows it, so shop/db refuses it.
    icmp = runner.invoke(app, [*base, "--port", "icmp", "--json"])
    assert icmp.exit_code == 0, icmp.output
    body = json.loads(icmp.output)
    assert body["allowed"] is False and body["protocol"] == "icmp"
    missing = runner.invoke(
        app, ["explain", "-f", str(f), "--from", "shop/nope", "--to", "shop/db", "--port", "tcp/80"]
    )
    assert missing.exit_code != 0 and "no pod 'shop/nope' in the given files" in missing.output
    no_ns = runner.invoke(
        app, ["explain", "-f", str(f), "--from", "q/a", "--to", "shop/db", "--port", "tcp/80"]
    )
    assert no_ns.exit_code != 0 and "no namespace 'q' in the given files" in no_ns.output


def test_policy_apply_translates_like_the_listener(tmp_path: Path) -> None:
    with applied.policy_applied(tmp_path, CLUSTER, TOPOLOGY) as client:
        kube_policies = {
            p["id"]: p for p in client.list_policies() if p["id"].split("/")[-1].startswith("kube.")
        }
        assert {"shop", "other"} <= {t["name"] for t in client.list_tenants()}
        assert set(kube_policies) == {"shop/kube.shop.db-from-web"}
        modes = {t["name"]: t["isolation"]["mode"] for t in client.list_tenants()}
        assert modes["shop"] == modes["other"] == "kubernetes"
        rule = kube_policies["shop/kube.shop.db-from-web"]["ingress"][0]["rules"][0]
        assert rule == {"protocol": "tcp", "ports": [5432]}
        assert [s for s in client.list_address_sets() if s["name"].startswith("kube.")], (
            "the podSelectors became address sets"
        )
