"""Store durability under failure, per backend: what survives a crash, a kill, a lost answer.

SQLite: a writer process SIGKILLed mid-stream leaves every transaction it reported, none
half-written; processes sharing a file share one revision counter and lose no update; a
writer locked out beyond its busy timeout gets Unavailable. etcd: with one member of three
SIGKILLed, writes continue through the survivors; a write whose answer was lost is never
applied twice; unreachable endpoints are all named.
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from romana.core import errors
from romana.core.store import Compare, Put, Store
from romana.lab.etcd import EtcdCluster, free_ports, unique_prefix
from romana.store import etcd, sqlite

# -- SQLite ----------------------------------------------------------------------------------

# Each transaction writes the same number to two keys; it prints the number only after the
# store reported the commit.
PAIR_WRITER = """
import sys
from romana.core.store import Compare, Put
from romana.store.sqlite import SQLiteStore

store = SQLiteStore(sys.argv[1])
while True:
    cur = store.get("pair/a")
    n = int(cur.value) + 1 if cur else 1
    ops = [Put("pair/a", b"%d" % n), Put("pair/b", b"%d" % n)]
    if store.txn([Compare("pair/a", cur.mod_revision if cur else 0)], ops).succeeded:
        print(n, flush=True)
"""

# Starts at an agreed moment so that the processes really contend.
INCREMENTER = """
import sys, time
from romana.core.store import Compare, Put
from romana.store.sqlite import SQLiteStore

time.sleep(max(float(sys.argv[3]) - time.time(), 0))
store = SQLiteStore(sys.argv[1])
for _ in range(int(sys.argv[2])):
    while True:
        cur = store.get("counter")
        n = int(cur.value) + 1 if cur else 1
        if store.txn([Compare("counter", cur.mod_revision if cur else 0)],
                     [Put("counter", b"%d" % n)]).succeeded:
            break
"""


def run_python(code: str, *args: str, stdout: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=stdout)


def test_sqlite_writer_killed_mid_stream_loses_nothing_it_reported(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    reported = 0
    for _ in range(3):
        child = run_python(PAIR_WRITER, str(path), stdout=subprocess.PIPE)
        assert child.stdout is not None
        try:
            target = reported + 200
            for line in child.stdout:
                reported = int(line)
                if reported >= target:
                    break
            child.send_signal(signal.SIGKILL)
            # Numbers printed before the kill are still in the pipe.
            for line in child.stdout:
                reported = int(line)
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        store = sqlite.SQLiteStore(path)
        try:
            a, b = store.get("pair/a"), store.get("pair/b")
            assert a is not None and b is not None
            assert a.value == b.value and a.mod_revision == b.mod_revision
            # At most one commit can have happened between the last print and the kill.
            assert reported <= int(a.value) <= reported + 1
            assert store.revision() == int(a.value)
            reported = int(a.value)
        finally:
            store.close()


def test_sqlite_processes_share_one_revision_counter_and_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    each = 1000
    # All open the not-yet-existing file at the same moment.
    start = str(time.time() + 0.6)
    children = [run_python(INCREMENTER, str(path), str(each), start) for _ in range(3)]
    for child in children:
        assert child.wait(60) == 0
    store = sqlite.SQLiteStore(path)
    try:
        counter = store.get("counter")
        assert counter is not None and int(counter.value) == 3 * each
        assert counter.version == 3 * each
        assert store.revision() == 3 * each
        events = store.watch("counter", 1, 0)
        assert [e.value for e in events] == [b"%d" % n for n in range(1, 3 * each + 1)]
    finally:
        store.close()


def test_sqlite_writer_locked_out_beyond_busy_timeout_gets_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = sqlite.SQLiteStore(path, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        rev = store.txn([], [Put("k", b"before")]).revision
        other.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        with pytest.raises(errors.Unavailable, match="locked") as caught:
            store.txn([], [Put("k", b"blocked")])
        assert errors.is_temporary(caught.value)
        assert 0.15 <= time.monotonic() - began < 3.0
        # Readers are not blocked by a writer, and the refused write left no trace.
        kv = store.get("k")
        assert kv is not None and kv.value == b"before"
        other.execute("ROLLBACK")
        assert store.txn([], [Put("k", b"after")]).revision == rev + 1
    finally:
        other.close()
        store.close()


# -- etcd ------------------------------------------------------------------------------------


@pytest.mark.etcd
def test_etcd_prefixes_are_separate_namespaces(etcd_single: EtcdCluster) -> None:
    base = unique_prefix()
    a = etcd.EtcdStore(etcd_single.client_urls, prefix=base + "a/")
    b = etcd.EtcdStore(etcd_single.client_urls, prefix=base + "b/")
    try:
        rev = a.txn([Compare("k", 0)], [Put("k", b"from a")]).revision
        assert b.get("k") is None
        assert b.txn([Compare("k", 0)], [Put("k", b"from b")]).succeeded
        assert [(kv.key, kv.value) for kv in a.range("").items] == [("k", b"from a")]
        assert [(e.key, e.value) for e in a.watch("", rev, 1.0)] == [("k", b"from a")]
    finally:
        a.close()
        b.close()


@pytest.mark.etcd
def test_etcd_writes_continue_when_a_member_is_killed(etcd_cluster3: EtcdCluster) -> None:
    cluster = etcd_cluster3
    store = etcd.EtcdStore(cluster.client_urls, prefix=unique_prefix(), timeout=2.0)
    reported: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            try:
                cur = store.get("n")
                n = int(cur.value) + 1 if cur else 1
                ops = [Put("n", b"%d" % n)]
                if store.txn([Compare("n", cur.mod_revision if cur else 0)], ops).succeeded:
                    reported.append(n)
            except errors.Unavailable:
                continue  # re-read and decide again, as every CAS caller does

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: len(reported) >= 20, 10.0)
        # The store talks to member 0 first; killing it forces a fail-over.
        cluster.kill(0, signal.SIGKILL)
        at_kill = len(reported)
        wait_for(lambda: len(reported) >= at_kill + 50, 15.0)
    finally:
        stop.set()
        thread.join()
    try:
        final = store.get("n")
        assert final is not None
        assert reported == sorted(reported)
        assert int(final.value) >= reported[-1]
    finally:
        store.close()
        cluster.restart(0)


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class AnswerDroppingProxy:
    """A loopback TCP proxy that forwards requests to etcd and drops every answer."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self._upstream)) as upstream:
            client.settimeout(5.0)
            upstream.settimeout(5.0)
            upstream.sendall(self._read_request(client))
            upstream.recv(65536)  # etcd has answered, so it has applied the request

    @staticmethod
    def _read_request(client: socket.socket) -> bytes:
        """One whole HTTP request: headers, then a body of Content-Length bytes."""
        data = b""
        while b"\r\n\r\n" not in data:
            data += client.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += client.recv(65536)
        return head + b"\r\n\r\n" + body

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def dropping_proxy(etcd_single: EtcdCluster) -> Iterator[AnswerDroppingProxy]:
    proxy = AnswerDroppingProxy(etcd_single.members[0].client_port)
    yield proxy
    proxy.close()


