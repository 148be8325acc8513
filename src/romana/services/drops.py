"""The recent attributed drops of every host, in romanad's memory: kept, decoded, followed.

Agents send the drops their hosts logged (``POST /v1/hosts/{host}/drops``,
:mod:`romana.agent.dropforward`). :meth:`DropService.ingest` decodes both addresses of each
one with romanad's address plan (network, tenant, segment) and names the endpoint holding
an address where romanad knows it (the Kubernetes pod, else the allocation's workload, else
its key; the pods' addresses are read at most every :data:`PODS_TTL` seconds), then keeps
the event in a ring of the last :data:`CAPACITY`. Readers follow the ring with a long poll
(:meth:`DropService.wait_after`), filtered by host and tenant; :func:`seen_by_tenant` cuts
an event down to what a reader scoped to one tenant may see.

Not durable, by design: drop events are a live diagnostic, and the exact counts are the
agents' Prometheus counters. The ring lives in this process only: a restart forgets it,
and with several replicas each keeps the events of the agents that sent them to it.

Invariants:

* ``seq`` grows by one per kept event, from 1, and is never reused while the process runs;
  a reader whose ``after`` lies beyond the last ``seq`` (romanad restarted) reads from the
  start of the ring.
* The tenant, segment and endpoint of an address are what romanad's own records say, never
  what the reporting agent claims; an address romanad cannot place is shown bare.
* :meth:`DropService.ingest` never waits for readers; readers wait on their event loop and
  hold no thread.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from romana import eventring
from romana.core import addressing
from romana.core.errors import InvalidInput, NotFound
from romana.services.ipam import IpamService
from romana.services.kubestore import KubeObjectService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService

CAPACITY = 4096
"""Events kept; the oldest are forgotten first."""
MAX_WAIT = 60.0
PODS_TTL = 2.0
"""Seconds the pods' addresses are used before they are read again."""
HIDDEN_POLICY = "policy of another tenant"
"""The reason a tenant-scoped reader sees for a policy it may not read."""

Event = dict[str, Any]
"""One kept event, in the shape of :class:`romana.wire.rest_drops.DropEvent`."""


class _Places:
    """Decodes the addresses of one batch; each is looked up once per batch."""

    def __init__(
        self,
        topology: TopologyService,
        tenants: TenantService,
        ipam: IpamService,
        pods: Mapping[str, str],
    ) -> None:
        self._layouts = topology.view().layouts
        self._tenants = tenants.list_all()
        self._ipam = ipam
        self._pods = pods
        self._seen: dict[str, Event] = {}

    def side(self, address: str) -> Event:
        text = str(ipaddress.ip_address(address))
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = self._decode(text)
        return dict(found)

    def _decode(self, text: str) -> Event:
        out: Event = {"address": text}
        addr = ipaddress.ip_address(text)
        try:
            lay = addressing.find_layout(self._layouts, addr)
        except InvalidInput:
            return out
        decoded = addressing.decode(lay, addr)
        out["network"] = lay.name
        tenant = next((t for t in self._tenants if t.ids.get(lay.name) == decoded.tenant), None)
        if decoded.tenant == addressing.INFRASTRUCTURE_TENANT or tenant is None:
            return out
        out["tenant"] = tenant.name
        out["segment"] = next(
            (name for name, sid in tenant.segments.items() if sid == decoded.segment), None
        )
        out["endpoint"] = self._pods.get(text) or self._allocation(text)
        return out

    def _allocation(self, text: str) -> str | None:
        with contextlib.suppress(NotFound, InvalidInput):
            alloc = self._ipam.get(self._ipam.key_of(text))
            return alloc.workload or str(alloc.key)
        return None


