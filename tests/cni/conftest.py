"""The cluster every CNI test runs against: romanad and two hosts, each with a real agent.

One cluster per session (``romana.lab.cluster``, the agent tests' own set-up: romanad in a
control namespace, hosts ``h1`` and ``h2`` with ``romana-agent`` on the nftables backend).
Tenants ``t1`` and ``t2`` exist, each with the segment ``blue`` beside ``default``. Every
test leaves the hosts as it found them, which the tests themselves assert with
``cnilab.snapshot``.

The agents reconcile every :data:`RECONCILE_INTERVAL` seconds, longer than any test waits
between deleting something by hand and asking CHECK about it, so CHECK sees the damage
rather than the repair.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from romana.lab import Cluster, cluster, topologies
from support import env

TENANTS = ("t1", "t2")
RECONCILE_INTERVAL = 60.0


@pytest.fixture(scope="session")
def cni_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    env.need_root()
    for binary in ("ip", "nft", "nsenter", "conntrack", "ping"):
        env.need_binary(binary)
    workdir = tmp_path_factory.mktemp("cni")
    with cluster(
        workdir, "nftables", hosts=2, topology=topologies.pods(), interval=RECONCILE_INTERVAL
    ) as made:
        try:
            for tenant in TENANTS:
                made.api.create_tenant(tenant)
                made.api.add_segment(tenant, "blue")
            yield made
        except BaseException:
            print(made.log_tails())
            raise
