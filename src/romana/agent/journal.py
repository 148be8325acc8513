"""An append-only journal of small records, each durable after one ``fdatasync``.

The agent's ledger writes a record before every allocation and after every ADD, on the path
a runtime waits for. Replacing a file durably (:func:`romana.durable.replace_file`) costs two
journal commits of the filesystem: one for the new file's data, one for the rename. An entry
here costs one data flush: the journal is a file of fixed size, zero-filled and made durable
when it is started, so writing an entry changes no metadata (no size, no block allocation)
and ``fdatasync`` only has the entry's own blocks to flush.

Entry format: a header (payload length, CRC-32 of the payload, big-endian ``uint32`` each),
then the payload (JSON). A zero length ends the journal: everything after the last entry is
still zeros.

Invariants:

* :meth:`Journal.append` returns only once the entry is durable, and entries are written one
  at a time in order, each after the one before is durable.
* A crash during an append leaves at most that one entry torn, and nothing after it. Reading
  stops at the first entry whose header or checksum does not hold, so a torn entry is never
  read; it was never acknowledged either, since its append had not returned.
* :meth:`Journal.start` replaces the file atomically (temporary file, fsync, rename, fsync of
  the directory): a crash leaves the old journal or the new empty one.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

from romana import durable

SIZE = 1 << 20
"""Bytes of a journal: about 2,500 endpoint records between two compactions."""

_HEAD = struct.Struct(">II")


def read(path: Path) -> list[Any]:
    """The entries of the journal at ``path``, oldest first (none when there is no file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    entries: list[Any] = []
    offset = 0
    while offset + _HEAD.size <= len(data):
        length, crc = _HEAD.unpack_from(data, offset)
        payload = data[offset + _HEAD.size : offset + _HEAD.size + length]
        if length == 0 or len(payload) < length or zlib.crc32(payload) != crc:
            break
        try:
            entries.append(json.loads(payload))
        except ValueError:
            break  # a checksum collision over a torn entry: as torn
        offset += _HEAD.size + length
    return entries


class Journal:
    """The journal at ``path``: :meth:`start` it empty, then :meth:`append` entries.

    Thread-safe: appends from the event loop and from a writer thread are serialised."""

    def __init__(self, path: Path, size: int = SIZE) -> None:
        self._path = path
        self._size = size
        self._fd: int | None = None
        self._end = 0
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def started(self) -> bool:
        return self._fd is not None

    def start(self) -> None:
        """Replace the journal, durably, with an empty one; entries before are gone."""
        with self._lock:
            self._close()
            staged = self._path.with_name(f"{self._path.name}.new")
            staged.unlink(missing_ok=True)
            fd = os.open(staged, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, durable.MODE)
            try:
                # Zeros written, not a hole or fallocate's unwritten extents: an append must
                # change no block mapping, or its fdatasync would commit metadata too.
                os.pwrite(fd, bytes(self._size), 0)
                os.fsync(fd)
                os.replace(staged, self._path)
            except BaseException:
                os.close(fd)
                staged.unlink(missing_ok=True)
                raise
            durable.sync_directory(self._path.parent)
            self._fd, self._end = fd, 0

    def append(self, entry: Any) -> bool:
        """Write ``entry`` durably; False, writing nothing, when it does not fit."""
        payload = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        with self._lock:
            if self._fd is None:
                raise RuntimeError(f"the journal {self._path} is not started")
            if self._end + _HEAD.size + len(payload) > self._size:
                return False
            os.pwrite(self._fd, _HEAD.pack(len(payload), zlib.crc32(payload)) + payload, self._end)
            os.fdatasync(self._fd)
            self._end += _HEAD.size + len(payload)
        return True

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
