"""Drive the compiled ``romana-cni`` front: builds, a scripted agent, and a probe plugin.

The front's fallback is observed through a probe: a copy of the front in a directory of its own
beside a ``romana-cni-py`` that is :data:`PROBE_SOURCE` (:func:`install`), a script that records
what it was given (argv, environment, stdin and how fd 0 was opened, descriptors beyond 2) into
the file named by ``ROMANA_TEST_DUMP`` and exits :data:`PROBE_EXIT`. The front finds that
script at run time, as it finds the real plugin beside itself once installed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[4]
BUILD_SCRIPT = REPO / "scripts" / "build-cni.sh"
FRONT = os.path.join(os.path.dirname(sys.executable), "romana-cni")
SOURCE = REPO / "src" / "romana" / "integrations" / "cni" / "front" / "romana-cni.c"
DEFAULT_SOCKET = "/run/romana/agent.sock"
PROBE_EXIT = 3
PROBE_SOURCE = f"""#!{sys.executable} -IS
import json, os, sys
fds = []
for fd in range(3, 256):
    try:
        os.fstat(fd)
    except OSError:
        continue
    fds.append(fd)
info = os.fstat(0)
try:
    offset = os.lseek(0, 0, os.SEEK_CUR)
except OSError:
    offset = None
data = sys.stdin.buffer.read()
with open(os.environ["ROMANA_TEST_DUMP"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ), "stdin": data.hex(),
               "stdin_file": [info.st_dev, info.st_ino], "stdin_offset": offset,
               "fds": fds}}, f)
sys.stdout.write("probe\\n")
sys.exit({PROBE_EXIT})
"""


def build(output: Path | None = None, cflags: str = "") -> None:
    """Compile the front to ``output`` (default: the virtualenv's, when its inputs changed)."""
    argv = [str(BUILD_SCRIPT)] + ([str(output)] if output is not None else [])
    env = {**os.environ, "CFLAGS": cflags}
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/build-cni.sh failed:\n{done.stdout}{done.stderr}")


def install(directory: Path, plugin_source: str | None) -> str:
    """A copy of the front in ``directory`` with ``plugin_source`` beside it as
    ``romana-cni-py`` (None: no plugin there); the copy's path."""
    directory.mkdir(parents=True, exist_ok=True)
    front = directory / "romana-cni"
    shutil.copy2(FRONT, front)
    if plugin_source is not None:
        plugin = directory / "romana-cni-py"
        plugin.write_text(plugin_source)
        plugin.chmod(0o755)
    return str(front)


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


@dataclasses.dataclass
class Run:
    """One finished front process, and what the probe recorded when it ran."""

    rc: int
    stdout: bytes
    stderr: bytes
    elapsed: float
    probe: dict[str, Any] | None

    @property
    def agent_failed(self) -> str | None:
        assert self.probe is not None, "the fallback did not run"
        failed = self.probe["env"].get("ROMANA_CNI_AGENT_FAILED")
        return failed if failed is None else str(failed)

    @property
    def probe_stdin(self) -> bytes:
        assert self.probe is not None, "the fallback did not run"
        return bytes.fromhex(self.probe["stdin"])


def run(
    binary: str,
    stdin: bytes | IO[bytes],
    env: Mapping[str, str],
    dump: Path,
    args: Sequence[str] = (),
    timeout: float = 30,
) -> Run:
    """Run ``binary`` with exactly ``env`` (plus ``ROMANA_TEST_DUMP``) and ``stdin``."""
    dump.unlink(missing_ok=True)
    started = time.monotonic()
    done = subprocess.run(
        [binary, *args],
        input=stdin if isinstance(stdin, bytes) else None,
        stdin=None if isinstance(stdin, bytes) else stdin,
        env={**env, "ROMANA_TEST_DUMP": str(dump)},
        capture_output=True,
        timeout=timeout,
    )
    elapsed = time.monotonic() - started
    probe = json.loads(dump.read_text()) if dump.exists() else None
    return Run(done.returncode, done.stdout, done.stderr, elapsed, probe)


def answer(
    stdout: bytes = b"", stderr: bytes = b"", exit_code: int = 0, *, extra: str = ""
) -> bytes:
    """A valid answer of the agent to ``POST /v1/cni``."""
    body = stdout + stderr
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(body)}\r\nRomana-Cni-Exit: {exit_code}\r\n"
        f"Romana-Cni-Stdout-Length: {len(stdout)}\r\n{extra}\r\n"
    ).encode() + body


@dataclasses.dataclass(frozen=True)
class Request:
    head: bytes
    headers: dict[str, str]
    body: bytes

    def invocation(self) -> tuple[list[bytes], bytes]:
        """(environment entries, stdin) of the body, split where the empty entry ends the list."""
        entries: list[bytes] = []
        offset = 0
        while True:
            end = self.body.index(b"\0", offset)
            entry = self.body[offset:end]
            offset = end + 1
            if not entry:
                return entries, self.body[offset:]
            entries.append(entry)


@dataclasses.dataclass(frozen=True)
class Reply:
    """What the scripted agent sends; ``close=False`` keeps the connection open afterwards."""

    data: bytes = b""
    close: bool = True


SILENT = Reply(close=False)


class ScriptedAgent:
    """A Unix-socket server recording each request and answering ``respond(request)``.

    With ``read_body=False`` it answers as soon as the head is in, leaving the body unread
    (closing such a connection resets it for the sender).
    """

    def __init__(
        self,
        path: str,
        respond: Callable[[Request], Reply] = lambda request: Reply(answer()),
        *,
        read_body: bool = True,
    ) -> None:
        self.path = path
        self.respond = respond
        self.read_body = read_body
        self.requests: list[Request] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(64)
        self._open: list[socket.socket] = []
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.shutdown(socket.SHUT_RDWR)
        self._thread.join()
        self._listener.close()
        with self._lock:
            for conn in self._open:
                conn.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.append(conn)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if self.read_body:
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
        request = Request(head + b"\r\n\r\n", headers, body)
        with self._lock:
            self.requests.append(request)
        reply = self.respond(request)
        with contextlib.suppress(OSError):  # the front may have given up already
            conn.sendall(reply.data)
        if reply.close:
            conn.close()
