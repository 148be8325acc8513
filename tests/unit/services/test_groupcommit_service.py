"""Group commit of concurrent allocations and releases: each caller gets its own answer, a
batch is one store transaction, and a refused request writes nothing.

The store's transactions wait at a gate, so the test decides which requests queue up behind
the one committing; the store beneath is the real one (memory and SQLite).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from romana.core.errors import Exhausted, NotFound
from romana.core.identifiers import AllocationKey, HostName, NetworkName, TenantName
from romana.core.ipam import Allocation, KeyInUse
from romana.core.store import Conditions, Forwarding, Ops, Put, Store, TxnResult
from romana.services import keys, quotas, txn
from romana.services.groupcommit import MAX_TXN_ITEMS
from unit.services.conftest import DOC, Services

H1 = HostName("h1")
H2 = HostName("h2")
WEB = TenantName("web")


class Gated(Forwarding):
    """A store whose transactions wait while the gate is closed; counts the transactions and
    may run a rival write just before one of them."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.open = threading.Event()
        self.open.set()
        self.waiting = threading.Event()
        self.txns = 0
        self.sizes: list[tuple[int, int]] = []
        self.rival: Callable[[], None] | None = None

    def txn(self, compares: Conditions, on_success: Ops, on_failure: Ops = ()) -> TxnResult:
        self.waiting.set()
        assert self.open.wait(10), "the gate stayed closed"
        if self.rival is not None:
            rival, self.rival = self.rival, None
            rival()
        self.txns += 1
        self.sizes.append((len(compares), len(on_success)))
        return self.inner.txn(compares, on_success, on_failure)


@pytest.fixture
def gated(store: Store) -> Iterator[tuple[Gated, Services]]:
    g = Gated(store)
    s = Services(g)
    s.topology.apply(DOC)
    s.topology.add_host(H1, "192.0.2.1", {"rack": "a"})
    s.topology.add_host(H2, "192.0.2.2", {"rack": "b"})
    s.tenants.create(WEB)
    yield g, s


