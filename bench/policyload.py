"""The policy load the dataplane and convergence benchmarks put on romanad.

1,000 tenants ``bt1`` … ``bt1000`` in network ``pods`` (10 tenant bits, so that they fit, and
2 segment bits, leaving 4 host bits: up to 16 hosts), and 2,000 allow policies spread over
them. Every policy is owned by the one tenant it is applied to, so a host's view carries it
only while the host holds an allocation of that tenant
(:mod:`romana.services.hostview`).
"""

from __future__ import annotations

from typing import Any

from romana.lab import topologies

TENANTS = 1000
POLICIES = 2000
TOPOLOGY: dict[str, Any] = topologies.pods(tenant_bits=10, segment_bits=2)


def tenant(i: int) -> str:
    """The name of tenant number ``i`` (1 … :data:`TENANTS`)."""
    return f"bt{i}"


def policies(tenants: int, count: int) -> list[dict[str, Any]]:
    """``count`` allow policies spread over the tenants, each opening one port from another."""
    made = []
    for i in range(count):
        target = tenant(i % tenants + 1)
        peer = tenant((i * 7 + 3) % tenants + 1)
        made.append(
            {
                "name": f"bench-{i}",
                "applied_to": [{"tenant": target}],
                "ingress": [
                    {"peers": [{"tenant": peer}], "rules": [{"protocol": "tcp", "ports": [i + 1]}]}
                ],
            }
        )
    return made
