"""Forward this host's drop events to romanad, in batches, without ever holding up a packet.

The drop log reader (:mod:`romana.agent.drops`) appends each logged drop to the agent's ring
of recent events on a thread of its own; that ring is this forwarder's queue. The
:class:`Forwarder` task follows it like any reader of the local API does (its long poll,
:meth:`romana.agent.drops.Drops.wait_after`) and sends what it finds as one
``POST /v1/hosts/{host}/drops`` (:class:`romana.wire.rest_drops.DropReportIn`), at most
one batch every :data:`INTERVAL` seconds and at most :data:`MAX_BATCH` events a batch. The
first drop after a quiet spell is sent at once; a burst waits for the next batch.

Nothing waits for romanad but this task: the kernel hands packets to the reader thread,
the reader never waits for the event loop, and the send itself runs in a romanad client
thread (:mod:`romana.agent.romanad`). The queue is bounded by the ring's capacity: while
romanad is slow or away the ring keeps the newest events and forgets the oldest, and the
forwarder counts the ones it never sent in ``romana_agent_drop_events_unsent_total``
(those sent: ``romana_agent_drop_events_sent_total``). A failed send is logged once per
distinct reason and tried again after :data:`RETRY` seconds (:data:`RETRY_REFUSED` when
romanad refused it, a 403 or a 404 that waiting alone will not mend quickly).

Invariants: events are sent in ``seq`` order, each at most once per accepted send; an
event is counted as unsent only when the ring forgot it before a send took it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter

from romana.agent import drops as drops_mod
from romana.core import names
from romana.core.errors import RomanaError
from romana.wire import rest_drops

log = logging.getLogger(__name__)

INTERVAL = 0.2
"""Seconds between two batches, at the least."""
MAX_BATCH = rest_drops.MAX_BATCH
"""Events one batch carries, at most."""
RETRY = 1.0
RETRY_REFUSED = 10.0


class DropReports(Protocol):
    async def report_drops(self, host: str, events: list[dict[str, Any]]) -> Any: ...


def wire(event: drops_mod.DropEvent) -> dict[str, Any]:
    """``event`` as a :class:`romana.wire.rest_drops.DropEventIn`: the packet and its
    reason; what tenant its addresses are in is romanad's to decode."""
    p = event.packet
    proto = names.printable(p.proto, 16)
    out: dict[str, Any] = {"time": event.time, "src": p.src, "dst": p.dst, "proto": proto}
    for name in ("sport", "dport", "icmp_type", "icmp_code"):
        value = getattr(p, name)
        if value is not None:
            out[name] = value
    out["reason"] = {
        key: names.printable(text, 64 if key == "id" else 256) for key, text in event.reason.items()
    }
    return out


class Forwarder:
    """Sends ``drops``' events to romanad as host ``host``; see the module docstring."""

    def __init__(
        self,
        host: str,
        drops: drops_mod.Drops,
        romanad: DropReports,
        registry: CollectorRegistry | None = None,
        *,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host = host
        self._drops = drops
        self._romanad = romanad
        self._interval = interval
        self._clock = clock
        self._seq = 0
        self._failure = ""
        self.sent = Counter(
            "romana_agent_drop_events_sent",
            "Drop events romanad accepted from this agent.",
            registry=registry,
        )
        self.unsent = Counter(
            "romana_agent_drop_events_unsent",
            "Drop events forgotten before they reached romanad (the agent's ring of recent "
            "drops overflowed while romanad was slow or away).",
            registry=registry,
        )

    async def run(self) -> None:
        """Forward until cancelled."""
        while True:
            events = await self._drops.wait_after(self._seq, drops_mod.MAX_WAIT)
            if not events:
                continue
            started = self._clock()
            pause = await self.send(events)
            await asyncio.sleep(max(pause, self._interval - (self._clock() - started)))

    async def send(self, events: Sequence[drops_mod.DropEvent]) -> float:
        """Send the first :data:`MAX_BATCH` of ``events`` (the ring's events after the last
        sent, in order); the seconds to wait before the next send."""
        missed = events[0].seq - self._seq - 1
        if missed > 0:
            self.unsent.inc(missed)
            self._seq = events[0].seq - 1
        batch = list(events[:MAX_BATCH])
        try:
            await self._romanad.report_drops(self._host, [wire(e) for e in batch])
        except (RomanaError, OSError) as exc:
            if str(exc) != self._failure:
                log.warning("drop events not sent to romanad (sent again soon): %s", exc)
                self._failure = str(exc)
            temporary = isinstance(exc, OSError) or exc.temporary
            return RETRY if temporary else RETRY_REFUSED
        if self._failure:
            log.info("drop events sent to romanad again")
            self._failure = ""
        self._seq = batch[-1].seq
        self.sent.inc(len(batch))
        return 0.0
