"""Request bodies cannot exhaust romanad: the caller is checked before a body is read, bodies
are capped, slow bodies time out, and a 405 says what is allowed.

One real romanad for the module (cap 1 MiB, 1 s between parts of a body, 3 s for a whole
body), spoken to over raw sockets so each test controls exactly which bytes have been sent
when the answer comes.
"""

from __future__ import annotations

import contextlib
import json
import math
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from romana.api.settings import RomanadSettings
from romana.core.errors import InvalidInput
from romana.lab.romanad import Romanad

CAP = 1024 * 1024
TIMEOUT = 1.0
DEADLINE = 3.0
MB = 1024 * 1024


class Daemon:
    def __init__(self, daemon: Romanad) -> None:
        self.daemon = daemon
        self.port = daemon.port
        self.token = daemon.admin_token()

    def rss_kib(self) -> int:
        assert self.daemon.process is not None
        status = Path(f"/proc/{self.daemon.process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1])

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return sock

    def head(self, method: str, path: str, *headers: str, token: bool = False) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", "Host: romanad", "Content-Type: application/json"]
        if token:
            lines.append(f"Authorization: Bearer {self.token}")
        return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode()


@pytest.fixture(scope="module")
def romanad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("romanad")
    with Romanad(
        workdir,
        store=f"sqlite://{workdir / 'romana.db'}",
        extra=[
            *("--max-body-bytes", str(CAP), "--body-timeout", str(TIMEOUT)),
            *("--body-deadline", str(DEADLINE)),
        ],
    ) as daemon:
        yield Daemon(daemon)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Status, headers (lower-case names) and JSON body of one HTTP/1.1 response."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        assert part, f"connection closed before a response: {data!r}"
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        part = sock.recv(65536)
        assert part, "connection closed inside the response body"
        body += part
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


def closed(sock: socket.socket, payload: bytes) -> bool:
    """True when romanad no longer takes ``payload`` on this connection."""
    try:
        sock.sendall(payload)
        sock.settimeout(2)
        return sock.recv(1) == b""
    except (BrokenPipeError, ConnectionResetError):
        return True


def test_an_unauthenticated_body_is_refused_before_it_is_read(romanad: Daemon) -> None:
    declared = 50 * MB
    for _ in range(3):  # warm up the 401 path so its first-use allocations are not counted
        with romanad.connect() as sock:
            sock.sendall(romanad.head("POST", "/v1/policies", "Content-Length: 2"))
            assert read_response(sock)[0] == 401
    before = romanad.rss_kib()
    with romanad.connect() as sock:
        started = time.monotonic()
        sock.sendall(romanad.head("POST", "/v1/policies", f"Content-Length: {declared}"))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"[" + b" " * MB)  # romanad may answer and close before it is sent
        status, headers, body = read_response(sock)
        elapsed = time.monotonic() - started
        assert status == 401, body
        assert elapsed < 1.0
        assert headers["www-authenticate"] == "Bearer"
        assert headers["connection"] == "close"
        assert "Authorization: Bearer" in body["detail"]
        assert closed(sock, b" " * (declared - MB - 1))
    assert romanad.rss_kib() - before < 4 * 1024


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/policies"), ("PUT", "/v1/topology")],
    ids=["policy", "topology"],
)
def test_a_document_over_the_cap_is_refused_at_once_saying_how_to_raise_it(
    romanad: Daemon, method: str, path: str
) -> None:
    with romanad.connect() as sock:
        started = time.monotonic()
        sock.sendall(romanad.head(method, path, f"Content-Length: {CAP + 1}", token=True))
        status, headers, body = read_response(sock)
        assert time.monotonic() - started < 1.0
        assert closed(sock, b"x" * (CAP + 1))
    assert status == 413
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/problem+json"
    assert str(CAP) in body["detail"]
    assert "--max-body-bytes" in body["detail"]
    assert "ROMANAD_MAX_BODY_BYTES" in body["detail"]
    assert body["issues"] == [{"field": "body", "rule": f"must be at most {CAP} bytes"}]


