"""The SQLite store's schema and every statement it runs (:mod:`romana.store.sqlite`).

Three tables: ``kv`` holds each key's value with its create and modify revisions and its
version; ``events`` every change at its revision (``seq`` orders the changes of one
transaction); ``meta`` the oldest revision whose events are kept (``first_kept``).

Invariants:

* A prefix is read as the key range ``[prefix, prefix_end(prefix))`` (the ``_ALL`` statements
  when :func:`prefix_end` is None): SQLite compares TEXT as UTF-8 bytes, whose order is the
  code points' order.
* A statement that answers a range with the store's revision reads both in one statement, so
  they come from one snapshot.
* The schema is created idempotently (``IF NOT EXISTS``, ``INSERT OR IGNORE``):
  every process that opens the file runs it.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

SCHEMA = """
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

REVISION = "SELECT coalesce(max(rev), 0) FROM events"
GET = "SELECT value, create_rev, mod_rev, version FROM kv WHERE key = ?"
MOD_REV = "SELECT mod_rev FROM kv WHERE key = ?"
MOD_REVS = "SELECT key, mod_rev FROM kv WHERE key IN ({})"
MAX_MOD_REV = "SELECT coalesce(max(mod_rev), 0) FROM kv WHERE key >= ?1 AND key < ?2"
MAX_MOD_REV_ALL = "SELECT coalesce(max(mod_rev), 0) FROM kv WHERE key >= ?1"
# One statement reads the revision and the rows, so both come from one snapshot.
RANGE = (
    "SELECT (SELECT coalesce(max(rev), 0) FROM events),"
    " key, value, create_rev, mod_rev, version"
    " FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key"
)
RANGE_ALL = (
    "SELECT (SELECT coalesce(max(rev), 0) FROM events),"
    " key, value, create_rev, mod_rev, version"
    " FROM kv WHERE key >= ?1 ORDER BY key"
)
# An empty range carries no revision: this reads it with proof, in the same snapshot, that the
# range is still empty (else the range is read again).
EMPTY = (
    "SELECT (SELECT coalesce(max(rev), 0) FROM events),"
    " EXISTS (SELECT 1 FROM kv WHERE key >= ?1 AND key < ?2)"
)
EMPTY_ALL = (
    "SELECT (SELECT coalesce(max(rev), 0) FROM events), EXISTS (SELECT 1 FROM kv WHERE key >= ?1)"
)
META = "SELECT (SELECT coalesce(max(rev), 0) FROM events), first_kept FROM meta WHERE id = 0"
FIRST_KEPT = "SELECT first_kept FROM meta WHERE id = 0"
UPSERT = (
    "INSERT INTO kv (key, value, create_rev, mod_rev, version) VALUES (?1, ?2, ?3, ?3, 1)"
    " ON CONFLICT (key) DO UPDATE SET"
    " value = excluded.value, mod_rev = excluded.mod_rev, version = version + 1"
)
DELETE = "DELETE FROM kv WHERE key = ?"
DELETE_RETURNING = "DELETE FROM kv WHERE key IN ({}) RETURNING key"
# Keys bound in one IN (...) list: far below SQLite's limit on bound variables.
IN_CHUNK = 500
EVENT = "INSERT INTO events (rev, seq, deleted, key, value) VALUES (?, ?, ?, ?, ?)"
EVENTS = (
    "SELECT rev, deleted, key, value FROM events"
    " WHERE rev >= ?1 AND rev <= ?2 AND key >= ?3 AND key < ?4 ORDER BY rev, seq"
)
EVENTS_ALL = (
    "SELECT rev, deleted, key, value FROM events"
    " WHERE rev >= ?1 AND rev <= ?2 AND key >= ?3 ORDER BY rev, seq"
)
TRIM = "DELETE FROM events WHERE rev < ?"
SET_FIRST_KEPT = "UPDATE meta SET first_kept = ? WHERE id = 0"


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
