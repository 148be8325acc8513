"""The first endpoint of a tenant on a host meets that tenant's policies from its first packet.

Issue "one tenant can load every agent": romanad sends a host only the policies of tenants
with an endpoint there. A host gets a tenant's policies only once its first endpoint of that
tenant is allocated, so the agent must not answer that ADD before its firewall enforces
them. The tenant here is in ``kubernetes`` mode, where an endpoint no policy selects accepts
everyone: without its isolating policy the new endpoint would be open (fail open).

Real agents and romanad (the shared cluster of this directory); the tenant, its policy and
its endpoints are removed again at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from romana.core.errors import Conflict
from romana.lab import Cluster, Endpoint

pytestmark = [pytest.mark.root, pytest.mark.slow]

TENANT = "firstpkt"
POLICY = {
    "name": "only-own-tenant",
    "applied_to": [{"tenant": TENANT}],
    "ingress": [{"peers": [{"tenant": TENANT}], "rules": [{"protocol": "tcp"}]}],
}


@pytest.fixture
def tenant(agents: Cluster) -> Iterator[list[Endpoint]]:
    isolation = {"mode": "kubernetes", "segments": "isolated"}
    agents.api.create_tenant(TENANT, isolation=isolation)
    (stored,) = agents.api.add_policies(POLICY)
    made: list[Endpoint] = []
    try:
        yield made
    finally:
        for ep in made:
            agents.endpoints.remove(ep)  # the other modules' matrices must not see them
            agents.agent(ep.host).api.delete_endpoint(ep.container_id, "eth0")
        agents.api.remove_policy(str(stored["id"]))
        # The releases of DEL finish in the background; the tenant goes once they have.
        for _ in range(100):
            try:
                agents.api.delete_tenant(TENANT)
                break
            except Conflict:
                time.sleep(0.1)


def _carries(agents: Cluster, host: str) -> bool:
    view = agents.api.host_view(host)
    return TENANT in view["policy_tenants"] or any(
        TENANT in json.dumps(p) for p in view["policies"]
    )


def test_a_new_tenants_endpoint_is_isolated_from_its_first_packet(
    agents: Cluster, tenant: list[Endpoint]
) -> None:
    h1, h2, h3 = agents.hosts
    outsider = next(e for e in agents.endpoints if e.host is h2 and e.tenant == "t1")
    assert not _carries(agents, h1.name), "a host without the tenant got its policies"

    first = agents.add_endpoint(h1, "fp-a", TENANT, "default")
    tenant.append(first)
    # Probed at once: the ADD answered only after the firewall enforced the policy.
    assert not agents.lab.tcp_probe(outsider.workload, first.address, first.port, timeout=0.5), (
        agents.log_tails()
    )
    assert _carries(agents, h1.name)
    assert not _carries(agents, h3.name)

    peer = agents.add_endpoint(h3, "fp-b", TENANT, "default")
    tenant.append(peer)
    assert agents.lab.tcp_probe(peer.workload, first.address, first.port, timeout=2)
    assert not agents.lab.tcp_probe(outsider.workload, peer.address, peer.port, timeout=0.5)