def test_a_chunked_body_is_cut_off_once_it_passes_the_cap(romanad: Daemon) -> None:
    chunk = 64 * 1024
    head = romanad.head("POST", "/v1/policies", "Transfer-Encoding: chunked", token=True)
    with romanad.connect() as sock:
        sock.sendall(head)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(CAP // chunk + 1):  # one chunk past the cap, and no end
                sock.sendall(f"{chunk:x}\r\n".encode() + b" " * chunk + b"\r\n")
        status, headers, body = read_response(sock)
    assert status == 413
    assert headers["connection"] == "close"
    assert f"larger than the limit of {CAP} bytes" in body["detail"]
    assert "ROMANAD_MAX_BODY_BYTES" in body["detail"]


def test_a_login_body_is_capped_small_without_a_token(romanad: Daemon) -> None:
    with romanad.connect() as sock:
        sock.sendall(romanad.head("POST", "/v1/auth/token", f"Content-Length: {CAP}"))
        status, _, body = read_response(sock)
    assert status == 413
    assert "16384 bytes" in body["detail"]


def test_a_half_sent_body_is_cut_off_after_the_read_timeout_and_healthz_still_answers(
    romanad: Daemon,
) -> None:
    answered: list[tuple[float, tuple[int, dict[str, str], Any], bytes]] = []

    def stall() -> None:
        with romanad.connect() as sock:
            started = time.monotonic()
            sock.sendall(romanad.head("POST", "/v1/tenants", "Content-Length: 1000", token=True))
            sock.sendall(b'{"name": ')
            with contextlib.suppress(OSError):  # no answer at all: counted below
                response = read_response(sock)
                answered.append((time.monotonic() - started, response, sock.recv(1)))

    stalled = [threading.Thread(target=stall) for _ in range(4)]
    for thread in stalled:
        thread.start()
    slowest = 0.0
    with httpx.Client(base_url=romanad.daemon.url, trust_env=False, timeout=5) as http:
        deadline = time.monotonic() + TIMEOUT * 1.5
        while time.monotonic() < deadline:
            started = time.monotonic()
            assert http.get("/healthz").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.05)
    for thread in stalled:
        thread.join(10)
    assert slowest < 0.5
    assert len(answered) == 4
    for waited, (status, headers, body), after in answered:
        assert status == 408, body
        assert headers["connection"] == "close"
        assert after == b"", "the connection stays open after the 408"
        assert TIMEOUT <= waited < TIMEOUT + 2
        assert "within 1 s" in body["issues"][0]["rule"]


def test_a_body_trickled_inside_the_read_timeout_is_cut_off_at_the_deadline(
    romanad: Daemon,
) -> None:
    # One byte every 0.3 s never trips the 1 s timeout between parts; without a deadline
    # for the whole body, 16,000 bytes would hold the connection for over an hour.
    with romanad.connect() as sock:
        started = time.monotonic()
        sock.sendall(romanad.head("POST", "/v1/auth/token", "Content-Length: 16000"))
        sent = 0
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while time.monotonic() - started < DEADLINE + 5:
                sock.sendall(b" ")
                sent += 1
                if select.select([sock], [], [], TIMEOUT * 0.3)[0]:
                    break
        status, headers, body = read_response(sock)
        waited = time.monotonic() - started
        assert sock.recv(1) == b"", "the connection stays open after the 408"
    assert status == 408, body
    assert DEADLINE <= waited < DEADLINE + 1.5, f"answered after {waited:.1f} s"
    assert sent > DEADLINE / (TIMEOUT * 0.3) - 2, "the trickle itself stalled"
    assert headers["connection"] == "close"
    assert f"within {DEADLINE:g} s" in body["detail"]
    assert body["issues"] == [{"field": "body", "rule": f"must arrive whole within {DEADLINE:g} s"}]


def test_a_405_lists_every_method_of_the_path(romanad: Daemon) -> None:
    with httpx.Client(base_url=romanad.daemon.url, trust_env=False) as http:
        tenants = http.request("PATCH", "/v1/tenants")
        policy = http.request("PATCH", "/v1/policies/p1")
    assert tenants.status_code == 405
    assert tenants.headers["allow"] == "GET, POST"
    assert "allowed: GET, POST" in tenants.json()["detail"]
    assert policy.status_code == 405
    assert policy.headers["allow"] == "DELETE, GET, PUT"


def test_limits_out_of_range_are_refused_naming_the_setting() -> None:
    with pytest.raises(InvalidInput) as caught:
        RomanadSettings(max_body_bytes=100, body_timeout=0, body_deadline=math.inf).validate()
    fields = {issue.field: issue.rule for issue in caught.value.issues}
    assert fields["max_body_bytes"] == "must be >= 1024"
    assert fields["body_timeout"] == "must be > 0 and <= 3600 seconds"
    assert fields["body_deadline"] == "must be > 0 and <= 3600 seconds"


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, 3601.0])
def test_a_body_deadline_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(InvalidInput) as caught:
        RomanadSettings(body_deadline=value).validate()
    assert [issue.field for issue in caught.value.issues] == ["body_deadline"]
