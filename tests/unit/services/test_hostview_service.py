"""The host view: one consistent document per host, and waits that wake only when relevant."""

from __future__ import annotations

import threading
import time

import pytest

from romana.core.errors import NotFound
from romana.services.hostview import HostViewService
from romana.services.policy import PolicyService
from romana.services.registry import RegistryService
from unit.services.conftest import Services


def _hostview(svc: Services) -> HostViewService:
    return HostViewService(svc.store, svc.topology, svc.tenants, svc.ipam, PolicyService(svc.store))


def test_view_holds_what_the_host_needs_at_one_revision(svc: Services) -> None:
    hv = _hostview(svc)
    svc.tenants.create("web")
    svc.ipam.allocate("mine", "h2", "web")
    svc.ipam.allocate("theirs", "h1", "web")
    view = hv.view("h2")
    assert view["revision"] == svc.store.revision()
    assert view["host"]["name"] == "h2"
    assert view["host"]["prefixes"] == {"net4": "10.128.0.0/16"}
    assert [e["key"] for e in view["endpoints"]] == ["mine"]
    assert [t["name"] for t in view["tenants"]] == ["web"]
    assert {r["dst"] for r in view["routes"]} >= {"10.0.0.0/9"}
    assert [n["name"] for n in view["networks"]] == ["net4", "net6"]
    with pytest.raises(NotFound):
        hv.view("nope")


def _later(seconds: float, action: object) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()  # type: ignore[operator]

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_wait_returns_early_for_a_change_on_this_host(svc: Services) -> None:
    hv = _hostview(svc)
    svc.tenants.create("web")
    start_rev = hv.view("h2")["revision"]
    thread = _later(0.2, lambda: svc.ipam.allocate("k", "h2", "web"))
    started = time.monotonic()
    view = hv.wait("h2", start_rev, timeout=10)
    thread.join()
    assert time.monotonic() - started < 5
    assert view["revision"] > start_rev
    assert [e["key"] for e in view["endpoints"]] == ["k"]


def test_wait_ignores_other_hosts_allocations_and_registrations(svc: Services) -> None:
    hv = _hostview(svc)
    svc.tenants.create("web")
    start_rev = hv.view("h2")["revision"]

    def noise() -> None:
        svc.ipam.allocate("elsewhere", "h1", "web")
        RegistryService(svc.store).register("ipam", "x", "http://x:1")

    thread = _later(0.1, noise)
    started = time.monotonic()
    view = hv.wait("h2", start_rev, timeout=0.8)
    thread.join()
    assert time.monotonic() - started >= 0.75
    assert view["endpoints"] == []
