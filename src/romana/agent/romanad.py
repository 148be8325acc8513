"""The agent's asynchronous view of romanad: the typed sync client, run off the event loop.

:class:`romana.client.Client` is synchronous and thread-safe. Each call here runs it in a
*daemon* thread and awaits the result, so a long-poll of the host view (up to a minute)
never blocks the loop, and a stopping agent never waits for one to return: daemon threads
are not joined at exit. Errors are the client's (``romana.core.errors``), unchanged.

Registration (:meth:`Romanad.register`) treats AlreadyExists as success when the registered
host has the same name and underlay IP; a host of that name with another IP is a conflict an
operator must resolve, so it is raised as :class:`~romana.core.errors.AlreadyExists`. An IPv6
underlay address or labels other than the registered ones are logged, and the registered
ones kept.

Given a username and password, the agent keeps itself logged in: it logs in before its first
call, again once nine tenths of its token's lifetime have passed, and again (then repeats
the call once) whenever romanad answers 401 — a token can also end early, when romanad's
signing key or the user was replaced. Concurrent calls that find the same stale token log in
once between them. Without credentials the calls carry the configured token, or none.

An allocation may wait for romanad (:meth:`Romanad.allocate` with ``within``): the client's
own retries span well under a second, long enough for a lost connection but not for a
romanad that restarts (its port refuses connections for seconds) or a network outage. The
allocation is idempotent by key, so any temporary failure is tried again, with jittered
back-off doubling from 0.1 s to 1 s, until the ADD's time for it has passed; the last
failure is raised then. Without ``within`` the client's retries are all there is.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from romana.agent.view import HostView, Reader
from romana.client import Client
from romana.core.dockerpools import DockerPool
from romana.core.errors import AlreadyExists, RomanaError, Unauthorized
from romana.wire.validate import JSON

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_FIRST = 0.1
RETRY_MAX = 1.0


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """Run ``work()`` in a daemon thread (an idle one, or a new one) and await its result
    or exception."""
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

    _IDLE.run(target)
    return await future


class _DaemonPool:
    """Daemon threads kept for the next call: starting a thread costs more than a short
    romanad call's own Python work, and an ADD waits for its allocation. A thread is
    started only when none is idle, and nothing ever waits for one at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []

    def run(self, job: Callable[[], None]) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(
                target=self._serve, args=(inbox,), name="romana-romanad", daemon=True
            ).start()
        inbox.put(job)

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            inbox.get()()
            with self._lock:
                self._idle.append(inbox)


_IDLE = _DaemonPool()


