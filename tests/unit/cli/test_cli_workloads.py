"""``romana ipam workload``, and the WORKLOAD that ``ipam list`` and ``ipam show`` print.

Runs against a real romanad holding examples/topology/two-racks.json (h1, h2 in rack-a, h3
in rack-b).
"""

from __future__ import annotations

import json
from typing import Any

CONTAINER = "docker:" + "3f1c2a" * 10 + "abcd"


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def test_list_and_show_print_the_workload_once_said(planned: Any) -> None:
    ok(planned("tenant", "create", "held"))
    ok(planned("ipam", "allocate", "--host", "h2", "--tenant", "held", "--key", "held-1"))
    try:
        table = ok(planned("ipam", "list", "--tenant", "held")).stdout
        assert table.split("\n")[1].split() == [
            "KEY", "HOST", "TENANT", "SEGMENT", "ADDRESSES", "WORKLOAD"
        ]  # fmt: skip
        assert table.split("\n")[3].split()[-1] == "-", table
        said = json.loads(ok(planned("ipam", "workload", "held-1", CONTAINER, "-o", "json")).stdout)
        assert said["workload"] == CONTAINER
        table = ok(planned("ipam", "list", "--tenant", "held")).stdout
        assert CONTAINER in "".join(table.split()), table
        shown = ok(planned("ipam", "show", "held-1")).stdout
        assert "Workload" in shown and CONTAINER in "".join(shown.split()), shown
        refused = planned("ipam", "workload", "held-1", "two\nlines")
        assert refused.exit_code != 0
        assert "workload" in refused.output + refused.stderr
    finally:
        ok(planned("ipam", "release", "held-1"))  # the session romanad is shared
