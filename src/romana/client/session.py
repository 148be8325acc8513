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
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, cast
from urllib.parse import quote, urlencode

import romana
from romana.client import errors
from romana.client.directory import Directory
from romana.client.settings import ClientSettings
from romana.client.tls import client_context
from romana.client.transport import (
    HttpxTransport,
    Pool,
    Request,
    Response,
    Transport,
    TransportError,
)
from romana.core.errors import Unavailable

if TYPE_CHECKING:
    import httpx

Params = Mapping[str, str | int | float | None]
HEADERS = {"User-Agent": f"romana-client/{romana.__version__}", "Accept": "application/json"}


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

    transport: Transport | httpx.BaseTransport | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    rng: random.Random | None


class Session:
    """A connection pool (:mod:`romana.client.transport`), a service directory and the retry
    loop, shared by threads."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: Transport | httpx.BaseTransport | None = None,
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
        # Built whatever the transport: a TLS setting that cannot be used is an error before
        # anything is sent.
        context = client_context(settings.ca, settings.client_cert, settings.client_key)
        self._http: Transport
        if transport is None:
            self._http = Pool(
                context=context, timeout=settings.timeout, connect_timeout=settings.connect_timeout
            )
        elif hasattr(transport, "handle_request"):  # an httpx transport (a test's)
            self._http = HttpxTransport(cast("httpx.BaseTransport", transport))
        else:
            self._http = transport
        self.directory = Directory(
            settings.url,
            self.get,
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
                reached = not isinstance(cause, TransportError) or errors.reached_server(cause)
                if reached and not idempotent:
                    raise
                error = exc
        assert error is not None
        raise error from error.__cause__

    def send(self, url: str, request: Call) -> Any:
        """One request to one instance, no retry; errors mapped and chained."""
        method, path = request.method, request.path
        headers = dict(HEADERS)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        query = {k: str(v) for k, v in (request.params or {}).items() if v is not None}
        target = f"{url}{path}" + (f"?{urlencode(query, quote_via=quote)}" if query else "")
        body = None
        if request.body is not None:
            body = json.dumps(request.body, separators=(",", ":"), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        try:
            timeout = request.timeout if request.timeout is not None else self.timeout
            response = self._http.handle(Request(method, target, headers, body, timeout))
        except TransportError as exc:
            raise errors.from_transport(exc, url) from exc
        errors.raise_for_status(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise Unavailable(f"{method} {url}{path}: the response is not JSON") from exc

    def get(self, url: str) -> Response:
        """``GET url`` without a token or a retry, the answer as it is (the directory's
        lookups); a TransportError when there is none."""
        return self._http.handle(Request("GET", url, HEADERS))

    def _wait(self, rounds: int, error: Unavailable | None) -> None:
        cap = min(self._backoff_max, self._backoff * 2**rounds)
        delay = self._rng.uniform(0, cap)
        if error is not None and error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self._backoff_max))
        self._sleep(delay)
