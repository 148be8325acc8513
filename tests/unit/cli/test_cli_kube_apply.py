"""``romana policy apply -f``: Kubernetes YAML through the listener's translation, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from romana.cli import main
from romana.client import Client, ClientSettings
from romana.core import errors

NAMESPACES = [
    {"kind": "Namespace", "metadata": {"name": n, "labels": {"team": n}}} for n in ("kshop", "kout")
]
POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "db-from-web", "namespace": "kshop"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "web"}}}]}],
    },
}


def pod(ns: str, name: str, ip: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": "h1"},
        "status": {"podIP": ip},
    }


def write(path: Path, docs: list[dict[str, Any]]) -> str:
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def sets_of(client: Client) -> dict[str, list[str]]:
    return {s["name"]: s["members"] for s in client.list_address_sets()}


def test_apply_keeps_policies_and_set_members_in_step(
    planned: Any, server: Any, tmp_path: Path
) -> None:
    pods = [
        pod("kshop", "db", "10.1.17.1", {"app": "db"}),
        pod("kshop", "web", "10.1.17.2", {"role": "web"}),
        pod("kout", "web", "10.1.33.1", {"role": "web"}),
    ]
    first = planned(
        "policy", "apply", "-f", write(tmp_path / "a.yaml", [*NAMESPACES, *pods, POLICY])
    )
    assert first.exit_code == 0, first.output
    assert "kshop/kube.kshop.db-from-web" in first.stdout
    with Client(ClientSettings(url=(server.url,))) as client:
        client.login(*server.admin())
        assert {p["id"] for p in client.list_policies()} >= {"kshop/kube.kshop.db-from-web"}
        # Namespaces' tenants carry Kubernetes isolation themselves, not a marker policy.
        tenants = {t["name"]: t["isolation"]["mode"] for t in client.list_tenants()}
        assert tenants["kshop"] == tenants["kout"] == "kubernetes"
        assert sorted(sets_of(client).values()) == [[], ["10.1.17.1/32"], ["10.1.17.2/32"]]

        relabelled = [*pods[:1], pod("kshop", "web", "10.1.17.2", {}), *pods[2:]]
        again = write(tmp_path / "b.yaml", [*NAMESPACES, *relabelled, POLICY])
        assert planned("policy", "apply", "-f", again).exit_code == 0
        assert sorted(sets_of(client).values()) == [[], [], ["10.1.17.1/32"]]

        dropped = write(tmp_path / "c.yaml", [*NAMESPACES, *relabelled])
        assert planned("policy", "apply", "-f", dropped).exit_code == 0
        kube = {p["id"] for p in client.list_policies() if p["id"].startswith("kube.")}
        assert kube == set()
        assert [n for n in sets_of(client) if n != "kube.none"] == []
        for namespace in ("kshop", "kout"):
            client.delete_tenant(namespace)


def test_apply_needs_a_user_who_may_write(fresh: Any, tmp_path: Path) -> None:
    result = fresh("policy", "apply", "-f", write(tmp_path / "p.yaml", [*NAMESPACES, POLICY]))
    code = next(c for k, c, _ in main.EXIT_CODES if k is errors.Unauthorized)
    assert result.exit_code == code, result.output


def test_bad_yaml_names_the_document_and_changes_nothing(planned: Any, tmp_path: Path) -> None:
    ports = [{"protocol": "ICMP", "port": 80}]
    broken = {**POLICY, "spec": {"podSelector": {}, "ingress": [{"ports": ports}]}}
    result = planned("policy", "apply", "-f", write(tmp_path / "bad.yaml", [*NAMESPACES, broken]))
    code = next(c for k, c, _ in main.EXIT_CODES if k is errors.InvalidInput)
    assert result.exit_code == code, result.output
    assert "document 3" in result.stderr
    listed = planned("tenant", "list", "-o", "json")
    assert "kshop" not in listed.stdout


def test_an_api_list_answer_applies_as_its_objects(
    planned: Any, server: Any, tmp_path: Path
) -> None:
    """What ``kubectl get --raw /apis/networking.k8s.io/v1/networkpolicies`` prints: a typed
    list whose items carry neither kind nor apiVersion."""
    typed = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicyList",
        "items": [{k: v for k, v in POLICY.items() if k not in ("kind", "apiVersion")}],
    }
    kubectl = {"apiVersion": "v1", "kind": "List", "items": NAMESPACES}
    pods = [pod("kshop", "db", "10.1.17.1", {"app": "db"})]
    done = planned("policy", "apply", "-f", write(tmp_path / "l.yaml", [kubectl, *pods, typed]))
    assert done.exit_code == 0, done.output
    assert "kshop/kube.kshop.db-from-web" in done.stdout
