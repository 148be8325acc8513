"""Postcommit writes that failed, retried with backoff; and the periodic reconciliation.

A postcommit (or ``AFTER_*`` callback) runs after Neutron committed, so a failure of romanad
there cannot fail the request. :func:`attempt` runs the write at once and, when romanad is
unreachable or refuses it, keeps it in a small queue keyed by the object it writes: a newer
write of the same object replaces the older one, so the newest state wins. Every queued write
recomputes its object from Neutron's database when it runs (or releases, or removes, what is
already gone from Neutron), so running it late or twice converges on the same objects.

One daemon thread per neutron-server process (:func:`start`) runs the due retries and, every
``[romana] reconcile_interval`` seconds (0: never), the reconciliation of
:mod:`romana.integrations.openstack.reconcile`. A thread, not a Neutron ``BaseWorker``:
Neutron 29 serves its API as a WSGI application without eventlet's monkey patching, and the
plugin workers that ``get_workers`` would return run only under ``neutron-rpc-server`` or
``neutron-periodic-workers``, which a deployment may not run beside the API; the thread lives
where the writes fail. A WSGI server that forks after loading the drivers (uWSGI) gets the
thread again in each child (an ``os.register_at_fork`` hook; the owner's pid is checked), and
each process reconciles on its own; the writes are idempotent, so several processes converge.

Invariants: a queued write is attempted at most :data:`ATTEMPTS` times, backing off from
:data:`FIRST_DELAY` to :data:`MOST_DELAY` seconds, then dropped with a log line (the
reconciliation repairs what it would have written); the queue holds at most :data:`LIMIT`
objects, the oldest dropped first; no exception leaves the thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from oslo_config import cfg
from oslo_log import log

from romana.core import errors

LOG = log.getLogger(__name__)

OPTIONS = [
    cfg.FloatOpt(
        "reconcile_interval",
        default=60.0,
        min=0,
        help="Seconds between two reconciliations of romanad with Neutron's database "
        "(0: never). Failed writes are retried regardless.",
    ),
]
cfg.CONF.register_opts(OPTIONS, group="romana")

FIRST_DELAY = 0.5
MOST_DELAY = 8.0
ATTEMPTS = 40
"""About five minutes of retries at the longest delay."""
LIMIT = 1000
Write = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Pending:
    """A write that failed: what it is (for the log), when it is due, how often it failed."""

    what: str
    write: Write
    due: float
    failures: int


class Retries:
    """Failed writes by object key, newest first to win. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = LIMIT) -> None:
        self._clock = clock
        self._limit = limit
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}

    def add(self, key: str, what: str, write: Write) -> None:
        with self._lock:
            self._pending.pop(key, None)
            self._pending[key] = Pending(what, write, self._clock() + FIRST_DELAY, 1)
            while len(self._pending) > self._limit:
                dropped = next(iter(self._pending))
                LOG.warning(
                    "romana: retry queue full, not retrying: %s", self._pending[dropped].what
                )
                del self._pending[dropped]

    def cancel(self, key: str) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def next_due(self) -> float | None:
        with self._lock:
            return min((p.due for p in self._pending.values()), default=None)

    def run_due(self) -> None:
        """Run every due write once; keep those that fail again, with a longer delay."""
        now = self._clock()
        with self._lock:
            due = [(k, p) for k, p in self._pending.items() if p.due <= now]
        for key, pending in due:
            try:
                pending.write()
            except Exception as exc:
                # Neutron's database may fail a retry too: it waits as romanad's failures do.
                self._failed_again(key, pending, exc)
                continue
            with self._lock:
                if self._pending.get(key) is pending:
                    del self._pending[key]
            LOG.info("romana: retried and done: %s", pending.what)

    def _failed_again(self, key: str, pending: Pending, exc: Exception) -> None:
        with self._lock:
            if self._pending.get(key) is not pending:
                return  # a newer write of the object replaced it meanwhile
            if pending.failures >= ATTEMPTS:
                del self._pending[key]
                LOG.error(
                    "romana: gave up after %d attempts (the reconciliation repairs it): %s: %s",
                    pending.failures,
                    pending.what,
                    exc,
                )
                return
            delay = min(MOST_DELAY, FIRST_DELAY * 2**pending.failures)
            self._pending[key] = Pending(
                pending.what, pending.write, self._clock() + delay, pending.failures + 1
            )


RETRIES = Retries()
_WAKE = threading.Event()
_OWNER: list[int] = []
_OWNER_LOCK = threading.Lock()


def attempt(key: str, what: str, write: Write) -> bool:
    """Run ``write`` now; when romanad fails it, log ``what`` and retry it later. True if done.

    ``key`` names the object written: a later write of the same key replaces a queued one.
    """
    try:
        write()
    except errors.RomanaError as exc:
        LOG.warning("romana: %s: %s (retrying)", what, exc)
        RETRIES.add(key, what, write)
        start()
        _WAKE.set()
        return False
    RETRIES.cancel(key)
    return True


def start() -> None:
    """Run the retry and reconciliation thread in this process (again after a fork)."""
    with _OWNER_LOCK:
        if _OWNER and _OWNER[0] == os.getpid():
            return
        if not _OWNER:
            os.register_at_fork(after_in_child=_forked)
        _OWNER[:] = [os.getpid()]
        threading.Thread(target=_run, name="romana-resync", daemon=True).start()


def _forked() -> None:
    """In a forked child: no thread runs here yet, and a lock may have been copied held."""
    global RETRIES, _OWNER_LOCK, _WAKE
    RETRIES = Retries()
    _OWNER_LOCK = threading.Lock()
    _WAKE = threading.Event()
    start()


def _run() -> None:
    # Imported here: the reconciliation uses the drivers, and they import this module.
    from romana.integrations.openstack import reconcile

    interval = float(cfg.CONF.romana.reconcile_interval)
    next_pass = time.monotonic() + interval if interval else None
    while True:
        wake = [t for t in (RETRIES.next_due(), next_pass) if t is not None]
        _WAKE.wait(max(0.0, min(wake) - time.monotonic()) if wake else None)
        _WAKE.clear()
        try:
            RETRIES.run_due()
            if next_pass is not None and time.monotonic() >= next_pass:
                next_pass = time.monotonic() + interval
                reconcile.run()
        except errors.RomanaError as exc:
            LOG.warning("romana: reconciliation not done, next in %.0f s: %s", interval, exc)
        except Exception:
            # A bug, or Neutron's database failing: logged, and the loop goes on.
            LOG.exception("romana: retry or reconciliation failed")
