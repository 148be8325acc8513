"""``POST /v1/kube/apply``: romanad runs the listener's sync over posted Kubernetes documents.

What ``romana policy apply -f`` relies on: the answer names what the sync created, updated and
deleted (nothing on a repeat), a bad document is a 422 naming it and changes nothing, only
admin and service users may apply, and the audit line names what changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from unit.api.conftest import Api, start

NAMESPACE = {"kind": "Namespace", "metadata": {"name": "kq", "uid": "uid-kq"}}
POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "db-from-web", "namespace": "kq"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "web"}}}]}],
    },
}
PODS = [
    {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "kq", "labels": labels},
        "spec": {"nodeName": "h1"},
        "status": {"podIP": ip},
    }
    for name, labels, ip in (
        ("db", {"app": "db"}, "10.1.17.1"),
        ("web", {"role": "web"}, "10.1.17.2"),
    )
]
PID = "kq/kube.kq.db-from-web"


class Audited(Api):
    def __init__(self, daemon: Any, audit: Path) -> None:
        super().__init__(daemon)
        self.audit = audit

    def changes(self, path: str) -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in self.audit.read_text().splitlines() if x.strip()]
        return [x for x in lines if x["event"] == "change" and x["path"] == path]


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    workdir = tmp_path_factory.mktemp("romanad")
    audit = workdir / "audit.log"
    with start(workdir, extra=["--audit-log", str(audit)]) as daemon:
        yield Audited(daemon, audit)


def apply(api: Audited, *docs: dict[str, Any], as_: Any = None) -> Any:
    return (as_ or api.admin).post("/v1/kube/apply", json={"documents": list(docs)})


def test_apply_answers_what_changed_and_the_audit_names_it(audited: Audited) -> None:
    first = apply(audited, NAMESPACE, *PODS, POLICY)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["objects"] == 4 and body["policies"] == [PID]
    assert {"tenants/kq", f"policies/{PID}"} <= set(body["created"])
    sets = [c for c in body["created"] if c.startswith("address-sets/kube.")]
    assert len(sets) == 3 and "address-sets/kube.none" in sets, "two selectors, and nothing"
    assert body["updated"] == ["kube/objects"] and body["deleted"] == body["refused"] == []
    assert audited.admin.get(f"/v1/policies/{PID}").status_code == 200
    line = audited.changes("/v1/kube/apply")[-1]
    assert set(line["object"].split(",")) == {*body["created"], *body["updated"]}

    again = apply(audited, NAMESPACE, *PODS, POLICY).json()
    assert again["created"] == again["updated"] == again["deleted"] == []
    assert again["policies"] == [PID]
    assert audited.changes("/v1/kube/apply")[-1]["object"] == "kube/apply"

    dropped = apply(audited, NAMESPACE, *PODS).json()
    assert f"policies/{PID}" in dropped["deleted"] and dropped["policies"] == []
    assert audited.admin.get(f"/v1/policies/{PID}").status_code == 404


def test_a_bad_document_is_named_and_nothing_changes(audited: Audited) -> None:
    broken = {**POLICY, "spec": {"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}}
    other = {"kind": "Namespace", "metadata": {"name": "kbad"}}
    response = apply(audited, other, broken)
    assert response.status_code == 422, response.text
    assert "document 2" in response.json()["detail"]
    tenants = {t["name"] for t in audited.admin.get("/v1/tenants").json()}
    assert "kbad" not in tenants


def test_only_admin_and_service_users_may_apply(audited: Audited) -> None:
    tenant = audited.user("kq-user", "tenant", tenant="kq2")
    assert apply(audited, NAMESPACE, as_=tenant).status_code == 403
    agent = audited.user("kq-agent", "agent", host="h1")
    assert apply(audited, NAMESPACE, as_=agent).status_code == 403
    service = audited.user("kq-service", "service")
    done = apply(audited, {"kind": "Namespace", "metadata": {"name": "ksvc"}}, as_=service)
    assert done.status_code == 200, done.text
    assert "tenants/ksvc" in done.json()["created"]


def test_a_node_without_an_address_is_refused_and_the_rest_written(audited: Audited) -> None:
    waiting = {"kind": "Node", "metadata": {"name": "kn-new"}}
    namespace = {"kind": "Namespace", "metadata": {"name": "knode"}}
    body = apply(audited, namespace, waiting).json()
    assert body["refused"] == [
        {"object": "hosts/kn-new", "reason": "the node has no usable address"}
    ]
    assert "tenants/knode" in body["created"]
