"""Applying topologies over a real store: v2 capacity, renamed networks, named conflicts.

The fixture (``unit.services.conftest``) applies ``DOC`` — ``net4`` 10.0.0.0/8 in a tree of
racks a and b, ``net6`` in no tree — and places h1 (rack a, index 0), h2 and h3 (rack b,
indices 128 and 129).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from romana.core.errors import Conflict
from romana.core.identifiers import AllocationKey, HostName, NetworkName, SegmentName, TenantName
from romana.core.store import Store
from romana.services import keys
from romana.services.topology import TopologyService
from unit.services.conftest import Services

H1 = HostName("h1")
H2 = HostName("h2")
K1 = AllocationKey("k1")
NET4 = NetworkName("net4")
NET6 = NetworkName("net6")
PODS = NetworkName("pods")
WEB = TenantName("web")

KUBEADM_V2: dict[str, Any] = {
    # Romana v2's kubeadm document, in v2's format.
    "networks": [{"name": "romana-network", "cidr": "10.112.0.0/12", "block_mask": 29}],
    "topologies": [
        {
            "networks": ["romana-network"],
            "map": [{"name": f"host-group-{i:02d}", "groups": []} for i in range(1, 9)],
        }
    ],
}


def renamed(document: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    out = copy.deepcopy(document)
    for net in out["networks"]:
        if net["name"] == old:
            net["name"] = new
    for tree in out["topologies"]:
        tree["networks"] = [new if n == old else n for n in tree["networks"]]
    return out


def test_a_node_of_the_kubeadm_v2_document_holds_110_pods_of_one_namespace(
    svc: Services,
) -> None:
    svc.topology.apply(copy.deepcopy(KUBEADM_V2))
    node, namespace = HostName("node-1"), TenantName("default")
    svc.topology.add_host(node, "192.0.2.11")
    svc.tenants.create(namespace)
    addresses = {
        str(svc.ipam.allocate(AllocationKey(f"pod-{i}:eth0"), node, namespace).addresses[0])
        for i in range(110)  # kubelet's default maxPods
    }
    assert len(addresses) == 110
    assert "10.112.0.1" not in addresses  # the gateway of host 0 (tenant 0) stays out
    assert svc.topology.tree()["warnings"] == []


def test_a_v2_document_too_small_for_110_pods_is_applied_and_says_so(
    svc: Services, caplog: pytest.LogCaptureFixture
) -> None:
    small = copy.deepcopy(KUBEADM_V2)
    small["networks"][0]["cidr"] = "10.111.0.0/16"
    svc.topology.apply(small)
    (warning,) = svc.topology.tree()["warnings"]
    assert "a host prefix /19 holds 30 endpoints per tenant and segment" in warning
    assert warning in caplog.text


def test_renaming_a_network_keeps_allocations_tenant_ids_and_blackouts(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.tenants.add_segment(WEB, SegmentName("db"))
    svc.ipam.set_blackouts(NET4, ["10.0.16.0/31"])
    first = svc.ipam.allocate(K1, H1, WEB)
    second = svc.ipam.allocate(AllocationKey("k2"), H2, WEB, SegmentName("db"))
    assert [str(a) for a in first.addresses] == ["10.0.16.2"]

    svc.topology.apply(renamed(svc.topology.document(), "net4", "pods"))

    assert svc.tenants.get(WEB).ids == {"pods": 1}
    assert svc.ipam.get(K1) == first and svc.ipam.get(AllocationKey("k2")) == second
    assert svc.ipam.key_of("10.128.17.1") == "k2"
    assert svc.ipam.blackouts(PODS) == ["10.0.16.0/31"]
    # The old name holds nothing any more: every slot moved, none was copied.
    for prefix in (keys.addr_network(NET4), keys.tenant_ids(NET4), keys.blackouts(NET4)):
        assert svc.store.range(prefix).items == ()
    # The next allocation sees k1's slot under the new name, and releasing k1 frees it.
    assert str(svc.ipam.allocate(AllocationKey("k3"), H1, WEB).addresses[0]) == "10.0.16.3"
    svc.ipam.release(K1)
    assert str(svc.ipam.allocate(AllocationKey("k4"), H1, WEB).addresses[0]) == "10.0.16.2"
    assert svc.tenants.create(TenantName("other")).ids == {"pods": 2}


def test_swapping_two_network_names_moves_each_ones_state(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.ipam.set_blackouts(NET4, ["10.0.16.0/31"])
    svc.ipam.set_blackouts(NET6, ["fd00:10::/64"])
    svc.ipam.allocate(K1, H1, WEB)
    document = svc.topology.document()
    swapped = renamed(renamed(renamed(document, "net4", "tmp"), "net6", "net4"), "tmp", "net6")

    svc.topology.apply(swapped)

    assert svc.tenants.get(WEB).ids == {"net6": 1}
    assert svc.ipam.blackouts(NET6) == ["10.0.16.0/31"]
    assert svc.ipam.blackouts(NET4) == ["fd00:10::/64"]
    assert svc.ipam.key_of("10.0.16.2") == "k1"


def test_a_rename_onto_a_removed_networks_name_clears_what_that_one_left(
    svc: Services,
) -> None:
    svc.ipam.set_blackouts(NET6, ["fd00:10::/64"])
    svc.tenants.create(WEB)
    svc.ipam.allocate(K1, H1, WEB)
    document = renamed(svc.topology.document(), "net4", "net6")
    document["networks"] = [n for n in document["networks"] if n["cidr"] != "fd00:10::/48"]

    svc.topology.apply(document)

    assert svc.ipam.blackouts(NET6) == []
    assert svc.tenants.get(WEB).ids == {"net6": 1}
    assert svc.ipam.key_of("10.0.16.1") == "k1"


@pytest.mark.parametrize(
    ("edit", "conflict"),
    [
        pytest.param(
            lambda d: d["networks"][0].update(endpoint_bits=7, tenant_bits=5),
            "changes the widths of network 'net4' (10.0.0.0/8): tenant_bits 4 -> 5, "
            "endpoint_bits 8 -> 7; it holds 1 allocated addresses, whose host, tenant, segment "
            "and endpoint would then read differently; release them first",
            id="widths",
        ),
        pytest.param(
            lambda d: d["networks"][0].update(cidr="11.0.0.0/8"),
            "changes the CIDR of network 'net4' (10.0.0.0/8) to 11.0.0.0/8, which holds 1 "
            "allocated addresses",
            id="cidr",
        ),
        pytest.param(
            lambda d: d["topologies"][0]["map"][0]["groups"][0].update(index=5),
            "moves host 'h1' from index 0 to 5; its prefix 10.0.0.0/16 in network 'net4' "
            "holds 1 allocated addresses",
            id="moved-host",
        ),
        pytest.param(
            lambda d: d["topologies"][0]["map"][0].update(groups=[]),
            "removes host 'h1', whose prefix 10.0.0.0/16 in network 'net4' holds 1",
            id="removed-host",
        ),
    ],
)
def test_a_refused_change_names_the_real_conflict(svc: Services, edit: Any, conflict: str) -> None:
    svc.tenants.create(WEB)
    svc.ipam.allocate(K1, H1, WEB)
    document = svc.topology.document()
    edit(document)
    with pytest.raises(Conflict) as info:
        svc.topology.apply(document)
    assert conflict in str(info.value)
    assert svc.ipam.key_of("10.0.16.1") == "k1"


def test_removing_a_network_that_holds_addresses_is_refused_by_name(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.ipam.allocate(K1, H1, WEB)
    with pytest.raises(Conflict, match=r"removes network 'net4' \(10\.0\.0\.0/8\), which holds"):
        svc.topology.apply({"networks": [], "topologies": []})


class RaceOnce:
    """A store that, just before the first topology write commits, lets ``race`` run: as if
    another replica committed it between the apply's reads and its commit."""

    def __init__(self, store: Store, race: Callable[[], object]) -> None:
        self.store = store
        self.race: Callable[[], object] | None = race

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def txn(self, compares: Any, ops: Any, on_failure: Any = ()) -> Any:
        if self.race is not None and any(getattr(op, "key", "") == keys.TOPOLOGY for op in ops):
            race, self.race = self.race, None
            race()
        return self.store.txn(compares, ops, on_failure)


