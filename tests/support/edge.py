"""The edge tests' shared values: the external pool and the cluster with its outside.

:mod:`tests/functional/edge/conftest.py` builds it (see there).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from romana.lab import Cluster, Endpoint
from romana.lab.outside import Outside

POOL4 = ipaddress.ip_network("203.0.113.0/24")
POOL6 = ipaddress.ip_network("2001:db8:200::/64")
POOL = "internet"


@dataclass
class Edge:
    cluster: Cluster
    outside: Outside

    def addresses(self, ep: Endpoint) -> dict[int, str]:
        """The endpoint's romana addresses by family."""
        alloc = self.cluster.api.get_allocation(f"{ep.container_id}:eth0")
        return {ipaddress.ip_address(a).version: a for a in alloc["addresses"]}
