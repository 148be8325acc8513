"""Enter a network namespace on the calling thread, briefly, and always come back.

Linux keeps the network namespace per *thread*: ``setns(2)`` here moves only the calling
thread, so the rest of the process (the agent's event loop, other threads) stays where it
was. Sockets and ``/proc/sys/net`` files opened while inside stay bound to the namespace
they were opened in, which is how the adapters work on a namespace without living in it:
enter, open, leave, then use the socket.

Invariants:

* :func:`entered` restores the thread's previous namespace on every exit path; if
  restoring fails the thread is unusable and the error propagates.
* Nothing here ever creates a namespace: a path that does not exist is ``NotFound``.
* Processes forked while inside inherit the namespace; :mod:`romana.dataplane.proc` uses
  ``nsenter --net=`` instead so that no fork ever happens from a switched thread.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from romana.core.errors import Forbidden, InvalidInput, NotFound, RomanaError

CLONE_NEWNET = 0x40000000
THREAD_NETNS = "/proc/thread-self/ns/net"

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        text = f"cannot enter network namespace {what}: {os.strerror(code)}"
        if code == errno.EINVAL:
            raise InvalidInput(f"{text} (not a network namespace)")
        if code == errno.EPERM:
            raise Forbidden(text)
        raise RomanaError(text)


def open_netns(path: str) -> int:
    """An O_RDONLY descriptor of the namespace at ``path``; the caller closes it."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise NotFound(f"network namespace {path} does not exist") from exc
    except PermissionError as exc:
        raise Forbidden(f"network namespace {path}: permission denied") from exc


@contextmanager
def entered(path: str | None) -> Iterator[None]:
    """Run the block with the calling thread inside the namespace at ``path``.

    ``None`` means the current namespace: the block runs where it is, so callers can treat
    "this namespace" and "that namespace" alike.
    """
    if path is None:
        yield
        return
    target = open_netns(path)
    saved = os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            _setns(target, path)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(saved, "of origin")
    finally:
        os.close(saved)


def same(path_a: str, path_b: str) -> bool:
    """True when two paths name the same namespace (same inode on the nsfs)."""
    a, b = os.stat(path_a), os.stat(path_b)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
