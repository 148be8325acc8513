"""``romana ipam move``, and what ``decode`` and ``route show`` say of a moved address.

Runs against a real romanad holding examples/topology/two-racks.json (h1, h2 in rack-a, h3
in rack-b).
"""

from __future__ import annotations

import json
from typing import Any


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def test_a_moved_address_is_decoded_and_routed_as_an_exception(planned: Any) -> None:
    ok(planned("tenant", "create", "roam"))
    alloc = json.loads(
        ok(
            planned("ipam", "allocate", "--host", "h1", "--tenant", "roam", "--key", "vm-1",
                    "-o", "json")
        ).stdout
    )  # fmt: skip
    [address] = alloc["addresses"]
    moved = json.loads(ok(planned("ipam", "move", "vm-1", "--host", "h3", "-o", "json")).stdout)
    assert (moved["host"], moved["origin"]) == ("h3", "h1")
    assert "lives on h3" in ok(planned("decode", address)).stdout
    assert "encodes host h1" in ok(planned("decode", address)).stdout
    table = ok(planned("route", "show", "h2")).stdout
    line = next(line for line in table.splitlines() if f"{address}/32" in line)
    assert "exception: moved from host h1 to host h3" in line
    assert f"{address} moved here" in ok(planned("route", "show", "h3")).stdout
    ok(planned("ipam", "move", "vm-1", "--host", "h1"))
    assert f"{address}/32" not in ok(planned("route", "show", "h2")).stdout
    assert "lives on" not in ok(planned("decode", address)).stdout
