"""SQLite store: the embedded default — one file in WAL mode, shared by any number of processes.

Implements :class:`romana.core.store.Store` with the semantics its module docstring fixes. The
schema and the statements it runs are in :mod:`romana.store.sqlitesql`.

Invariants:

* One revision counter per file, shared by every process and connection that opens it: the
  newest revision in the ``events`` table (trimming always keeps it). A write transaction that
  changes at least one key takes the next revision and stamps it on every key it writes and
  every event it records; so the counter costs no extra page write per transaction.
* Every write transaction runs under ``BEGIN IMMEDIATE``: its compares and its writes see one
  state, and no other writer interleaves. Waiting longer than ``busy_timeout`` for another
  writer raises :class:`~romana.core.errors.Unavailable`; nothing is applied.
* Durability: WAL with ``synchronous=NORMAL``. A committed transaction survives the crash of
  any process using the file; a power loss may lose the newest transactions, never half of one.
* History: the ``events`` table holds every change at revisions >= ``meta.first_kept``. It is
  trimmed in small batches, inside the writing transaction, so that at least ``history``
  revisions are always kept. A watch from an older revision raises
  :class:`~romana.core.errors.Compacted`.
* One connection per store object, guarded by a lock: the object may be shared by threads.
  Watches poll (reads never block writers in WAL mode) and release the lock while they sleep.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from romana.core import errors, store
from romana.store import sqlitesql as sql

# Trimming happens once the surplus over ``history`` reaches this many revisions, so each
# trim is one short range delete rather than a delete per write.
_MAX_TRIM_BATCH = 1000


class SQLiteStore:
    """A :class:`~romana.core.store.Store` in one SQLite file (see module docstring).

    ``history`` is the number of most recent revisions whose events are kept for watches;
    ``busy_timeout`` is how long a writer waits for another process's write transaction;
    ``poll_interval`` is how often a waiting watch looks for new events.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        history: int = 100_000,
        busy_timeout: float = 5.0,
        poll_interval: float = 0.01,
    ) -> None:
        issues = errors.Issues("SQLite store")
        if history < 1:
            issues.add("history", "must be >= 1")
        if busy_timeout < 0:
            issues.add("busy_timeout", "must be >= 0")
        if poll_interval <= 0:
            issues.add("poll_interval", "must be > 0")
        issues.raise_if_any()
        self._path = str(path)
        self._history = history
        self._trim_slack = max(1, min(history // 8, _MAX_TRIM_BATCH))
        self._busy_timeout = busy_timeout
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                self._path,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=64,
            )
        except sqlite3.Error as exc:
            raise errors.Unavailable(f"cannot open SQLite store {self._path}: {exc}") from exc
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            raise
        self._cur = self._conn.cursor()

    def _setup(self) -> None:
        conn = self._conn
        try:
            # 2 KiB pages: fewer bytes per WAL frame than the 4 KiB default, while rows of a
            # few hundred bytes still fit in a page (measured fastest for our writes). It
            # only takes effect when the file is created.
            conn.execute("PRAGMA page_size=2048")
            self._enable_wal()
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version not in (0, sql.SCHEMA_VERSION):
                    raise errors.Unsupported(
                        f"SQLite store {self._path} has schema version {version};"
                        f" this romana reads version {sql.SCHEMA_VERSION}"
                    )
                if version == 0:
                    for statement in sql.SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={sql.SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc

    def _enable_wal(self) -> None:
        # Switching a new file to WAL fails at once, without the busy handler, while another
        # process holds the file; so wait here, as a writer would.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
        if mode != "wal" and self._path != ":memory:":
            raise errors.Unsupported(f"SQLite store {self._path} cannot use WAL (got {mode})")

    def _unavailable(self, exc: sqlite3.Error) -> errors.Unavailable:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return errors.Unavailable(
                "the SQLite store is locked by another writer"
                f" (waited up to {self._busy_timeout:g}s)",
                retry_after=self._busy_timeout or None,
            )
        # Answered to any caller: the store's file is the operator's to know, not theirs.
        return errors.Unavailable(f"the SQLite store failed: {text}")

    def get(self, key: str) -> store.KeyValue | None:
        with self._lock:
            try:
                row = self._cur.execute(sql.GET, (key,)).fetchone()
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        if row is None:
            return None
        return store.KeyValue(key, row[0], row[1], row[2], row[3])

    def range(self, prefix: str) -> store.Range:
        end = sql.prefix_end(prefix)
        query, args = (sql.RANGE_ALL, (prefix,)) if end is None else (sql.RANGE, (prefix, end))
        empty = sql.EMPTY_ALL if end is None else sql.EMPTY
        with self._lock:
            cur = self._cur
            try:
                while True:
                    rows = cur.execute(query, args).fetchall()
                    if rows:
                        revision = rows[0][0]
                        break
                    # Nothing to carry the revision: read it with the proof that the range
                    # is still empty, so a watch from revision + 1 misses nothing.
                    revision, written = cur.execute(empty, args).fetchone()
                    if not written:
                        break
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        return store.Range(
            tuple(store.KeyValue(r[1], r[2], r[3], r[4], r[5]) for r in rows), revision
        )

    def txn(
        self, compares: store.Conditions, on_success: store.Ops, on_failure: store.Ops = ()
    ) -> store.TxnResult:
        with self._lock:
            cur = self._cur
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    ok = self._all_hold(cur, compares)
                    revision = self._apply(cur, on_success if ok else on_failure)
                    cur.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        cur.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        return store.TxnResult(ok, revision)

    @staticmethod
    def _all_hold(cur: sqlite3.Cursor, compares: store.Conditions) -> bool:
        """Whether every condition holds; the key compares read in one statement."""
        wanted = [c for c in compares if isinstance(c, store.Compare)]
        if len(wanted) > 1:
            names = list({c.key: None for c in wanted})
            found: dict[str, int] = {}
            for at in range(0, len(names), sql.IN_CHUNK):
                chunk = names[at : at + sql.IN_CHUNK]
                query = sql.MOD_REVS.format(",".join("?" * len(chunk)))
                found.update(cur.execute(query, chunk).fetchall())
            if any(found.get(c.key, 0) != c.mod_revision for c in wanted):
                return False
        elif wanted and not SQLiteStore._holds(cur, wanted[0]):
            return False
        return all(SQLiteStore._holds(cur, c) for c in compares if not isinstance(c, store.Compare))

    @staticmethod
    def _holds(cur: sqlite3.Cursor, c: store.Condition) -> bool:
        if isinstance(c, store.Compare):
            row = cur.execute(sql.MOD_REV, (c.key,)).fetchone()
            return bool((row[0] if row else 0) == c.mod_revision)
        end = sql.prefix_end(c.prefix)
        query, args = (
            (sql.MAX_MOD_REV_ALL, (c.prefix,))
            if end is None
            else (sql.MAX_MOD_REV, (c.prefix, end))
        )
        newest: int = cur.execute(query, args).fetchone()[0]
        return newest <= c.revision

    def _apply(self, cur: sqlite3.Cursor, ops: Sequence[store.Op]) -> int:
        """Apply ``ops`` inside the open write transaction; the store revision afterwards."""
        current: int = cur.execute(sql.REVISION).fetchone()[0]
        revision = current + 1
        if len({op.key for op in ops}) == len(ops):
            seq = self._apply_distinct(cur, ops, revision)
        else:
            seq = self._apply_in_order(cur, ops, revision)
        if not seq:
            return current
        # Only the writer of every trim_slack-th revision looks at the history length, so
        # the check costs nothing on the other writes.
        if revision % self._trim_slack == 0:
            first_kept = cur.execute(sql.FIRST_KEPT).fetchone()[0]
            if revision - first_kept + 1 >= self._history + self._trim_slack:
                keep_from = revision - self._history + 1
                cur.execute(sql.TRIM, (keep_from,))
                cur.execute(sql.SET_FIRST_KEPT, (keep_from,))
        return revision

    @staticmethod
    def _apply_distinct(cur: sqlite3.Cursor, ops: Sequence[store.Op], revision: int) -> int:
        """Apply ``ops``, each on its own key, a statement per kind; the events recorded."""
        gone: set[str] = set()
        deletes = [op.key for op in ops if isinstance(op, store.Delete)]
        for at in range(0, len(deletes), sql.IN_CHUNK):
            chunk = deletes[at : at + sql.IN_CHUNK]
            query = sql.DELETE_RETURNING.format(",".join("?" * len(chunk)))
            gone.update(row[0] for row in cur.execute(query, chunk).fetchall())
        puts = [(op.key, op.value, revision) for op in ops if isinstance(op, store.Put)]
        if puts:
            cur.executemany(sql.UPSERT, puts)
        events: list[tuple[int, int, int, str, bytes]] = []
        for op in ops:
            if isinstance(op, store.Put):
                events.append((revision, len(events), 0, op.key, op.value))
            elif op.key in gone:  # deleting an absent key is no change
                events.append((revision, len(events), 1, op.key, b""))
        if events:
            cur.executemany(sql.EVENT, events)
        return len(events)

    @staticmethod
    def _apply_in_order(cur: sqlite3.Cursor, ops: Sequence[store.Op], revision: int) -> int:
        """Apply ``ops`` one by one (a key written more than once ends as the last op says)."""
        seq = 0
        for op in ops:
            if isinstance(op, store.Put):
                cur.execute(sql.UPSERT, (op.key, op.value, revision))
                cur.execute(sql.EVENT, (revision, seq, 0, op.key, op.value))
            else:
                cur.execute(sql.DELETE, (op.key,))
                if cur.rowcount <= 0:
                    continue
                cur.execute(sql.EVENT, (revision, seq, 1, op.key, b""))
            seq += 1
        return seq

    def watch(self, prefix: str, start_revision: int, timeout: float) -> list[store.Event]:
        end = sql.prefix_end(prefix)
        deadline = time.monotonic() + timeout
        # Revisions start at 1, so anything lower asks for the whole history.
        start_revision = max(start_revision, 1)
        scan_from = start_revision
        while True:
            with self._lock:
                try:
                    found, scan_from = self._poll(prefix, end, start_revision, scan_from)
                except sqlite3.Error as exc:
                    raise self._unavailable(exc) from exc
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(self._poll_interval, remaining))

    def _poll(
        self, prefix: str, end: str | None, start_revision: int, scan_from: int
    ) -> tuple[list[store.Event], int]:
        """Events at revisions >= ``scan_from``; and where the next poll should start.

        Revisions between ``start_revision`` and ``scan_from`` were scanned already and held
        nothing under the prefix, so only history from ``scan_from`` on must still be kept.
        """
        cur = self._cur
        revision, first_kept = cur.execute(sql.META).fetchone()
        if scan_from < first_kept:
            raise self._compacted(start_revision, first_kept)
        if revision < scan_from:
            return [], scan_from
        # A read transaction, so that a trim cannot slip between the check and the scan.
        cur.execute("BEGIN")
        try:
            revision, first_kept = cur.execute(sql.META).fetchone()
            if scan_from < first_kept:
                raise self._compacted(start_revision, first_kept)
            if end is None:
                rows = cur.execute(sql.EVENTS_ALL, (scan_from, revision, prefix)).fetchall()
            else:
                rows = cur.execute(sql.EVENTS, (scan_from, revision, prefix, end)).fetchall()
        finally:
            cur.execute("COMMIT")
        events = [
            store.Event(store.EventType.DELETE if r[1] else store.EventType.PUT, r[2], r[3], r[0])
            for r in rows
        ]
        return events, revision + 1

    @staticmethod
    def _compacted(start_revision: int, first_kept: int) -> errors.Compacted:
        return errors.Compacted(
            f"revision {start_revision} has been compacted; the oldest kept is {first_kept}"
        )

    def revision(self) -> int:
        with self._lock:
            try:
                row = self._cur.execute(sql.REVISION).fetchone()
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
