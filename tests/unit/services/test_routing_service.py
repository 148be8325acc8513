"""Hosts' routing reports: stored per host, aged by romanad's clock, gone with the host, and
never waking an agent's wait for its view."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from romana.core.errors import NotFound
from romana.core.identifiers import HostName
from romana.core.store import Event, EventType
from romana.services import keys
from romana.services.hostview import HostViewService
from romana.services.routing import RoutingService
from unit.services.conftest import Services

REPORT: dict[str, Any] = {
    "mode": "bgp",
    "reported_at": 1_000.0,
    "sessions": [
        {"name": "romana_peer0", "peer": "192.0.2.1", "peer_as": 65001, "peer_name": "",
         "state": "Established", "info": "", "since": "02:11:55.873"},
    ],
    "routes": [
        {"dst": "10.0.0.0/16", "via": "192.0.2.1", "source": "bgp", "protocol": "romana_peer0",
         "peer": "192.0.2.1", "best": True},
    ],
    "errors": [],
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


def test_the_latest_report_of_a_host_is_kept_with_its_age(svc: Services) -> None:
    clock = Clock()
    routing = RoutingService(svc.store, svc.topology, clock)
    stored = routing.report("h2", REPORT)
    assert stored == {**REPORT, "host": "h2", "received_at": 5_000.0, "age": 0.0}
    clock.now += 12.5
    assert routing.get("h2")["age"] == 12.5
    later = {**REPORT, "reported_at": 1_010.0, "sessions": []}
    routing.report("h2", later)
    assert routing.get("h2") == {**later, "host": "h2", "received_at": 5_012.5, "age": 0.0}
    routing.report("h1", REPORT)
    assert [r["host"] for r in routing.list()] == ["h1", "h2"]


def test_a_report_needs_a_host_of_the_topology(svc: Services) -> None:
    routing = RoutingService(svc.store, svc.topology)
    with pytest.raises(NotFound, match="nope"):
        routing.report("nope", REPORT)
    assert svc.store.get(keys.routing("nope")) is None
    with pytest.raises(NotFound, match="h3 has sent no routing report"):
        routing.get("h3")
    with pytest.raises(NotFound, match="nope"):
        routing.get("nope")


def test_removing_a_host_removes_its_report(svc: Services) -> None:
    routing = RoutingService(svc.store, svc.topology)
    routing.report("h3", REPORT)
    routing.report("h2", REPORT)
    svc.topology.remove_host(HostName("h3"))
    assert svc.store.get(keys.routing("h3")) is None
    assert [r["host"] for r in routing.list()] == ["h2"]
    # Removing a host that never reported deletes nothing else.
    svc.topology.remove_host(HostName("h1"))
    assert [r["host"] for r in routing.list()] == ["h2"]


def test_a_report_is_not_relevant_to_any_hosts_view(svc: Services) -> None:
    hv = HostViewService(svc.store, svc.topology, svc.tenants, svc.ipam)
    for host in ("h1", "h2"):
        scope = hv.scope(host)
        for reporter in ("h1", "h2"):
            event = Event(EventType.PUT, keys.routing(reporter), b"{}", 1)
            assert not hv.relevant(scope, event)


def test_a_report_does_not_end_a_wait_for_the_view(svc: Services) -> None:
    hv = HostViewService(svc.store, svc.topology, svc.tenants, svc.ipam)
    routing = RoutingService(svc.store, svc.topology)
    after = svc.store.revision()

    def report() -> None:
        time.sleep(0.1)
        routing.report("h2", REPORT)
        routing.report("h1", REPORT)

    thread = threading.Thread(target=report)
    thread.start()
    started = time.monotonic()
    view = hv.wait("h2", after, 0.6)
    thread.join()
    assert time.monotonic() - started >= 0.55, "the reports woke the wait"
    assert view["revision"] == svc.store.revision()
