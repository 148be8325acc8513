"""The shared cluster of the edge tests: two hosts, an outside router and a client behind it.

One cluster per firewall backend per session (dual stack: networks ``pods`` and ``pods6``),
with the lab's outside (:mod:`romana.lab.outside`): a router on the hosts' underlay that
routes the external pool on-link to it, and a client behind the router playing the
internet. Both hosts have their default routes via the router. romanad holds the external
pool ``internet`` (203.0.113.0/24, 2001:db8:200::/64), a ``kubernetes``-mode tenant ``web``
(open to everyone while no policy selects its endpoints) and a ``romana``-mode tenant
``vault`` (its own tenant and segment only). Each test leaves the cluster as it found it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.lab import cluster, topologies
from romana.lab.outside import add_outside
from support import env
from support.edge import POOL, POOL4, POOL6, Edge


@pytest.fixture(scope="session", params=["nftables", "iptables"])
def edge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Edge]:
    env.need_agent_lab()
    firewall = str(request.param)
    workdir: Path = tmp_path_factory.mktemp(f"edge-{firewall}")
    with cluster(workdir, firewall, hosts=2, topology=topologies.dual_stack()) as made:
        try:
            outside = add_outside(made.lab, external=[POOL4, POOL6])
            for host in made.hosts:
                outside.route_host(host)
            made.api.create_external_pool(POOL, [str(POOL4), str(POOL6)])
            made.api.create_tenant("web", isolation={"mode": "kubernetes"})
            made.api.create_tenant("vault")
            yield Edge(made, outside)
        except BaseException:
            print(made.log_tails())
            raise
