"""The SQLite store and the admin credentials are private to romanad's user.

The store holds the token-signing key and the password hashes: a local user who could read it
would sign an admin token. A real romanad started under a permissive umask (022, and 000)
creates its state directory 0700 and every file in it 0600 (store, -wal, -shm, credentials);
modes loosened while it is down are repaired at the next start, each with a warning naming
the path.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.core.errors import InvalidInput
from romana.lab.romanad import Romanad
from romana.store import private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    """``value`` as the umask of processes spawned inside (and of this one, meanwhile)."""
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def start(daemon: Romanad, mask: int) -> Romanad:
    with umask(mask):
        daemon.spawn()
    try:
        daemon.wait_ready(20.0)
    except BaseException:
        daemon.stop()
        raise
    return daemon


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_state_is_created_private_and_repaired_at_start(tmp_path: Path, mask: int) -> None:
    state = tmp_path / "state"
    db = state / "romana.db"
    wal, shm = state / "romana.db-wal", state / "romana.db-shm"
    credentials = state / "admin.credentials"
    daemon = Romanad(tmp_path, store=f"sqlite:///{db}", credentials=credentials)
    start(daemon, mask)
    try:
        # -wal and -shm exist while the store is open.
        assert {p.name for p in state.iterdir()} == {
            db.name,
            wal.name,
            shm.name,
            "admin.credentials",
        }
        assert mode(state) == 0o700
        assert {p.name: mode(p) for p in (db, wal, shm, credentials)} == {
            p.name: 0o600 for p in (db, wal, shm, credentials)
        }
    finally:
        # SIGKILL leaves -wal and -shm behind, as a crash would: they must be repaired too.
        daemon.kill()
    assert wal.exists() and shm.exists()

    state.chmod(0o755)
    for path in (db, wal, shm, credentials):
        path.chmod(0o644)
    start(daemon, mask)
    try:
        assert mode(state) == 0o700
        for path in (db, wal, shm, credentials):
            assert mode(path) == 0o600, path
        log = daemon.log_path.read_text()
        assert f"store directory {state} had mode 0755; set to 0700" in log
        for path in (db, wal, shm, credentials):
            assert f"{path} had mode 0644; set to 0600" in log, log
        # The repaired state is the same store: the admin credentials still log in.
        daemon.admin_token()
    finally:
        daemon.stop()


def test_a_shared_directory_is_refused_not_closed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(InvalidInput) as caught:
        private.make_private(shared / "romana.db")
    assert caught.value.issues[0].field == "store"
    assert "sticky" in caught.value.issues[0].rule
    assert mode(shared) == 0o1777
    assert not (shared / "romana.db").exists()
