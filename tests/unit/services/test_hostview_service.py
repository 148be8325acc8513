"""The host view: one consistent document per host, and waits that wake only when relevant."""

from __future__ import annotations

import json
import threading
import time

import pytest

from romana.core.errors import NotFound
from romana.core.identifiers import AllocationKey, HostName, NetworkName, TenantName
from romana.core.store import Event, EventType
from romana.services import keys
from romana.services.addresssets import AddressSetService
from romana.services.hostview import HostViewService
from romana.services.instances import InstanceService
from romana.services.policy import PolicyService
from romana.wire import rest_hostview
from unit.services.conftest import Services

H2 = HostName("h2")
WEB = TenantName("web")


def _hostview(svc: Services) -> HostViewService:
    return HostViewService(svc.store, svc.topology, svc.tenants, svc.ipam)


def test_view_holds_what_the_host_needs_at_one_revision(svc: Services) -> None:
    hv = _hostview(svc)
    svc.tenants.create(WEB)
    svc.ipam.allocate(AllocationKey("mine"), H2, WEB)
    svc.ipam.allocate(AllocationKey("theirs"), HostName("h1"), WEB)
    view = hv.view("h2")
    # Exactly the fields of the wire model: one the service renamed would be neither
    # served (romanad fills a defaulted one in) nor read.
    assert set(view) == set(rest_hostview.HostView.model_fields)
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
    svc.tenants.create(WEB)
    start_rev = hv.view("h2")["revision"]
    thread = _later(0.2, lambda: svc.ipam.allocate(AllocationKey("k"), H2, WEB))
    started = time.monotonic()
    view = hv.wait("h2", start_rev, timeout=10)
    thread.join()
    assert time.monotonic() - started < 5
    assert view["revision"] > start_rev
    assert [e["key"] for e in view["endpoints"]] == ["k"]


def test_wait_ignores_other_hosts_allocations_and_registrations(svc: Services) -> None:
    hv = _hostview(svc)
    svc.tenants.create(WEB)
    start_rev = hv.view("h2")["revision"]

    def noise() -> None:
        svc.ipam.allocate(AllocationKey("elsewhere"), HostName("h1"), WEB)
        InstanceService(svc.store).register("ipam", "x", "http://x:1")

    thread = _later(0.1, noise)
    started = time.monotonic()
    view = hv.wait("h2", start_rev, timeout=0.8)
    thread.join()
    assert time.monotonic() - started >= 0.75
    assert view["endpoints"] == []


def _policy(name: str, applied_to: list[dict[str, str]], uses: str = "") -> dict[str, object]:
    peer: dict[str, str] = {"address_set": uses} if uses else {"peer": "any"}
    return {
        "name": name,
        "applied_to": applied_to,
        "ingress": [{"peers": [peer], "rules": [{"protocol": "tcp", "ports": [80]}]}],
    }


def test_a_view_carries_only_the_policies_of_tenants_with_an_endpoint_there(
    svc: Services,
) -> None:
    """Issue "one tenant can load every agent": another tenant's policies stay away."""
    hv = _hostview(svc)
    policies = PolicyService(svc.store)
    for name in ("noisy", "web"):
        svc.tenants.create(TenantName(name))
    svc.ipam.allocate(AllocationKey("web-pod"), H2, WEB)
    svc.ipam.allocate(AllocationKey("noisy-pod"), HostName("h1"), TenantName("noisy"))
    policies.add([_policy(f"p{i}", [{"tenant": "noisy"}], uses=f"s{i}") for i in range(50)])
    policies.add(_policy("web-own", [{"tenant": "web"}], uses="kube.web"))
    policies.add(_policy("everywhere", [{"dest": "host"}]))
    policies.add(_policy("two", [{"tenant": "web"}, {"tenant": "noisy"}]))
    sets = AddressSetService(svc.store)
    for name in ("kube.web", "s0", "s1"):
        sets.put(name, ["10.9.9.9"])

    quiet = hv.view("h2")
    assert quiet["policy_tenants"] == ["web"]
    assert sorted(p["name"] for p in quiet["policies"]) == ["everywhere", "two", "web-own"]
    assert set(quiet["address_sets"]) == {"kube.web"}
    loaded = hv.view("h1")
    assert loaded["policy_tenants"] == ["noisy"]
    assert len(loaded["policies"]) == 52
    assert set(loaded["address_sets"]) == {"s0", "s1"}
    assert len(json.dumps(quiet)) * 5 < len(json.dumps(loaded))
    assert hv.view("h3")["policy_tenants"] == []


