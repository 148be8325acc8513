"""etcd v3's JSON gateway (``/v3/``) as :mod:`romana.store.etcd` speaks to it: one request with
fail-over across the endpoints, authentication, the mapping of etcd's errors, a watch stream.

Every request is a POST of a JSON body, made straight on an httpx transport. The rules it
follows (which endpoint is tried first, which failures move on to the next, when a token is
taken again) are the fail-over and authentication invariants of :mod:`romana.store.etcd`.

Invariants:

* A request that provably never reached a server raises :class:`Undelivered` on its endpoint;
  one that reached it, or may have, :class:`Failed`. :meth:`Gateway.request` tries the next
  endpoint after either for a read, after :class:`Undelivered` only for a write: a write is
  never sent twice.
* A refusal of the token is followed by one new authentication and one resend: etcd applied
  nothing it refused.
* etcd's errors become the project's: a refused user or permission is Unavailable, an invalid
  argument InvalidInput, a compacted revision Compacted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx

from romana.core import errors

T = TypeVar("T")

_HEADERS = {"Content-Type": "application/json"}

# gRPC status codes the gateway reports in ``code``.
_INVALID_ARGUMENT = 3
_PERMISSION_DENIED = 7
_OUT_OF_RANGE = 11
_UNAUTHENTICATED = 16

# What etcd says (with code 3) to a request without a token when auth is enabled.
_NO_USER = "user name is empty"


def normalise_endpoint(endpoint: str) -> str:
    """``host:port`` or ``http(s)://host:port`` → the base URL the gateway is under."""
    endpoint = endpoint.strip().rstrip("/")
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    return endpoint


class Undelivered(Exception):
    """The request never reached the server; trying another endpoint is always safe."""


class Failed(Exception):
    """The request reached the server, or may have; whether it took effect is unknown."""


