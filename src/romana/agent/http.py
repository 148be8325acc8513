"""A minimal HTTP/1.1 server over a Unix socket, for the agent's local API.

Enough of RFC 9112 for a local JSON API and nothing more: one request at a time per
connection, keep-alive unless the client says ``Connection: close``, bodies framed by
``Content-Length`` only (``Transfer-Encoding`` is refused with 501), header block and body
size capped. A handler may answer raw bytes (with its own ``Content-Type``) instead of
JSON. Handlers receive a parsed :class:`Request` and return a :class:`Response`;
every :class:`~romana.core.errors.RomanaError` they raise becomes problem JSON through
:func:`problem`: the answer romanad gives for the same error (the one table,
:mod:`romana.core.problems`), plus ``field``, the request member at fault, as the contract
in ``romana.integrations.cni.agentapi`` defines it.

Invariants:

* A malformed request gets a 400 (or 413/431/501) problem answer and the connection is
  closed; it never reaches a handler.
* An unexpected exception in a handler is logged with its traceback and answered with 500;
  it does not stop the server (the bug is one request's, not the agent's).
* The socket file is created with mode 0600 (root only: it can create interfaces), after
  removing a stale file left by a previous run; with a group, root:<group> mode 0660.
* Every connection is checked by its peer's credentials (``SO_PEERCRED``) before a byte of
  it is read: root, or with a group a caller holding that group (its primary group, or a
  supplementary one as ``/proc/<pid>/status`` lists them), else 403 ``forbidden`` and the
  connection is closed. The file mode is the first guard; this one holds when the mode is
  loosened, or the socket reached through a bind mount or by a process with
  ``CAP_DAC_OVERRIDE`` but another uid.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from romana.core import errors, problems

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
READ_TIMEOUT = 30.0
REFUSED_DRAIN_SECONDS = 1.0
"""How long a refused caller's request is read and dropped, so that closing the connection
does not reset it before the caller has read the 403."""

PROBLEM_BASE = "https://romana.io/problems/"
"""Base of the types of the answers no error class gives (``malformed-request``, the
``not-ready`` family of STATUS); an error's own answer is :func:`problem`'s."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    """Percent-decoded path segments joined by '/', without the query."""
    segments: tuple[str, ...]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; :class:`MalformedBody` naming ``body`` when it is not."""
        if not self.body:
            raise MalformedBody([errors.Issue("body", "a JSON object is required")])
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedBody([errors.Issue("body", f"is not valid JSON ({exc})")]) from exc
        except RecursionError as exc:
            raise MalformedBody([errors.Issue("body", "is JSON nested too deeply")]) from exc


class MalformedBody(errors.InvalidInput):
    """A request body that does not parse (as JSON, or as a forwarded CNI invocation):
    answered 400, as romanad answers it, where a body that parses but breaks a rule is the
    table's 422. Clients read both as InvalidInput."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


def problem_body(status: int, slug: str, detail: str, field: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    return body


def problem(exc: errors.RomanaError) -> Response:
    """The answer for ``exc``, as :func:`romana.core.problems.render` gives it to romanad too,
    plus ``field``: the request member at fault (the first issue's, or the one
    :func:`romana.core.endpoint.at_field` named)."""
    status, body, headers = problems.render(exc)
    field = str(getattr(exc, "problem_field", ""))
    if isinstance(exc, errors.InvalidInput):
        field = next((i.field for i in exc.issues if i.field), field)
    if isinstance(exc, MalformedBody):
        status = 400
        body.update(status=status, title=HTTPStatus(status).phrase)
    if field:
        body["field"] = field
    return Response(status, body, headers)


class _BadRequest(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _BadRequest(400, "connection closed inside the request header") from exc
    except asyncio.LimitOverrunError as exc:
        raise _BadRequest(431, f"request header larger than {MAX_HEADER_BYTES} bytes") from exc
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError as exc:
        raise _BadRequest(400, "malformed request line") from exc
    if not version.startswith("HTTP/1."):
        raise _BadRequest(400, f"unsupported protocol {version!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, f"malformed header line {line!r}")
        headers[name.lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise _BadRequest(501, "Transfer-Encoding is not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise _BadRequest(400, "Content-Length is not a number") from exc
    if not 0 <= length <= MAX_BODY_BYTES:
        raise _BadRequest(413, f"body must be at most {MAX_BODY_BYTES} bytes")
    try:
        body = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise _BadRequest(400, "connection closed inside the request body") from exc
    return make_request(method, target, headers, body)


def make_request(method: str, target: str, headers: Mapping[str, str], body: bytes) -> Request:
    """The parsed request for a request line's method and target (path and query)."""
    parts = urlsplit(target)
    raw_segments = [s for s in parts.path.split("/") if s]
    segments = tuple(unquote(s) for s in raw_segments)
    return Request(
        method=method.upper(),
        path="/" + "/".join(segments),
        segments=segments,
        query=dict(parse_qsl(parts.query)),
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
    )


