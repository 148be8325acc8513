"""Durable, private replacement of small state files: the agent's ledger, the Docker map.

A reader of a file written here finds the old contents or the new, never a torn file, even
after a crash or power loss at any point of the write:

* :func:`replace_file` writes the new contents to a temporary file beside the target (same
  directory, so the rename stays within one filesystem), fsyncs it, renames it over the
  target, then fsyncs the directory so that the rename itself is on disk before it returns.
* The file is created readable by its owner only (mode 0600 less the umask), whatever mode a
  temporary file left by an earlier crash had: that leftover is removed, not reopened.
* :func:`remove_file` deletes a file and fsyncs its directory, so a removal survives a crash
  as well.

Only the standard library is used, so every layer above the core may import this module.
"""

from __future__ import annotations

import os
from pathlib import Path

MODE = 0o600
"""The mode a replaced file is created with: its owner's alone."""


def replace_file(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, durably (temporary file, fsync, rename, fsync dir)."""
    staged = path.with_name(f".{path.name}.tmp")
    staged.unlink(missing_ok=True)  # a crash's leftover would keep its mode when opened again
    with open(staged, "wb", opener=_private) as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(staged, path)
    sync_directory(path.parent)


def remove_file(path: Path) -> bool:
    """Delete ``path`` durably; False when it was already gone."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    sync_directory(path.parent)
    return True


def sync_directory(directory: Path) -> None:
    """Fsync ``directory``: a rename or unlink in it is durable only once this returns."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_CLOEXEC, MODE)
