"""romana.eventring: events are numbered from 1 and the oldest forgotten first; a number from
before a restart reads the whole ring only where the ring says so (romanad), and otherwise
waits for the numbers to reach it (the agent); a writer passes over a reader whose loop has
closed instead of failing."""

from __future__ import annotations

import asyncio
import functools

from romana import eventring


def numbered(text: str) -> eventring.Ring[str]:
    ring: eventring.Ring[str] = eventring.Ring(3)
    ring.add([functools.partial(label, t) for t in text])
    return ring


def label(text: str, seq: int) -> str:
    return f"{text}{seq}"


def test_events_are_numbered_in_order_and_the_oldest_forgotten_first() -> None:
    ring = numbered("abcde")
    assert ring.after(0) == (["c3", "d4", "e5"], 5)
    assert ring.after(4) == (["e5"], 5)
    assert ring.after(0, lambda e: e.startswith("d")) == (["d4"], 5)


def test_a_number_beyond_the_last_reads_everything_only_after_a_restart() -> None:
    restarted: eventring.Ring[int] = eventring.Ring(8, restarts=True)
    restarted.add([lambda seq: seq, lambda seq: seq])
    assert restarted.after(99) == ([1, 2], 2)

    ring: eventring.Ring[int] = eventring.Ring(8)
    ring.add([lambda seq: seq, lambda seq: seq])
    assert ring.after(3) == ([], 2)

    async def follow() -> tuple[list[int], int]:
        waiting = asyncio.create_task(ring.wait_after(3, 5.0))
        await asyncio.sleep(0.05)
        ring.add([lambda seq: seq])
        await asyncio.sleep(0.05)
        assert not waiting.done(), "number 3 is not after 3"
        ring.add([lambda seq: seq])
        return await asyncio.wait_for(waiting, 1.0)

    assert asyncio.run(follow()) == ([4], 4)


def test_a_reader_whose_loop_closed_does_not_fail_the_writer() -> None:
    ring: eventring.Ring[int] = eventring.Ring(8)

    async def abandon() -> None:
        waiting = asyncio.create_task(ring.wait_after(0, 5.0))
        await asyncio.sleep(0.05)
        waiting.cancel()

    asyncio.run(abandon())
    assert ring.add([lambda seq: seq]) == [1]
    assert asyncio.run(ring.wait_after(0, 0.05)) == ([1], 1)
