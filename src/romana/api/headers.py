"""Headers every answer of romanad carries: none is cached, none is sniffed.

Answers carry bearer tokens (``POST /v1/auth/token``), password-derived state and the layout
of the network; docs/security.md recommends a reverse proxy in front of romanad where
untrusted networks reach it, and a proxy or a browser may keep what it is not told to
forget. So :class:`Hardened` adds to every HTTP answer:

* ``Cache-Control: no-store``: no proxy or browser keeps a token or a view (RFC 6749, 5.1,
  asks it of every token answer);
* ``X-Content-Type-Options: nosniff``: a JSON answer that echoes a name is never taken for
  HTML or a script.

Invariants: a header the answer already sets (the web view sets its own, with its
Content-Security-Policy, :mod:`romana.api.ui.session`) is left as it is; nothing else of the
answer is touched.
"""

from __future__ import annotations

from starlette.types import Message, Scope

from romana.api.onanswer import OnAnswer

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)


class Hardened(OnAnswer):
    """The ASGI middleware adding :data:`HEADERS` to every HTTP answer of ``app``."""

    def started(self, scope: Scope, message: Message) -> None:
        headers = list(message.get("headers", ()))
        present = {name.lower() for name, _ in headers}
        headers += [(n, v) for n, v in HEADERS if n not in present]
        message["headers"] = headers
