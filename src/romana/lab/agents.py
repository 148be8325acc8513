"""``romana-agent`` processes of the lab, and the raw local API they serve.

An :class:`Agent` is one ``romana-agent`` in one host namespace of a
:class:`~romana.lab.namespaces.Lab`, started and stopped by PID, with its local API on a
Unix socket, its state, pending releases and log in a directory of its own. The password of
its agent-role user travels in the environment, never in argv (which ``ps`` shows).

:func:`raw_call` speaks to a local API as it is on the wire (status and decoded body), for
tests of what the API answers rather than what a client makes of it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from romana.dataplane import netns as netns_mod
from romana.integrations.cni import agentapi
from romana.lab.admin import agent_user
from romana.lab.namespaces import Host, Lab


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the Unix socket at ``path`` (the agent's local API)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=20)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def raw_call(socket_path: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request to the local API at ``socket_path`` as it is on the wire: (status, body)."""
    conn = UnixHTTPConnection(socket_path)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def not_ready(socket_path: str) -> str | None:
    """Why the agent serving ``socket_path`` is not ready (no socket, no answer, or what its
    status says), or None once it is."""
    if not os.path.exists(socket_path):
        return "no socket"
    try:
        readiness = agentapi.AgentClient(socket_path, timeout=5.0).status()
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None if readiness.ready else readiness.detail or "not ready"


@dataclass
class Agent:
    """One ``romana-agent`` process in one host namespace."""

    lab: Lab
    host: Host
    url: str
    workdir: Path
    firewall: str
    labels: str
    interval: float = 2.0
    process: subprocess.Popen[str] | None = None
    metrics_port: int = field(default_factory=free_port)
    log_level: str = "debug"
    password: str = ""
    """Of the agent-role user; handed over in the environment, never in argv."""
    docker_socket: str = ""
    """Where the agent serves Docker's libnetwork plugin (``--docker-socket``); empty: off."""
    docker_api: str = ""
    """The API socket of the host's dockerd (``--docker-api``), with ``docker_socket``."""

    @property
    def socket(self) -> str:
        return str(self.workdir / "agent.sock")

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    @property
    def pending_dir(self) -> Path:
        return self.workdir / "pending"

    @property
    def log_path(self) -> Path:
        return self.workdir / "agent.log"

    @property
    def api(self) -> agentapi.AgentClient:
        return agentapi.AgentClient(self.socket, timeout=20.0)

    def raw(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request to the local API as it is on the wire: (status, decoded body)."""
        return raw_call(self.socket, method, path, body)

    def state(self) -> dict[str, Any]:
        status, body = self.raw("GET", "/v1/state")
        assert status == 200, body
        return dict(body)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "romana.agent.main",
            "--host",
            self.host.name,
            "--interface",
            self.host.ifname,
            "--labels",
            self.labels,
            "--url",
            self.url,
            "--username",
            agent_user(self.host.name),
            "--socket",
            self.socket,
            "--state-dir",
            str(self.state_dir),
            "--pending-dir",
            str(self.pending_dir),
            "--firewall",
            self.firewall,
            "--reconcile-interval",
            str(self.interval),
            "--gc-grace",
            "1",
            "--metrics",
            f"127.0.0.1:{self.metrics_port}",
            "--log-level",
            self.log_level,
            # Docker endpoints of a killed dockerd are swept within seconds, as --gc-grace 1 above.
            *(
                ["--docker-socket", self.docker_socket, "--docker-gc-interval", "1"]
                if self.docker_socket
                else []
            ),
            *(["--docker-api", self.docker_api] if self.docker_socket and self.docker_api else []),
        ]

    def start(self, *, ready: bool = True) -> Agent:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            self.process = self.lab.popen_in(
                self.host,
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "ROMANA_AGENT_PASSWORD": self.password},
            )
        if ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        problem = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"agent on {self.host.name} exited:\n{self.log_tail()}")
            problem = not_ready(self.socket) or ""
            if not problem:
                return
            time.sleep(0.05)
        raise RuntimeError(f"agent on {self.host.name} not ready: {problem}\n{self.log_tail()}")

    def signal(self, signum: int) -> int:
        """Send ``signum`` by PID and wait for the exit; the exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=15)

    def stop(self) -> int:
        return self.signal(signal.SIGTERM)

    def kill(self) -> int:
        return self.signal(signal.SIGKILL)

    def stop_bird(self, timeout: float = 5.0) -> None:
        """Stop the BIRD the agent started in ``bgp`` route mode (it outlives the agent, as
        on a real host), by the PID in its PID file once that process is shown to run on
        this agent's configuration; nothing when none runs."""
        pid = self.bird_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.bird_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.bird_pid() == pid:
            os.kill(pid, signal.SIGKILL)

    def bird_pid(self) -> int | None:
        """The PID of the BIRD running on this agent's ``bird/bird.conf``, if one does."""
        conf = self.state_dir / "bird" / "bird.conf"
        try:
            pid = int((conf.parent / "bird.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(conf).encode() in cmdline else None

    def metrics(self) -> str:
        """The metrics text, fetched from inside the host namespace."""
        with netns_mod.entered(self.host.path):
            sock = socket.create_connection(("127.0.0.1", self.metrics_port), timeout=5)
        with sock:
            sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
        return b"".join(chunks).decode().partition("\r\n\r\n")[2]

    def metric(self, name: str) -> float:
        """The sum of every sample of ``name`` (all label sets)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
