"""romanad's administrator in the lab: a client that lives in the ``ctl`` namespace.

romanad runs in the lab's ``ctl`` namespace on the underlay, and the agents reach it over the
underlay, as they would across real machines. Network namespaces are per thread, so the
process that drives the lab talks to romanad from one worker thread that entered ``ctl`` for
good (:class:`Admin`). Each agent logs in as an agent-role user bound to its own host
(:func:`agent_user`), so one node's credential cannot act for another.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from romana.client import Client, ClientSettings
from romana.dataplane import netns as netns_mod

T = TypeVar("T")


def agent_user(host: str) -> str:
    """The agent-role user of ``host``'s agent: one per host, bound to it, so one node's
    credential cannot act for another (docs/security.md, Roles)."""
    return f"agent-{host}"


def read_credentials(path: Path) -> tuple[str, str]:
    """User name and password from romanad's admin credential file (``key = value`` lines)."""
    lines = path.read_text().splitlines()
    values = dict(line.split(" = ", 1) for line in lines if " = " in line)
    return values["username"], values["password"]


class Admin:
    """romanad's client, used from one thread that lives in the ``ctl`` namespace.

    Network namespaces are per thread, so one worker enters ``ctl`` for good and every call
    runs there; each call first checks the worker really is inside. Client methods can be
    called directly on this object (``admin.list_hosts()``).
    """

    def __init__(self, ctl_path: str, url: str, *, retries: int = 2, ca: str = "") -> None:
        self._ctl_path = ctl_path
        self._inside: list[contextlib.AbstractContextManager[None]] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(1, initializer=self._enter)
        self.url = url
        self.client: Client = self.call(
            lambda: Client(ClientSettings(url=(url,), retries=retries, timeout=10.0, ca=ca))
        )

    def _enter(self) -> None:
        inside = netns_mod.entered(self._ctl_path)
        inside.__enter__()  # the worker never leaves ctl; keep the manager referenced
        self._inside.append(inside)

    def call(self, work: Callable[[], T]) -> T:
        def checked() -> T:
            if not netns_mod.same(netns_mod.THREAD_NETNS, self._ctl_path):
                raise RuntimeError("the admin worker is not in the ctl namespace")
            return work()

        return self._pool.submit(checked).result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        return lambda *a, **kw: self.call(lambda: method(*a, **kw))

    def sign_in(self, credentials: Path) -> None:
        """Send the token of the admin in ``credentials`` with every later call."""
        self.call(lambda: self.client.login(*read_credentials(credentials)))

    def create_agent_user(self, host: str) -> str:
        """Create the agent-role user of ``host`` (:func:`agent_user`); its password."""
        password = secrets.token_urlsafe(18)
        self.call(lambda: self.client.create_user(agent_user(host), password, "agent", host=host))
        return password

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call(self.client.list_services)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.client.close)
        # Leave the namespace on the worker itself: if the garbage collector ran the exit
        # later, it would do so on whatever thread it happened to be on and move that one.
        with contextlib.suppress(Exception):
            self.call(self._leave)
        self._pool.shutdown(wait=True)

    def _leave(self) -> None:
        while self._inside:
            self._inside.pop().__exit__(None, None, None)
