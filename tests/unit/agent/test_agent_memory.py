"""The agent keeps no library resident that it does not use, and one copy of its view.

An agent without ``--docker-socket`` never imports the Docker plugin, whose Docker API client
(httpx) brings Rich, Click and Pygments with it (httpx's command line): about 6 MB resident
for nothing. Checked in a fresh process, so that what this test process imported does not
count.

The view watcher hands each view to the reconciler, which keeps its own (sharing the last
one's policy documents): while it waits for the next view, the watcher holds none, or a
second copy of every policy document would live as long as the long poll. The view reader
hands on the last view's parts that did not change, so a new view keeps alive nothing new
but what changed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import subprocess
import sys
import weakref
from types import SimpleNamespace
from typing import Any, cast

from agent_fakes import raw_view

from romana.agent import view, viewpoll
from romana.agent.parts import Sync

HEAVY = ("httpx", "httpcore", "rich", "click", "pygments", "romana.integrations.docker.plugin")

IMPORTS = """
import sys
import romana.agent.main
print(" ".join(sorted(sys.modules)))
"""


def test_an_agent_without_docker_imports_neither_the_plugin_nor_its_http_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(done.stdout.split())
    assert "romana.agent.main" in loaded
    assert not {m for m in loaded if m in HEAVY or m.split(".")[0] in HEAVY}


POLICY = {
    "id": "t1/web",
    "name": "web",
    "applied_to": [{"tenant": "t1"}],
    "ingress": [{"peers": [{"tenant": "t2"}], "rules": [{"protocol": "tcp", "ports": [80]}]}],
}


class Document(dict[str, Any]):
    """A policy document a weak reference can follow."""


class LongPoll:
    """romanad answering the first view request with ``first`` and never the next one."""

    def __init__(self, first: view.HostView) -> None:
        self.first: view.HostView | None = first
        self.waiting = asyncio.Event()

    async def register(self, *args: object) -> dict[str, Any]:
        return {}

    async def view(self, host: str, after: int | None, wait: float | None) -> view.HostView:
        if self.first is None:
            self.waiting.set()
            await asyncio.Event().wait()
        hv, self.first = self.first, None
        assert hv is not None
        return hv


class Reconciler:
    """Keeps the revision of each view it is given, not the view (the real one keeps its own
    copy, made of the last view's documents)."""

    def __init__(self) -> None:
        self.revisions: list[int] = []

    def set_view(self, hv: view.HostView, routes: object = None) -> None:
        self.revisions.append(hv.revision)

    def trigger(self, *, full: bool = False) -> None:
        pass


class Settled:
    async def settle(self) -> int:
        return 0


def test_the_watcher_holds_no_view_it_handed_on_while_it_waits_for_the_next() -> None:
    hv = view.parse(raw_view(7))
    hv = dataclasses.replace(hv, policies=(Document(POLICY),))
    document = weakref.ref(hv.policies[0])
    romanad = LongPoll(hv)
    del hv
    reconciler = Reconciler()
    parts = SimpleNamespace(host="h1", romanad=romanad, reconciler=reconciler, sync=Sync())
    watcher = viewpoll.Watcher(
        cast(Any, parts),
        endpoints=cast(Any, Settled()),
        registration=viewpoll.Registration("192.0.2.1", {}),
        wait=30.0,
        aggregate=True,
    )

    async def main() -> None:
        task = asyncio.create_task(watcher.run())
        await asyncio.wait_for(romanad.waiting.wait(), 5)
        gc.collect()
        try:
            assert reconciler.revisions == [7]
            assert document() is None
        finally:
            task.cancel()

    asyncio.run(main())


def test_a_new_view_holds_the_last_ones_parts_that_did_not_change() -> None:
    reader = view.Reader()
    first = reader.parse({**raw_view(1, policies=[POLICY]), "policy_tenants": ["t1", "t2"]})
    second = reader.parse({**raw_view(2, policies=[POLICY]), "policy_tenants": ["t1", "t2"]})
    moved = [{"dst": "10.2.0.0/16", "via": "192.0.2.3", "reason": "host h2"}]
    third = reader.parse({**raw_view(3, routes=moved), "policy_tenants": ["t1", "t2"]})
    assert second.revision == 2
    for name in ("labels", "prefixes", "layouts", "routes", "policy_tenants", "external"):
        assert getattr(second, name) is getattr(first, name), name
    assert third.routes != first.routes and third.policy_tenants is first.policy_tenants
    assert third == view.parse({**raw_view(3, routes=moved), "policy_tenants": ["t1", "t2"]})
