"""Sending one call: choose an instance, send, map the answer, retry only what is safe.

Retry rules (principle 9: decided by classification, bounded, jittered):

* A failure is retried only when it is :class:`Unavailable` — a refused or lost connection, a
  timeout, a 5xx answer — and only while the budget (``1 + settings.retries`` sends) lasts. A
  failed TLS handshake is Unavailable but not temporary (a configuration error): never retried.
* An idempotent call (GET, PUT, DELETE, and ``POST /v1/allocations``, idempotent by key) may
  be retried whenever it failed that way. Any other call is retried only when the request
  certainly never reached a server (the connection could not be opened); after that its fate
  is unknown and repeating it could apply it twice.
* Each retry goes to an instance of the same service not yet tried in this round, at once.
  When every instance has been tried, the next round starts after a back-off drawn uniformly
  from ``[0, min(backoff_max, backoff * 2**round)]``, and never shorter than a server's
  ``Retry-After`` (itself capped by ``backoff_max``).

Errors other than Unavailable (not found, forbidden, invalid, conflict, …) are raised at once.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

import httpx

import romana
from romana.client import errors
from romana.client.directory import Directory
from romana.client.settings import ClientSettings
from romana.client.tls import client_context
from romana.core.errors import Unavailable

Params = Mapping[str, str | int | float | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """One request as the caller means it, whichever instance it is sent to; ``timeout``
    None is the settings' own."""

    method: str
    path: str
    body: Any = None
    params: Params | None = None
    timeout: float | None = None


class Hooks(TypedDict, total=False):
    """What a test may put in place of the network and of time (the keyword arguments of
    :class:`Session` after the settings)."""

    transport: httpx.BaseTransport | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    rng: random.Random | None


class Session:
    """An httpx connection pool, a service directory and the retry loop, shared by threads."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.token = settings.token
        self.timeout = settings.timeout
        self._retries = settings.retries
        self._backoff = settings.backoff
        self._backoff_max = settings.backoff_max
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            headers={"User-Agent": f"romana-client/{romana.__version__}"},
            verify=client_context(settings.ca, settings.client_cert, settings.client_key),
            # romanad is reached directly; proxy variables meant for the web must not divert it.
            trust_env=False,
        )
        self.directory = Directory(
            settings.url,
            self._http,
            ttl=settings.directory_ttl,
            discover=settings.discover,
            clock=clock,
            rng=self._rng,
        )

    def close(self) -> None:
        self._http.close()

    def call(self, service: str, request: Call, *, idempotent: bool) -> Any:
        """Send ``request`` to an instance of ``service``; the decoded JSON body, or None."""
        tried: set[str] = set()
        rounds = 0
        error: Unavailable | None = None
        for attempt in range(1 + self._retries):
            try:
                candidates = self.directory.candidates(service)
            except Unavailable as exc:
                if not exc.temporary:
                    raise
                error = exc
                if attempt < self._retries:
                    self._wait(rounds, error)
                    rounds += 1
                continue
            untried = [u for u in candidates if u not in tried]
            if not untried:
                self._wait(rounds, error)
                rounds += 1
                tried.clear()
                untried = candidates
            url = untried[0]
            tried.add(url)
            try:
                return self.send(url, request)
            except Unavailable as exc:
                if not exc.temporary:  # a TLS configuration error: no retry can fix it
                    raise
                self.directory.failed(url)
                cause = exc.__cause__
                reached = not isinstance(cause, httpx.TransportError) or errors.reached_server(
                    cause
                )
                if reached and not idempotent:
                    raise
                error = exc
        assert error is not None
        raise error from error.__cause__

    def send(self, url: str, request: Call) -> Any:
        """One request to one instance, no retry; errors mapped and chained."""
        method, path, timeout = request.method, request.path, request.timeout
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        query = {k: str(v) for k, v in (request.params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method,
                f"{url}{path}",
                json=request.body,
                params=query or None,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise errors.from_transport(exc, url) from exc
        errors.raise_for_status(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise Unavailable(f"{method} {url}{path}: the response is not JSON") from exc

    def _wait(self, rounds: int, error: Unavailable | None) -> None:
        cap = min(self._backoff_max, self._backoff * 2**rounds)
        delay = self._rng.uniform(0, cap)
        if error is not None and error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self._backoff_max))
        self._sleep(delay)
