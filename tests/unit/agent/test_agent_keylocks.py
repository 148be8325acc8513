"""Per-key locks: one holder per key, handed between tasks, forgotten when free."""

from __future__ import annotations

import asyncio

from romana.agent.keylocks import KeyLocks


def test_one_key_is_held_by_one_task_and_other_keys_are_free() -> None:
    async def main() -> None:
        locks = KeyLocks()
        order: list[str] = []
        await locks.hold("a")

        async def second() -> None:
            async with locks.locked("a"):
                order.append("second")

        waiting = asyncio.create_task(second())
        async with locks.locked("b"):  # another key does not wait
            order.append("b")
        await asyncio.sleep(0.01)
        assert order == ["b"] and not waiting.done()
        order.append("first done")
        locks.let_go("a")
        await waiting
        assert order == ["b", "first done", "second"]
        assert len(locks) == 0, "a free key leaves nothing behind"

    asyncio.run(main())


def test_a_lock_taken_by_one_task_is_given_back_by_another() -> None:
    async def main() -> None:
        locks = KeyLocks()
        await locks.hold("k")

        async def finish() -> None:
            await asyncio.sleep(0.01)
            locks.let_go("k")

        task = asyncio.create_task(finish())
        async with locks.locked("k"):  # waits for the background task's let_go
            assert task.done()
        assert len(locks) == 0

    asyncio.run(main())


def test_a_cancelled_waiter_leaves_no_entry() -> None:
    async def main() -> None:
        locks = KeyLocks()
        await locks.hold("k")
        waiter = asyncio.create_task(locks.hold("k"))
        await asyncio.sleep(0.01)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        locks.let_go("k")
        assert len(locks) == 0

    asyncio.run(main())
