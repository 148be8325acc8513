"""A stranger's HTTP server for security tests: it records every request and answers like a
romanad would, so a test can see whether a client sent it a password or a token.

:class:`Recorder` listens on a free loopback port in a daemon thread (``with Recorder() as
rec``). It answers ``POST /v1/auth/token`` with a token of its own (as a phishing server
would), ``GET /healthz`` with a health body, any path of ``answers`` with that JSON (a client
test's canned romanad), and everything else with a 404 problem.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Recorder:
    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        canned = dict(answers or {})
        self.seen: list[Seen] = []
        lock = threading.Lock()
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    seen.append(
                        Seen(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                if self.path in canned:
                    status, reply = 200, canned[self.path]
                elif self.path == "/v1/auth/token":
                    status, reply = (
                        200,
                        {
                            "token": "phished",
                            "expires_at": 4102444800.0,
                            "role": "admin",
                            "tenant": None,
                        },
                    )
                elif self.path == "/healthz":
                    status, reply = 200, {"status": "ok", "services": ["auth"], "store": "x"}
                else:
                    status, reply = 404, {"title": "Not Found", "status": 404, "detail": "nope"}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def carrying(self, secret: str) -> list[Seen]:
        """Requests whose headers or body contain ``secret``."""
        return [
            s
            for s in self.seen
            if secret.encode() in s.body or any(secret in v for v in s.headers.values())
        ]
