"""Network sysctls of one namespace, read and written through ``/proc/sys/net``.

``/proc/sys/net`` shows the network namespace of the thread that opens the file, so a
namespace other than the current one is handled by entering it on the calling thread for
the duration of the open (:func:`romana.dataplane.netns.entered`).

Invariants: only keys under ``net.`` are accepted; writing a value that is already in place
writes nothing; the result says which keys changed, so a reconcile can count drift.

The files are under ``/proc/sys`` unless the agent names another root (:func:`use_root`,
its setting ``proc_sys``): in a container whose ``/proc/sys`` is mounted read-only, the host's
``/proc/sys/net`` mounted elsewhere serves as well, since every sysctl file under ``net/``
shows the namespace of the thread that opens it, whatever the mount.
"""

from __future__ import annotations

from collections.abc import Iterable

from romana.core import hostplan
from romana.core.errors import Forbidden, InvalidInput, Issue, NotFound
from romana.dataplane import netns as netns_mod

PROC_SYS = "/proc/sys"
_root = [PROC_SYS]


def use_root(path: str) -> None:
    """Read and write the sysctls under ``path`` (a directory holding ``net/``) from now on;
    set once at the agent's start, before any namespace is entered."""
    _root[0] = path.rstrip("/") or "/"


def path_of(key: str) -> str:
    """``net.ipv4.ip_forward`` → ``/proc/sys/net/ipv4/ip_forward``.

    Interface names that contain dots cannot be written in dotted form; ours never do.
    """
    parts = key.split(".")
    if parts[0] != "net" or len(parts) < 3 or not all(parts) or "/" in key:
        raise InvalidInput([Issue("sysctl", f"{key!r} is not a dotted key under net.")])
    return "/".join((_root[0], *parts))


def _read(path: str, key: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError as exc:
        raise NotFound(f"sysctl {key} does not exist in this namespace") from exc


def _write(path: str, key: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value + "\n")
    except FileNotFoundError as exc:
        raise NotFound(f"sysctl {key} does not exist in this namespace") from exc
    except PermissionError as exc:
        raise Forbidden(f"sysctl {key}: permission denied") from exc


def read(key: str, *, netns: str | None = None) -> str:
    path = path_of(key)
    with netns_mod.entered(netns):
        return _read(path, key)


def ensure(sysctls: Iterable[hostplan.Sysctl], *, netns: str | None = None) -> tuple[str, ...]:
    """Set every sysctl to its value; return the keys that had another value before."""
    wanted = [(s, path_of(s.key)) for s in sysctls]
    changed: list[str] = []
    with netns_mod.entered(netns):
        for sysctl, path in wanted:
            if _read(path, sysctl.key) != sysctl.value:
                _write(path, sysctl.key, sysctl.value)
                changed.append(sysctl.key)
    return tuple(changed)
