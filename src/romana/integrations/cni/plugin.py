"""The CNI plugin as a function: ``run(env, stdin, stdout, stderr) -> exit code``.

Everything a runtime exchanges with ``romana-cni`` passes through :func:`answer`: in a plugin
process by way of :func:`run`, in the agent directly (:mod:`romana.agent.cnihost`, on its
event loop). The commands are coroutines over an endpoint port (:mod:`.commands`); a plugin
process drives them with :func:`drive`, without an event loop: its port's coroutines never
suspend (:class:`.agentapi.AgentPort`), and importing ``asyncio`` would add about 40 ms to
every command. The whole protocol is testable in-process: environment and configuration in,
a result or the spec's error JSON (``{"cniVersion", "code", "msg", "details"}``) on stdout,
logs on stderr, exit code 0 or 1.
No exception escapes. Stdin is read up to :data:`.spec.MAX_STDIN_BYTES` (1 MiB) and one byte
more: a longer one is refused with code 6 without reading the rest.

VERSION is answered here with only :mod:`.spec` and ``json`` loaded; the commands that talk to
the agent (:mod:`.commands`) are imported when one of them is asked for, because their imports
(``http.client``, the error tree) would otherwise double the start-up time of VERSION.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, TextIO, TypeVar

from romana.integrations.cni import spec

if TYPE_CHECKING:
    from romana.integrations.cni.commands import Connect

T = TypeVar("T")


class Invocation(NamedTuple):
    """One command as the runtime gives it: the environment, stdin as read, and where the
    answer (stdout) and the log (stderr) go. A named tuple, not a dataclass: ``dataclasses``
    would add its import time to every VERSION."""

    env: Mapping[str, str]
    stdin: bytes
    stdout: TextIO
    stderr: TextIO


def run(
    env: Mapping[str, str],
    stdin: BinaryIO,
    stdout: TextIO,
    stderr: TextIO,
    connect: Connect | None = None,
) -> int:
    """Serve the command in ``env["CNI_COMMAND"]``; return the process exit code.

    ``connect`` is passed to :func:`.commands.execute` (how the agent is reached)."""
    try:
        data = stdin.read(spec.MAX_STDIN_BYTES + 1)
    except OSError as exc:
        return _fail(stdout, stderr, spec.CniError(spec.ERR_IO, "cannot read stdin", str(exc)))
    return drive(answer(Invocation(env, data, stdout, stderr), connect))


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end; RuntimeError if it does suspend."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the command waited on an event loop that a plugin process lacks")


async def answer(call: Invocation, connect: Connect | None = None) -> int:
    """Serve the command in ``call.env["CNI_COMMAND"]`` with ``call.stdin`` (as much as
    :func:`run` read of it); return the exit code."""
    env, data, stdout, stderr = call
    if len(data) > spec.MAX_STDIN_BYTES:
        return _fail(stdout, stderr, spec.stdin_too_large())
    try:
        if env.get("CNI_COMMAND") == "VERSION":
            stdout.write(json.dumps(spec.version_answer(spec.stdin_version(data))) + "\n")
            stdout.flush()
            return 0
        from romana.integrations.cni import commands  # see the module docstring: VERSION speed

        return await commands.execute(call, connect)
    except Exception as exc:  # commands.execute maps its own failures; this is a last resort
        return _fail(stdout, stderr, spec.CniError(spec.ERR_INTERNAL, "internal error", repr(exc)))


def _fail(stdout: TextIO, stderr: TextIO, err: spec.CniError) -> int:
    stdout.write(json.dumps(err.to_json(spec.CURRENT_VERSION)) + "\n")
    stdout.flush()
    stderr.write(f"romana-cni: error {err.code}: {err}\n")
    return 1