def test_an_allocation_committed_during_a_rename_moves_with_it(svc: Services) -> None:
    svc.tenants.create(WEB)
    document = renamed(svc.topology.document(), "net4", "pods")
    racing = TopologyService(
        RaceOnce(svc.store, lambda: svc.ipam.allocate(AllocationKey("late"), H1, WEB))
    )

    racing.apply(document)

    assert svc.ipam.key_of("10.0.16.1") == "late"
    assert svc.store.range(keys.addr_network(NET4)).items == ()
    svc.ipam.release(AllocationKey("late"))  # its record names the slot under the new name
    assert svc.store.range(keys.addr_network(PODS)).items == ()


def test_narrowing_segment_bits_below_a_segment_in_use_is_refused(svc: Services) -> None:
    svc.tenants.create(WEB)
    for segment in ("a", "b", "c"):
        svc.tenants.add_segment(WEB, SegmentName(segment))  # ids 1, 2, 3
    document = svc.topology.document()
    # Endpoint bits take what segment bits give up, so hosts keep their prefixes.
    document["networks"][0].update(segment_bits=1, endpoint_bits=11)
    with pytest.raises(Conflict) as info:
        svc.topology.apply(document)
    assert (
        "gives network 'net4' (10.0.0.0/8) segment_bits 1 (segment ids up to 1), but tenant "
        "'web', pinned to it, has segment 'c' with id 3; remove that segment first"
    ) in str(info.value)
    document["networks"][0].update(segment_bits=2, endpoint_bits=10)
    svc.topology.apply(document)
    assert svc.topology.document()["networks"][0]["segment_bits"] == 2


