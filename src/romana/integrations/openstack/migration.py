"""Nova's migrations: a port's allocation follows the port to its new host.

A migrated VM keeps its port and its addresses, which encode the host it was first bound to
(and its project's tenant and its network's segment, so isolation does not change). When
the port's binding moves — ``binding:host_id`` updated for a cold migration, an inactive
binding on the destination activated for a live one (ML2 calls ``update_port_postcommit``
with the new binding in both cases) — the allocation is moved to the new host in romanad
(``PUT /v1/allocations/{key}/host``); every host's route plan then carries an exception
route for its addresses to that host, and drops it when the port comes home or is deleted.

Invariants:

* Nothing is allocated here: the IPAM driver allocates at the first binding, and a later
  host change only moves what is allocated. A port without an allocation, or a host romanad
  does not know, is left alone (the binding itself refuses an unknown host).
* Moving is idempotent, so a retried postcommit costs one no-op call; the first binding,
  which the IPAM driver has just allocated on its host in the same request
  (:func:`allocated_on`), costs none.
* Like every postcommit, a failure to reach romanad is logged, never raised: Neutron has
  committed. The move is retried with backoff, keyed by the allocation, so the newest
  binding wins (:mod:`romana.integrations.openstack.resync`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from oslo_log import log

from romana.core import errors
from romana.integrations.openstack import backend, mapping, resync

LOG = log.getLogger(__name__)
_JUST_ALLOCATED: OrderedDict[str, tuple[str, float]] = OrderedDict()
"""Allocation key → the host the IPAM driver allocated it on, and when, until the binding's
postcommit in the same request reads it; an entry no postcommit read (a port created with its
host, a request that failed later) ages out, so it never stands for a later binding."""
_REMEMBERED = 256
_FRESH_FOR = 30.0
"""Seconds an entry stands for the running request."""
_LOCK = threading.Lock()


def allocated_on(key: str, host: str) -> None:
    """Note that the IPAM driver allocated ``key`` on ``host`` in the running request."""
    with _LOCK:
        _JUST_ALLOCATED[key] = (host, time.monotonic())
        _JUST_ALLOCATED.move_to_end(key)
        while len(_JUST_ALLOCATED) > _REMEMBERED:
            _JUST_ALLOCATED.popitem(last=False)


def follow_binding(port_id: str, host: str | None, original_host: str | None) -> bool:
    """Move the port's allocation to ``host`` when its binding host changed; False when it
    did not change or romanad failed the move (which is then retried).

    ``host`` and ``original_host`` are the port's ``binding:host_id`` after and before the
    update (ML2's ``PortContext.host`` and ``original_host``); an empty host is an unbound
    port, whose addresses stay where they live.
    """
    if not host or host == original_host:
        return False
    key = mapping.allocation_key(port_id)
    with _LOCK:
        noted = _JUST_ALLOCATED.pop(key, None)
    if noted is not None and noted[0] == host and time.monotonic() - noted[1] < _FRESH_FOR:
        return False  # the IPAM driver allocated it there in this very request
    what = f"allocation {key} not moved to host {host}"
    return resync.attempt(f"move:{key}", what, lambda: move(key, host))


def move(key: str, host: str) -> None:
    """Make the allocation ``key`` live on ``host``; nothing to do when there is none."""
    try:
        moved = backend.shared().call(lambda c: c.move_allocation(key, host))
    except errors.NotFound:
        return
    if moved.get("origin"):
        LOG.info("romana: %s lives on host %s (encodes host %s)", key, host, moved["origin"])
