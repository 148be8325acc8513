"""The agent's asynchronous view of romanad: the typed sync client, run off the event loop.

:class:`romana.client.Client` is synchronous and thread-safe. Each call here runs it in a
fresh *daemon* thread and awaits the result, so a long-poll of the host view (up to a minute)
never blocks the loop, and a stopping agent never waits for one to return: daemon threads
are not joined at exit. Errors are the client's (``romana.core.errors``), unchanged.

Registration (:meth:`Romanad.register`) treats AlreadyExists as success when the registered
host has the same name and underlay IP; a host of that name with another IP is a conflict an
operator must resolve, so it is raised as :class:`~romana.core.errors.AlreadyExists`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from romana.client import Client, types
from romana.core.errors import AlreadyExists

log = logging.getLogger(__name__)

T = TypeVar("T")


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """Run ``work()`` in a new daemon thread and await its result or exception."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        outcome: tuple[bool, Any]
        try:
            outcome = (True, work())
        except BaseException as exc:  # delivered to the awaiting task, not lost
            outcome = (False, exc)
        # The loop may have closed while we worked: then nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=target, name="romana-romanad", daemon=True).start()
    return await future


class Romanad:
    """The calls the agent makes to romanad, awaitable."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def login(self, username: str, password: str) -> None:
        await in_daemon_thread(lambda: self.client.login(username, password))

    async def register(self, name: str, ip: str, labels: Mapping[str, str]) -> types.Host:
        def work() -> types.Host:
            try:
                host = self.client.add_host(name, ip, dict(labels))
                log.info("registered host %s (%s)", name, ip)
                return host
            except AlreadyExists:
                host = self.client.get_host(name)
                if ipaddress.ip_address(host["ip"]) != ipaddress.ip_address(ip):
                    raise AlreadyExists(
                        f"host {name!r} is registered with IP {host['ip']}, not {ip}; remove "
                        f"it (romana host remove {name}) or start the agent with --host-ip "
                        f"{host['ip']}"
                    ) from None
                if dict(host.get("labels") or {}) != dict(labels):
                    log.warning(
                        "host %s is registered with labels %s, not %s; keeping the "
                        "registered ones (relabel with romana host label)",
                        name,
                        host.get("labels"),
                        dict(labels),
                    )
                return host

        return await in_daemon_thread(work)

    async def view(self, host: str, after: int | None, wait: float | None) -> types.HostView:
        return await in_daemon_thread(lambda: self.client.host_view(host, after, wait))

    async def topology(self) -> types.Document:
        return await in_daemon_thread(self.client.get_topology)

    async def allocate(self, key: str, host: str, tenant: str, segment: str) -> types.Allocation:
        return await in_daemon_thread(lambda: self.client.allocate(key, host, tenant, segment))

    async def get_allocation(self, key: str) -> types.Allocation:
        return await in_daemon_thread(lambda: self.client.get_allocation(key))

    async def release(self, key: str) -> types.Allocation:
        return await in_daemon_thread(lambda: self.client.release(key))

    def close(self) -> None:
        self.client.close()
