"""Releases that DEL could not hand to the agent, kept durably until the agent takes them.

One JSON file per endpoint key, ``<container_id>:<ifname>.json`` (a container ID has no ``:``
and an interface name may not contain one, so the name is unambiguous), holding
``{"version": 1, "container_id", "ifname", "network", "netns", "recorded_at"}`` with
``recorded_at`` in Unix seconds.

Invariants:

* A file is written to a hidden temporary name, flushed to disk and renamed into place, so a
  file that :func:`list_pending` sees is complete. Temporary files are never listed.
* Recording the same key again replaces the entry: releasing a key is idempotent, so one
  release covers every DEL recorded for it.
* :func:`complete` removes only the entry's own file and treats a missing file as done.

The agent calls :func:`list_pending`, :func:`is_pending` and :func:`complete` (protocol in the
docstring of :mod:`romana.integrations.cni.agentapi`); the plugin calls :func:`record`, and
:func:`find` plus :func:`complete` when it reaches the agent for a key with an entry.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable

FORMAT_VERSION = 1
_SUFFIX = ".json"


@dataclasses.dataclass(frozen=True, slots=True)
class PendingRelease:
    """One endpoint whose release the agent has still to make."""

    container_id: str
    ifname: str
    network: str = ""
    """The CNI network name DEL was called for."""
    netns: str = ""
    """The namespace path DEL was given; it may be gone by the time the agent reads it."""
    recorded_at: float = 0.0
    """Wall-clock time of the DEL, for the operator reading the file."""


def file_name(container_id: str, ifname: str) -> str:
    return f"{container_id}:{ifname}{_SUFFIX}"


def record(directory: str, release: PendingRelease) -> str:
    """Write ``release`` durably into ``directory`` (created if missing); return its path."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, file_name(release.container_id, release.ifname))
    body = {"version": FORMAT_VERSION, **dataclasses.asdict(release)}
    temporary = os.path.join(directory, f".{os.getpid()}.{file_name(release.container_id, '')}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(body, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(temporary, path)
    except OSError:
        os.unlink(temporary)
        raise
    _sync_directory(directory)
    return path


def list_pending(
    directory: str, skipped: Callable[[str], None] | None = None
) -> list[PendingRelease]:
    """Every entry in ``directory``, oldest first; none when the directory does not exist.

    A file that does not parse as an entry is skipped, not deleted: it can only come from
    something other than :func:`record`, and an operator should see it, so its path is
    passed to ``skipped`` (the agent logs it).
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.startswith(".") or not name.endswith(_SUFFIX):
            continue
        path = os.path.join(directory, name)
        entry = _read(path)
        if entry is not None and file_name(entry.container_id, entry.ifname) == name:
            found.append(entry)
        elif skipped is not None and os.path.exists(path):
            skipped(path)
    return sorted(found, key=lambda e: (e.recorded_at, e.container_id, e.ifname))


def find(directory: str, container_id: str, ifname: str) -> PendingRelease | None:
    """The entry for one endpoint key, or None."""
    return _read(os.path.join(directory, file_name(container_id, ifname)))


def is_pending(directory: str, release: PendingRelease) -> bool:
    """Whether an entry for the key of ``release`` is still recorded."""
    return os.path.exists(os.path.join(directory, file_name(release.container_id, release.ifname)))


def complete(directory: str, release: PendingRelease) -> bool:
    """Remove the entry of ``release``'s key; False when it was already gone."""
    try:
        os.unlink(os.path.join(directory, file_name(release.container_id, release.ifname)))
    except FileNotFoundError:
        return False
    _sync_directory(directory)
    return True


def _read(path: str) -> PendingRelease | None:
    try:
        with open(path, "rb") as f:
            body = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("version") != FORMAT_VERSION:
        return None
    container_id, ifname = body.get("container_id"), body.get("ifname")
    network, netns = body.get("network", ""), body.get("netns", "")
    recorded_at = body.get("recorded_at", 0.0)
    if not all(isinstance(v, str) for v in (container_id, ifname, network, netns)):
        return None
    if not container_id or not ifname or not isinstance(recorded_at, int | float):
        return None
    return PendingRelease(container_id, ifname, network, netns, float(recorded_at))


def _sync_directory(directory: str) -> None:
    # The rename or unlink is durable only once the directory itself reaches the disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
