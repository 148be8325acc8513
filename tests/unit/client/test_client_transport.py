"""The client's own HTTP/1.1 exchange, against real sockets on loopback.

A connection is reused while the server keeps it, replaced when the server closed it while it
was idle, and every failure says whether the request may have reached the server: the retry
rules (``romana.client.session``) depend on it.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from romana.client import transport
from romana.client.tls import client_context


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(0.5)
        body = json.dumps({"path": self.path, "port": self.client_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.path.startswith("/close"):
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection the handler dropped on its idle timeout: expected here


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def pool(**overrides: Any) -> transport.Pool:
    return transport.Pool(
        **{"context": client_context(), "timeout": 2.0, "connect_timeout": 1.0, **overrides}
    )


def url(httpd: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def get(p: transport.Pool, target: str) -> transport.Response:
    return p.handle(transport.Request("GET", target))


def test_a_connection_is_kept_alive_and_reused(server: ThreadingHTTPServer) -> None:
    p = pool()
    first, second = get(p, url(server, "/a?x=1")), get(p, url(server, "/b"))
    assert (first.status_code, first.json()["path"]) == (200, "/a?x=1")
    assert first.headers["content-type"] == "application/json"
    assert first.json()["port"] == second.json()["port"]
    p.close()


def test_a_connection_the_server_closes_is_not_reused(server: ThreadingHTTPServer) -> None:
    p = pool()
    first, second = get(p, url(server, "/close")), get(p, url(server, "/b"))
    assert first.json()["port"] != second.json()["port"]


def test_a_connection_closed_while_idle_is_replaced_without_an_error(
    server: ThreadingHTTPServer,
) -> None:
    p = pool()
    # The server drops a kept connection after 0.2 s of silence, as on its idle timeout.
    server.RequestHandlerClass = type("Impatient", (Handler,), {"timeout": 0.2})
    first = get(p, url(server, "/a"))
    time.sleep(0.6)
    assert get(p, url(server, "/b")).json()["port"] != first.json()["port"]


def test_a_body_is_sent_and_answered(server: ThreadingHTTPServer) -> None:
    answer = pool().handle(
        transport.Request("POST", url(server, "/x"), {"Content-Type": "application/json"}, b"{}")
    )
    assert (answer.status_code, answer.content) == (201, b"{}")


def test_a_refused_connection_never_reached_the_server() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(transport.ConnectError) as info:
            get(pool(), f"http://127.0.0.1:{port}/")
    assert info.value.reached is False
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_an_answer_that_takes_too_long_is_a_read_timeout_that_may_have_reached(
    server: ThreadingHTTPServer,
) -> None:
    with pytest.raises(transport.ReadTimeout) as info:
        pool().handle(transport.Request("GET", url(server, "/slow"), timeout=0.1))
    assert info.value.reached is True


def test_https_verifies_the_server_against_the_trust_store(server: ThreadingHTTPServer) -> None:
    # A plain-HTTP server on the https port: the handshake fails before anything is sent.
    with pytest.raises(transport.ConnectError) as info:
        get(pool(), f"https://127.0.0.1:{server.server_address[1]}/")
    assert info.value.reached is False
    assert isinstance(info.value.__cause__, ssl.SSLError)
