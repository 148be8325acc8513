"""The agent's drop forwarder: batches at most every interval, never holds up the drop log's
reader, and counts the events its bounded queue forgot while romanad was away."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from romana.agent import dropforward
from romana.agent import drops as drops_mod
from romana.core import ruleset
from romana.core.dropreasons import default_drop, policy_drop
from romana.core.errors import Unavailable
from romana.dataplane import droplog

DENY = policy_drop("t1/deny", "ingress[0].peers[0].rules[0]")
ISOLATION = default_drop("isolation: other tenants")


def ring(capacity: int = drops_mod.CAPACITY) -> drops_mod.Drops:
    reasons: dict[int, ruleset.DropReason] = {DENY.id: DENY, ISOLATION.id: ISOLATION}
    return drops_mod.Drops(lambda: reasons, lambda: None, capacity)


def packet(n: int, reason: ruleset.DropReason = ISOLATION) -> droplog.Logged:
    return droplog.Logged(
        f"romana-drop:{reason.label}", f"10.0.17.{n}", "10.0.33.1", "tcp", 40000 + n, 8080
    )


class Romanad:
    """romanad as the forwarder sees it: records each batch; fails while ``down`` is set;
    a send waits while ``hold`` is clear."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[dict[str, Any]]]] = []
        self.down = False
        self.hold = threading.Event()
        self.hold.set()

    async def report_drops(self, host: str, events: list[dict[str, Any]]) -> Any:
        assert host == "h1"
        while not self.hold.is_set():
            await asyncio.sleep(0.01)
        if self.down:
            raise Unavailable("romanad is away")
        self.batches.append((time.monotonic(), events))
        return {"accepted": len(events)}


async def until(check: Any, within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_drop_is_sent_at_once_and_a_burst_in_one_later_batch() -> None:
    drops = ring()
    romanad = Romanad()
    registry = CollectorRegistry()
    forwarder = dropforward.Forwarder("h1", drops, romanad, registry, interval=0.3)

    async def scenario() -> None:
        task = asyncio.create_task(forwarder.run())
        await asyncio.sleep(0.05)
        sent = time.monotonic()
        drops.record(packet(1, DENY))
        await until(lambda: len(romanad.batches) == 1)
        assert romanad.batches[0][0] - sent < 0.1, (
            "the first drop after a quiet spell waits for nothing"
        )
        for n in range(2, 12):
            drops.record(packet(n))
        await until(lambda: len(romanad.batches) == 2)
        assert len(romanad.batches[1][1]) == 10, "a burst goes in one batch"
        assert romanad.batches[1][0] - romanad.batches[0][0] >= 0.29
        task.cancel()

    asyncio.run(scenario())
    first = romanad.batches[0][1][0]
    assert first == {
        "time": first["time"],
        "src": "10.0.17.1",
        "dst": "10.0.33.1",
        "proto": "tcp",
        "sport": 40001,
        "dport": 8080,
        "reason": {"id": DENY.label, "policy": "t1/deny", "rule": "ingress[0].peers[0].rules[0]"},
    }
    assert registry.get_sample_value("romana_agent_drop_events_sent_total") == 11


def test_the_reader_never_waits_and_forgotten_events_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drops = ring(capacity=5)
    romanad = Romanad()
    registry = CollectorRegistry()
    forwarder = dropforward.Forwarder("h1", drops, romanad, registry, interval=0.05)
    monkeypatch.setattr(dropforward, "RETRY", 0.1)

    async def scenario() -> None:
        task = asyncio.create_task(forwarder.run())
        romanad.hold.clear()  # a send hangs: the reader goes on regardless
        drops.record(packet(1))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        for n in range(2, 10):
            drops.record(packet(n))
        assert time.monotonic() - started < 0.05
        romanad.down = True
        romanad.hold.set()
        await asyncio.sleep(0.3)
        romanad.down = False
        await until(lambda: sum(len(b) for _, b in romanad.batches) == 5)
        task.cancel()

    asyncio.run(scenario())
    sent = [e["src"] for _, batch in romanad.batches for e in batch]
    assert sent == [f"10.0.17.{n}" for n in range(5, 10)], "the newest, in order"
    assert registry.get_sample_value("romana_agent_drop_events_unsent_total") == 4
    assert registry.get_sample_value("romana_agent_drop_events_sent_total") == 5
