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
"""

from __future__ import annotations

import json
import time

from romana.core.errors import Unavailable
from romana.core.store import Put, Store
from romana.services import keys


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
            raise Unavailable(f"the store does not answer a read: {exc}") from exc
        value = json.dumps({"at": time.time()}).encode()
        try:
            return self._store.txn((), (Put(self._key, value),)).revision
        except Unavailable as exc:
            raise Unavailable(f"the store does not take a write: {exc}") from exc
