"""Host views at scale: parts shared by every host stay current, and a view read while the
store keeps changing never reports a revision past a change it missed."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from romana.core.identifiers import AllocationKey, HostName, TenantName
from romana.core.store import Forwarding, KeyValue, Range, Store
from romana.services import keys
from romana.services.addresssets import AddressSetService
from romana.services.hostview import HostViewService
from romana.services.instances import InstanceService
from romana.services.policy import PolicyService
from unit.services.conftest import Services

H1, H2 = HostName("h1"), HostName("h2")


def _policy(name: str, applied_to: list[dict[str, str]], uses: str = "") -> dict[str, object]:
    peer = {"address_set": uses} if uses else {"cidr": "10.1.0.0/16"}
    return {
        "name": name,
        "applied_to": applied_to,
        "ingress": [{"peers": [peer], "rules": [{"protocol": "tcp", "ports": [80]}]}],
    }


class _Busy(Forwarding):
    """A store on which ``write()`` runs after every range read of ``prefix``: a stream of
    writes that lands in the middle of every view read."""

    def __init__(self, inner: Store, prefix: str, write: Callable[[], object]) -> None:
        super().__init__(inner)
        self.prefix = prefix
        self.write = write
        self.on = True

    def range(self, prefix: str) -> Range:
        found = self.inner.range(prefix)
        if self.on and prefix == self.prefix:
            self.write()
        return found


def test_under_a_stream_of_writes_a_view_reports_no_revision_past_what_it_missed(
    svc: Services,
) -> None:
    """Every policy a view lacks is newer than the revision it reports, so the agent's next
    wait (after that revision) wakes for it instead of sleeping through its long poll."""
    numbers = itertools.count()
    policies = PolicyService(svc.store)
    # Written just after the view read the policies: the view cannot hold it.
    busy = _Busy(
        svc.store,
        keys.ADDRESS_SETS,
        lambda: policies.add(_policy(f"late{next(numbers)}", [{"dest": "host"}])),
    )
    hv = HostViewService(busy, svc.topology, svc.tenants, svc.ipam)
    view = hv.view("h1")
    busy.on = False
    held = {p["name"] for p in view["policies"]}
    stored = svc.store.range(keys.POLICIES).items
    assert len(stored) > len(held)  # the stream did overtake the read
    for kv in stored:
        name = kv.key.rsplit("/", 1)[-1]
        assert name in held or kv.mod_revision > view["revision"], name
    woken = hv.wait("h1", view["revision"], timeout=10)
    assert {p["name"] for p in woken["policies"]} == {kv.key.rsplit("/", 1)[-1] for kv in stored}


def test_writes_nothing_in_a_view_reads_do_not_make_it_read_again(svc: Services) -> None:
    """Registrations, leases and routing reports land all the time; a view read across them
    is current and says the later revision."""
    instances = InstanceService(svc.store)
    busy = _Busy(svc.store, keys.POLICIES, lambda: instances.register("ipam", "x", "http://x:1"))
    reads = {"n": 0}
    counted = busy.range

    def range_(prefix: str) -> Range:
        reads["n"] += prefix == keys.TENANTS
        return counted(prefix)

    busy.range = range_  # type: ignore[method-assign]
    hv = HostViewService(busy, svc.topology, svc.tenants, svc.ipam)
    view = hv.view("h1")
    assert reads["n"] == 1
    assert view["revision"] == svc.store.revision()
    # Nor do the next hosts' views read again what every host shares.
    busy.on = False
    instances.register("ipam", "y", "http://y:1")
    assert hv.view("h2")["revision"] == svc.store.revision()
    assert reads["n"] == 1


def test_parts_every_host_shares_follow_every_change(svc: Services) -> None:
    """Tenants, policies and address sets are parsed once for all hosts, and still a view
    after any change to them (a write, a delete, both at once) holds what the store holds."""
    hv = HostViewService(svc.store, svc.topology, svc.tenants, svc.ipam)
    sets = AddressSetService(svc.store)
    policies = PolicyService(svc.store)
    for name in ("web", "db"):
        svc.tenants.create(TenantName(name))
    svc.ipam.allocate(AllocationKey("w"), H1, TenantName("web"))
    svc.ipam.allocate(AllocationKey("d"), H2, TenantName("db"))
    policies.add(_policy("own", [{"tenant": "web"}], uses="s1"))
    policies.add(_policy("all", [{"dest": "host"}], uses="s2"))
    sets.put("s1", ["10.9.9.1/32"])
    sets.put("s2", ["10.9.9.2/32"])

    def names(host: str) -> tuple[list[str], list[str], dict[str, list[str]]]:
        view = hv.view(host)
        return (
            sorted(t["name"] for t in view["tenants"]),
            sorted(p["name"] for p in view["policies"]),
            view["address_sets"],
        )

    assert names("h1") == (
        ["db", "web"],
        ["all", "own"],
        {"s1": ["10.9.9.1/32"], "s2": ["10.9.9.2/32"]},
    )
    assert names("h2") == (["db", "web"], ["all"], {"s2": ["10.9.9.2/32"]})
    sets.put("s2", ["10.9.9.3/32"])
    policies.remove("all")
    policies.add(_policy("more", [{"dest": "host"}], uses="s2"))
    svc.tenants.create(TenantName("new"))
    assert names("h2") == (["db", "new", "web"], ["more"], {"s2": ["10.9.9.3/32"]})
    assert names("h1")[1:] == (["more", "own"], {"s1": ["10.9.9.1/32"], "s2": ["10.9.9.3/32"]})
    sets.remove("s1")
    assert names("h1")[2] == {"s2": ["10.9.9.3/32"]}
    # One view's lists are its own: changing them changes no other view.
    first = hv.view("h1")
    first["tenants"].clear()
    first["policies"].clear()
    assert len(hv.view("h1")["tenants"]) == 3
    assert len(hv.view("h1")["policies"]) == 2


def test_a_view_reads_the_allocations_of_its_host_only(svc: Services) -> None:
    """A host's view costs what the host holds, not what the cluster holds."""
    svc.tenants.create(TenantName("web"))
    for i in range(30):
        svc.ipam.allocate(AllocationKey(f"far{i}"), H1, TenantName("web"))
    svc.ipam.allocate(AllocationKey("near"), H2, TenantName("web"))
    read: list[str] = []
    busy = _Busy(svc.store, "", lambda: None)
    inner_get = busy.get

    def get(key: str) -> KeyValue | None:
        read.append(key)
        return inner_get(key)

    busy.get = get  # type: ignore[method-assign]
    view = HostViewService(busy, svc.topology, svc.tenants, svc.ipam).view("h2")
    assert [e["key"] for e in view["endpoints"]] == ["near"]
    assert [k for k in read if k.startswith(keys.IPAM_KEYS)] == [keys.IPAM_KEYS + "near"]
