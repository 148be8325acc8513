"""Call a Unix socket HTTP API as another user: a forked child drops to that uid and gid.

Forked rather than exec'd, so the child needs no permission to run the test's interpreter
(it may live under a directory only root can enter); it only connects, sends one request and
reports the answer through a pipe.
"""

from __future__ import annotations

import json
import os
import socket
import traceback
from collections.abc import Sequence
from typing import Any


def call_as(
    uid: int,
    gid: int,
    socket_path: str,
    method: str = "GET",
    path: str = "/v1/state",
    *,
    groups: Sequence[int] = (),
) -> dict[str, Any]:
    """``{"status", "body"}`` of one request made as ``uid``/``gid`` (supplementary
    ``groups``), or ``{"connect": <error class name>}`` when connecting failed."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read_end)
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            os.write(write_end, json.dumps(_request(socket_path, method, path)).encode())
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the caller's child process failed"
    return dict(json.loads(data))


def _request(socket_path: str, method: str, path: str) -> dict[str, Any]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    with sock:
        try:
            sock.connect(socket_path)
        except OSError as exc:
            return {"connect": type(exc).__name__}
        head = f"{method} {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    return {"status": int(head_bytes.split()[1]), "body": json.loads(body or b"null")}
