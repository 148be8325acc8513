"""The one gateway through which the dataplane runs external commands (nft, iptables, ipset).

:func:`run` starts a command with an argv list (never a shell), feeds it ``input``, waits
at most ``timeout`` seconds and either returns a :class:`Completed` or raises
:class:`CommandFailed`, which carries everything needed to understand the failure: argv,
exit code, stdout, stderr and the input that was fed. ``netns`` runs the command in
another network namespace through ``nsenter --net=PATH``, which changes nothing but the
network namespace (unlike ``ip netns exec``, which also remounts /sys).

:func:`retry` repeats a call while it fails with a temporary error, a bounded number of
times, with jittered exponential back-off; whether an error is temporary is decided by the
adapter that classified it, never here.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from romana.core.errors import InvalidInput, Issue, RomanaError, is_temporary

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
NSENTER = "nsenter"


@dataclass(frozen=True, slots=True)
class Completed:
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str


class CommandFailed(RomanaError):
    """A command exited non-zero, could not start (rc 127) or timed out (rc None).

    ``temporary`` is set by the adapter that classified the failure (for example an
    xtables lock held by another program) and defaults to False.
    """

    def __init__(
        self,
        argv: Sequence[str],
        rc: int | None,
        stdout: str,
        stderr: str,
        input: str | None,
        *,
        reason: str = "",
        temporary: bool = False,
    ) -> None:
        self.argv = tuple(argv)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.input = input
        self.temporary = temporary
        status = "timed out" if rc is None else f"exited with {rc}"
        detail = stderr.strip() or stdout.strip()
        text = f"{' '.join(self.argv)} {status}"
        if reason:
            text += f" ({reason})"
        super().__init__(f"{text}: {detail}" if detail else text)


def in_netns(argv: Sequence[str], netns: str | None) -> tuple[str, ...]:
    """``argv`` prefixed so that it runs in the namespace at ``netns`` (None: here)."""
    if netns is None:
        return tuple(argv)
    return (NSENTER, f"--net={netns}", "--", *argv)


def run(
    argv: Sequence[str],
    input: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    netns: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> Completed:
    """Run ``argv`` to completion; raise :class:`CommandFailed` unless it exits 0.

    With ``check=False`` a non-zero exit is returned instead of raised (a start failure or
    a timeout is still raised). ``env`` adds to the inherited environment.
    """
    full = in_netns(argv, netns)
    environ = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(
            full,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environ,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandFailed(full, 127, "", str(exc), input, reason="not installed") from exc
    except subprocess.TimeoutExpired as exc:
        out = _text(exc.stdout)
        err = _text(exc.stderr)
        raise CommandFailed(
            full, None, out, err, input, reason=f"after {timeout:g} s", temporary=True
        ) from exc
    done = Completed(full, proc.returncode, proc.stdout, proc.stderr)
    if check and done.rc != 0:
        raise CommandFailed(full, done.rc, done.stdout, done.stderr, input)
    return done


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def retry(
    call: Callable[[], T],
    *,
    attempts: int = 4,
    base_delay: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> T:
    """``call()``, repeated while it raises a temporary error, at most ``attempts`` times.

    The delay before retry ``n`` (from 1) is ``base_delay * 2**(n-1)`` scaled by a factor
    in [0.5, 1.5) so that competing writers spread out. The last error propagates.
    """
    if attempts < 1:
        raise InvalidInput([Issue("attempts", "must be >= 1")])
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except RomanaError as exc:
            if attempt == attempts or not is_temporary(exc):
                raise
            sleep(base_delay * 2 ** (attempt - 1) * (0.5 + jitter()))
    raise AssertionError("unreachable")
