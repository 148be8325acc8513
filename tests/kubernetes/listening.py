"""The listener over romanad's services, run against :mod:`kubernetes.fakeapi` for one test
scenario: started, waited on, and stopped however the scenario ends (its task cancelled, its
client closed), so no listener outlives its test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from kubernetes.fakeapi import FakeApi
from romana.integrations.kubernetes import kubewatch, listener
from romana.services import kubesync


class Listening:
    """The listener of ``romanad`` watching ``api``; ``task`` is set while it runs."""

    def __init__(self, api: FakeApi, romanad: kubesync.ServicesRomanad) -> None:
        self.romanad = romanad
        self.listener = listener.Listener(romanad)
        self.client = kubewatch.KubeClient(api.url)
        self.task: asyncio.Task[None] | None = None

    async def until(self, what: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait for ``what`` to hold; AssertionError naming it after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"not reached in {timeout} s: {what.__doc__ or what}")

    async def stop(self) -> None:
        """Cancel the running listener and close its client."""
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.client.aclose()


L = TypeVar("L", bound=Listening)


def play(started: Awaitable[L], scenario: Callable[[L], Awaitable[None]]) -> None:
    """Run ``scenario`` on the listener ``started`` gives, stopping it whatever happens."""

    async def main() -> None:
        run = await started
        try:
            await scenario(run)
        finally:
            await run.stop()

    asyncio.run(main())