def _event(key: str, value: bytes = b"{}") -> Event:
    return Event(EventType.PUT, key, value, 1)


def test_waits_wake_for_policies_of_tenants_present_only(svc: Services) -> None:
    hv = _hostview(svc)
    for name in ("noisy", "web"):
        svc.tenants.create(TenantName(name))
    svc.ipam.allocate(AllocationKey("web-pod"), H2, WEB)
    PolicyService(svc.store).add(_policy("web-own", [{"tenant": "web"}], uses="kube.web"))
    scope = hv.scope("h2")
    assert scope.tenants == frozenset({"web"}) and scope.address_sets == {"kube.web"}
    assert not hv.relevant(scope, _event(keys.policy("noisy/p1")))
    assert not hv.relevant(scope, Event(EventType.DELETE, keys.policy("noisy/p1"), b"", 2))
    assert not hv.relevant(scope, _event(keys.address_set("s1")))
    assert not hv.relevant(scope, _event(keys.ROOT + "policy-generation"))
    assert not hv.relevant(scope, _event(keys.allocation_counters(WEB) + "0"))
    assert not hv.relevant(scope, _event(keys.quota(WEB)))
    assert hv.relevant(scope, _event(keys.policy("web/p1")))
    assert hv.relevant(scope, _event(keys.policy("global-one")))
    assert hv.relevant(scope, _event(keys.address_set("kube.web")))


def test_only_a_tenants_first_slot_on_the_host_wakes_its_wait(svc: Services) -> None:
    """Further allocations and releases of a tenant already on the host change no rule its
    agent enforces: they do not end its wait (one CNI ADD would otherwise cost every agent a
    new view); another tenant's first allocation there does."""
    hv = _hostview(svc)
    for name in ("noisy", "web"):
        svc.tenants.create(TenantName(name))
    first = svc.ipam.allocate(AllocationKey("web-pod"), H2, WEB)
    scope = hv.scope("h2")
    network, index = next(iter(scope.indices.items()))
    web_id = next(tid for net, tid in scope.tenant_ids if net == network)
    again = keys.addr(NetworkName(network), index, web_id, 0, 7)
    assert not hv.relevant(scope, _event(again))
    assert not hv.relevant(scope, Event(EventType.DELETE, again, b"", 2))
    noisy_id = web_id + 1
    assert hv.relevant(scope, _event(keys.addr(NetworkName(network), index, noisy_id, 0, 1)))
    other_host = keys.addr(NetworkName(network), index + 1, noisy_id, 0, 1)
    assert not hv.relevant(scope, _event(other_host))
    # The view read after any wake still lists every allocation of the host.
    svc.ipam.allocate(AllocationKey("web-pod-2"), H2, WEB)
    assert sorted(e["key"] for e in hv.view("h2")["endpoints"]) == [first.key, "web-pod-2"]


def test_the_first_endpoint_of_a_tenant_wakes_the_wait_with_its_policies(svc: Services) -> None:
    hv = _hostview(svc)
    svc.tenants.create(TenantName("noisy"))
    PolicyService(svc.store).add(_policy("own", [{"tenant": "noisy"}]))
    start_rev = hv.view("h2")["revision"]
    assert hv.view("h2")["policies"] == []
    thread = _later(0.2, lambda: svc.ipam.allocate(AllocationKey("first"), H2, TenantName("noisy")))
    started = time.monotonic()
    view = hv.wait("h2", start_rev, timeout=10)
    thread.join()
    assert time.monotonic() - started < 5
    assert view["policy_tenants"] == ["noisy"]
    assert [p["name"] for p in view["policies"]] == ["own"]


def test_a_first_allocation_made_before_the_wait_is_read_still_wakes_it(svc: Services) -> None:
    """An agent asks to wait after the revision of its last view; the tenant's first
    allocation on its host, committed between that view and romanad reading the wait's
    scope, is still that tenant's first there (the agent's view does not carry its policies)
    and ends the wait at once instead of after the whole long poll."""
    hv = _hostview(svc)
    svc.tenants.create(TenantName("noisy"))
    PolicyService(svc.store).add(_policy("own", [{"tenant": "noisy"}]))
    seen = hv.view("h2")["revision"]
    svc.ipam.allocate(AllocationKey("first"), H2, TenantName("noisy"))
    started = time.monotonic()
    view = hv.wait("h2", seen, timeout=5)
    assert time.monotonic() - started < 2
    assert view["policy_tenants"] == ["noisy"]
    assert hv.scope("h2").tenants == frozenset({"noisy"})
    assert hv.scope("h2", seen).tenants == frozenset()