class Gateway:
    """The endpoints of one etcd cluster; ``timeout`` bounds each request to one endpoint (a
    watch waits its own timeout on top), ``transport`` replaces httpx's network transport."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float,
        transport: httpx.BaseTransport | None,
        user: str,
        password: str,
    ) -> None:
        self._user = user
        self._password = password
        self._token = ""
        self._endpoints = [normalise_endpoint(e) for e in endpoints]
        self._timeout = timeout
        self._current = 0
        self._timeouts = {"connect": min(timeout, 1.0), "read": timeout, "write": timeout}
        self._timeouts["pool"] = timeout
        # Unary requests go straight to the transport: httpx.Client's per-request work
        # (URL merging, cookies, auth, hooks) costs about 0.3 ms, a third of a round trip.
        self._transport = transport or httpx.HTTPTransport()
        self._client = httpx.Client(transport=self._transport, trust_env=False)

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(self._endpoints)

    def _order(self) -> list[int]:
        start = self._current
        n = len(self._endpoints)
        return [(start + i) % n for i in range(n)]

    def request(self, path: str, body: dict[str, Any], *, write: bool) -> dict[str, Any]:
        """POST ``body`` to ``/v3/<path>``, failing over as :mod:`romana.store.etcd` says."""
        problems: list[str] = []
        for index in self._order():
            endpoint = self._endpoints[index]
            try:
                result = self._post(endpoint, path, body)
            except Undelivered as exc:
                problems.append(f"{endpoint}: {exc}")
                continue
            except Failed as exc:
                if not write:
                    problems.append(f"{endpoint}: {exc}")
                    continue
                self._current = (index + 1) % len(self._endpoints)
                raise errors.Unavailable(
                    f"etcd {endpoint}: {exc}; the write may or may not have been applied"
                ) from exc
            self._current = index
            return result
        raise errors.Unavailable("no etcd endpoint answered: " + "; ".join(problems))

    def _post(self, endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, data = self._exchange(endpoint, path, body, self._headers(endpoint))
        if self._user and data.get("code") == _UNAUTHENTICATED:
            # Tokens expire (etcd's --auth-token-ttl); a refused request was not applied, so
            # sending it again with a fresh token is safe, even for a txn.
            self._token = ""
            status, data = self._exchange(endpoint, path, body, self._headers(endpoint))
        if status != 200 or "error" in data:
            self._raise_server_error(data, status)
        return data

    def _headers(self, endpoint: str) -> dict[str, str]:
        if not self._user:
            return _HEADERS
        if not self._token:
            self._token = self._authenticate(endpoint)
        return {**_HEADERS, "Authorization": self._token}

    def _authenticate(self, endpoint: str) -> str:
        """A token for ``user`` from ``endpoint``; Unavailable naming the user when refused."""
        body = {"name": self._user, "password": self._password}
        status, data = self._exchange(endpoint, "auth/authenticate", body, _HEADERS)
        if status == 200 and data.get("token"):
            return str(data["token"])
        message = str(data.get("message") or data.get("error") or f"HTTP {status}")
        raise errors.Unavailable(
            f"etcd {endpoint} refused to authenticate user {self._user!r}: {message} (a "
            "cluster without auth enabled refuses too: see docs/security.md)"
        )

    def _exchange(
        self, endpoint: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """POST ``body``; the HTTP status and the JSON answer, whatever they say."""
        request = httpx.Request(
            "POST",
            f"{endpoint}/v3/{path}",
            content=json.dumps(body).encode(),
            headers=headers,
            extensions={"timeout": self._timeouts},
        )
        try:
            response = self._transport.handle_request(request)
            try:
                raw = response.read()
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Undelivered(str(exc) or type(exc).__name__) from exc
        except httpx.TransportError as exc:
            raise Failed(str(exc) or type(exc).__name__) from exc
        try:
            data: dict[str, Any] = json.loads(raw)
        except ValueError as exc:
            raise Failed(f"HTTP {response.status_code}, not a JSON answer") from exc
        return response.status_code, data

    def _raise_server_error(self, data: dict[str, Any], status: int) -> None:
        message = str(data.get("message") or data.get("error") or f"HTTP {status}")
        # Unary answers carry ``code``; errors inside a watch stream carry ``grpc_code``.
        code = data.get("code", data.get("grpc_code"))
        if code in (_PERMISSION_DENIED, _UNAUTHENTICATED) or _NO_USER in message:
            if self._user:
                hint = f"etcd refused user {self._user!r} the store's keys: {message}; grant "
                hint += "it readwrite on the store's prefix"
            else:
                hint = f"etcd has auth enabled and this store has no etcd user: {message}; "
                hint += "give it one (etcd_user and etcd_password)"
            raise errors.Unavailable(f"{hint} (docs/security.md)")
        if code == _INVALID_ARGUMENT:
            # Rejected before anything was applied: a request no endpoint would accept.
            raise errors.InvalidInput([errors.Issue("ops", message)], context="etcd")
        if code == _OUT_OF_RANGE:
            raise errors.Compacted(message)
        raise Failed(message)

    def watch(
        self, body: dict[str, Any], timeout: float, event: Callable[[dict[str, Any]], T]
    ) -> list[T]:
        """The first batch of events of the watch ``body`` creates, each read by ``event``, or
        [] when ``timeout`` passes; failing over to the next endpoint after any failure."""
        problems: list[str] = []
        for index in self._order():
            endpoint = self._endpoints[index]
            try:
                events = self._watch_once(endpoint, body, timeout, event)
            except (Undelivered, Failed) as exc:
                problems.append(f"{endpoint}: {exc}")
                continue
            self._current = index
            return events
        raise errors.Unavailable("no etcd endpoint answered the watch: " + "; ".join(problems))

    def _watch_once(
        self,
        endpoint: str,
        body: dict[str, Any],
        timeout: float,
        event: Callable[[dict[str, Any]], T],
    ) -> list[T]:
        """One watch stream: the first batch of events, each read by ``event``, or [] when
        ``timeout`` passes.

        Every read waits up to ``timeout`` (at least 50 ms, so the stream can be set up even
        for a zero timeout); the wait starts once etcd has confirmed the watch.
        """
        wait = httpx.Timeout(
            self._timeout, connect=min(self._timeout, 1.0), read=max(timeout, 0.05)
        )
        created = False
        deadline = time.monotonic() + timeout
        try:
            headers = self._headers(endpoint)
            with self._client.stream(
                "POST", f"{endpoint}/v3/watch", json=body, timeout=wait, headers=headers
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise Failed(f"HTTP {response.status_code}: {response.text[:200]}")
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    message = json.loads(line)
                    if "error" in message:
                        error = message["error"]
                        self._raise_server_error(error, int(error.get("http_code", 500)))
                    result = message.get("result", {})
                    if "compact_revision" in result:
                        raise errors.Compacted(
                            f"revision {body['create_request']['start_revision']} has been"
                            f" compacted; the oldest kept is {result['compact_revision']}"
                        )
                    if result.get("canceled"):
                        # An expired token cancels the watch: the next attempt takes a new one.
                        self._token = ""
                        raise Failed(result.get("cancel_reason") or "watch canceled by etcd")
                    created = created or bool(result.get("created"))
                    if result.get("events"):
                        return [event(e) for e in result["events"]]
                    if created and time.monotonic() >= deadline:
                        return []
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Undelivered(str(exc) or type(exc).__name__) from exc
        except httpx.ReadTimeout as exc:
            if created:
                return []
            raise Failed("the watch was not confirmed in time") from exc
        except (httpx.TransportError, ValueError) as exc:
            raise Failed(str(exc) or type(exc).__name__) from exc
        raise Failed("the watch stream ended")

    def close(self) -> None:
        self._client.close()
