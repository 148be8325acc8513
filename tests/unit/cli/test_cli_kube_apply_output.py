"""``romana policy apply -o json|yaml`` prints romanad's whole answer (objects, the kube
policies now stored, what was created, refused or noted) as one document, like every other
command's ``-o``; the table form stays one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

DOCS = [
    {"kind": "Namespace", "metadata": {"name": "kout-fmt"}},
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p1", "namespace": "kout-fmt"},
        "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]},
    },
]


def test_policy_apply_prints_json_and_yaml(planned: Any, tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump_all(DOCS))
    try:
        as_json = planned("policy", "apply", "-f", str(path), "-o", "json")
        assert as_json.exit_code == 0, as_json.output
        answer = json.loads(as_json.stdout)
        assert answer["objects"] == 2
        assert answer["policies"] == ["kout-fmt/kube.kout-fmt.p1"]
        assert answer["refused"] == []
        as_yaml = planned("policy", "apply", "-f", str(path), "-o", "yaml")
        assert as_yaml.exit_code == 0, as_yaml.output
        again = yaml.safe_load(as_yaml.stdout)
        assert again["policies"] == answer["policies"] and again["created"] == []
        table = planned("policy", "apply", "-f", str(path))
        assert table.stdout == "applied 2 objects; kube policies now: kout-fmt/kube.kout-fmt.p1\n"
    finally:
        path.write_text(yaml.safe_dump(DOCS[0]))
        planned("policy", "apply", "-f", str(path))
        planned("tenant", "delete", "kout-fmt")
