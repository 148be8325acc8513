"""The host's BIRD in ``bgp`` route mode: configured, started and kept running by the agent.

When the host view carries a BGP plan (:mod:`romana.core.bgpplan`), every reconcile calls
:meth:`Bird.ensure` on the writer thread: the configuration is rendered
(:mod:`romana.core.render.bird`); when it differs from the file, the file is replaced
atomically (:mod:`romana.durable`) and a running BIRD is told ``birdc configure``; a BIRD that
is not running is started. Its files live in the agent's state directory, ``bird/``:

    bird.conf   the configuration, written by the agent only, replaced whole
    bird.ctl    BIRD's control socket (``birdc -s``)
    bird.pid    its PID, written by BIRD
    bird.log    what it logs

BIRD runs as a daemon of its own (it forks away from the agent), so an agent restart leaves
it running and its routes in place; the next agent adopts it: a PID file naming a live
process whose command line names this ``bird.conf`` is ours, any other process is not (a
stale file whose PID came back to another program is never signalled). Restarting BIRD
itself drops nothing either: its kernel protocol keeps the learned routes (``persist``) and
its peers keep this host's (graceful restart) until the sessions are back.

When the view carries no plan (``direct`` mode), a BIRD of ours is told a configuration
without ``persist`` and then stopped (SIGTERM, by PID): its kernel protocol takes the routes
it installed out as it ends, and the agent's own routes take over. Nothing outside ``bird/`` is read
or written, and no other BIRD is touched.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from romana import durable
from romana.agent import birdshow
from romana.agent.birdshow import Route, Session
from romana.core.errors import RomanaError, Unavailable
from romana.core.render import bird as render
from romana.core.render.bird import BirdHost

log = logging.getLogger(__name__)

START_WAIT = 5.0
"""How long a start waits for BIRD's control socket to answer."""


class Bird:
    """The host's BIRD (module docstring); used on the agent's writer thread only."""

    def __init__(self, state_dir: str, binary: str = "bird", client: str = "birdc") -> None:
        self.directory = Path(state_dir) / "bird"
        self.conf = self.directory / "bird.conf"
        self.ctl = self.directory / "bird.ctl"
        self.pidfile = self.directory / "bird.pid"
        self.log_file = self.directory / "bird.log"
        self._binary = binary
        self._client = client
        self._accepted: str | None = None
        """The configuration the running BIRD last took; None: not known."""

    def ensure(self, plan: BirdHost | None) -> None:
        """BIRD configured with ``plan`` and running, or stopped when None."""
        if plan is None:
            self.stop()
            return
        text = render.render(dataclasses.replace(plan, log_file=str(self.log_file)))
        if not self.conf.exists() or self.conf.read_text() != text:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            durable.replace_file(self.conf, text.encode())
        if self.pid() is None:
            self.start()
            self._accepted = text
        elif self._accepted != text:
            # Until BIRD took this text (a refusal, a timeout, an agent that just started
            # and does not know what the running BIRD read), every reconcile asks again.
            self.configure()
            self._accepted = text

    def pid(self) -> int | None:
        """The PID of our running BIRD; None when none runs."""
        try:
            pid = int(self.pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.conf).encode() in cmdline else None

    def start(self) -> None:
        """Start BIRD on our files and wait for its control socket."""
        self.ctl.unlink(missing_ok=True)
        # -R: graceful-restart recovery. The kernel keeps the routes a BIRD before this one
        # learned (persist) until the sessions are back, instead of pruning them at start.
        argv = [self._binary, "-R", "-c", str(self.conf), "-s", str(self.ctl)]
        argv += ["-P", str(self.pidfile)]
        done = _run(argv, "bird")
        if done.returncode != 0:
            raise RomanaError(f"bird did not start: {done.stderr.strip() or done.stdout.strip()}")
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if self.ctl.exists() and self.pid() is not None:
                log.info("bird started (pid %s) with %s", self.pid(), self.conf)
                return
            time.sleep(0.02)
        raise Unavailable(f"bird started but its control socket {self.ctl} never answered")

    def configure(self) -> None:
        """``birdc configure``: BIRD reads the file again; a refusal is an error."""
        out = self.birdc("configure")
        taken = ("Reconfigured", "Reconfiguration in progress", "queueing new config")
        if not any(word in out for word in taken):
            raise RomanaError(f"birdc configure: {out.strip()}")
        log.info("bird reconfigured from %s", self.conf)

    def stop(self) -> None:
        """Stop our BIRD, taking its routes out of the kernel: it is told a configuration
        without ``persist`` first, so that its kernel protocol removes what it installed
        when it ends (the agent's own routes take over)."""
        pid = self.pid()
        if pid is None:
            return
        text = self.conf.read_text()
        leaving = text.replace(f"  {render.PERSIST}\n", "")
        if leaving != text:
            durable.replace_file(self.conf, leaving.encode())
            try:
                self.configure()
            except RomanaError as exc:
                log.warning("bird would not drop persist before stopping: %s", exc)
        os.kill(pid, signal.SIGTERM)
        self._accepted = None
        log.info("bird (pid %d) stopped: the host is in direct route mode", pid)

    def birdc(self, *command: str) -> str:
        argv = [self._client, "-s", str(self.ctl), *command]
        done = _run(argv, f"birdc {' '.join(command)}")
        if done.returncode != 0:
            raise Unavailable(f"birdc {' '.join(command)}: {done.stdout.strip()}")
        return done.stdout

    def sessions(self) -> list[Session]:
        """Every BGP session of our BIRD (:func:`romana.agent.birdshow.sessions`); empty when
        none runs."""
        if self.pid() is None:
            return []
        return birdshow.sessions(self.birdc("show", "protocols", "all"))

    def routes(self) -> list[Route]:
        """Every route in our BIRD's tables (:func:`romana.agent.birdshow.routes`); empty
        when none runs."""
        if self.pid() is None:
            return []
        return birdshow.routes(self.birdc("show", "route"))


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """``argv``, its output captured; Unavailable when it does not end within 10 s (a
    wedged BIRD must not stop the writer thread)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"{what}: no answer in {exc.timeout} s") from exc
