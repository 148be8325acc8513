"""Bounding a request's head: the request line and headers romanad reads before any handler.

uvicorn's HTTP parser (httptools) keeps every byte of a request's head in memory until the
blank line that ends it, with no limit of its own: one client without a token sent 100 MB of
header lines and romanad's memory grew by as much, and a few such connections would exhaust
it. :class:`BoundedHead` is that parser with a cap: a head longer than :data:`MAX_HEAD_BYTES`
is answered ``431 Request Header Fields Too Large`` (problem JSON naming the limit) and the
connection is closed; the bytes past the cap are never handed to the parser.

Invariants:

* At most :data:`MAX_HEAD_BYTES` bytes of one request's head reach the parser. Bytes are
  counted as they arrive, before parsing, from the end of the previous request on a
  kept-alive connection; a read that would pass the cap is parsed only up to it, and the
  rest only when the head ended inside it (the rest is then body or the next request).
* The cap is far above any head a romana client sends (a token is at most 4,096
  characters), so it refuses nothing legitimate. Bodies are limited elsewhere
  (:mod:`romana.api.limits`), after authentication.
"""

from __future__ import annotations

import http

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from romana.api import errors
from romana.core.errors import Issue

MAX_HEAD_BYTES = 64 * 1024
"""The longest request head (request line and headers) romanad reads."""

DETAIL = (
    f"request line and headers must be at most {MAX_HEAD_BYTES} bytes together; "
    "romana's clients never send more"
)


def refusal() -> bytes:
    """The whole 431 answer, romanad's problem JSON (:func:`romana.api.errors.problem`),
    closing the connection."""
    rule = f"must be at most {MAX_HEAD_BYTES} bytes"
    answer = errors.problem(
        431, DETAIL, issues=[Issue("headers", rule)], headers={"connection": "close"}
    )
    head = f"HTTP/1.1 431 {http.HTTPStatus(431).phrase}\r\n".encode()
    head += b"".join(name + b": " + value + b"\r\n" for name, value in answer.raw_headers)
    return head + b"\r\n" + answer.body


class BoundedHead(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over :data:`MAX_HEAD_BYTES`."""

    _in_head = True
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
            return
        room = MAX_HEAD_BYTES - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        super().data_received(data[:room])
        if self._in_head:
            self._refuse()
            return
        if not self.transport.is_closing():
            super().data_received(data[room:])

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def _refuse(self) -> None:
        self.logger.warning(
            "refused a request head over %d bytes from %s", MAX_HEAD_BYTES, self.client
        )
        if not self.transport.is_closing():
            self.transport.write(refusal())
            self.transport.close()
