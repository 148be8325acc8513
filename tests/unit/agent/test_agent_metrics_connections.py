"""The agent's metrics server bounds what idle clients can hold: connections past
MAX_CONNECTIONS are closed at once, a silent one is closed after IDLE_TIMEOUT, and the probes
keep answering throughout."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest

from romana.agent import metrics
from romana.agent.metrics import Metrics


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    monkeypatch.setattr(metrics._Quiet, "timeout", 0.5)
    server, thread = Metrics().serve("127.0.0.1:0")
    try:
        yield "127.0.0.1", server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
        status: int = answer.status
        return status


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_idle_connections_past_the_bound_are_closed_and_probes_still_answer(
    served: tuple[str, int],
) -> None:
    idle = [socket.create_connection(served) for _ in range(metrics.MAX_CONNECTIONS)]
    try:
        time.sleep(0.1)  # every idle one has taken its slot
        extra = socket.create_connection(served)
        assert closed_by_server(extra, 0.3)
        extra.close()
        # The idle ones time out and give their slots back: the probe answers again.
        assert all(closed_by_server(s, 2.0) for s in idle)
        assert healthz(served[1]) == 200
    finally:
        for s in idle:
            s.close()


def test_a_silent_connection_is_closed_after_the_idle_timeout(served: tuple[str, int]) -> None:
    with socket.create_connection(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and nothing more
        began = time.monotonic()
        assert closed_by_server(sock, 3.0)
        assert time.monotonic() - began < 2.0
    assert healthz(served[1]) == 200
