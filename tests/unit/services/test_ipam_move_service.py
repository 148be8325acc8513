"""Moving an allocation to another host: same addresses, an exception route in every plan."""

from __future__ import annotations

import threading
import time

import pytest

from romana.core.errors import NotFound
from romana.core.identifiers import AllocationKey, HostName, TenantName
from romana.services import keys
from romana.services.hostview import HostViewService
from unit.services.conftest import Services

H1 = HostName("h1")
H2 = HostName("h2")
H3 = HostName("h3")
WEB = TenantName("web")
VM = AllocationKey("vm1")


def _hostview(svc: Services) -> HostViewService:
    return HostViewService(svc.store, svc.topology, svc.tenants, svc.ipam)


def _exceptions(svc: Services, host: HostName) -> list[tuple[str, str, str | None]]:
    plan = svc.topology.route_plan(host)
    return [(r["dst"], r["via_host"], r["moved_from"]) for r in plan["routes"] if r["moved_from"]]


def test_a_moved_allocation_keeps_its_addresses_and_every_plan_routes_it_there(
    svc: Services,
) -> None:
    svc.tenants.create(WEB)
    before = svc.ipam.allocate(VM, H1, WEB)
    moved = svc.ipam.move(VM, H2)
    assert (moved.host, moved.origin, moved.addresses) == (H2, H1, before.addresses)
    assert svc.ipam.get(VM) == moved
    addr = f"{before.addresses[0]}/32"
    assert _exceptions(svc, H1) == [(addr, "h2", "h1")]
    assert _exceptions(svc, H3) == [(addr, "h2", "h1")]
    assert _exceptions(svc, H2) == []
    assert svc.topology.route_plan(H2)["moved_here"] == [str(before.addresses[0])]
    # The allocation counts as the new host's, and the same request from there is idempotent.
    assert [a.key for a in svc.ipam.list_all(host=H2)] == [VM]
    assert svc.ipam.allocate(VM, H2, WEB) == moved


def test_moving_is_idempotent_and_moving_home_removes_the_exception(svc: Services) -> None:
    svc.tenants.create(WEB)
    home = svc.ipam.allocate(VM, H1, WEB)
    first = svc.ipam.move(VM, H2)
    revision = svc.store.revision()
    assert svc.ipam.move(VM, H2) == first
    assert svc.store.revision() == revision  # nothing written
    onward = svc.ipam.move(VM, H3)
    assert (onward.host, onward.origin) == (H3, H1)
    assert _exceptions(svc, H2) == [(f"{home.addresses[0]}/32", "h3", "h1")]
    assert svc.ipam.move(VM, H1) == home
    assert svc.store.get(keys.moved(VM)) is None
    assert all(_exceptions(svc, h) == [] for h in (H1, H2, H3))


def test_release_of_a_moved_allocation_removes_its_exception(svc: Services) -> None:
    svc.tenants.create(WEB)
    alloc = svc.ipam.allocate(VM, H1, WEB)
    svc.ipam.move(VM, H2)
    svc.ipam.release(VM)
    assert svc.store.get(keys.moved(VM)) is None
    assert _exceptions(svc, H3) == []
    # The address is free again, for its own host.
    assert svc.ipam.allocate(AllocationKey("next"), H1, WEB).addresses == alloc.addresses


def test_moving_an_unknown_key_or_to_an_unknown_host_is_not_found(svc: Services) -> None:
    svc.tenants.create(WEB)
    with pytest.raises(NotFound, match="no allocation with key 'vm1'"):
        svc.ipam.move(VM, H2)
    svc.ipam.allocate(VM, H1, WEB)
    with pytest.raises(NotFound, match="host 'h9' does not exist"):
        svc.ipam.move(VM, HostName("h9"))
    assert svc.ipam.get(VM).host == H1


def test_a_move_wakes_every_hosts_wait_and_the_new_host_carries_the_tenant(svc: Services) -> None:
    hv = _hostview(svc)
    svc.tenants.create(WEB)
    svc.ipam.allocate(VM, H1, WEB)
    # None of these hosts holds the tenant's first slot, yet each wait wakes for the move.
    for waiter, to, exception in [("h3", H2, "h2"), ("h2", H3, "h3"), ("h1", H1, None)]:
        start = hv.view(waiter)["revision"]
        thread = threading.Timer(0.1, svc.ipam.move, (VM, to))
        thread.start()
        started = time.monotonic()
        view = hv.wait(waiter, start, timeout=10)
        thread.join()
        assert time.monotonic() - started < 5
        assert [r["reason"] for r in view["routes"] if r["moved_from"]] == (
            [] if exception is None else [f"moved from host h1 to host {exception}"]
        )
    assert "web" not in hv.scope("h2").tenants
    svc.ipam.move(VM, H2)
    view = hv.view("h2")
    assert [e["key"] for e in view["endpoints"]] == ["vm1"]
    assert view["policy_tenants"] == ["web"]
    assert "web" in hv.scope("h2").tenants