def pod_addresses(pods: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Address → ``<namespace>/<name>`` of the stored Kubernetes pods that have addresses."""
    found: dict[str, str] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        texts = [p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, Mapping)]
        texts.append(status.get("podIP"))
        for text in texts:
            with contextlib.suppress(ValueError, TypeError):
                address = str(ipaddress.ip_address(str(text)))
                found[address] = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    return found


def matches(event: Event, host: str | None, tenant: str | None) -> bool:
    """Whether ``event`` was dropped on ``host`` and has a side in ``tenant`` (None: any)."""
    if host is not None and event["host"] != host:
        return False
    return tenant is None or tenant in (event["src"].get("tenant"), event["dst"].get("tenant"))


def seen_by_tenant(event: Event, tenant: str, policy_visible: Callable[[str], bool]) -> Event:
    """``event`` as a reader scoped to ``tenant`` sees it: a side of another tenant (or of
    none) as its bare address, and a policy it may not read as :data:`HIDDEN_POLICY`."""
    out = dict(event)
    for side in ("src", "dst"):
        if event[side].get("tenant") != tenant:
            out[side] = {"address": event[side]["address"]}
    reason = event["reason"]
    if reason.get("policy") and not policy_visible(reason["policy"]):
        out["reason"] = {"id": reason["id"], "default": HIDDEN_POLICY}
    return out


class DropService:
    """The ring (:class:`romana.eventring.Ring`) of recent drop events of every host; see the
    module docstring."""

    def __init__(
        self,
        topology: TopologyService,
        tenants: TenantService,
        ipam: IpamService,
        kube_objects: KubeObjectService,
        capacity: int = CAPACITY,
    ) -> None:
        self._topology = topology
        self._tenants = tenants
        self._ipam = ipam
        self._kube = kube_objects
        self._ring: eventring.Ring[Event] = eventring.Ring(capacity, restarts=True)
        self._pod_names: tuple[float, dict[str, str]] = (-PODS_TTL, {})

    def _pods(self) -> dict[str, str]:
        """The stored pods by address, read again when older than :data:`PODS_TTL`: every
        host's batches would otherwise each read every pod of the cluster."""
        read_at, pods = self._pod_names
        if time.monotonic() - read_at >= PODS_TTL:
            pods = pod_addresses(self._kube.get()["pods"])
            self._pod_names = (time.monotonic(), pods)
        return pods

    def ingest(self, host: str, events: Sequence[Mapping[str, Any]]) -> int:
        """Decode and keep ``events`` (:class:`romana.wire.rest_drops.DropEventIn` fields)
        as dropped on ``host``; how many were kept. Wakes every waiting reader."""
        if not events:
            return 0
        places = _Places(self._topology, self._tenants, self._ipam, self._pods())
        decoded = [_decoded(host, e, places) for e in events]
        return len(self._ring.add([functools.partial(_numbered, e) for e in decoded]))

    def after(self, after: int, keep: Callable[[Event], bool]) -> tuple[list[Event], int]:
        """The kept events after ``after`` that ``keep`` takes, and the last seq looked at
        (a number from before a restart reads everything kept)."""
        return self._ring.after(after, keep)

    async def wait_after(
        self, after: int, wait: float, keep: Callable[[Event], bool]
    ) -> tuple[list[Event], int]:
        """:meth:`after`; when it finds none, the first that come within ``wait`` seconds
        (at most :data:`MAX_WAIT`)."""
        return await self._ring.wait_after(after, min(wait, MAX_WAIT), keep)


def _numbered(event: Event, seq: int) -> Event:
    event["seq"] = seq
    return event


def _decoded(host: str, raw: Mapping[str, Any], places: _Places) -> Event:
    event: Event = {
        "host": host,
        "time": raw["time"],
        "src": places.side(raw["src"]),
        "dst": places.side(raw["dst"]),
        "proto": raw["proto"],
    }
    for name in ("sport", "dport", "icmp_type", "icmp_code"):
        if raw.get(name) is not None:
            event[name] = raw[name]
    reason = raw["reason"]
    if reason.get("policy"):
        event["reason"] = {"id": reason["id"], "policy": reason["policy"], "rule": reason["rule"]}
    else:
        event["reason"] = {"id": reason["id"], "default": reason.get("default") or "unknown"}
    return event
