"""The CNI plugin answers hostile input with the spec's error codes, within bounds.

Both executables a runtime may be configured with run here as real processes: the compiled
front (``romana-cni``, which hands such input to the Python plugin) and the Python plugin
(``romana-cni-py``). Neither reaches an agent: every input is refused before that.

* A configuration nested 100,000 levels deep is a decoding error (6), not an internal error
  (999) from Python's ``RecursionError``.
* An ``agent_socket`` longer than a Unix socket address holds is an invalid configuration
  (7), not "try again later" (11), which runtimes retry for ever.
* Stdin is read at most one byte past 1 MiB: endless stdin is answered at once with code 6
  naming the cap.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FRONT = BIN / "romana-cni"
PYTHON_PLUGIN = BIN / "romana-cni-py"
CAP = 1 << 20


@pytest.fixture(scope="module", params=["front", "python"])
def plugin(request: pytest.FixtureRequest) -> str:
    """Each executable in turn; the front rebuilt by scripts/build-cni.sh when stale."""
    if request.param == "python":
        return str(PYTHON_PLUGIN)
    done = subprocess.run(
        [str(REPO / "scripts" / "build-cni.sh")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return str(FRONT)


def environment(command: str = "ADD") -> dict[str, str]:
    prefix = "rsec" + secrets.token_hex(3)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": f"{prefix}-c1",
        "CNI_NETNS": f"/run/netns/{prefix}-absent",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "ROMANA_CNI_TIMEOUT": "10",
    }


def config(**extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": "1.1.0",
        "name": "romana-sec",
        "type": "romana-cni",
        "tenant": "t1",
        "agent_timeout": 2,
        **extra,
    }


def invoke(plugin: str, stdin: bytes, command: str = "ADD") -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [plugin], input=stdin, env=environment(command), capture_output=True, timeout=30
    )
    return done.returncode, json.loads(done.stdout), done.stderr.decode(errors="replace")


def test_deep_json_is_a_decoding_error(plugin: str) -> None:
    depth = 100_000
    head = json.dumps(config())[:-1].encode()
    stdin = head + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"
    assert len(stdin) < CAP
    rc, answer, stderr = invoke(plugin, stdin)
    assert rc == 1, stderr
    assert answer["code"] == 6, answer
    assert "nested too deeply" in answer["details"]
    assert "Traceback" not in stderr


def test_long_agent_socket_is_an_invalid_configuration(plugin: str) -> None:
    socket_path = "/run/romana/" + "s" * 200 + ".sock"
    rc, answer, stderr = invoke(plugin, json.dumps(config(agent_socket=socket_path)).encode())
    assert rc == 1, stderr
    assert answer["code"] == 7, answer
    assert "agent_socket" in answer["msg"]
    assert "107 bytes" in answer["details"]


def test_oversized_stdin_is_refused_without_reading_it_all(plugin: str) -> None:
    limit = 64 * CAP
    head = json.dumps(config())[:-1].encode() + b', "pad": "'
    process = subprocess.Popen(
        [plugin],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
    )
    assert process.stdin is not None and process.stdout is not None
    sent = 0

    def feed() -> None:
        # Endless as far as the plugin can tell: stops only at the pipe's end or far past
        # the cap (a plugin reading it all then shows as ``sent`` reaching ``limit``).
        nonlocal sent
        chunk = b"x" * 65536
        try:
            assert process.stdin is not None
            process.stdin.write(head)
            while sent < limit:
                process.stdin.write(chunk)
                sent += len(chunk)
            process.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass

    started = time.monotonic()
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        rc = process.wait(timeout=20)
        elapsed = time.monotonic() - started
        answer = json.loads(process.stdout.read())
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        feeder.join(timeout=10)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
    assert rc == 1
    assert answer["code"] == 6, answer
    assert "1048576 bytes (1 MiB)" in answer["details"]
    # What was taken: the cap, one byte, and what pipe buffers and one chunk hold.
    assert sent < 4 * CAP, f"the plugin read {sent} bytes of stdin"
    assert elapsed < 10
