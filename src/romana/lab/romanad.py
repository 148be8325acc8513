"""Real romanad processes for tests and benchmarks, started and stopped by PID.

:class:`Romanad` runs ``python -m romana.api.main`` on a random free loopback port with its own
credentials file and log, waits until ``/healthz`` answers, and reads the admin credentials the
first start writes. ``stop()`` sends SIGTERM and escalates to SIGKILL; ``kill()`` is SIGKILL at
once, for failure tests. As a context manager it starts (unless already running) and stops.
``login()`` gets a token over HTTP; ``replica()`` is a second romanad on the same store.
Given ``tls`` (any :class:`Serving`: certificates and the options that serve them), it serves
HTTPS and ``url`` is ``https://``.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import httpx

from romana.lab import etcd, namespaces

STOP_GRACE = 5.0


def wait_answering(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None,
    status: Callable[[], int],
    *,
    what: str,
    timeout: float,
    period: float,
    log_tail: Callable[[], str],
) -> None:
    """Wait until ``status()`` (one HTTP request to a daemon this lab started) is 200;
    RuntimeError naming ``what`` with its log when the process exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    problem = "no answer"
    while time.monotonic() < deadline:
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log_tail()}")
        try:
            if status() == 200:
                return
        except httpx.HTTPError as exc:
            problem = str(exc)
        time.sleep(period)
    raise RuntimeError(f"{what} not ready after {timeout}s: {problem}")


def terminate(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None) -> None:
    """:func:`romana.lab.namespaces.terminate` with :data:`STOP_GRACE`."""
    namespaces.terminate(proc, STOP_GRACE)


class Serving(Protocol):
    """How a romanad serves TLS: its command-line options, and a client context that reaches it."""

    def argv(self) -> list[str]: ...

    def context(self) -> ssl.SSLContext: ...


class Romanad:
    def __init__(
        self,
        workdir: Path,
        *,
        store: str,
        name: str = "romanad",
        services: Sequence[str] | None = None,
        root: str | None = None,
        insecure: bool = False,
        registration_ttl: float | None = None,
        credentials: Path | None = None,
        extra: Sequence[str] = (),
        tls: Serving | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.port = etcd.free_ports(1)[0]
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.credentials = credentials or workdir / f"{name}.credentials"
        self.log_path = workdir / f"{name}.log"
        argv = [
            sys.executable,
            "-m",
            "romana.api.main",
            "--store",
            store,
            "--listen",
            f"127.0.0.1:{self.port}",
            "--credentials-file",
            str(self.credentials),
        ]
        if services is not None:
            argv += ["--services", ",".join(services)]
        if root is not None:
            argv += ["--root", root]
        if insecure:
            argv.append("--insecure")
        if tls is not None:
            argv += tls.argv()
        argv += list(extra)
        self.argv = argv
        self.env = {**os.environ, "ROMANAD_LOG_LEVEL": "warning"}
        if registration_ttl is not None:
            self.env["ROMANAD_REGISTRATION_TTL"] = str(registration_ttl)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Romanad:
        """Spawn and wait until it serves."""
        self.spawn()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def spawn(self) -> Romanad:
        """Start the process without waiting (start several, then ``wait_ready`` each)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        return self

    def wait_ready(self, timeout: float) -> None:
        with self.http(timeout=1.0) as http:
            wait_answering(
                self.process,
                lambda: http.get(f"{self.url}/healthz").status_code,
                what=f"romanad {self.name}",
                timeout=timeout,
                period=0.05,
                log_tail=self.log_tail,
            )

    def http(self, timeout: float = 5.0) -> httpx.Client:
        """A plain HTTP client for this romanad (trusting its CA when it serves TLS)."""
        verify: ssl.SSLContext | bool = self.tls.context() if self.tls else True
        return httpx.Client(timeout=timeout, trust_env=False, verify=verify)

    def __enter__(self) -> Romanad:
        return self if self.alive else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def replica(self, name: str = "replica") -> Romanad:
        """Another romanad (not started) in the same work directory, over the same store."""
        return Romanad(self.workdir, store=self.store, name=name)

    def login(self, username: str, password: str) -> str:
        """A token for ``username`` from ``POST /v1/auth/token`` (asserting a 200)."""
        with self.http() as http:
            response = http.post(
                f"{self.url}/v1/auth/token", json={"username": username, "password": password}
            )
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def admin_token(self) -> str:
        """A token for the admin of the credentials file."""
        return self.login(*self.admin())

    def admin(self) -> tuple[str, str]:
        """The admin user name and password from the credentials file of the first start."""
        values: dict[str, str] = {}
        for line in self.credentials.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip().lower()] = value.strip()
        return values["username"], values["password"]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL by PID, and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM by PID; SIGKILL after a grace period."""
        terminate(self.process)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
