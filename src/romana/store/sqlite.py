"""SQLite store: the embedded default — one file in WAL mode, shared by any number of processes.

Implements :class:`romana.core.store.Store` with the semantics its module docstring fixes.

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

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    create_rev INTEGER NOT NULL,
    mod_rev INTEGER NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    rev INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (rev, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    first_kept INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (id, first_kept) VALUES (0, 1);
"""

_REVISION = "SELECT coalesce(max(rev), 0) FROM events"
_GET = "SELECT value, create_rev, mod_rev, version FROM kv WHERE key = ?"
_MOD_REV = "SELECT mod_rev FROM kv WHERE key = ?"
_MOD_REVS = "SELECT key, mod_rev FROM kv WHERE key IN ({})"
_MAX_MOD_REV = "SELECT coalesce(max(mod_rev), 0) FROM kv WHERE key >= ?1 AND key < ?2"
_MAX_MOD_REV_ALL = "SELECT coalesce(max(mod_rev), 0) FROM kv WHERE key >= ?1"
# One statement reads the revision and the rows, so both come from one snapshot.
_RANGE = (
    "SELECT (SELECT coalesce(max(rev), 0) FROM events),"
    " key, value, create_rev, mod_rev, version"
    " FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key"
)
_RANGE_ALL = (
    "SELECT (SELECT coalesce(max(rev), 0) FROM events),"
    " key, value, create_rev, mod_rev, version"
    " FROM kv WHERE key >= ?1 ORDER BY key"
)
# An empty range carries no revision: this reads it with proof, in the same snapshot, that the
# range is still empty (else the range is read again).
_EMPTY = (
    "SELECT (SELECT coalesce(max(rev), 0) FROM events),"
    " EXISTS (SELECT 1 FROM kv WHERE key >= ?1 AND key < ?2)"
)
_EMPTY_ALL = (
    "SELECT (SELECT coalesce(max(rev), 0) FROM events), EXISTS (SELECT 1 FROM kv WHERE key >= ?1)"
)
_META = "SELECT (SELECT coalesce(max(rev), 0) FROM events), first_kept FROM meta WHERE id = 0"
_FIRST_KEPT = "SELECT first_kept FROM meta WHERE id = 0"
_UPSERT = (
    "INSERT INTO kv (key, value, create_rev, mod_rev, version) VALUES (?1, ?2, ?3, ?3, 1)"
    " ON CONFLICT (key) DO UPDATE SET"
    " value = excluded.value, mod_rev = excluded.mod_rev, version = version + 1"
)
_DELETE = "DELETE FROM kv WHERE key = ?"
_DELETE_RETURNING = "DELETE FROM kv WHERE key IN ({}) RETURNING key"
# Keys bound in one IN (...) list: far below SQLite's limit on bound variables.
_IN_CHUNK = 500
_EVENT = "INSERT INTO events (rev, seq, deleted, key, value) VALUES (?, ?, ?, ?, ?)"
_EVENTS = (
    "SELECT rev, deleted, key, value FROM events"
    " WHERE rev >= ?1 AND rev <= ?2 AND key >= ?3 AND key < ?4 ORDER BY rev, seq"
)
_EVENTS_ALL = (
    "SELECT rev, deleted, key, value FROM events"
    " WHERE rev >= ?1 AND rev <= ?2 AND key >= ?3 ORDER BY rev, seq"
)
_TRIM = "DELETE FROM events WHERE rev < ?"
_SET_FIRST_KEPT = "UPDATE meta SET first_kept = ? WHERE id = 0"