def _batched(g: Gated, s: Services, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` from threads of their own while a first allocation holds the gate, so
    that all of them queue, in order, and commit as the next batch. Each call's outcome: what
    it returned, or the exception it raised."""
    outcomes: list[Any] = [None] * (len(calls) + 1)

    def call(i: int, fn: Callable[[], Any]) -> None:
        try:
            outcomes[i] = fn()
        except Exception as exc:
            outcomes[i] = exc

    g.open.clear()
    g.waiting.clear()
    first = AllocationKey("holder")
    threads = [threading.Thread(target=call, args=(0, lambda: s.ipam.allocate(first, H1, WEB)))]
    threads[0].start()
    assert g.waiting.wait(10), "the first allocation never reached the store"
    for i, fn in enumerate(calls, 1):
        threads.append(threading.Thread(target=call, args=(i, fn)))
        threads[-1].start()
        _until(lambda i=i: s.ipam.batches.queued() == i)  # type: ignore[misc]
    g.open.set()
    for t in threads:
        t.join(10)
    assert isinstance(outcomes[0], Allocation)
    return outcomes[1:]


def _until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        threading.Event().wait(0.005)
    raise AssertionError("the request never queued")


def _allocating(s: Services, key: str, host: HostName = H1, tenant: TenantName = WEB) -> Any:
    return lambda: s.ipam.allocate(AllocationKey(key), host, tenant)


def _held(store: Store) -> dict[str, list[str]]:
    return {
        raw["key"]: raw["addresses"] for raw in txn.loads_all(store.range(keys.IPAM_KEYS).items)
    }


def test_concurrent_allocations_share_one_commit_and_each_gets_its_own(
    gated: tuple[Gated, Services],
) -> None:
    g, s = gated
    before = g.txns
    got = _batched(g, s, [_allocating(s, f"k{i}", H1 if i % 2 else H2) for i in range(8)])
    assert g.txns - before == 2, "the holder's commit, then one for the whole batch"
    assert [a.key for a in got] == [f"k{i}" for i in range(8)]
    assert [a.host for a in got] == [H1 if i % 2 else H2 for i in range(8)]
    addresses = [str(a.addresses[0]) for a in got]
    assert len(set(addresses)) == 8, "an address was handed out twice in one batch"
    # Lowest free first, as one by one: h1 after the holder's .1, h2 from its first.
    assert [x for x in addresses if x.startswith("10.0.")] == [f"10.0.16.{n}" for n in (2, 3, 4, 5)]
    assert [x for x in addresses if x.startswith("10.128.")] == [
        f"10.128.16.{n}" for n in (1, 2, 3, 4)
    ]
    stored = _held(g.inner)
    assert {k: v[0] for k, v in stored.items() if k != "holder"} == {
        a.key: str(a.addresses[0]) for a in got
    }
    assert quotas.QuotaService(g.inner).usage(WEB)["allocations"] == 9


def test_a_refused_request_writes_nothing_and_refuses_no_other(
    gated: tuple[Gated, Services],
) -> None:
    g, s = gated
    got = _batched(
        g,
        s,
        [
            _allocating(s, "a"),
            _allocating(s, "ghost", tenant=TenantName("nope")),  # no such tenant
            _allocating(s, "holder", host=H2),  # the key is held on h1
            lambda: s.ipam.release(AllocationKey("never")),
            _allocating(s, "b"),
        ],
    )
    assert isinstance(got[0], Allocation) and isinstance(got[4], Allocation)
    assert isinstance(got[1], NotFound) and "tenant 'nope'" in str(got[1])
    assert isinstance(got[2], KeyInUse)
    assert isinstance(got[3], NotFound)
    assert [str(got[0].addresses[0]), str(got[4].addresses[0])] == ["10.0.16.2", "10.0.16.3"]
    assert set(_held(g.inner)) == {"holder", "a", "b"}
    assert _held(g.inner)["holder"] == ["10.0.16.1"]
    assert quotas.QuotaService(g.inner).usage(WEB)["allocations"] == 3


def test_a_batch_runs_its_requests_in_order_over_each_others_writes(
    gated: tuple[Gated, Services],
) -> None:
    g, s = gated
    s.ipam.allocate(AllocationKey("old"), H1, WEB)  # 10.0.16.1; the holder takes .2
    got = _batched(
        g,
        s,
        [
            lambda: s.ipam.release(AllocationKey("old")),
            _allocating(s, "new"),  # the address just released, lowest free again
            _allocating(s, "new"),  # the same key again: the same allocation
            lambda: s.ipam.release(AllocationKey("new")),
            lambda: s.ipam.release(AllocationKey("new")),  # already gone
        ],
    )
    assert str(got[0].addresses[0]) == "10.0.16.1"
    assert str(got[1].addresses[0]) == "10.0.16.1" and got[2] == got[1]
    assert got[3] == got[1]
    assert isinstance(got[4], NotFound)
    assert set(_held(g.inner)) == {"holder"}
    assert g.inner.get(keys.alloc_key(AllocationKey("new"))) is None
    assert quotas.QuotaService(g.inner).usage(WEB)["allocations"] == 1


def test_exhaustion_in_a_batch_refuses_only_the_requests_past_the_last_address(
    gated: tuple[Gated, Services],
) -> None:
    g, s = gated
    # h1's block keeps ordinals 252..254 free; the holder takes 252.
    ranges = ["10.0.16.0/25", "10.0.16.128/26", "10.0.16.192/27", "10.0.16.224/28"]
    s.ipam.set_blackouts(NetworkName("net4"), [*ranges, "10.0.16.240/29", "10.0.16.248/30"])
    got = _batched(g, s, [_allocating(s, f"k{i}") for i in range(4)])
    assert [str(a.addresses[0]) for a in got[:2]] == ["10.0.16.253", "10.0.16.254"]
    assert all(isinstance(x, Exhausted) for x in got[2:])
    assert set(_held(g.inner)) == {"holder", "k0", "k1"}


def test_a_batch_that_loses_a_race_is_computed_again_and_commits(
    gated: tuple[Gated, Services],
) -> None:
    g, s = gated

    def rival() -> None:
        # Another writer takes the address the request chose (h1's lowest free) between its
        # reads and its commit, as another process would.
        g.inner.txn([], [Put(keys.addr_slot(NetworkName("net4"), 0, 1, 0) + keys.n(1), b"x")])

    g.open.clear()
    before = g.txns
    outcomes: list[Any] = []

    def holder() -> None:
        outcomes.append(s.ipam.allocate(AllocationKey("holder2"), H1, WEB))

    thread = threading.Thread(target=holder)
    g.waiting.clear()
    thread.start()
    assert g.waiting.wait(10)
    g.rival = rival
    g.open.set()
    thread.join(10)
    assert str(outcomes[0].addresses[0]) == "10.0.16.2", "the rival's address is skipped"
    assert g.txns - before == 2, "the lost commit, then the one that won"


def test_a_lone_caller_commits_each_request_at_once(gated: tuple[Gated, Services]) -> None:
    g, s = gated
    before = g.txns
    for i in range(5):
        s.ipam.allocate(AllocationKey(f"k{i}"), H1, WEB)
    s.ipam.release(AllocationKey("k0"))
    assert g.txns - before == 6
    assert s.ipam.batches.queued() == 0


def test_a_batch_stays_within_what_etcd_takes_in_one_transaction(
    gated: tuple[Gated, Services],
) -> None:
    g, s = gated
    before = len(g.sizes)
    got = _batched(g, s, [_allocating(s, f"k{i}", H1 if i % 2 else H2) for i in range(60)])
    assert all(isinstance(a, Allocation) for a in got)
    assert len({str(a.addresses[0]) for a in got}) == 60
    sizes = g.sizes[before:]
    assert all(c <= MAX_TXN_ITEMS and o <= MAX_TXN_ITEMS for c, o in sizes)
    assert len(sizes) > 2, "60 allocations do not fit one etcd transaction"


def test_many_callers_allocating_and_releasing_leave_every_count_right(
    gated: tuple[Gated, Services],
) -> None:
    g, s = gated
    kept: dict[str, str] = {}
    problems: list[BaseException] = []

    def caller(n: int) -> None:
        host = H1 if n % 2 else H2
        try:
            for i in range(40):
                key = AllocationKey(f"c{n}-{i}")
                alloc = s.ipam.allocate(key, host, WEB)
                if i % 3:
                    s.ipam.release(key)
                else:
                    kept[key] = str(alloc.addresses[0])
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not problems
    assert {k: v[0] for k, v in _held(g.inner).items()} == kept
    assert len(set(kept.values())) == len(kept), "an address was handed out twice"
    slots = {kv.value.decode() for kv in g.inner.range(keys.IPAM_ADDR).items}
    assert slots == set(kept), "an address key outlived its allocation, or is missing"
    assert quotas.QuotaService(g.inner).usage(WEB)["allocations"] == len(kept)