def payload(response: Response) -> bytes:
    """The body as sent: bytes as they are, anything else as JSON."""
    if isinstance(response.body, bytes):
        return response.body
    return b"" if response.body is None else json.dumps(response.body).encode()


def _encode(response: Response, keep_alive: bool) -> bytes:
    phrase = HTTPStatus(response.status).phrase
    data = payload(response)
    content_type = "application/problem+json" if response.status >= 400 else "application/json"
    head = [f"HTTP/1.1 {response.status} {phrase}", f"Content-Length: {len(data)}"]
    if data and "Content-Type" not in response.headers:
        head.append(f"Content-Type: {content_type}")
    head.extend(f"{k}: {v}" for k, v in response.headers.items())
    head.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is at the other end of a Unix socket connection, as the kernel recorded it when
    the peer connected (``SO_PEERCRED``, ``SO_PEERGROUPS``)."""

    pid: int
    uid: int
    gid: int
    groups: frozenset[int] = frozenset()
    """Supplementary groups."""


# Linux's value; the socket module names it only from Python 3.13 (needs Linux 4.13).
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
_GID = struct.Struct("I")


def peer_of(sock: Any) -> Peer:
    """The credentials the kernel recorded for the peer of ``sock`` when it connected.

    The groups come from the socket, not from ``/proc/<pid>``: a pid can be reused by another
    process between the connect and the read; the socket's record cannot."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return Peer(pid, uid, gid, peer_groups(sock))


def peer_groups(sock: Any) -> frozenset[int]:
    """The peer's supplementary groups (``SO_PEERGROUPS``); empty where the kernel has none."""
    size = 64 * _GID.size
    while True:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, size)
        except OSError as exc:
            if exc.errno == errno.ERANGE and size < 65536 * _GID.size:
                size *= 16
                continue
            return frozenset()
        return frozenset(g for (g,) in _GID.iter_unpack(raw[: len(raw) - len(raw) % _GID.size]))


def refusal(peer: Peer, group: int | None) -> str:
    """Why ``peer`` may not use the API ("" when it may): root, or a holder of ``group``."""
    if peer.uid == 0:
        return ""
    if group is not None and (peer.gid == group or group in peer.groups):
        return ""
    allowed = "root" if group is None else f"root and members of group {group}"
    return (
        f"the agent's local API serves {allowed} only; this caller is uid {peer.uid}, "
        f"gid {peer.gid} (pid {peer.pid})"
    )


class Server:
    """Serves ``handler`` on a Unix socket until cancelled.

    ``group``: the group id whose members may connect besides root (socket mode 0660)."""

    def __init__(self, path: str, handler: Handler, *, group: int | None = None) -> None:
        self._path = path
        self._handler = handler
        self._group = group
        self._connections: set[asyncio.Task[None]] = set()

    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Listen and serve until cancelled; the socket file is removed on the way out."""
        os.makedirs(os.path.dirname(self._path) or ".", exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        old = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(
                self._connection, path=self._path, limit=MAX_HEADER_BYTES
            )
        finally:
            os.umask(old)
        if self._group is not None:
            os.chown(self._path, -1, self._group)
            os.chmod(self._path, 0o660)
        log.info("local API listening on %s", self._path)
        try:
            async with server:
                if ready is not None:
                    ready()
                await server.serve_forever()
        finally:
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        try:
            try:
                why = refusal(peer_of(writer.get_extra_info("socket")), self._group)
            except OSError as exc:
                why = f"the caller's credentials cannot be read: {exc}"
            if why:
                log.warning("local API: refused a caller: %s", why)
                await _refuse(reader, writer, why)
                return
            while True:
                try:
                    async with asyncio.timeout(READ_TIMEOUT):
                        request = await _read_request(reader)
                except _BadRequest as exc:
                    body = problem_body(exc.status, "malformed-request", exc.detail)
                    writer.write(_encode(Response(exc.status, body), keep_alive=False))
                    await writer.drain()
                    return
                except TimeoutError:
                    return
                if request is None:
                    return
                response = await self._dispatch(request)
                keep_alive = request.headers.get("connection", "").lower() != "close"
                writer.write(_encode(response, keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _dispatch(self, request: Request) -> Response:
        return await dispatch(self._handler, request)


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, why: str) -> None:
    """Answer 403 at once, then read and drop what the caller sends, briefly and boundedly:
    closing with its request unread would reset the connection under the caller's answer."""
    writer.write(_encode(Response(403, problem_body(403, "forbidden", why)), keep_alive=False))
    await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
    left = MAX_HEADER_BYTES + MAX_BODY_BYTES
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(REFUSED_DRAIN_SECONDS):
            while left > 0 and (data := await reader.read(min(left, 65536))):
                left -= len(data)


async def dispatch(handler: Handler, request: Request) -> Response:
    """``handler``'s answer to ``request``, every failure mapped to its problem answer."""
    try:
        return await handler(request)
    except errors.RomanaError as exc:
        return problem(exc)
    except Exception:
        log.exception("local API: %s %s failed", request.method, request.path)
        detail = "the agent failed unexpectedly; see its log"
        return Response(500, problem_body(500, "internal", detail))
