"""Drive the plugin as a runtime does: in-process through ``run`` or as the real executable."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from romana.integrations.cni import plugin

EXECUTABLE = os.path.join(os.path.dirname(sys.executable), "romana-cni")

# What a runtime passes for one attachment; tests override single variables.
IDENTITY = {
    "CNI_CONTAINERID": "ctr1",
    "CNI_NETNS": "/run/netns/rtest",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/opt/cni/bin",
}


@dataclasses.dataclass
class Outcome:
    rc: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def environment(command: str, overrides: Mapping[str, str | None]) -> dict[str, str]:
    """The runtime's environment for ``command``; an override of None removes a variable."""
    env = {"CNI_COMMAND": command, **IDENTITY}
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def invoke(command: str, conf: Any, **overrides: str | None) -> Outcome:
    """One in-process invocation; ``conf`` is a dict (sent as JSON) or raw bytes."""
    stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
    out, err = io.StringIO(), io.StringIO()
    rc = plugin.run(environment(command, overrides), io.BytesIO(stdin), out, err)
    return Outcome(rc, out.getvalue(), err.getvalue())


def spawn(command: str, conf: Any, **overrides: str | None) -> subprocess.Popen[bytes]:
    """Start the real ``romana-cni`` with nothing but the runtime's variables in its env."""
    stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
    proc = subprocess.Popen(
        [EXECUTABLE],
        env=environment(command, overrides),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    return proc


def finish(proc: subprocess.Popen[bytes], timeout: float = 30) -> Outcome:
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    rc = proc.wait(timeout)
    proc.stdout.close()
    proc.stderr.close()
    return Outcome(rc, out.decode(), err.decode())


def execute(command: str, conf: Any, **overrides: str | None) -> Outcome:
    return finish(spawn(command, conf, **overrides))
