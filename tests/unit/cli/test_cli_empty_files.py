"""An empty file given to ``-f`` is refused, naming the file, and changes nothing.

``policy apply`` takes its files as the whole desired state: an empty one (a failed
``kubectl get -o yaml > file``) would remove every policy an earlier apply derived, so it is
refused; ``kind: List`` with no items still says "nothing" on purpose. ``topology apply`` and
``policy add`` say the file is empty rather than what it should have held.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from romana.client import Client, ClientSettings
from romana.lab.romanad import Romanad

NAMESPACE = {"kind": "Namespace", "metadata": {"name": "kempty"}}
POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "keep-me", "namespace": "kempty"},
    "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]},
}
KEPT = "kempty/kube.kempty.keep-me"


def _kube_policies(server: Romanad) -> set[str]:
    with Client(ClientSettings(url=(server.url,))) as client:
        client.login(*server.admin())
        return {p["id"] for p in client.list_policies() if "/kube." in p["id"]}


def test_policy_apply_refuses_an_empty_file_and_keeps_the_policies(
    planned: Any, server: Romanad, tmp_path: Path
) -> None:
    full = tmp_path / "full.yaml"
    full.write_text(yaml.safe_dump_all([NAMESPACE, POLICY]))
    assert planned("policy", "apply", "-f", str(full)).exit_code == 0
    try:
        assert KEPT in _kube_policies(server)
        for name, content in (("empty.yaml", ""), ("comments.yaml", "# nothing\n---\n")):
            path = tmp_path / name
            path.write_text(content)
            result = planned("policy", "apply", "-f", str(path))
            assert result.exit_code == 3, result.output
            assert result.stderr.startswith(
                f"romana: invalid input: {path}: holds no Kubernetes objects"
            )
            assert KEPT in _kube_policies(server)
        nothing = tmp_path / "nothing.yaml"
        nothing.write_text("apiVersion: v1\nkind: List\nitems: []\n")
        assert planned("policy", "apply", "-f", str(nothing)).exit_code == 0
        assert KEPT not in _kube_policies(server)
    finally:
        only_namespace = tmp_path / "namespace.yaml"
        only_namespace.write_text(yaml.safe_dump(NAMESPACE))
        planned("policy", "apply", "-f", str(only_namespace))
        planned("tenant", "delete", "kempty")


def test_topology_and_policy_add_name_an_empty_file(romana: Any, tmp_path: Path) -> None:
    path = tmp_path / "blank.json"
    path.write_text("\n  \n")
    for command in (("topology", "apply"), ("policy", "add")):
        result = romana(*command, "-f", str(path))
        assert result.exit_code == 3, result.output
        assert result.stderr == (
            f"romana: invalid input: {path}: is empty; expected a JSON or YAML object or list\n"
        )
