"""Console entry of ``romana-cni``: the process wired to :func:`.plugin.run`, with a deadline.

A runtime waits for a plugin as long as it takes, so the plugin bounds itself. After
``ROMANA_CNI_TIMEOUT`` seconds (from the runtime's environment, which libcni passes on; default
60, above the 30 s the agent client waits for one answer) ``SIGALRM`` raises ``TimeoutError``
wherever the plugin is. Inside an agent call that is an unreachable agent: ADD answers 11, DEL
records a pending release and succeeds. If the plugin is still running
:data:`GRACE_SECONDS` later, the process writes error 11 itself and exits.

Only the standard library and ``romana.integrations.cni`` are imported, so that the interpreter
start dominates the run time of a command.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from types import FrameType

from romana.integrations.cni import plugin, spec

DEFAULT_TIMEOUT_SECONDS = 60.0
GRACE_SECONDS = 5.0


def main() -> int:
    timeout = _timeout(os.environ.get("ROMANA_CNI_TIMEOUT", ""))
    signal.signal(signal.SIGALRM, _on_deadline)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return plugin.run(os.environ, sys.stdin.buffer, sys.stdout, sys.stderr)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIMEOUT_SECONDS
    return value if 0 < value < 86400 else DEFAULT_TIMEOUT_SECONDS


def _on_deadline(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGALRM, _give_up)
    signal.setitimer(signal.ITIMER_REAL, GRACE_SECONDS)
    raise TimeoutError("romana-cni did not finish in time (ROMANA_CNI_TIMEOUT)")


def _give_up(signum: int, frame: FrameType | None) -> None:
    # The TimeoutError was swallowed or the plugin is stuck in C code: answer and leave now.
    error = spec.CniError(
        spec.ERR_TRY_AGAIN_LATER, "try again later", "romana-cni did not finish in time"
    )
    os.write(1, (json.dumps(error.to_json(spec.CURRENT_VERSION)) + "\n").encode())
    os._exit(1)


if __name__ == "__main__":
    sys.exit(main())
