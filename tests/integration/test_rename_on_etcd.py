"""Renaming a network on a real etcd, whose transactions are limited by ``--max-txn-ops``.

A rename moves every allocated address of the network in the one transaction that applies the
topology (``romana.services.renames``), about three operations per address. On etcd a rename
that fits goes through; one that does not is refused with an error naming the size, the
setting and what to do, and changes nothing. The limit is set low here (``MAX_TXN_OPS``) so
that a handful of allocations crosses it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from romana.core import errors
from romana.core.identifiers import AllocationKey, HostName, NetworkName, TenantName
from romana.core.store import Compare, Put
from romana.lab.etcd import EtcdCluster, Member, unique_prefix
from romana.services import keys
from romana.store.etcd import EtcdStore
from support import env
from unit.services.conftest import DOC, Services
from unit.services.test_topology_service import renamed

pytestmark = pytest.mark.etcd

MAX_TXN_OPS = 32


class LimitedEtcd(EtcdCluster):
    """An etcd cluster taking at most ``MAX_TXN_OPS`` compares and operations per txn."""

    def _command(self, member: Member) -> list[str]:
        return [*super()._command(member), f"--max-txn-ops={MAX_TXN_OPS}"]


@pytest.fixture(scope="module")
def limited() -> Iterator[EtcdCluster]:
    cluster = LimitedEtcd(1, binary=env.need_binary("etcd"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def services(cluster: EtcdCluster) -> Iterator[Services]:
    store = EtcdStore(cluster.client_urls, prefix=unique_prefix())
    svc = Services(store)
    svc.topology.apply(DOC)
    svc.topology.add_host(HostName("h1"), "192.0.2.1", {"rack": "a"})
    svc.topology.add_host(HostName("h2"), "192.0.2.2", {"rack": "b"})
    try:
        yield svc
    finally:
        store.close()


@pytest.fixture
def svc(limited: EtcdCluster) -> Iterator[Services]:
    yield from services(limited)


@pytest.fixture
def default_svc(etcd_single: EtcdCluster) -> Iterator[Services]:
    yield from services(etcd_single)


def fill(svc: Services, allocations: int) -> dict[str, str]:
    """Two tenants, a blackout and ``allocations`` addresses in net4: key → address."""
    hosts = (HostName("h1"), HostName("h2"))
    tenants = (TenantName("web"), TenantName("db"))
    for tenant in tenants:
        svc.tenants.create(tenant)
    svc.ipam.set_blackouts(NetworkName("net4"), ["10.0.16.0/31"])
    return {
        f"k{i}": str(
            svc.ipam.allocate(AllocationKey(f"k{i}"), hosts[i % 2], tenants[i % 2]).addresses[0]
        )
        for i in range(allocations)
    }


@pytest.mark.parametrize("fixture", ["svc", "default_svc"])
def test_a_rename_of_a_few_allocations_moves_them(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    svc: Services = request.getfixturevalue(fixture)
    # 1 + 3 per address + 3 per tenant + 2 for the blackouts: 21 operations, 15 compares.
    held = fill(svc, 4)

    svc.topology.apply(renamed(svc.topology.document(), "net4", "pods"))

    assert {k: str(svc.ipam.get(AllocationKey(k)).addresses[0]) for k in held} == held
    assert svc.tenants.get(TenantName("web")).ids == {"pods": 1}
    assert svc.ipam.blackouts(NetworkName("pods")) == ["10.0.16.0/31"]
    assert svc.store.range(keys.addr_network(NetworkName("net4"))).items == ()
    svc.ipam.release(AllocationKey("k0"))  # its record names the slot under the new name
    assert len(svc.store.range(keys.addr_network(NetworkName("pods"))).items) == 3


def test_a_rename_over_max_txn_ops_is_refused_clearly_and_changes_nothing(
    svc: Services,
) -> None:
    # 1 + 3 per address + 3 per tenant + 2 for the blackouts: 39 operations.
    held = fill(svc, 10)
    document = svc.topology.document()
    before = svc.store.range(keys.ROOT)

    with pytest.raises(errors.InvalidInput) as info:
        svc.topology.apply(renamed(document, "net4", "pods"))

    assert str(info.value) == (
        "renaming network 'net4' to 'pods' moves 10 allocated addresses, 10 allocation "
        "records, 2 tenant ids and 2 tenant records in one store transaction of 39 operations, "
        "and the store refused it; nothing was changed. etcd: txn: etcd refused a transaction "
        "of 39 operations and 19 compares: etcd takes at most --max-txn-ops of each (128 unless "
        "the cluster sets it); raise --max-txn-ops to at least 39 on every etcd member. Or "
        "rename networks before addresses are allocated in them: a rename costs about 3 "
        "operations per allocated address"
    )
    after = svc.store.range(keys.ROOT)
    assert after.items == before.items
    assert svc.topology.document() == document
    assert {k: str(svc.ipam.get(AllocationKey(k)).addresses[0]) for k in held} == held
    assert svc.tenants.get(TenantName("web")).ids == {"net4": 1}


def test_etcd_refusing_a_txn_as_too_large_names_its_size_and_the_setting(
    limited: EtcdCluster,
) -> None:
    store = EtcdStore(limited.client_urls, prefix=unique_prefix())
    try:
        puts = [Put(f"k{i:02d}", b"v") for i in range(MAX_TXN_OPS + 1)]
        with pytest.raises(errors.InvalidInput) as info:
            store.txn([], puts)
        assert str(info.value) == (
            f"etcd: txn: etcd refused a transaction of {MAX_TXN_OPS + 1} operations and 0 "
            "compares: etcd takes at most --max-txn-ops of each (128 unless the cluster sets "
            f"it); raise --max-txn-ops to at least {MAX_TXN_OPS + 1} on every etcd member"
        )
        compares = [Compare(f"c{i:02d}", 0) for i in range(MAX_TXN_OPS + 1)]
        with pytest.raises(errors.InvalidInput, match=r"1 operations and 33 compares"):
            store.txn(compares, [Put("k", b"v")])
        assert store.range("").items == ()
        assert store.txn([], puts[:MAX_TXN_OPS]).succeeded
    finally:
        store.close()