# Trimming happens once the surplus over ``history`` reaches this many revisions, so each
# trim is one short range delete rather than a delete per write.
_MAX_TRIM_BATCH = 1000


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    None means "no upper bound" (the prefix is empty or only U+10FFFF). SQLite compares TEXT
    as UTF-8 bytes, and UTF-8 preserves code point order, so incrementing the last code
    point gives the bound.
    """
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    nxt = ord(stripped[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:
        nxt = 0xE000
    return stripped[:-1] + chr(nxt)


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
                if version not in (0, SCHEMA_VERSION):
                    raise errors.Unsupported(
                        f"SQLite store {self._path} has schema version {version};"
                        f" this romana reads version {SCHEMA_VERSION}"
                    )
                if version == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
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
                f"SQLite store {self._path} is locked by another writer"
                f" (waited up to {self._busy_timeout:g}s)",
                retry_after=self._busy_timeout or None,
            )
        return errors.Unavailable(f"SQLite store {self._path}: {text}")

    def get(self, key: str) -> store.KeyValue | None:
        with self._lock:
            try:
                row = self._cur.execute(_GET, (key,)).fetchone()
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        if row is None:
            return None
        return store.KeyValue(key, row[0], row[1], row[2], row[3])

    def range(self, prefix: str) -> store.Range:
        end = prefix_end(prefix)
        query, args = (_RANGE_ALL, (prefix,)) if end is None else (_RANGE, (prefix, end))
        empty = _EMPTY_ALL if end is None else _EMPTY
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
            for at in range(0, len(names), _IN_CHUNK):
                chunk = names[at : at + _IN_CHUNK]
                query = _MOD_REVS.format(",".join("?" * len(chunk)))
                found.update(cur.execute(query, chunk).fetchall())
            if any(found.get(c.key, 0) != c.mod_revision for c in wanted):
                return False
        elif wanted and not SQLiteStore._holds(cur, wanted[0]):
            return False
        return all(SQLiteStore._holds(cur, c) for c in compares if not isinstance(c, store.Compare))

    @staticmethod
    def _holds(cur: sqlite3.Cursor, c: store.Condition) -> bool:
        if isinstance(c, store.Compare):
            row = cur.execute(_MOD_REV, (c.key,)).fetchone()
            return bool((row[0] if row else 0) == c.mod_revision)
        end = prefix_end(c.prefix)
        query, args = (
            (_MAX_MOD_REV_ALL, (c.prefix,)) if end is None else (_MAX_MOD_REV, (c.prefix, end))
        )
        newest: int = cur.execute(query, args).fetchone()[0]
        return newest <= c.revision

    def _apply(self, cur: sqlite3.Cursor, ops: Sequence[store.Op]) -> int:
        """Apply ``ops`` inside the open write transaction; the store revision afterwards."""
        current: int = cur.execute(_REVISION).fetchone()[0]
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
            first_kept = cur.execute(_FIRST_KEPT).fetchone()[0]
            if revision - first_kept + 1 >= self._history + self._trim_slack:
                keep_from = revision - self._history + 1
                cur.execute(_TRIM, (keep_from,))
                cur.execute(_SET_FIRST_KEPT, (keep_from,))
        return revision

    @staticmethod
    def _apply_distinct(cur: sqlite3.Cursor, ops: Sequence[store.Op], revision: int) -> int:
        """Apply ``ops``, each on its own key, a statement per kind; the events recorded."""
        gone: set[str] = set()
        deletes = [op.key for op in ops if isinstance(op, store.Delete)]
        for at in range(0, len(deletes), _IN_CHUNK):
            chunk = deletes[at : at + _IN_CHUNK]
            query = _DELETE_RETURNING.format(",".join("?" * len(chunk)))
            gone.update(row[0] for row in cur.execute(query, chunk).fetchall())
        puts = [(op.key, op.value, revision) for op in ops if isinstance(op, store.Put)]
        if puts:
            cur.executemany(_UPSERT, puts)
        events: list[tuple[int, int, int, str, bytes]] = []
        for op in ops:
            if isinstance(op, store.Put):
                events.append((revision, len(events), 0, op.key, op.value))
            elif op.key in gone:  # deleting an absent key is no change
                events.append((revision, len(events), 1, op.key, b""))
        if events:
            cur.executemany(_EVENT, events)
        return len(events)

    @staticmethod
    def _apply_in_order(cur: sqlite3.Cursor, ops: Sequence[store.Op], revision: int) -> int:
        """Apply ``ops`` one by one (a key written more than once ends as the last op says)."""
        seq = 0
        for op in ops:
            if isinstance(op, store.Put):
                cur.execute(_UPSERT, (op.key, op.value, revision))
                cur.execute(_EVENT, (revision, seq, 0, op.key, op.value))
            else:
                cur.execute(_DELETE, (op.key,))
                if cur.rowcount <= 0:
                    continue
                cur.execute(_EVENT, (revision, seq, 1, op.key, b""))
            seq += 1
        return seq

    def watch(self, prefix: str, start_revision: int, timeout: float) -> list[store.Event]:
        end = prefix_end(prefix)
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
        revision, first_kept = cur.execute(_META).fetchone()
        if scan_from < first_kept:
            raise self._compacted(start_revision, first_kept)
        if revision < scan_from:
            return [], scan_from
        # A read transaction, so that a trim cannot slip between the check and the scan.
        cur.execute("BEGIN")
        try:
            revision, first_kept = cur.execute(_META).fetchone()
            if scan_from < first_kept:
                raise self._compacted(start_revision, first_kept)
            if end is None:
                rows = cur.execute(_EVENTS_ALL, (scan_from, revision, prefix)).fetchall()
            else:
                rows = cur.execute(_EVENTS, (scan_from, revision, prefix, end)).fetchall()
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
                row = self._cur.execute(_REVISION).fetchone()
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from exc
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