def test_a_segment_added_during_a_narrowing_apply_makes_it_check_again(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.tenants.add_segment(WEB, SegmentName("a"))  # id 1: fits one segment bit
    document = svc.topology.document()
    document["networks"][0].update(segment_bits=1, endpoint_bits=11)
    racing = TopologyService(
        RaceOnce(svc.store, lambda: svc.tenants.add_segment(WEB, SegmentName("b")))
    )
    with pytest.raises(Conflict, match=r"tenant 'web', pinned to it, has segment 'b' with id 2"):
        racing.apply(document)
    assert svc.topology.document()["networks"][0]["segment_bits"] == 4


class Recording:
    """A store that keeps the compares and operations of every transaction it commits."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.txns: list[tuple[list[Any], list[Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def txn(self, compares: Any, ops: Any, on_failure: Any = ()) -> Any:
        self.txns.append((list(compares), list(ops)))
        return self.store.txn(compares, ops, on_failure)


def test_a_rename_guards_ranges_and_only_the_records_it_rewrites(svc: Services) -> None:
    document = svc.topology.document()
    document["topologies"][0]["networks"].append("net6")
    document["networks"][1]["endpoint_bits"] = 40  # topology bits 8, as net4's
    svc.topology.apply(document)
    svc.tenants.create(TenantName("elsewhere"), networks=[NET6])  # names no renamed network
    for name in ("web", "db"):
        svc.tenants.create(TenantName(name), networks=[NET4])
    allocations = 6
    for i in range(allocations):
        svc.ipam.allocate(AllocationKey(f"k{i}"), (H1, H2)[i % 2], (WEB, TenantName("db"))[i % 2])
    recording = Recording(svc.store)

    TopologyService(recording).apply(renamed(svc.topology.document(), "net4", "pods"))

    ((compares, ops),) = recording.txns
    guarded = {getattr(c, "key", None) for c in compares}
    assert keys.tenant(TenantName("elsewhere")) not in guarded
    assert not any(k and k.startswith((keys.IPAM_ADDR, keys.TENANT_IDS)) for k in guarded)
    # The topology; two ranges per network and the tenants' range; one record per allocation
    # and per renamed tenant; the blackouts key of the renamed network.
    assert len(compares) == 1 + 2 * 2 + 1 + allocations + 2 + 1
    # The topology; a delete and a put per slot and per tenant id; a put per record.
    assert len(ops) == 1 + 2 * allocations + allocations + 2 * 2 + 2
    assert svc.tenants.get(TenantName("elsewhere")).ids == {"net6": 1}
    assert sorted(svc.tenants.get(WEB).ids) == ["pods"]


def test_a_release_during_a_rename_does_not_come_back_under_the_new_name(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.ipam.allocate(AllocationKey("gone"), H1, WEB)
    kept = svc.ipam.allocate(AllocationKey("kept"), H2, WEB)
    document = renamed(svc.topology.document(), "net4", "pods")
    racing = TopologyService(RaceOnce(svc.store, lambda: svc.ipam.release(AllocationKey("gone"))))

    racing.apply(document)

    slots = svc.store.range(keys.addr_network(PODS)).items
    assert [kv.value for kv in slots] == [b"kept"]
    assert svc.ipam.get(AllocationKey("kept")) == kept
    assert svc.store.range(keys.addr_network(NET4)).items == ()


def test_a_tenant_deleted_during_a_rename_does_not_come_back(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.tenants.create(TenantName("brief"))
    document = renamed(svc.topology.document(), "net4", "pods")
    racing = TopologyService(RaceOnce(svc.store, lambda: svc.tenants.delete(TenantName("brief"))))

    racing.apply(document)

    ids = svc.store.range(keys.tenant_ids(PODS)).items
    assert [kv.value for kv in ids] == [b"web"]
    assert svc.store.get(keys.tenant(TenantName("brief"))) is None
    assert svc.tenants.create(TenantName("next")).ids == {"pods": 2}
