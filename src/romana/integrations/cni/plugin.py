"""The CNI plugin as a function: ``run(env, stdin, stdout, stderr) -> exit code``.

Everything a runtime exchanges with ``romana-cni`` passes through :func:`run`, so the whole
protocol is testable in-process: environment and configuration in, a result or the spec's error
JSON (``{"cniVersion", "code", "msg", "details"}``) on stdout, logs on stderr, exit code 0 or 1.
No exception escapes. Stdin is read up to :data:`.spec.MAX_STDIN_BYTES` (1 MiB) and one byte
more: a longer one is refused with code 6 without reading the rest.

VERSION is answered here with only :mod:`.spec` and ``json`` loaded; the commands that talk to
the agent (:mod:`.commands`) are imported when one of them is asked for, because their imports
(``http.client``, the error tree) would otherwise double the start-up time of VERSION.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, TextIO

from romana.integrations.cni import spec


def run(
    env: Mapping[str, str],
    stdin: BinaryIO,
    stdout: TextIO,
    stderr: TextIO,
    connect: Callable[[Any], Any] | None = None,
) -> int:
    """Serve the command in ``env["CNI_COMMAND"]``; return the process exit code.

    ``connect`` is passed to :func:`.commands.execute` (how the agent is reached)."""
    try:
        data = stdin.read(spec.MAX_STDIN_BYTES + 1)
    except OSError as exc:
        return _fail(stdout, stderr, spec.CniError(spec.ERR_IO, "cannot read stdin", str(exc)))
    if len(data) > spec.MAX_STDIN_BYTES:
        return _fail(stdout, stderr, spec.stdin_too_large())
    try:
        if env.get("CNI_COMMAND") == "VERSION":
            stdout.write(json.dumps(spec.version_answer(spec.stdin_version(data))) + "\n")
            stdout.flush()
            return 0
        from romana.integrations.cni import commands  # see the module docstring: VERSION speed

        return commands.execute(env, data, stdout, stderr, connect)
    except Exception as exc:  # commands.execute maps its own failures; this is a last resort
        return _fail(stdout, stderr, spec.CniError(spec.ERR_INTERNAL, "internal error", repr(exc)))


def _fail(stdout: TextIO, stderr: TextIO, err: spec.CniError) -> int:
    stdout.write(json.dumps(err.to_json(spec.CURRENT_VERSION)) + "\n")
    stdout.flush()
    stderr.write(f"romana-cni: error {err.code}: {err}\n")
    return 1
