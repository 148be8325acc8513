"""The store contract: one suite, run against every adapter (memory, SQLite, a real etcd).

What a caller of :class:`romana.core.store.Store` relies on: reads, compare-and-swap
transactions that are all-or-nothing, one revision step per write transaction, precise
prefix ranges, watches that deliver every change in order, and no lost update under
concurrent CAS writers. Backend-specific durability (crashes, fail-over) lives in
``test_store_durability.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.core import errors
from romana.core.store import Compare, Delete, EventType, Put, Store, Unchanged
from romana.lab.etcd import EtcdCluster, unique_prefix
from romana.store import etcd, memory, sqlite


class Backend:
    """Opens fresh, isolated stores of one kind, and closes them at teardown."""

    def __init__(self, kind: str, tmp_path: Path, cluster: EtcdCluster | None) -> None:
        self.kind = kind
        self._tmp = tmp_path
        self._cluster = cluster
        self._opened: list[Store] = []
        self._count = 0

    def open(self, *, history: int = 1000) -> Store:
        self._count += 1
        store: Store
        if self.kind == "memory":
            store = memory.MemoryStore(history=history)
        elif self.kind == "sqlite":
            store = sqlite.SQLiteStore(self._tmp / f"store{self._count}.db", history=history)
        else:
            assert self._cluster is not None
            store = etcd.EtcdStore(self._cluster.client_urls, prefix=unique_prefix())
        self._opened.append(store)
        return store

    def reopen(self, store: Store) -> Store:
        """A second store object over the same data."""
        if isinstance(store, sqlite.SQLiteStore):
            again: Store = sqlite.SQLiteStore(self._tmp / f"store{self._count}.db")
        elif isinstance(store, etcd.EtcdStore):
            again = etcd.EtcdStore(store.endpoints, prefix=store.prefix)
        else:
            raise AssertionError("the memory store keeps nothing beyond its object")
        self._opened.append(again)
        return again

    def compact(self, store: Store) -> None:
        """Drop history up to the current revision where the backend has an explicit knob.

        Memory and SQLite trim by their ``history`` setting as they write.
        """
        if isinstance(store, etcd.EtcdStore):
            store.compact(store.revision())

    def close(self) -> None:
        for store in self._opened:
            store.close()


ETCD = pytest.param("etcd", marks=pytest.mark.etcd)


def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    cluster = request.getfixturevalue("etcd_single") if request.param == "etcd" else None
    b = Backend(request.param, tmp_path, cluster)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(params=["memory", "sqlite", ETCD])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request, tmp_path)


@pytest.fixture(params=["sqlite", ETCD])
def persistent_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request, tmp_path)


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


def put(store: Store, key: str, value: bytes) -> int:
    result = store.txn([], [Put(key, value)])
    assert result.succeeded
    return result.revision


# -- reads and transactions ------------------------------------------------------------------


def test_get_returns_what_was_put_byte_for_byte(store: Store) -> None:
    assert store.get("k") is None
    rev = put(store, "k", b"\x00\xffbinary")
    put(store, "empty", b"")
    put(store, "ключ/ü", "значение".encode())
    kv = store.get("k")
    assert kv is not None
    assert (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version) == (
        "k",
        b"\x00\xffbinary",
        rev,
        rev,
        1,
    )
    empty = store.get("empty")
    assert empty is not None and empty.value == b""
    unicode = store.get("ключ/ü")
    assert unicode is not None and unicode.value.decode() == "значение"


def test_create_if_absent_succeeds_once(store: Store) -> None:
    first = store.txn([Compare("lock", 0)], [Put("lock", b"a")])
    second = store.txn([Compare("lock", 0)], [Put("lock", b"b")])
    assert first.succeeded and not second.succeeded
    assert second.revision == first.revision
    kv = store.get("lock")
    assert kv is not None and kv.value == b"a"


def test_cas_applies_only_against_the_current_mod_revision(store: Store) -> None:
    rev = put(store, "n", b"1")
    put(store, "n", b"2")
    stale = store.txn([Compare("n", rev)], [Put("n", b"stale")])
    assert not stale.succeeded
    current = store.get("n")
    assert current is not None and current.value == b"2"
    fresh = store.txn([Compare("n", current.mod_revision)], [Put("n", b"3")])
    assert fresh.succeeded
    after = store.get("n")
    assert after is not None and after.value == b"3"


def test_failed_compare_applies_on_failure_and_nothing_of_on_success(store: Store) -> None:
    put(store, "x", b"1")
    result = store.txn(
        [Compare("y", 0), Compare("x", 0)],
        [Put("y", b"new"), Put("z", b"new")],
        [Put("why", b"x exists")],
    )
    assert not result.succeeded
    assert store.get("y") is None and store.get("z") is None
    why = store.get("why")
    assert why is not None and why.value == b"x exists"
    assert why.mod_revision == result.revision
    ok = store.txn([Compare("y", 0)], [Put("y", b"1")], [Put("never", b"")])
    assert ok.succeeded and store.get("never") is None


def test_many_guards_are_each_checked_and_many_writes_are_one_change(store: Store) -> None:
    # What a group commit sends: guards on many keys (one of them twice), puts and deletes of
    # many keys, among them deletes of keys that do not exist.
    revs = {k: put(store, f"g/{k}", b"0") for k in "abcd"}
    guards: list[Compare | Unchanged] = [Compare(f"g/{k}", r) for k, r in revs.items()]
    guards += [Compare("g/a", revs["a"]), Compare("g/new", 0)]
    guards.append(Unchanged("g/", store.range("g/").revision))
    start = store.revision()
    writes: list[Put | Delete] = [Put("g/a", b"1"), Delete("g/b"), Delete("g/absent")]
    writes.append(Put("g/new", b"2"))
    result = store.txn(guards, [*writes, Delete("g/c")])
    assert result.succeeded and result.revision == start + 1
    assert [(kv.key, kv.value) for kv in store.range("g/").items] == [
        ("g/a", b"1"),
        ("g/d", b"0"),
        ("g/new", b"2"),
    ]
    changes = store.watch("g/", start + 1, timeout=5)
    assert [(e.type, e.key) for e in changes] == [
        (EventType.PUT, "g/a"),
        (EventType.DELETE, "g/b"),
        (EventType.PUT, "g/new"),
        (EventType.DELETE, "g/c"),
    ]
    # One stale guard among many refuses the whole transaction.
    stale = [Compare("g/a", revs["a"]), Compare("g/d", revs["d"])]
    assert not store.txn(stale, [Put("g/d", b"x"), Delete("g/new")]).succeeded
    d, new = store.get("g/d"), store.get("g/new")
    assert d is not None and d.value == b"0" and new is not None


def test_every_write_txn_advances_the_revision_by_exactly_one(store: Store) -> None:
    r1 = store.txn([], [Put("a", b"1"), Put("b", b"1")]).revision
    a, b = store.get("a"), store.get("b")
    assert a is not None and b is not None
    assert a.mod_revision == b.mod_revision == r1
    r2 = put(store, "a", b"2")
    assert r2 == r1 + 1
    a2 = store.get("a")
    assert a2 is not None
    assert (a2.create_revision, a2.mod_revision, a2.version) == (r1, r2, 2)
    # Transactions that change nothing leave the revision alone.
    assert store.txn([Compare("a", 1_000_000)], [Put("a", b"x")]).revision == r2
    assert store.txn([], [Delete("absent")]).revision == r2
    r3 = store.txn([], [Delete("a")]).revision
    assert r3 == r2 + 1 and store.get("a") is None
    r4 = put(store, "a", b"again")
    a4 = store.get("a")
    assert a4 is not None
    assert (r4, a4.create_revision, a4.version) == (r3 + 1, r4, 1)
    assert store.revision() == r4


def test_range_is_exactly_the_prefix_sorted_at_one_revision(store: Store) -> None:
    keys = ["a/2", "a", "a/", "a0", "ab/1", "a/1", "b", "a/x/y", "ü/1", "ü"]
    for k in keys:
        put(store, k, k.encode())
    got = store.range("a/")
    assert [kv.key for kv in got.items] == ["a/", "a/1", "a/2", "a/x/y"]
    assert [kv.value for kv in got.items] == [b"a/", b"a/1", b"a/2", b"a/x/y"]
    assert got.revision == store.revision()
    assert [kv.key for kv in store.range("ü").items] == ["ü", "ü/1"]
    assert [kv.key for kv in store.range("").items] == sorted(keys, key=str.encode)
    empty = store.range("nothing/")
    assert empty.items == () and empty.revision == store.revision()


def test_unchanged_holds_until_a_key_under_the_prefix_is_created_or_written(
    store: Store,
) -> None:
    put(store, "a/1", b"1")
    seen = store.range("a/").revision
    # Writes beside the prefix, and deletes under it, leave the range as the reader saw it.
    put(store, "a", b"x")
    put(store, "a0/1", b"x")
    assert store.txn([], [Delete("a/1")]).succeeded
    assert store.txn([Unchanged("a/", seen)], [Put("mark", b"1")]).succeeded
    assert store.txn([Unchanged("empty/", 0)], [Put("mark", b"2")]).succeeded
    created = store.range("a/").revision
    put(store, "a/2", b"new")
    refused = store.txn([Unchanged("a/", created)], [Put("mark", b"3")], [Put("why", b"a/2")])
    assert not refused.succeeded
    mark, why = store.get("mark"), store.get("why")
    assert mark is not None and mark.value == b"2" and why is not None
    written = store.range("a/").revision
    assert store.txn([Unchanged("a/", written), Compare("mark", mark.mod_revision)], []).succeeded
    put(store, "a/2", b"changed")
    assert not store.txn([Unchanged("a/", written)], [Put("mark", b"4")]).succeeded


# -- watches ---------------------------------------------------------------------------------


def test_watch_returns_every_change_under_the_prefix_in_order(store: Store) -> None:
    start = put(store, "w/a", b"1")
    put(store, "other/a", b"not mine")
    store.txn([], [Put("w/b", b"2"), Put("w/c", b"3")])
    store.txn([], [Delete("w/a")])
    events = store.watch("w/", start, 2.0)
    assert [(e.type, e.key, e.value) for e in events] == [
        (EventType.PUT, "w/a", b"1"),
        (EventType.PUT, "w/b", b"2"),
        (EventType.PUT, "w/c", b"3"),
        (EventType.DELETE, "w/a", b""),
    ]
    revisions = [e.revision for e in events]
    assert revisions == [start, start + 2, start + 2, start + 3]
    # Starting later skips what came before.
    later = store.watch("w/", start + 3, 2.0)
    assert [(e.type, e.key) for e in later] == [(EventType.DELETE, "w/a")]


def test_watch_times_out_with_nothing_when_nothing_happens_under_the_prefix(
    store: Store,
) -> None:
    rev = put(store, "elsewhere", b"1")
    began = time.monotonic()
    assert store.watch("quiet/", rev + 1, 0.3) == []
    assert 0.25 <= time.monotonic() - began < 3.0


def test_watch_wakes_up_for_a_write_made_while_it_waits(store: Store) -> None:
    rev = store.revision()
    writer = threading.Timer(0.2, lambda: put(store, "live/k", b"v"))
    writer.start()
    began = time.monotonic()
    try:
        events = store.watch("live/", rev + 1, 10.0)
    finally:
        writer.join()
    assert [(e.type, e.key, e.value) for e in events] == [(EventType.PUT, "live/k", b"v")]
    assert time.monotonic() - began < 3.0


def test_watch_from_a_compacted_revision_raises_compacted(backend: Backend) -> None:
    store = backend.open(history=4)
    first = put(store, "h/k", b"0")
    for i in range(1, 30):
        put(store, "h/k", b"%d" % i)
    backend.compact(store)
    with pytest.raises(errors.Compacted):
        store.watch("h/", first, 0.5)
    # Recent history is still there for a watcher that keeps up.
    latest = store.revision()
    events = store.watch("h/", latest, 0.5)
    assert [(e.revision, e.value) for e in events] == [(latest, b"29")]


# -- concurrency and persistence -------------------------------------------------------------


def cas_increment(store: Store, key: str) -> int:
    """Add one to the counter at ``key`` by read-compare-swap; the value written."""
    while True:
        kv = store.get(key)
        value = int(kv.value) + 1 if kv else 1
        if store.txn(
            [Compare(key, kv.mod_revision if kv else 0)], [Put(key, b"%d" % value)]
        ).succeeded:
            return value


def test_concurrent_cas_increments_lose_no_update(backend: Backend) -> None:
    store = backend.open()
    threads, each = (4, 15) if backend.kind == "etcd" else (4, 100)
    written: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(each):
            value = cas_increment(store, "counter")
            with lock:
                written.append(value)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    final = store.get("counter")
    assert final is not None and int(final.value) == threads * each
    # Every successful swap wrote a distinct value: no two writers won the same round.
    assert sorted(written) == list(range(1, threads * each + 1))
    assert final.version == threads * each


def test_state_and_revision_survive_reopening(persistent_backend: Backend) -> None:
    store = persistent_backend.open()
    rev = store.txn([], [Put("p/a", b"1"), Put("p/b", b"2")]).revision
    again = persistent_backend.reopen(store)
    assert [(kv.key, kv.value, kv.mod_revision) for kv in again.range("p/").items] == [
        ("p/a", b"1", rev),
        ("p/b", b"2", rev),
    ]
    assert again.revision() == store.revision()
    assert [e.key for e in again.watch("p/", rev, 1.0)] == ["p/a", "p/b"]
    # Both objects share one revision counter.
    assert put(again, "p/c", b"3") == store.revision()
