"""An endpoint whose allocation moved to another host keeps its address and is reached there.

A migrated VM keeps its addresses, which encode its original host. The allocation is made
for h1 and moved to h2 before the endpoint is wired on h2 (the agent's ADD finds it there);
every other host then routes the address to h2 through an exception route (``/32``), which
longest-prefix match prefers over h1's prefix and rack 1's aggregate. Real agents and
romanad (the shared cluster of this directory), real packets; the exception route leaves
every host's kernel when the endpoint is deleted and its allocation released.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable

import pytest

from romana.lab import Cluster, Host
from support.wait import eventually

pytestmark = pytest.mark.root

SETTLE = 5.0  # seconds for a view change to reach every agent and its kernel


def _our_routes(host: Host) -> str:
    argv = ["ip", "-n", host.ns, "route", "show", "proto", "82"]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10).stdout


def _until(check: Callable[[], bool]) -> bool:
    return eventually(check, within=SETTLE)


def test_a_moved_endpoint_is_reached_at_its_address_on_its_new_host(agents: Cluster) -> None:
    h1, h2, h3 = agents.hosts
    key = f"c-{agents.lab.prefix}-{h2.name}-moved:eth0"
    alloc = agents.api.allocate(key, h1.name, "t1")
    address = alloc["addresses"][0]
    assert agents.api.decode(address)["host"] == h1.name
    agents.api.move_allocation(key, h2.name)
    moved = agents.add_endpoint(h2, "moved", "t1", "default")
    try:
        assert moved.address == address  # the ADD on h2 found the moved allocation
        decoded = agents.api.decode(address)
        assert (decoded["host"], decoded["lives_on"]) == (h1.name, h2.name)
        exception = f"{address} via {h2.underlay_ip}"
        for host in (h1, h3):
            assert _until(functools.partial(_routes_mention, host, exception)), (
                f"{host.name}: {_our_routes(host)}\n{agents.log_tails()}"
            )
        assert f"{address} via" not in _our_routes(h2)
        far = next(e for e in agents.endpoints if e.host is h3 and e.name == "t1-default")
        origin = next(e for e in agents.endpoints if e.host is h1 and e.name == "t1-default")
        mate = next(e for e in agents.endpoints if e.host is h2 and e.name == "t1-default")
        other = next(e for e in agents.endpoints if e.host is h3 and e.name == "t2-default")
        for src in (far, origin, mate):
            assert agents.lab.ping(src.workload, address, deadline=2), (
                f"{src.host.name} → {address}\n{agents.log_tails()}"
            )
            assert agents.lab.tcp_probe(src.workload, address, moved.port, timeout=1.0)
        # Tenant isolation still holds: the address still encodes tenant t1.
        assert not agents.lab.tcp_probe(other.workload, address, moved.port, timeout=0.5)
    finally:
        agents.endpoints.remove(moved)  # the other modules' matrices must not see it
        agents.agent(h2).api.delete_endpoint(moved.container_id, "eth0")
    # DEL releases the allocation in the background; its exception route goes with it.
    for host in (h1, h3):
        assert _until(lambda: not _routes_mention(host, f"{address} via")), (  # noqa: B023
            f"{host.name}: {_our_routes(host)}"
        )
    assert _until(lambda: not agents.api.list_allocations(tenant="t1") or all(
        a["key"] != key for a in agents.api.list_allocations(tenant="t1")
    ))  # fmt: skip


def _routes_mention(host: Host, text: str) -> bool:
    return text in _our_routes(host)
