"""Releases the CNI plugin left behind while the agent was unreachable: read and complete them.

The files are written by ``romana.integrations.cni.pending.record`` (the agent may not import
its sibling package, so the format is read here): one ``<container_id>:<ifname>.json`` per
endpoint in the pending directory, holding ``{"version": 1, "container_id", "ifname",
"network", "netns", "recorded_at"}``. Hidden files are temporaries and never read.

The protocol (``agentapi`` docstring): for each entry, under that endpoint's lock, check that
the entry is still there (an ADD of the same key may have taken it meanwhile), release the
endpoint as DEL does, then remove the entry. A file that does not parse is left for an
operator and reported once per pass.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SUFFIX = ".json"


@dataclass(frozen=True, slots=True)
class Pending:
    container_id: str
    ifname: str
    network: str = ""
    recorded_at: float = 0.0


def _name(container_id: str, ifname: str) -> str:
    return f"{container_id}:{ifname}{_SUFFIX}"


def listed(directory: str) -> list[Pending]:
    """Every well-formed entry, oldest first; none when the directory does not exist."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    found: list[Pending] = []
    for name in names:
        if name.startswith(".") or not name.endswith(_SUFFIX):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                body = json.loads(f.read())
            entry = Pending(
                str(body["container_id"]),
                str(body["ifname"]),
                str(body.get("network", "")),
                float(body.get("recorded_at", 0.0)),
            )
            if (
                body.get("version") != FORMAT_VERSION
                or _name(entry.container_id, entry.ifname) != name
            ):
                raise ValueError("not a pending release of format version 1")
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("pending release %s is unreadable (%s); left for an operator", path, exc)
            continue
        found.append(entry)
    return sorted(found, key=lambda e: (e.recorded_at, e.container_id, e.ifname))


def still_pending(directory: str, entry: Pending) -> bool:
    return os.path.exists(os.path.join(directory, _name(entry.container_id, entry.ifname)))


def complete(directory: str, entry: Pending) -> None:
    """Remove the entry's file (durably); a file already gone is fine."""
    try:
        os.unlink(os.path.join(directory, _name(entry.container_id, entry.ifname)))
    except FileNotFoundError:
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
