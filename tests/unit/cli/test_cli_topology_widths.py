"""``romana topology apply`` and ``show`` state every network's widths and capacity warnings.

Runs against its own romanad: applying other topologies would disturb the shared one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from romana.lab.romanad import Romanad
from unit.cli.conftest import Cli


def v2_document(cidr: str, groups: int) -> dict[str, Any]:
    """A Romana v2 document in v2's format, shaped like v2's kubeadm-network.json."""
    return {
        "networks": [{"name": "romana-network", "cidr": cidr, "block_mask": 29}],
        "topologies": [
            {
                "networks": ["romana-network"],
                "map": [{"name": f"host-group-{i:02d}", "groups": []} for i in range(groups)],
            }
        ],
    }


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    work = tmp_path_factory.mktemp("romanad-widths")
    daemon = Romanad(work, store=f"sqlite://{work}/romana.db").start()
    try:
        env: dict[str, str | None] = {
            "ROMANA_URL": daemon.url,
            "ROMANA_CONFIG": str(work / "config.toml"),
            "ROMANA_RETRIES": "1",
            "ROMANA_TOKEN": None,
            "ROMANA_OUTPUT": None,
        }
        cli = Cli(CliRunner(), env, work)
        user, password = daemon.admin()
        assert cli("login", "-u", user, "-p", password).exit_code == 0
        yield cli
    finally:
        daemon.stop()


def apply(cli: Cli, tmp_path: Path, document: dict[str, Any], *args: str) -> Any:
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(document))
    result = cli("topology", "apply", "-f", str(path), *args)
    assert result.exit_code == 0, result.output
    return result


def test_apply_and_show_state_the_widths_chosen_for_the_kubeadm_v2_document(
    own: Cli, tmp_path: Path
) -> None:
    out = apply(own, tmp_path, v2_document("10.112.0.0/12", 8)).stdout
    shown = own("topology", "show").stdout
    for text in (out, shown):
        rows = [line.split() for line in text.splitlines()]
        assert [
            "romana-network",
            "10.112.0.0/12",
            *("5", "/", "4", "/", "4", "/", "7"),
            *("32", "x", "/17"),
            *("15", "16", "126"),
        ] in rows
        assert "warning" not in text


def test_apply_warns_with_the_numbers_when_a_node_holds_fewer_than_110_pods(
    own: Cli, tmp_path: Path
) -> None:
    out = apply(own, tmp_path, v2_document("10.111.0.0/16", 8)).stdout
    assert "warning: network 'romana-network' (10.111.0.0/16): a host prefix /19 holds 30" in out
    assert "fewer than kubelet's default maxPods 110" in out
    # In JSON the document stays alone on stdout; the warning goes to stderr.
    result = apply(own, tmp_path, v2_document("10.111.0.0/16", 8), "-o", "json")
    assert json.loads(result.stdout)["networks"][0]["endpoint_bits"] == 5
    assert "holds 30 endpoints per tenant and segment" in result.stderr
