"""``romana network blackout add|remove|list``: against a real romanad.

The session romanad holds examples/topology/two-racks.json: network ``net`` 10.0.0.0/8 (tenant
4, segment 4, endpoint 8 bits), h1 the first host (10.0.0.0/16).
"""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from romana.cli import main
from romana.core import errors


def code_of(kind: type[errors.RomanaError]) -> int:
    return next(code for k, code, _ in main.EXIT_CODES if k is kind)


def listed(romana: Any) -> list[str]:
    result = romana("network", "blackout", "list", "net", "-o", "json")
    assert result.exit_code == 0, result.output
    ranges: list[str] = json.loads(result.stdout)
    return ranges


def test_add_remove_and_list_single_ranges(planned: Any) -> None:
    added = planned("network", "blackout", "add", "net", "10.0.16.0/30", "10.0.32.9/32")
    assert added.exit_code == 0, added.output
    assert "10.0.16.0/30" in added.stdout and "10.0.32.9/32" in added.stdout
    again = planned("network", "blackout", "add", "net", "10.0.16.0/30")
    assert again.exit_code == 0, again.output
    assert listed(planned) == ["10.0.16.0/30", "10.0.32.9/32"]
    table = planned("network", "blackout", "list", "net", "-o", "table")
    assert table.exit_code == 0
    assert ["10.0.16.0/30", "10.0.16.0", "10.0.16.3", "4"] in [
        line.split() for line in table.stdout.splitlines()
    ]

    removed = planned("network", "blackout", "remove", "net", "10.0.16.0/30")
    assert removed.exit_code == 0, removed.output
    assert listed(planned) == ["10.0.32.9/32"]
    absent = planned("network", "blackout", "remove", "net", "10.0.16.0/30", "10.0.32.9/32")
    assert absent.exit_code == code_of(errors.NotFound), absent.output
    assert "10.0.16.0/30 is not among the blackouts of network 'net'" in absent.stderr
    assert listed(planned) == ["10.0.32.9/32"], "a failed remove removes nothing"

    assert planned("network", "blackout", "remove", "net", "10.0.32.9/32").exit_code == 0
    empty = planned("network", "blackout", "list", "net", "-o", "table")
    assert empty.exit_code == 0 and "network net has no blackouts" in empty.stdout


def test_add_over_an_allocated_address_is_refused_naming_it(planned: Any) -> None:
    assert planned("tenant", "create", "bkcli").exit_code == 0
    made = planned(
        "ipam", "allocate", "--host", "h1", "--tenant", "bkcli", "--key", "bk-1", "-o", "json"
    )
    assert made.exit_code == 0, made.output
    (addr,) = json.loads(made.stdout)["addresses"]
    try:
        refused = planned("network", "blackout", "add", "net", f"{addr}/32")
        assert refused.exit_code == code_of(errors.Conflict), refused.output
        line = " ".join(refused.stderr.split())
        assert f"{addr} in {addr}/32 (key 'bk-1', host 'h1', tenant 'bkcli'" in line
        assert listed(planned) == []
    finally:
        assert planned("ipam", "release", "bk-1").exit_code == 0
        assert planned("tenant", "delete", "bkcli").exit_code == 0


def test_blackout_help_teaches_the_rules() -> None:
    result = CliRunner().invoke(
        main.app, ["network", "blackout", "add", "--help"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "never hands out" in text and "refused" in text and "romana ipam release" in text
