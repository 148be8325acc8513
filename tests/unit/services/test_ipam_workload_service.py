"""What holds an allocation (its workload): set after the fact, idempotent, validated, kept by
a move and gone with the release, on every store romanad runs on (etcd too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.core import ipam
from romana.core.errors import InvalidInput, NotFound
from romana.core.identifiers import AllocationKey, HostName, TenantName
from romana.core.store import Store
from romana.lab.etcd import EtcdCluster, unique_prefix
from romana.services import keys, txn
from romana.store.etcd import EtcdStore
from romana.store.memory import MemoryStore
from romana.store.sqlite import SQLiteStore
from unit.services.conftest import DOC, Services

H1 = HostName("h1")
H2 = HostName("h2")
WEB = TenantName("web")
KEY = AllocationKey("docker-0123456789abcdef01234567:rdk0123456789a")
CONTAINER = "docker:" + "3f1c2a" * 10 + "abcd"


@pytest.fixture(params=["memory", "sqlite", "etcd"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "etcd":
        cluster: EtcdCluster = request.getfixturevalue("etcd_single")
        made: Store = EtcdStore(cluster.client_urls, prefix=unique_prefix())
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "r.db")
    else:
        made = MemoryStore()
    yield made
    made.close()


@pytest.fixture
def on(any_store: Store) -> Services:
    s = Services(any_store)
    s.topology.apply(DOC)
    s.topology.add_host(H1, "192.0.2.1", {"rack": "a"})
    s.topology.add_host(H2, "192.0.2.2", {"rack": "b"})
    s.tenants.create(WEB)
    return s


def test_a_workload_is_stored_with_the_record_and_moves_with_it(on: Services) -> None:
    plain = on.ipam.allocate(KEY, H1, WEB)
    assert plain.workload is None and "workload" not in plain.to_dict()
    labelled = on.ipam.set_workload(KEY, CONTAINER)
    assert labelled.workload == CONTAINER
    assert on.ipam.get(KEY) == labelled
    assert [a.workload for a in on.ipam.list_all(host=H1)] == [CONTAINER]
    kv = on.store.get(keys.alloc_key(KEY))
    assert kv is not None and txn.loads(kv)["workload"] == CONTAINER
    moved = on.ipam.move(KEY, H2)
    assert (moved.host, moved.workload) == (H2, CONTAINER)
    assert on.ipam.get(KEY).workload == CONTAINER
    home = on.ipam.move(KEY, H1)
    assert home == labelled, "moved home it is as it was, workload and all"
    assert on.ipam.allocate(KEY, H1, WEB) == labelled, "the same request again sees it too"


def test_setting_the_same_workload_again_writes_nothing(on: Services) -> None:
    on.ipam.allocate(KEY, H1, WEB)
    first = on.ipam.set_workload(KEY, CONTAINER)
    revision = on.store.revision()
    assert on.ipam.set_workload(KEY, CONTAINER) == first
    assert on.store.revision() == revision
    other = "docker:" + "e" * 64
    assert on.ipam.set_workload(KEY, other).workload == other


def test_a_release_takes_the_workload_with_it(on: Services) -> None:
    on.ipam.allocate(KEY, H1, WEB)
    on.ipam.set_workload(KEY, CONTAINER)
    assert on.ipam.release(KEY).workload == CONTAINER
    again = on.ipam.allocate(KEY, H1, WEB)
    assert again.workload is None, "a new allocation under the same key starts unclaimed"


@pytest.mark.parametrize(
    "workload", ["", "x" * (ipam.WORKLOAD_MAX + 1), "docker:\n1", "tab\there", "caf\u00e9"]
)
def test_a_workload_breaking_the_rule_is_refused_by_name(on: Services, workload: str) -> None:
    on.ipam.allocate(KEY, H1, WEB)
    revision = on.store.revision()
    with pytest.raises(InvalidInput) as info:
        on.ipam.set_workload(KEY, workload)
    assert [(i.field, i.rule) for i in info.value.issues] == [("workload", ipam.WORKLOAD_RULE)]
    assert on.store.revision() == revision


def test_an_unknown_key_has_no_workload_to_set(on: Services) -> None:
    with pytest.raises(NotFound, match="no allocation with key 'nope'"):
        on.ipam.set_workload(AllocationKey("nope"), CONTAINER)


def test_the_longest_workload_fits() -> None:
    longest = "w" * ipam.WORKLOAD_MAX
    assert ipam.check_workload(longest) == longest
    alloc = ipam.Allocation.from_dict(
        {"key": "k", "host": "h1", "tenant": "t", "segment": "default", "addresses": []}
    )
    assert alloc.workload is None
    labelled = ipam.Allocation.from_dict({**alloc.to_dict(), "workload": longest})
    assert labelled.to_dict()["workload"] == longest
