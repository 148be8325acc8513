"""Durable replacement of small files: the agent's ledger, the Docker map, a host's install.

A reader of a file written here finds the old contents or the new, never a torn file, even
after a crash or power loss at any point of the write:

* :func:`replace_file` writes the new contents to a temporary file beside the target (same
  directory, so the rename stays within one filesystem), fsyncs it, renames it over the
  target, then fsyncs the directory so that the rename itself is on disk before it returns.
* The file is created readable by its owner only (mode 0600 less the umask), whatever mode a
  temporary file left by an earlier crash had: that leftover is removed, not reopened. A
  caller that names a mode gets exactly that mode, set before any byte is written.
* :func:`replace_link` replaces a path with a symlink the same way.
* A temporary file or link whose rename fails is removed.
* :func:`remove_file` deletes a file and fsyncs its directory, so a removal survives a crash
  as well.

Only the standard library is used, so every layer above the core may import this module.
"""

from __future__ import annotations

import os
from pathlib import Path

MODE = 0o600
"""The mode a replaced file is created with: its owner's alone."""


def replace_file(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data``, durably (temporary file, fsync, rename, fsync dir);
    with ``mode``, the file has that mode exactly, whatever the umask."""
    staged = _staged(path)
    with open(staged, "wb", opener=_private) as out:
        if mode is not None:
            os.fchmod(out.fileno(), mode)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    _rename(staged, path)


def replace_link(path: Path, target: str) -> None:
    """Replace ``path`` with a symlink to ``target``, durably (as :func:`replace_file`)."""
    staged = _staged(path)
    os.symlink(target, staged)
    _rename(staged, path)


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


def _staged(path: Path) -> Path:
    """The temporary name beside ``path``, cleared of a crash's leftover (which would keep
    its mode if it were opened again)."""
    staged = path.with_name(f".{path.name}.tmp")
    staged.unlink(missing_ok=True)
    return staged


def _rename(staged: Path, path: Path) -> None:
    try:
        os.replace(staged, path)
    except OSError:
        staged.unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def _private(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_CLOEXEC, MODE)
