"""Store adapters: implementations of :class:`romana.core.store.Store`.

:func:`open_store` turns a store URL (the ``store`` setting) into an adapter:

* ``memory://`` — :class:`~romana.store.memory.MemoryStore`, nothing survives the process;
* ``sqlite:///abs/path.db`` or ``sqlite://relative/path.db`` —
  :class:`~romana.store.sqlite.SQLiteStore`, one file shared by the processes of one machine;
* ``etcd://host:port[,host:port...][/prefix]`` — :class:`~romana.store.etcd.EtcdStore`; the
  optional path becomes the key namespace ``/prefix/``, required when authenticating as an
  etcd user (granted that namespace only).

Adapters are imported on demand, so naming one never loads another's dependencies.
"""

from __future__ import annotations

from typing import NoReturn

from romana.core import errors
from romana.core.store import Store

ACCEPTED = (
    "memory://, sqlite:///ABSOLUTE/PATH.db, sqlite://RELATIVE/PATH.db,"
    " etcd://HOST:PORT[,HOST:PORT...][/PREFIX]"
)


def open_store(url: str, *, etcd_user: str = "", etcd_password: str = "") -> Store:
    """The store a URL names. Raises InvalidInput (field ``store``) for a malformed URL.

    ``etcd_user`` and ``etcd_password`` authenticate to an etcd with auth enabled.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        _invalid([f"{url!r} is not a URL"])
    if scheme == "memory":
        if rest:
            _invalid([f"memory:// takes nothing after '://', got {rest!r}"])
        from romana.store import memory

        return memory.MemoryStore()
    if scheme == "sqlite":
        if not rest or rest == "/" or "?" in rest or "#" in rest:
            _invalid(
                [f"sqlite needs a file path, e.g. sqlite:///var/lib/romana/store.db; got {url!r}"]
            )
        from romana.store import sqlite

        return sqlite.SQLiteStore(rest)
    if scheme == "etcd":
        endpoints, prefix = parse_etcd(rest)
        from romana.store import etcd

        return etcd.EtcdStore(endpoints, prefix=prefix, user=etcd_user, password=etcd_password)
    _invalid([f"unknown scheme {scheme!r}"])


def parse_etcd(rest: str) -> tuple[list[str], str]:
    """``host:port[,host:port...][/prefix]`` → (endpoints, key prefix); every problem at once."""
    hosts, _, path = rest.partition("/")
    problems: list[str] = []
    endpoints: list[str] = []
    if not hosts:
        problems.append("etcd needs at least one host:port, e.g. etcd://127.0.0.1:2379")
    for item in hosts.split(",") if hosts else ():
        host, colon, port = item.rpartition(":")
        if not colon or not host or host in ("[", "]"):
            problems.append(f"etcd endpoint {item!r} must be host:port")
        elif not port.isdigit() or not 1 <= int(port) <= 65535:
            problems.append(f"etcd endpoint {item!r} has port {port!r}, not 1-65535")
        else:
            endpoints.append(f"http://{host}:{int(port)}")
    if "?" in path or "#" in path:
        problems.append(f"etcd prefix {path!r} must not contain '?' or '#'")
    if problems:
        _invalid(problems)
    path = path.strip("/")
    return endpoints, f"/{path}/" if path else ""


def _invalid(problems: list[str]) -> NoReturn:
    raise errors.InvalidInput(
        [errors.Issue("store", p) for p in problems],
        context=f"store URL (accepted forms: {ACCEPTED})",
    )