@pytest.mark.etcd
def test_etcd_write_with_lost_answer_is_reported_unknown_and_not_applied_twice(
    etcd_single: EtcdCluster, dropping_proxy: AnswerDroppingProxy
) -> None:
    prefix = unique_prefix()
    direct = etcd.EtcdStore(etcd_single.client_urls, prefix=prefix)
    # The second endpoint reaches the same cluster, as a second member would.
    via_proxy = etcd.EtcdStore(
        [f"127.0.0.1:{dropping_proxy.port}", *etcd_single.client_urls], prefix=prefix
    )
    try:
        with pytest.raises(errors.Unavailable, match="may or may not have been applied"):
            via_proxy.txn([], [Put("once", b"1")])
        applied = direct.get("once")
        assert applied is not None and applied.version == 1
        # Reads are safe to repeat: this one fails over past the proxy.
        fresh = etcd.EtcdStore([f"127.0.0.1:{dropping_proxy.port}", *etcd_single.client_urls])
        try:
            assert fresh.revision() == direct.revision()
        finally:
            fresh.close()
        # The next write starts at the next endpoint and lands exactly once.
        assert via_proxy.txn([Compare("once", applied.mod_revision)], [Put("once", b"2")]).succeeded
        again = direct.get("once")
        assert again is not None and (again.value, again.version) == (b"2", 2)
    finally:
        direct.close()
        via_proxy.close()


def test_etcd_with_no_reachable_endpoint_is_unavailable_naming_each() -> None:
    ports = free_ports(2)
    store: Store = etcd.EtcdStore([f"127.0.0.1:{p}" for p in ports], timeout=1.0)
    try:
        for call in (
            lambda: store.get("k"),
            lambda: store.txn([], [Put("k", b"v")]),
            lambda: store.watch("", 1, 0.1),
        ):
            with pytest.raises(errors.Unavailable) as caught:
                call()
            for p in ports:
                assert f"127.0.0.1:{p}" in str(caught.value)
    finally:
        store.close()
