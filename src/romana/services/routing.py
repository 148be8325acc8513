"""Hosts' routing reports: what each agent last said about its host's routing.

An agent reports its BGP sessions and its routes, each with where it came from (``direct``:
planned by romanad and installed by the agent; ``bgp``: learned by its BIRD from a peer),
after a reconcile that changed them and at least once per heartbeat
(:mod:`romana.agent.routing`). Each host's latest report is one key, ``routing/<host>``
(:mod:`romana.services.keys`), replaced whole by the next one; romanad adds when it stored
it (``received_at``), and answers its ``age`` from that, so a report's age does not depend
on the host's clock.

Invariants:

* A report is stored only for a host the topology holds, as of the transaction that writes
  it (which guards the topology record); removing a host deletes its report
  (:meth:`romana.services.topology.TopologyService.remove_host`). Listing leaves out any
  report of a host the topology no longer holds.
* A report changes nothing an agent enforces: the host-view wait ignores its prefix
  (:mod:`romana.services.hostview`), so reports never wake the agents' long polls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from romana.core.errors import NotFound
from romana.core.identifiers import HostName
from romana.core.store import Put, Store
from romana.services import keys, txn
from romana.services.topology import TopologyService


def no_report(host: str) -> str:
    """What a host without a report answers (404)."""
    return f"host {host} has sent no routing report yet (its agent reports once it has a view)"


class RoutingService:
    def __init__(
        self, store: Store, topology: TopologyService, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._topology = topology
        self._clock = clock

    def report(self, host: str, report: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``report`` (a :class:`romana.wire.rest_routing.RoutingReportIn`'s fields) as host
        ``host``'s latest; NotFound for a host the topology does not hold."""
        key = keys.routing(host)

        def attempt(w: txn.Writes) -> dict[str, Any]:
            view = self._topology.view()
            view.topology.host(HostName(host))
            stored = {**report, "host": host, "received_at": self._clock()}
            w.guard(keys.TOPOLOGY, view.kv)
            w.ops.append(Put(key, txn.dumps(stored)))
            return stored

        return self._aged(txn.run(self._store, attempt, what=f"store the report of {host}"))

    def get(self, host: str) -> dict[str, Any]:
        """Host ``host``'s latest report; NotFound when the topology does not hold the host
        or it sent none."""
        self._topology.view().topology.host(HostName(host))
        kv = self._store.get(keys.routing(host))
        if kv is None:
            raise NotFound(no_report(host))
        return self._aged(txn.loads(kv))

    def list(self) -> list[dict[str, Any]]:
        """The latest report of every host of the topology that sent one, by host name."""
        hosts = {h.name for h in self._topology.view().topology.hosts}
        found = txn.loads_all(self._store.range(keys.ROUTING).items)
        return [self._aged(r) for r in found if r.get("host") in hosts]

    def _aged(self, stored: dict[str, Any]) -> dict[str, Any]:
        age = max(0.0, self._clock() - float(stored["received_at"]))
        return {**stored, "age": round(age, 3)}
