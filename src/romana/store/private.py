"""Owner-only state on disk: the directory of the SQLite store 0700, its files 0600.

The SQLite store holds the token-signing key and every password hash: whoever reads the file
can sign an admin token that romanad accepts. So the store is private to the user romanad
runs as, whatever the umask of whoever started it, and a looser mode found at start (left by
an older release, a restore, or a hand-made copy) is repaired and reported.

Invariants, after :func:`make_private` returns:

* The store's directory exists and has mode 0700. A shared directory (sticky bit, like
  ``/tmp``) is refused rather than closed to its other users.
* The store file exists (created empty when missing, never wider than 0600) and has mode
  0600; so has each companion SQLite keeps beside it (``-wal``, ``-shm``, ``-journal``).
  SQLite creates companions with the mode of the store file, so they are born 0600 too.
* Every file named in ``extra`` (the admin credential file) that exists in that directory has
  mode 0600 as well. Other entries are left alone: the 0700 directory already closes them.

Nothing here reads or writes the contents of a file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from romana.core import errors

DIR_MODE = 0o700
FILE_MODE = 0o600

COMPANIONS = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside the store file while it is open (and after a crash)."""


def sqlite_files(path: Path) -> tuple[Path, ...]:
    """The store file and its companions, whether they exist or not."""
    return (path, *(path.with_name(path.name + suffix) for suffix in COMPANIONS))


def make_private(path: Path, extra: Iterable[Path] = ()) -> list[str]:
    """Make the SQLite store at ``path`` private (see module docstring); the repairs made.

    Each repair is one sentence naming the path and its old mode, for a warning in the log.
    A fresh directory or store file is not a repair. Raises InvalidInput (field ``store``)
    for a shared directory, Unavailable when a mode cannot be set.
    """
    path = Path(os.path.abspath(path))
    directory = path.parent
    inside = [p for p in map(os.path.abspath, extra) if Path(p).parent == directory]
    repairs: list[str] = []
    try:
        repairs += _directory(directory)
        _create(path)
        for file in (*sqlite_files(path), *map(Path, inside)):
            repairs += _file(file)
    except OSError as exc:
        raise errors.Unavailable(f"cannot make the store {path} private: {exc}") from exc
    return repairs


def _directory(directory: Path) -> list[str]:
    try:
        mode = directory.stat().st_mode
    except FileNotFoundError:
        directory.mkdir(parents=True, mode=DIR_MODE)
        # mkdir applies the umask, which may take the owner's own bits away: set it outright.
        os.chmod(directory, DIR_MODE)
        return []
    if mode & stat.S_ISVTX:
        raise errors.InvalidInput(
            [
                errors.Issue(
                    "store",
                    f"the directory {directory} is shared (mode {_octal(mode)}, sticky); romanad "
                    "makes its store directory private (0700), so give the store a directory "
                    "of its own, e.g. sqlite:///var/lib/romana/romana.db",
                )
            ]
        )
    if stat.S_IMODE(mode) == DIR_MODE:
        return []
    os.chmod(directory, DIR_MODE)
    return [f"store directory {directory} had mode {_octal(mode)}; set to 0700"]


def _create(path: Path) -> None:
    # O_EXCL: an existing store is never touched here. SQLite would create a missing one with
    # mode 0644 (less the umask); creating it first, 0600, decides the mode of every companion.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def _file(path: Path) -> list[str]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return []
    if not stat.S_ISREG(mode) or stat.S_IMODE(mode) == FILE_MODE:
        return []
    os.chmod(path, FILE_MODE)
    return [f"{path} had mode {_octal(mode)}; set to 0600"]


def _octal(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"