def _ip_or_none(text: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    return ipaddress.ip_address(str(text)) if text else None


class Romanad:
    """The calls the agent makes to romanad, awaitable."""

    def __init__(
        self,
        client: Client,
        credentials: tuple[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self._credentials = credentials
        self._clock = clock
        self._renew_at = -math.inf
        self._lock = threading.Lock()
        self._views = Reader()
        self.logins = 0
        """Successful logins so far (the first one included)."""

    async def login(self, username: str, password: str) -> None:
        """Log in now and keep the credentials for logging in again later."""
        self._credentials = (username, password)
        await in_daemon_thread(lambda: self._login(None))

    def _login(self, stale: str | None) -> None:
        """Log in, unless another thread already replaced the ``stale`` token meanwhile."""
        assert self._credentials is not None
        with self._lock:
            if stale is not None and self.client.token != stale:
                return
            now = self._clock()
            token = self.client.login(*self._credentials)
            self.logins += 1
            lifetime = float(token["expires_at"]) - now
            # A clock far off romanad's gives no usable lifetime: rely on the 401s then.
            self._renew_at = now + 0.9 * lifetime if lifetime > 0 else math.inf

    def _authed(self, work: Callable[[], T]) -> T:
        """``work()`` with a live token: renewed when due, and once more after a 401."""
        if self._credentials is None:
            return work()
        token = self.client.token
        if not token or self._clock() >= self._renew_at:
            self._login(token)
        token = self.client.token
        try:
            return work()
        except Unauthorized as exc:
            log.info("romanad refused the agent's token (%s); logging in again", exc)
            self._login(token)
            return work()

    async def _call(self, work: Callable[[], T]) -> T:
        return await in_daemon_thread(lambda: self._authed(work))

    async def register(self, name: str, ip: str, labels: Mapping[str, str], ip6: str = "") -> JSON:
        """Register this host; ``ip6`` ("" for none) is its IPv6 underlay address."""

        def work() -> JSON:
            try:
                host = self.client.add_host(name, ip, dict(labels), ip6 or None)
                log.info("registered host %s (%s)", name, " ".join(a for a in (ip, ip6) if a))
                return host
            except AlreadyExists:
                host = self.client.get_host(name)
                if ipaddress.ip_address(host["ip"]) != ipaddress.ip_address(ip):
                    raise AlreadyExists(
                        f"host {name!r} is registered with IP {host['ip']}, not {ip}; remove "
                        f"it (romana host remove {name}) or start the agent with --host-ip "
                        f"{host['ip']}"
                    ) from None
                if _ip_or_none(host.get("ip6")) != _ip_or_none(ip6):
                    log.warning(
                        "host %s is registered with IPv6 underlay address %s, not %s; keeping "
                        "the registered one (remove the host to register it anew)",
                        name,
                        host.get("ip6") or "(none)",
                        ip6 or "(none)",
                    )
                if dict(host.get("labels") or {}) != dict(labels):
                    log.warning(
                        "host %s is registered with labels %s, not %s; keeping the "
                        "registered ones (relabel with romana host label)",
                        name,
                        host.get("labels"),
                        dict(labels),
                    )
                return host

        return await self._call(work)

    async def view(self, host: str, after: int | None, wait: float | None) -> HostView:
        """The host view, fetched and parsed on a romanad client thread: a parse takes
        milliseconds for a large view, and on the event loop it would hold up every ADD.
        One :class:`~romana.agent.view.Reader` parses them all, redoing only what changed."""
        return await self._call(lambda: self._views.parse(self.client.host_view(host, after, wait)))

    async def report_routing(self, host: str, report: Mapping[str, Any]) -> JSON:
        """Store this host's routing report (:mod:`romana.agent.routing`)."""
        return await self._call(lambda: self.client.report_routing(host, report))

    async def report_drops(self, host: str, events: list[dict[str, Any]]) -> JSON:
        """Send a batch of this host's drop events (:mod:`romana.agent.dropforward`)."""
        return await self._call(lambda: self.client.report_drops(host, events))

    async def topology(self) -> JSON:
        return await self._call(self.client.get_topology)

    async def allocate(
        self,
        key: str,
        host: str,
        tenant: str,
        segment: str,
        *,
        address: str | None = None,
        within: float = 0.0,
    ) -> JSON:
        """Allocate by ``key`` (idempotent), ``address`` among the addresses when given; a
        temporary failure is tried again, backing off, until ``within`` seconds have passed
        (see the module docstring)."""
        deadline = time.monotonic() + within
        attempt = 0
        while True:
            try:
                return await self._call(
                    lambda: self.client.allocate(key, host, tenant, segment, address)
                )
            except RomanaError as exc:
                pause = min(RETRY_MAX, RETRY_FIRST * 2**attempt) * (0.5 + random.random() / 2)
                if not exc.temporary or time.monotonic() + pause >= deadline:
                    raise
                log.info("allocation of %s waits for romanad: %s", key, exc)
                await asyncio.sleep(max(pause, exc.retry_after or 0.0))
                attempt += 1

    async def list_allocations(self, host: str) -> list[JSON]:
        """The allocations of ``host`` (the agent role reads its own host's only)."""
        return await self._call(lambda: self.client.list_allocations(host=host))

    async def get_allocation(self, key: str) -> JSON:
        return await self._call(lambda: self.client.get_allocation(key))

    async def release(self, key: str) -> JSON:
        return await self._call(lambda: self.client.release(key))

    async def set_workload(self, key: str, workload: str) -> JSON:
        return await self._call(lambda: self.client.set_workload(key, workload))

    async def bind_docker_pool(self, binding: DockerPool) -> JSON:
        """Bind a Docker network's pool (idempotent for the same content)."""
        return await self._call(lambda: self.client.bind_docker_pool(binding))

    async def get_docker_pool(self, pool: str) -> JSON:
        return await self._call(lambda: self.client.get_docker_pool(pool))

    async def list_docker_pools(self, tenant: str | None = None) -> list[JSON]:
        return await self._call(lambda: self.client.list_docker_pools(tenant))

    async def delete_docker_pool(self, pool: str) -> JSON:
        return await self._call(lambda: self.client.delete_docker_pool(pool))

    async def assign_external_ip(
        self, pool: str, endpoint: str, address: str | None = None
    ) -> JSON:
        """Assign an external IP of ``pool`` to the allocation ``endpoint`` of this host."""
        return await self._call(lambda: self.client.assign_external_ip(pool, endpoint, address))

    async def lease_vip(self, name: str, host: str, release: bool = False) -> JSON:
        """Ask for (or give up) VIP ``name``'s lease for ``host`` (:mod:`romana.agent.vips`)."""
        return await self._call(lambda: self.client.lease_vip(name, host, release))

    def close(self) -> None:
        self.client.close()
