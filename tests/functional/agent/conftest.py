"""The shared cluster of the agent acceptance tests: one per firewall backend per session.

Every test module here uses the same cluster (pytest runs all tests of one backend, then
tears that cluster down and builds the other), so each test leaves it as it found it.

Three hosts (h1, h2 in rack 1; h3 in rack 2, so h1 and h2 reach h3 through rack 2's
aggregate route), each running ``romana-agent``; romanad in a control namespace; tenants
``t1`` and ``t2`` with segments ``default`` and ``blue``; one endpoint per (host, tenant,
segment), added through the agents' local API, each serving TCP on a port of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.lab import Cluster, cluster, topologies
from support import env

TENANTS = ("t1", "t2")
SEGMENTS = ("default", "blue")


@pytest.fixture(scope="session", params=["nftables", "iptables"])
def agents(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    env.need_agent_lab()
    firewall = str(request.param)
    workdir: Path = tmp_path_factory.mktemp(f"agents-{firewall}")
    with cluster(workdir, firewall, topology=topologies.pods()) as made:
        try:
            for tenant in TENANTS:
                made.api.create_tenant(tenant)
                made.api.add_segment(tenant, "blue")
            for host in made.hosts:
                for tenant in TENANTS:
                    for segment in SEGMENTS:
                        made.add_endpoint(host, f"{tenant}-{segment}", tenant, segment)
            yield made
        except BaseException:
            print(made.log_tails())
            raise
