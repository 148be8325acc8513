"""``romana explain`` prints in the formats every other command offers: ``-o table|json|yaml``
and the ``output`` setting (``ROMANA_OUTPUT``), the same document in JSON and YAML; ``--json``
stays the same as ``-o json``. Offline (``-f``), so no romanad is needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from unit.cli.conftest import Cli

CLUSTER = """\
apiVersion: v1
kind: Namespace
metadata: {name: fmt}
---
apiVersion: v1
kind: Node
metadata: {name: fmt-n1}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: fmt, labels: {app: a}}
spec: {nodeName: fmt-n1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: fmt, labels: {app: b}}
spec: {nodeName: fmt-n1}
"""


@pytest.fixture
def explain(tmp_path: Path) -> Cli:
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    return Cli.at("http://127.0.0.1:9", tmp_path)


def _args(tmp_path: Path, *extra: str) -> list[str]:
    args = ["explain", "--from", "fmt/b", "--to", "fmt/a", "--port", "tcp/80"]
    return [*args, "-f", str(tmp_path / "cluster.yaml"), *extra]


def test_json_yaml_and_the_output_setting_print_one_document(explain: Cli, tmp_path: Path) -> None:
    as_json = explain(*_args(tmp_path, "-o", "json"))
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["allowed"] is True
    as_yaml = explain(*_args(tmp_path, "-o", "yaml"))
    assert as_yaml.exit_code == 0, as_yaml.output
    assert yaml.safe_load(as_yaml.stdout) == document
    by_setting = explain(*_args(tmp_path), ROMANA_OUTPUT="yaml")
    assert yaml.safe_load(by_setting.stdout) == document
    legacy = explain(*_args(tmp_path, "--json"))
    assert json.loads(legacy.stdout) == document


def test_table_is_the_default(explain: Cli, tmp_path: Path) -> None:
    result = explain(*_args(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "fmt/b -> fmt/a tcp/80: allowed"


def test_an_unknown_format_is_a_usage_error(explain: Cli, tmp_path: Path) -> None:
    result = explain(*_args(tmp_path, "-o", "xml"))
    assert result.exit_code == 2
    assert "Invalid value for '--output' / '-o'" in result.stderr
