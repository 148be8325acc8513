"""The topology documents the lab, the tests and the benchmarks start romanad with.

Most of them want the same thing: one IPv4 network ``pods`` (10.0.0.0/8, 8 endpoint bits) and
a group per rack label, so that a host labelled ``rack=1`` lands in ``rack-1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pods(
    *, racks: Sequence[str] = ("1", "2"), tenant_bits: int = 4, segment_bits: int = 4
) -> dict[str, Any]:
    """Network ``pods`` with one group ``rack-<r>`` per rack (none: hosts go anywhere)."""
    return {
        "networks": [
            {
                "name": "pods",
                "cidr": "10.0.0.0/8",
                "tenant_bits": tenant_bits,
                "segment_bits": segment_bits,
                "endpoint_bits": 8,
            }
        ],
        "topologies": [
            {
                "networks": ["pods"],
                "map": [
                    {"name": f"rack-{r}", "assignment": {"rack": r}, "groups": []} for r in racks
                ],
            }
        ],
    }


POD6: dict[str, Any] = {
    "name": "pods6",
    "cidr": "fd00:10::/56",
    "tenant_bits": 16,
    "segment_bits": 16,
    "endpoint_bits": 32,
}
"""The IPv6 network beside ``pods`` (as in examples/demo-topology.json)."""


def dual_stack(*, racks: Sequence[str] = ("1", "2")) -> dict[str, Any]:
    """:func:`pods` with the IPv6 network ``pods6`` beside it: a tenant created without
    naming networks is pinned to both, so each endpoint gets an IPv4 and an IPv6 address."""
    made = pods(racks=racks)
    made["networks"].append(dict(POD6))
    made["topologies"][0]["networks"].append(POD6["name"])
    return made
