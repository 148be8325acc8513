"""Attributed drops on this host: the last ones logged, and exact counts per reason.

Every drop the policy compiler attributes (:class:`romana.core.ruleset.DropReason`: a
policy's rule, or an isolation default) is counted by the kernel and logged, rate-limited,
to netlink log group :data:`romana.core.kernelnames.DROP_LOG_GROUP`. This module holds the
agent's side of both:

* :class:`Drops` keeps the last :data:`CAPACITY` logged drops as :class:`DropEvent` in a
  ring, numbered from 1 in arrival order, each naming its reason by the reasons of the
  rulesets the firewall may be enforcing (the reconciler's ``drop_reasons``, which has a
  new ruleset's reasons before its apply starts) and its
  addresses' tenant and segment by the host view's address plan.
  The local API's ``GET /v1/drops?after=SEQ&wait=SECONDS`` answers the events after
  ``SEQ``, waiting up to ``wait`` seconds for one; :meth:`Drops.run_reader` fills it on a
  thread of its own, so the kernel never waits for the event loop;
* :class:`DropCounts` turns the kernel's counts into the monotonic Prometheus counter
  ``romana_agent_dropped_packets_total{policy, rule, reason}`` — ``reason`` is ``policy``
  or the default's name. The kernel counts each reason in named objects that no rewrite
  of the rules resets (nftables ``counter`` objects of our table, kernel accounting
  objects for iptables; :mod:`romana.dataplane.dropcounters`); they are read at a scrape,
  at most once every :data:`_REFRESH` seconds, and never on the apply path. A key not seen
  before is an object made anew: all of its value is new.
  ``romana_agent_drop_log_unlogged_total`` counts the drops the rate limit kept out of the
  log, ``romana_agent_drop_log_lost_total`` those logged but lost on the way to the agent.

Invariants: an event's ``seq`` grows by one per event and is never reused while the agent
runs; events and counts only name reasons of rulesets the agent applied or was applying.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from romana import eventring
from romana.agent import view as view_mod
from romana.core import addressing, errors, ruleset
from romana.dataplane import dropcounters, droplog

log = logging.getLogger(__name__)

CAPACITY = 1024
"""Drop events kept; older ones are forgotten first."""
MAX_WAIT = 30.0
_REFRESH = 1.0  # a scrape reads the kernel again when the last read is older than this


class CountingFirewall(Protocol):
    def drop_counts(self) -> dropcounters.Counts: ...


@dataclass(frozen=True, slots=True)
class DropEvent:
    seq: int
    time: float
    packet: droplog.Logged
    reason: dict[str, str]
    src_owner: dict[str, Any] | None
    dst_owner: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        p = self.packet
        out: dict[str, Any] = {"seq": self.seq, "time": self.time, "src": p.src, "dst": p.dst}
        out["proto"] = p.proto
        for name in ("sport", "dport", "icmp_type", "icmp_code"):
            value = getattr(p, name)
            if value is not None:
                out[name] = value
        out["reason"] = self.reason
        for side, owner in (("src", self.src_owner), ("dst", self.dst_owner)):
            if owner is not None:
                out[f"{side}_owner"] = owner
        return out


def owner(hv: view_mod.HostView | None, address: str) -> dict[str, Any] | None:
    """The network, tenant and segment a romana address belongs to; None for others."""
    if hv is None:
        return None
    addr = ipaddress.ip_address(address)
    try:
        lay = addressing.find_layout(hv.layouts, addr)
    except errors.InvalidInput:
        return None
    decoded = addressing.decode(lay, addr)
    out: dict[str, Any] = {"network": lay.name, "host": decoded.host}
    if decoded.tenant == addressing.INFRASTRUCTURE_TENANT:
        out["tenant"] = None
        return out
    tenant = next((t for t in hv.tenants.values() if t.ids.get(lay.name) == decoded.tenant), None)
    out["tenant"] = tenant.name if tenant is not None else decoded.tenant
    segments = {sid: name for name, sid in tenant.segments.items()} if tenant else {}
    out["segment"] = segments.get(decoded.segment, decoded.segment)
    return out


def reason_dict(reason: ruleset.DropReason | None, label: str) -> dict[str, str]:
    if reason is None:
        return {"id": label, "default": "unknown (in no ruleset this agent applied)"}
    return reason.to_dict()


class Drops:
    """The ring (:class:`romana.eventring.Ring`) of the last drop events; see the module
    docstring."""

    def __init__(
        self,
        reasons: Callable[[], Mapping[int, ruleset.DropReason]],
        host_view: Callable[[], view_mod.HostView | None],
        capacity: int = CAPACITY,
    ) -> None:
        self._reasons = reasons
        self._host_view = host_view
        self._ring: eventring.Ring[DropEvent] = eventring.Ring(capacity)
        self.reader: droplog.Reader | None = None

    def record(self, packet: droplog.Logged, at: float | None = None) -> DropEvent:
        """Keep one logged packet as the next event and wake whoever waits for it."""
        rid = dropcounters.reason_of(packet.prefix)
        label = f"{rid:012x}" if rid is not None else packet.prefix
        reason = reason_dict(self._reasons().get(rid) if rid is not None else None, label)
        hv = self._host_view()

        def make(seq: int) -> DropEvent:
            when = time.time() if at is None else at
            return DropEvent(
                seq, when, packet, reason, owner(hv, packet.src), owner(hv, packet.dst)
            )

        return self._ring.add([make])[0]

    def after(self, seq: int) -> list[DropEvent]:
        return self._ring.after(seq)[0]

    async def wait_after(self, seq: int, wait: float) -> list[DropEvent]:
        """The events after ``seq``; when there are none yet, the first to come within
        ``wait`` seconds (at most :data:`MAX_WAIT`)."""
        return (await self._ring.wait_after(seq, min(wait, MAX_WAIT)))[0]

    def run_reader(self, reader: droplog.Reader, stop: threading.Event) -> None:
        """Read logged packets until ``stop`` is set (the body of the reader thread)."""
        self.reader = reader
        while not stop.is_set():
            try:
                for packet in reader.receive(0.5):
                    self.record(packet)
            except OSError as exc:
                log.warning("reading the drop log failed: %s", exc)
                stop.wait(1.0)


def start_reader(drops: Drops, netns: str | None = None) -> threading.Event | None:
    """Bind the drop log group and read it on a daemon thread; the event that stops it, or
    None when the group cannot be bound (drops are then counted but not followed)."""
    try:
        reader = droplog.Reader(netns)
    except (OSError, errors.RomanaError) as exc:
        log.warning("drop events are not followed: %s", exc)
        return None
    stop = threading.Event()
    thread = threading.Thread(
        target=drops.run_reader, args=(reader, stop), name="drop log", daemon=True
    )
    thread.start()
    return stop


class DropCounts(Collector):
    """Monotonic per-reason counts from the kernel's resettable counters."""

    def __init__(
        self,
        firewall: CountingFirewall,
        reasons: Callable[[], Mapping[int, ruleset.DropReason]],
        lost: Callable[[], int] = lambda: 0,
    ) -> None:
        self._firewall = firewall
        self._reasons = reasons
        self._lost = lost
        self._lock = threading.Lock()
        self._last: dropcounters.Counts = {}
        self._dropped: dict[int, int] = {}
        self._unlogged: dict[int, int] = {}
        self._known: dict[int, ruleset.DropReason] = {}
        self._read_at = 0.0

    def refresh(self) -> None:
        """Read the kernel's counters and add what grew since the last read."""
        try:
            counts = self._firewall.drop_counts()
        except (OSError, ValueError, errors.RomanaError) as exc:
            log.warning("cannot read the drop counters: %s", exc)
            return
        with self._lock:
            self._known.update(self._reasons())
            for key, (dropped, logged) in counts.items():
                before = self._last.get(key, (0, 0))
                # A value below the last one was reset (its chain was rewritten): all new.
                new_dropped = dropped - before[0] if dropped >= before[0] else dropped
                new_logged = logged - before[1] if logged >= before[1] else logged
                rid = key[1]
                self._dropped[rid] = self._dropped.get(rid, 0) + new_dropped
                unlogged = max(new_dropped - new_logged, 0)
                self._unlogged[rid] = self._unlogged.get(rid, 0) + unlogged
            self._last = counts
            self._read_at = time.monotonic()

    def dropped(self) -> dict[int, int]:
        with self._lock:
            return dict(self._dropped)

    def describe(self) -> Iterator[CounterMetricFamily]:
        return iter(self._families({}, {}))

    def collect(self) -> Iterator[CounterMetricFamily]:
        if time.monotonic() - self._read_at > _REFRESH:
            self.refresh()
        with self._lock:
            return iter(self._families(dict(self._dropped), dict(self._unlogged)))

    def _families(
        self, dropped: dict[int, int], unlogged: dict[int, int]
    ) -> list[CounterMetricFamily]:
        labels = ["policy", "rule", "reason"]
        families = []
        for name, text, values in (
            ("romana_agent_dropped_packets", "Packets dropped, by drop reason.", dropped),
            (
                "romana_agent_drop_log_unlogged",
                "Dropped packets the drop log's rate limit left out, by drop reason.",
                unlogged,
            ),
        ):
            family = CounterMetricFamily(name, text, labels=labels)
            for rid, value in sorted(values.items()):
                family.add_metric(self._labels(rid), value)
            families.append(family)
        lost = CounterMetricFamily(
            "romana_agent_drop_log_lost",
            "Drops logged by the kernel that did not reach the agent.",
            value=self._lost(),
        )
        return [*families, lost]

    def _labels(self, rid: int) -> list[str]:
        reason = self._known.get(rid)
        if reason is None:
            return ["", "", f"unknown {rid:012x}"]
        if reason.policy:
            return [reason.policy, reason.rule, "policy"]
        return ["", "", reason.default]
