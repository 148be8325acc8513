"""One HTTP/1.1 exchange with romanad: the standard library's ``http.client``, pooled.

:class:`Pool` is what :class:`romana.client.session.Session` sends every request through: it
keeps connections alive per instance and is shared by threads. It is small on purpose: a
command of the CLI opens one connection and sends two requests, and importing a general HTTP
client cost the CLI more than everything else it does (``bench/cli.py``).

Invariants:

* TLS: an ``https://`` URL is reached only through the context of :mod:`romana.client.tls`
  (certificates verified, the URL's host name or address checked); nothing here weakens it.
* romanad is reached directly: no proxy, nothing read from the environment.
* A failure is a :class:`TransportError` chained to its cause, and says whether the request
  may have reached the server: only a connection that could not be opened (refused,
  unreachable, timed out, handshake refused: :class:`ConnectError`) certainly did not.
* An answer is read whole before it is returned; a connection is pooled again only after a
  complete answer the server did not close.

:class:`Transport` is what a test may hand in instead (``Hooks.transport``); an
``httpx.BaseTransport`` is accepted too, through :class:`HttpxTransport`.
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    timeout: float | None = None
    """Seconds to wait for the answer; None: the pool's own."""


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    reason_phrase: str
    headers: Mapping[str, str]
    """Header names in lower case."""
    content: bytes
    request: Request

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class TransportError(Exception):
    """The exchange failed; ``reached``: whether the request may have reached the server."""

    reached = True


class ConnectError(TransportError):
    """No connection: refused, unreachable, or its TLS handshake failed."""

    reached = False


class ConnectTimeout(ConnectError):
    """No connection within the connect timeout."""


class ReadTimeout(TransportError):
    """Sent, but no answer within the timeout."""


class WriteError(TransportError):
    """The connection failed while the request was being sent."""


class ReadError(TransportError):
    """The connection failed while the answer was being read."""


class RemoteProtocolError(TransportError):
    """The server closed the connection, or answered something that is not HTTP."""


class HTTPStatusError(Exception):
    """An error answer (status >= 400), the cause of the project error it maps to."""

    def __init__(self, message: str, *, response: Response) -> None:
        super().__init__(message)
        self.response = response


class Transport(Protocol):
    def handle(self, request: Request) -> Response: ...

    def close(self) -> None: ...


_Key = tuple[str, str, int]


class Pool:
    """Keep-alive connections per (scheme, host, port); thread-safe. ``timeout`` bounds the wait
    for an answer, ``connect_timeout`` the opening of a connection."""

    def __init__(
        self,
        *,
        context: ssl.SSLContext,
        timeout: float,
        connect_timeout: float,
        max_idle: int = 32,
    ) -> None:
        self._context = context
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def handle(self, request: Request) -> Response:
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectError(f"{request.url}: not an http:// or https:// URL")
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._take(key) or self._open(key)
        try:
            answer, body = self._exchange(connection, request, target)
        except BaseException:
            connection.close()
            raise
        if answer.will_close:
            connection.close()
        else:
            self._give_back(key, connection)
        return Response(
            answer.status,
            answer.reason,
            {name.lower(): value for name, value in answer.getheaders()},
            body,
            request,
        )

    def _exchange(
        self, connection: http.client.HTTPConnection, request: Request, target: str
    ) -> tuple[http.client.HTTPResponse, bytes]:
        timeout = request.timeout if request.timeout is not None else self._timeout
        assert connection.sock is not None
        connection.sock.settimeout(timeout)
        headers = dict(request.headers)
        try:
            connection.request(request.method, target, body=request.content, headers=headers)
        except TimeoutError as exc:
            raise WriteError(f"timed out sending the request: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc
        try:
            answer = connection.getresponse()
            body = answer.read()
        except TimeoutError as exc:
            raise ReadTimeout(f"no answer within {timeout:g} s") from exc
        except http.client.HTTPException as exc:
            raise RemoteProtocolError(str(exc) or type(exc).__name__) from exc
        except OSError as exc:
            raise ReadError(str(exc) or type(exc).__name__) from exc
        return answer, body

    def _open(self, key: _Key) -> http.client.HTTPConnection:
        scheme, host, port = key
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=self._connect_timeout, context=self._context
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise ConnectTimeout(f"no connection within {self._connect_timeout:g} s") from exc
        except OSError as exc:  # refused, unreachable, or the handshake (ssl.SSLError)
            connection.close()
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        return connection

    def _take(self, key: _Key) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                connection = idle.pop()
            if _usable(connection):
                return connection
            connection.close()

    def _give_back(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._max_idle:
                idle.append(connection)
                return
        connection.close()


def _usable(connection: http.client.HTTPConnection) -> bool:
    """An idle connection the server has not closed: nothing to read on it yet."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class HttpxTransport:
    """An ``httpx.BaseTransport`` (a test's ``httpx.MockTransport``) as a :class:`Transport`:
    its failures become this module's, chained to httpx's."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self._transport = transport

    def close(self) -> None:
        self._transport.close()

    def handle(self, request: Request) -> Response:
        import httpx

        timeouts = dict.fromkeys(("connect", "read", "write", "pool"), request.timeout)
        sent = httpx.Request(
            request.method,
            request.url,
            headers=dict(request.headers),
            content=request.content,
            extensions={"timeout": timeouts},
        )
        try:
            answer = self._transport.handle_request(sent)
            content = answer.read()
        except httpx.TransportError as exc:
            raise _kind(exc)(str(exc)) from exc
        headers = {name.lower(): value for name, value in answer.headers.items()}
        return Response(answer.status_code, answer.reason_phrase, headers, content, request)


def _kind(exc: httpx.TransportError) -> type[TransportError]:
    """This module's failure for one of httpx's."""
    import httpx

    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return ConnectTimeout
    if isinstance(exc, httpx.ConnectError):
        return ConnectError
    if isinstance(exc, httpx.TimeoutException):
        return ReadTimeout
    if isinstance(exc, httpx.RemoteProtocolError):
        return RemoteProtocolError
    if isinstance(exc, httpx.WriteError):
        return WriteError
    return ReadError
