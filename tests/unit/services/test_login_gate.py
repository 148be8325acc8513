"""LoginGate: backoff per user and per source, reset on success, bounded concurrent checks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from romana.core.errors import Throttled, Unauthorized
from romana.services.logins import SOURCE_FACTOR, LoginGate, LoginLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gate(clock: Clock, **kwargs: float) -> LoginGate:
    options = {"concurrency": 2, "wait": 0.2, "free_failures": 3, "backoff_max": 60.0}
    options.update(kwargs)
    limits = LoginLimits(
        concurrency=int(options["concurrency"]),
        wait=options["wait"],
        free_failures=int(options["free_failures"]),
        backoff_max=options["backoff_max"],
    )
    return LoginGate(limits, clock=clock)


def wrong() -> str:
    raise Unauthorized("wrong username or password")


def run(g: LoginGate, user: str, source: str = "10.0.0.1", check: Callable[[], str] = wrong) -> str:
    return asyncio.run(g.attempt(user, source, check))


def test_backoff_doubles_after_the_free_failures_and_success_resets() -> None:
    clock = Clock()
    g = gate(clock)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            run(g, "alice")
    assert g.retry_after("alice", "10.0.0.1") == 0
    with pytest.raises(Unauthorized):
        run(g, "alice")
    assert g.retry_after("alice", "10.0.0.1") == 1
    ran: list[int] = []

    def right() -> str:
        ran.append(1)
        return "token"

    with pytest.raises(Throttled) as refused:
        run(g, "alice", check=right)
    assert ran == [] and refused.value.retry_after == 1
    clock.now += 1
    with pytest.raises(Unauthorized):
        run(g, "alice")
    assert g.retry_after("alice", "10.0.0.1") == 2
    clock.now += 2
    assert run(g, "alice", check=lambda: "token") == "token"
    assert g.retry_after("alice", "10.0.0.2") == 0  # the user's counter is reset
    assert g.retry_after("bob", "10.0.0.1") == 0  # the source's is not, but under allowance


def test_a_source_is_throttled_across_users() -> None:
    clock = Clock()
    g = gate(clock, free_failures=1)
    for i in range(SOURCE_FACTOR + 1):
        with pytest.raises(Unauthorized):
            run(g, f"user{i}")
    with pytest.raises(Throttled, match=r"from 10\.0\.0\.1"):
        run(g, "someone-else")
    assert run(g, "someone-else", source="10.0.0.9", check=lambda: "ok") == "ok"


def test_no_more_than_concurrency_checks_run_at_once() -> None:
    g = gate(Clock(), concurrency=2, wait=0.3)
    release = threading.Event()
    running = 0
    most = 0
    lock = threading.Lock()

    def slow() -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(1)
        with lock:
            running -= 1
        return "ok"

    async def burst() -> list[object]:
        return await asyncio.gather(
            *(g.attempt(f"u{i}", "10.0.0.1", slow) for i in range(6)), return_exceptions=True
        )

    results = asyncio.run(burst())
    release.set()
    assert most == 2
    assert sum(isinstance(r, Throttled) for r in results) == 4
