"""Which instance serves which service: the root's registry, cached briefly.

The directory lists ``GET /v1/services`` on the first root URL that answers and keeps the
result for ``ttl`` seconds. Every call asks it for the candidate instances of one service, in
the order to try them: healthy instances first, shuffled so that many clients spread their load
over replicas, then instances that failed recently (they may have recovered).

Invariants:

* When the registry names no instance at all (a single all-in-one romanad, or discovery turned
  off), every service is served by the root URLs.
* When it names instances but none of the service asked for, that service is unavailable:
  sending the call to a root that does not serve it would turn "down" into "not found".
* ``root`` is always served by the configured root URLs, never by a registered instance: the
  client sends passwords only there (``Client.login``), so the registry cannot redirect them.
* A failed instance is remembered for ``ttl`` seconds, and any failure makes the next lookup
  fetch the registry again, so a dead instance drops out once the root forgets it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

from romana.client import errors
from romana.client.transport import Response, TransportError
from romana.core.errors import RomanaError, Unavailable


class Directory:
    """Service name → instance URLs, refreshed from the root(s) on expiry or failure."""

    def __init__(
        self,
        roots: Sequence[str],
        get: Callable[[str], Response],
        *,
        ttl: float,
        discover: bool,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._roots = tuple(r.rstrip("/") for r in roots)
        self._get = get
        self._ttl = ttl
        self._discover = discover
        self._clock = clock
        self._rng = rng
        self._lock = threading.RLock()
        self._services: dict[str, list[str]] = {}
        self._fetched_at: float | None = None
        self._failed: dict[str, float] = {}

    @property
    def roots(self) -> tuple[str, ...]:
        return self._roots

    def candidates(self, service: str) -> list[str]:
        """Instances of ``service`` in the order to try them; raises Unavailable if none."""
        if not self._discover or service == "root":
            return self._order(list(self._roots))
        with self._lock:
            if self._fetched_at is None or self._clock() - self._fetched_at >= self._ttl:
                self._services = self._fetch()
                self._fetched_at = self._clock()
            services = self._services
        if not services:
            return self._order(list(self._roots))
        urls = services.get(service)
        if not urls:
            raise Unavailable(
                f"no instance of service {service!r} is registered at {', '.join(self._roots)}"
            )
        return self._order(list(urls))

    def failed(self, url: str) -> None:
        """Remember that ``url`` just failed, and fetch the registry again on next use."""
        with self._lock:
            self._failed[url] = self._clock()
            self._fetched_at = None

    def _order(self, urls: list[str]) -> list[str]:
        now = self._clock()
        with self._lock:
            recent = {u for u, t in self._failed.items() if now - t < self._ttl}
            self._failed = {u: t for u, t in self._failed.items() if u in recent}
        self._rng.shuffle(urls)
        return [u for u in urls if u not in recent] + [u for u in urls if u in recent]

    def _fetch(self) -> dict[str, list[str]]:
        services: dict[str, list[str]] = {}
        for reg in self._list(self._order(list(self._roots))):
            name, url = reg.get("name"), reg.get("url")
            if isinstance(name, str) and isinstance(url, str):
                urls = services.setdefault(name, [])
                if url.rstrip("/") not in urls:
                    urls.append(url.rstrip("/"))
        return services

    def _list(self, roots: list[str]) -> list[dict[str, Any]]:
        problems: list[str] = []
        untrusted = False
        for root in roots:
            try:
                response = self._get(f"{root}/v1/services")
            except TransportError as exc:
                error = errors.from_transport(exc, root)
                untrusted = untrusted or isinstance(error, errors.TlsFailure)
                problems.append(str(error))
                with self._lock:
                    self._failed[root] = self._clock()
                continue
            if response.status_code == 404:
                return []
            try:
                errors.raise_for_status(response)
            except Unavailable as exc:
                problems.append(f"{root}: {exc}")
                continue
            except RomanaError:
                raise
            body = response.json()
            if not isinstance(body, list):
                raise Unavailable(f"{root}/v1/services: expected a list, got {type(body).__name__}")
            return [r for r in body if isinstance(r, dict)]
        # One root refusing the handshake is a configuration error the caller must see.
        kind = errors.TlsFailure if untrusted else Unavailable
        raise kind("no root answered: " + "; ".join(problems))
