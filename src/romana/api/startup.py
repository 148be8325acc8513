"""romanad's start-up checks: private state files, and no fresh start over a lost store.

A store that is empty when this machine shows signs of a previous run (the admin credential
file exists) was lost: truncated, deleted, or a different store is named. Starting anyway
would apply the initial topology again, forget every tenant, host and allocation, and leave
a credential file that no longer logs in. So romanad refuses, naming the store and the sign;
the operator restores the store, or removes the sign to start afresh on purpose.

Invariants:

* :func:`secure_store` runs before the store is opened, so SQLite never creates a file
  wider than 0600 (see :mod:`romana.store.private`). Other stores keep no file here.
* :func:`previous_run` looks only at this machine, before anything is written; ``memory://``
  keeps nothing between runs, so it has no previous run to lose.
* "Empty" means no user, no signing key and no topology: every start writes the first two,
  so a store that ran romanad once is never empty again.
"""

from __future__ import annotations

from pathlib import Path

from romana.api.settings import RomanadSettings
from romana.core.errors import RomanaError
from romana.core.store import Store
from romana.services import keys
from romana.store import private

SQLITE = "sqlite://"


class StoreLost(RomanaError):
    """The store is empty although this machine ran romanad on it before."""


def sqlite_path(settings: RomanadSettings) -> Path | None:
    """The SQLite file of ``settings.store``; None for another kind of store."""
    if not settings.store.startswith(SQLITE):
        return None
    rest = settings.store.removeprefix(SQLITE)
    # sqlite:////abs names /abs as SQLite does, not the POSIX "//" root.
    return Path("/" + rest.lstrip("/")) if rest.startswith("/") else Path(rest)


def secure_store(settings: RomanadSettings) -> list[str]:
    """Make a SQLite store's directory and files private; the repairs made (for warnings)."""
    path = sqlite_path(settings)
    if path is None:
        return []
    return private.make_private(path, extra=[Path(settings.credentials_file)])


def previous_run(settings: RomanadSettings) -> list[Path]:
    """Files on this machine showing that romanad ran on this store before."""
    if settings.store.startswith("memory://"):
        return []
    credentials = Path(settings.credentials_file)
    return [credentials] if credentials.exists() else []


def is_empty(st: Store) -> bool:
    """True when ``st`` holds nothing romanad writes at its first start."""
    return not st.range(keys.AUTH).items and st.get(keys.TOPOLOGY) is None


def check_not_lost(settings: RomanadSettings, st: Store, signs: list[Path]) -> None:
    """Raise StoreLost when ``st`` is empty although ``signs`` show a previous run."""
    if not signs or not is_empty(st):
        return
    path = sqlite_path(settings)
    where = f"{settings.store} ({path.resolve()})" if path is not None else settings.store
    found = ", ".join(str(p.resolve()) for p in signs)
    raise StoreLost(
        f"the store {where} is empty, but {found} exists from a previous run on it: the store "
        "was lost, truncated or replaced. romanad will not start afresh over it (that would "
        "forget every tenant, host and allocation). Restore the store from a backup; or, to "
        f"start afresh on purpose, remove {found} and start again"
    )
