"""Console entry of ``romana-cni``: the process wired to :func:`.plugin.run`, with a deadline.

A runtime waits for a plugin as long as it takes, so the plugin bounds itself. After
``ROMANA_CNI_TIMEOUT`` seconds (from the runtime's environment, which libcni passes on; default
60, above the 30 s the agent client waits for one answer) ``SIGALRM`` raises ``TimeoutError``
wherever the plugin is. Inside an agent call that is an unreachable agent: ADD answers 11, DEL
records a pending release and succeeds. If the plugin is still running
:data:`GRACE_SECONDS` later, the process writes error 11 itself and exits.

Only the standard library and ``romana.integrations.cni`` are imported, so that the interpreter
start dominates the run time of a command.

A person who runs it (``--help``, ``--version``, or at a terminal) with no ``CNI_COMMAND``
gets :func:`about` on stdout and exit 0, as libcni's plugins print theirs, instead of a
plugin waiting for a network configuration on stdin. A runtime always sets ``CNI_COMMAND``
and never gives a terminal, so what it sees is unchanged.
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


HELP_FLAGS = frozenset({"-h", "--help", "--version", "-v"})


def about() -> str:
    """What the plugin is, how a runtime calls it, its settings and an example."""
    from romana.integrations.cni import agentapi, request

    return (
        "romana-cni: romana's CNI plugin (romana-cni, the compiled front, hands what it does not\n"
        "serve itself to romana-cni-py). A container runtime runs it: the network configuration\n"
        "on stdin, CNI_COMMAND (ADD, DEL, CHECK, GC, STATUS or VERSION) and the other CNI_*\n"
        "variables in the environment; romana-agent on this host serves each command.\n"
        f"CNI protocol versions supported: {', '.join(spec.SUPPORTED_VERSIONS)}\n"
        f"Environment: {request.AGENT_SOCKET_ENV} (the agent's socket, default "
        f"{agentapi.DEFAULT_SOCKET}),\n"
        f"ROMANA_CNI_TIMEOUT (seconds, default {DEFAULT_TIMEOUT_SECONDS:g}); the configuration "
        "keys are in docs/operations.md.\n"
        "Exit codes: 0 success; 1 a CNI error, its code and message as JSON on stdout.\n"
        'Example: echo \'{"cniVersion": "1.1.0"}\' | CNI_COMMAND=VERSION romana-cni-py'
    )


def _asked_by_a_person() -> bool:
    if os.environ.get("CNI_COMMAND"):
        return False
    return bool(HELP_FLAGS.intersection(sys.argv[1:])) or sys.stdin.isatty()


def main() -> int:
    if _asked_by_a_person():
        print(about())
        return 0
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
