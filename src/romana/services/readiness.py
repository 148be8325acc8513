"""Readiness: the store answers a read and takes a write.

``/healthz`` says the process lives; readiness says it can do its work, which for romanad is
reading and writing the store. A store that reads but cannot write (a read-only file, a full
disk, an etcd without quorum, another writer holding the lock) fails here, so a load balancer
or an orchestrator sends requests elsewhere instead of to a replica that would answer 503 to
every change.

Invariants:

* The probe writes one key per instance, ``/romana/probe/<instance>``, outside
  ``/romana/v1/``: watches of the services' keys never see it, so a probe wakes no agent.
* A failed read or write raises :class:`~romana.core.errors.Unavailable` naming which of the
  two failed; nothing else is changed.
* The answer names no store internals: ``/readyz`` needs no token, and the store's own
  message names its file (SQLite) or its endpoints and user (etcd). The cause goes to
  romanad's log, one warning per failed probe.
"""

from __future__ import annotations

import json
import logging
import time

from romana.core.errors import Unavailable
from romana.core.store import Put, Store
from romana.services import keys

log = logging.getLogger(__name__)


class Readiness:
    """Checks ``store`` on behalf of the process registered as ``instance``."""

    def __init__(self, store: Store, instance: str) -> None:
        self._store = store
        self._key = keys.PROBES + instance

    def check(self) -> int:
        """The store revision after a probe write; Unavailable when a read or write fails."""
        try:
            self._store.revision()
        except Unavailable as exc:
            raise _failed("does not answer a read", exc) from exc
        value = json.dumps({"at": time.time()}).encode()
        try:
            return self._store.txn((), (Put(self._key, value),)).revision
        except Unavailable as exc:
            raise _failed("does not take a write", exc) from exc


def _failed(what: str, cause: Unavailable) -> Unavailable:
    """The answer for a failed probe, logging its cause: it names no file, endpoint or user."""
    log.warning("readiness: the store %s: %s", what, cause)
    return Unavailable(
        f"the store {what}; the cause is in romanad's log", retry_after=cause.retry_after
    )
