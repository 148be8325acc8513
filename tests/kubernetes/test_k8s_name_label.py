"""Offline Kubernetes objects carry the label the API server gives every Namespace.

A real cluster labels each Namespace ``kubernetes.io/metadata.name=<name>``, and the
Kubernetes documentation recommends selecting namespaces by it. ``romana explain -f`` and
``romana policy apply -f`` read YAML that never passed through an API server, so they must
add the label themselves, or such a policy answers "denied" offline while the cluster allows.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kubernetes import applied
from romana.cli.main import app
from romana.lab import topologies

NAME = "kubernetes.io/metadata.name"

# "implied" is given by no Namespace document: only a pod lives in it.
CLUSTER = f"""\
kind: Namespace
metadata: {{name: shop}}
---
kind: Namespace
metadata: {{name: other, labels: {{"{NAME}": forged, team: b}}}}
---
kind: Namespace
metadata: {{name: third}}
---
kind: Pod
metadata: {{name: db, namespace: shop, labels: {{app: db}}}}
spec: {{nodeName: h1}}
---
kind: Pod
metadata: {{name: web, namespace: other}}
spec: {{nodeName: h2}}
---
kind: Pod
metadata: {{name: web, namespace: third}}
spec: {{nodeName: h2}}
---
kind: Pod
metadata: {{name: web, namespace: implied}}
spec: {{nodeName: h1}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: db-from-other, namespace: shop}}
spec:
  podSelector: {{}}
  ingress:
  - from:
    - namespaceSelector: {{matchLabels: {{"{NAME}": other}}}}
    - namespaceSelector: {{matchLabels: {{"{NAME}": implied}}}}
"""


def explain(path: Path, source: str) -> dict[str, object]:
    argv = ["explain", "-f", str(path), "--from", source, "--to", "shop/db", "--port", "tcp/80"]
    result = CliRunner().invoke(app, [*argv, "--json"])
    assert result.exit_code == 0, result.output
    body: dict[str, object] = json.loads(result.output)
    return body


def test_offline_explain_selects_namespaces_by_their_name_label(tmp_path: Path) -> None:
    f = tmp_path / "cluster.yaml"
    f.write_text(CLUSTER)
    # The document's own value of the label is overridden by the name, as the API server does.
    assert explain(f, "other/web")["allowed"] is True
    assert explain(f, "implied/web")["allowed"] is True
    assert explain(f, "third/web")["allowed"] is False


def test_policy_apply_stores_namespaces_with_the_name_label(tmp_path: Path) -> None:
    with applied.policy_applied(tmp_path, CLUSTER, topologies.pods(racks=())) as client:
        kube_policies = {
            p["id"]: p for p in client.list_policies() if p["id"].split("/")[-1].startswith("kube.")
        }
        stored = {
            n["metadata"]["name"]: n["metadata"].get("labels", {})
            for n in client.kube_objects()["namespaces"]
        }
        assert stored == {
            "shop": {NAME: "shop"},
            "other": {NAME: "other", "team": "b"},
            "third": {NAME: "third"},
        }
        ingress = kube_policies["shop/kube.shop.db-from-other"]["ingress"]
        assert [peer for clause in ingress for peer in clause["peers"]] == [{"tenant": "other"}]
