"""A request's head (request line and headers) is capped before romanad's parser holds it.

Found probing a fresh install: romanad's HTTP parser kept every header byte of a request in
memory until the blank line ending the head, with no limit; one client without a token sent
100 MB of header lines and romanad's memory grew by as much. Now a head over
``romana.api.heads.MAX_HEAD_BYTES`` is answered 431 problem JSON naming the limit, the
connection is closed, and romanad keeps serving; ordinary requests, a maximal token
included, still pass.

A real romanad over SQLite; raw sockets, since HTTP clients refuse to send such heads.
"""

from __future__ import annotations

import json
import socket
import time

import httpx

from romana.api.heads import MAX_HEAD_BYTES
from romana.lab.romanad import Romanad
from support.romanad import sqlite_fixture

romanad = sqlite_fixture("heads")

SENT_MAX = 32 * 1024 * 1024
"""How much header an attacker tries to send before the test gives up on being refused."""


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _send_huge_head(daemon: Romanad) -> tuple[bytes, int]:
    """Header lines until romanad answers or :data:`SENT_MAX` went out: (answer, bytes sent)."""
    sent = 0
    line = b"X-Filler: " + b"a" * 8000 + b"\r\n"
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: secprobe\r\n")
        try:
            while sent < SENT_MAX:
                conn.sendall(line)
                sent += len(line)
            conn.sendall(b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # romanad answered and closed: read what it said
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer, sent


def test_a_huge_head_is_refused_with_431(romanad: Romanad) -> None:
    assert romanad.process is not None
    before = _rss_kib(romanad.process.pid)
    answer, sent = _send_huge_head(romanad)
    grown = _rss_kib(romanad.process.pid) - before
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:300]
    assert b"connection: close" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 431
    assert str(MAX_HEAD_BYTES) in problem["detail"]
    assert problem["issues"][0]["field"] == "headers"
    assert grown < 16 * 1024, f"romanad grew by {grown} KiB after {sent} header bytes"
    with romanad.http() as http:
        assert http.get(f"{romanad.url}/healthz").status_code == 200


def test_ordinary_heads_still_pass(romanad: Romanad) -> None:
    token = romanad.admin_token()
    long_but_fine = {"X-Padding": "p" * 32 * 1024, "Authorization": f"Bearer {token}"}
    with romanad.http() as http:
        assert http.get(f"{romanad.url}/v1/tenants", headers=long_but_fine).status_code == 200
        # A kept-alive connection: each request's head is counted afresh.
        for _ in range(4):
            r = http.get(f"{romanad.url}/v1/tenants", headers=long_but_fine)
            assert r.status_code == 200, r.text
        # A body larger than the cap, sent with its head in the same reads, is a body.
        big = {
            "name": "secprobe-heads",
            "external_id": "x" * 200,
            "pad": "y" * (3 * MAX_HEAD_BYTES),
        }
        r = http.post(
            f"{romanad.url}/v1/tenants", json=big, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 422, r.text  # the schema refuses "pad": the body was read
        assert "pad" in r.text


def test_a_head_trickling_past_the_cap_is_refused(romanad: Romanad) -> None:
    """The cap counts bytes across reads, not per read."""
    with socket.create_connection(("127.0.0.1", romanad.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: secprobe\r\n")
        answer = b""
        try:
            for _ in range(MAX_HEAD_BYTES // 1000 + 2):
                conn.sendall(b"X-T: " + b"t" * 993 + b"\r\n")
                time.sleep(0.001)
            answer = conn.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_healthz_unaffected_by_the_probe(romanad: Romanad) -> None:
    r = httpx.get(f"{romanad.url}/healthz", trust_env=False, timeout=5)
    assert r.status_code == 200
