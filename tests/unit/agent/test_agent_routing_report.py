"""The agent's routing report: what it holds, and when it is sent.

A real reconciler over the fake kernel, and a BIRD whose ``birdc`` answers with BIRD 2.0.12's
captured output (``birdc/``); romanad is a recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from agent_fakes import FakeDataplane, raw_view

import romana
from romana.agent import ledger, view
from romana.agent.bird import Bird
from romana.agent.metrics import Metrics
from romana.agent.reconciler import Reconciler
from romana.agent.romanad import Romanad
from romana.agent.routing import Reporter
from romana.core import errors
from romana.core.render.bird import BirdHost

SAMPLES = Path(__file__).parent / "birdc"

BGP = {
    "asn": 65002,
    "router_id": "192.0.2.1",
    "peers": [{"address": "198.18.0.2", "asn": 65001, "name": ""}],
    "prefixes": ["10.1.0.0/16"],
    "aggregates": [],
    "accept": ["10.0.0.0/8"],
    "communities": [],
    "hold_time": 3,
    "restart_time": 60,
}


class SampleBird(Bird):
    """A running BIRD whose answers are captured ones; ``birdc`` calls are counted."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(str(state_dir))
        self.protocols = "protocols_all_established"
        self.route = "route_learned"
        self.calls = 0
        self.plans: list[BirdHost | None] = []
        self.down = False
        self.samples = SAMPLES

    def ensure(self, plan: BirdHost | None) -> None:
        self.plans.append(plan)

    def pid(self) -> int | None:
        return 1

    def birdc(self, *command: str) -> str:
        self.calls += 1
        if self.down:
            raise errors.Unavailable("birdc show: Unable to connect to server control socket")
        name = self.protocols if command[1] == "protocols" else self.route
        return (self.samples / f"{name}.txt").read_text()


class Recorder:
    def __init__(self) -> None:
        self.reports: list[tuple[str, dict[str, Any]]] = []
        self.down = False
        self.older = False
        """Refuses the ``agent`` field, as a romanad from before it existed does."""

    async def report_routing(self, host: str, report: dict[str, Any]) -> dict[str, Any]:
        if self.down:
            raise errors.Unavailable("romanad is down")
        if self.older and "agent" in report:
            raise errors.InvalidInput("invalid body: agent: Extra inputs are not permitted")
        self.reports.append((host, report))
        return report


class Rig:
    def __init__(self, tmp_path: Path, *, bgp: bool = True, poll: float = 60.0) -> None:
        self.bird = SampleBird(tmp_path)
        self.registry = ledger.Ledger(tmp_path / "state")
        self.registry.load()
        self.reconciler = Reconciler(
            ledger=self.registry,
            metrics=Metrics(),
            make_dataplane=FakeDataplane,  # type: ignore[arg-type]
            make_reaper=FakeDataplane,  # type: ignore[arg-type]
            mtu=lambda: 1500,
            interval=3600,
            bird=self.bird,
        )
        self.romanad = Recorder()
        self.now = 0.0
        self.reporter = Reporter(
            "h1",
            self.reconciler,
            cast(Romanad, self.romanad),
            heartbeat=30.0,
            poll=poll,
            clock=lambda: self.now,
            wall=lambda: 1_800_000_000.0 + self.now,
        )
        raw = raw_view()
        if bgp:
            raw["bgp"] = BGP
        self.view = view.parse(raw)

    @contextlib.asynccontextmanager
    async def reconciled(self) -> AsyncIterator[None]:
        """The reconciler running (its writer thread ends with it), one reconcile done."""
        self.reconciler.set_view(self.view)
        task = asyncio.create_task(self.reconciler.run())
        try:
            await self.reconciler.reconcile()
            yield
        finally:
            task.cancel()

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [report for _, report in self.romanad.reports]


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_a_report_says_where_each_route_came_from(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        async with rig.reconciled():
            await rig.reporter.once()
            [(host, report)] = rig.romanad.reports
            assert host == "h1"
            agent = report.pop("agent")
            assert agent["version"] == romana.__version__ and agent["errors"] == 0
            assert agent["revision"] == rig.view.revision
            assert abs(agent["reconciled_at"] - time.time()) < 60
            assert report == {
                "mode": "bgp",
                "reported_at": 1_800_000_000.0,
                "sessions": [
                    {"name": "romana_peer0", "peer": "198.18.0.2", "peer_as": 65001,
                     "peer_name": "", "state": "Established", "info": "", "since": "02:11:55.873"},
                ],
                "routes": [
                    {"dst": "10.2.0.0/16", "via": "192.0.2.2", "source": "direct"},
                    # BIRD's own announcement (static) is not a learned route.
                    {"dst": "10.0.0.0/16", "via": "198.18.0.2", "source": "bgp",
                     "protocol": "romana_peer0", "peer": "198.18.0.2", "best": True},
                ],
                "errors": [],
            }  # fmt: skip

    run(scenario())


def test_only_a_change_or_the_heartbeat_sends_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        async with rig.reconciled():
            await rig.reporter.once()
            rig.now = 29.0
            await rig.reporter.once()
            assert len(rig.sent) == 1, "nothing changed, the heartbeat is not due"
            rig.now = 31.0
            await rig.reporter.once()
            assert len(rig.sent) == 2 and rig.sent[1]["reported_at"] == 1_800_000_031.0
            rig.bird.protocols = "protocols_all_hold_timer_expired"
            rig.bird.route = "route_withdrawn"
            await rig.reporter.once()
            assert len(rig.sent) == 3
            [session] = rig.sent[2]["sessions"]
            assert (session["state"], session["info"]) == (
                "Active",
                "BGP Error: Hold timer expired",
            )
            assert [r["source"] for r in rig.sent[2]["routes"]] == ["direct"]

    run(scenario())


def test_a_failed_send_is_made_again_at_the_next_read(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        async with rig.reconciled():
            rig.romanad.down = True
            await rig.reporter.once()
            await rig.reporter.once()
            assert rig.sent == [] and rig.reporter.reports == 0
            rig.romanad.down = False
            await rig.reporter.once()
            assert len(rig.sent) == 1 and rig.reporter.reports == 1

    run(scenario())


def test_a_bird_that_does_not_answer_is_reported_as_such(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        async with rig.reconciled():
            rig.bird.down = True
            await rig.reporter.once()
            [report] = rig.sent
            assert report["mode"] == "bgp" and report["sessions"] == []
            assert [r["source"] for r in report["routes"]] == ["direct"]
            assert report["errors"] == [
                "bird: birdc show: Unable to connect to server control socket"
            ]

    run(scenario())


def test_direct_mode_reports_the_planned_routes_and_asks_bird_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path, bgp=False)
        async with rig.reconciled():
            await rig.reporter.once()
            [report] = rig.sent
            assert report["mode"] == "direct" and report["sessions"] == []
            assert report["routes"] == [
                {"dst": "10.2.0.0/16", "via": "192.0.2.2", "source": "direct"}
            ]
            assert rig.bird.calls == 0

    run(scenario())


def test_nothing_is_sent_before_the_agent_has_a_view(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        task = asyncio.create_task(rig.reconciler.run())
        try:
            await rig.reporter.once()
        finally:
            task.cancel()
        assert rig.sent == []

    run(scenario())


def test_a_reconcile_is_reported_without_waiting_for_the_poll(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path, poll=3600.0)
        reconciler = asyncio.create_task(rig.reconciler.run())
        reporter = asyncio.create_task(rig.reporter.run())
        try:
            await asyncio.sleep(0.05)
            assert rig.sent == []
            rig.reconciler.set_view(rig.view)
            async with asyncio.timeout(5):
                while not rig.sent:
                    await asyncio.sleep(0.01)
            assert rig.sent[0]["mode"] == "bgp"
        finally:
            reporter.cancel()
            reconciler.cancel()

    run(scenario())


def test_a_session_carries_its_peers_name_in_the_topology(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        named = {**BGP, "peers": [{"address": "198.18.0.2", "asn": 65001, "name": "tor-1"}]}
        rig.view = view.parse({**raw_view(), "bgp": named})
        renamed = tmp_path / "renamed"
        renamed.mkdir()
        for name in ("protocols_all_established", "route_learned"):
            text = (SAMPLES / f"{name}.txt").read_text().replace("romana_peer0", "romana_p0_tor_1")
            (renamed / f"{name}.txt").write_text(text)
        rig.bird.samples = renamed
        async with rig.reconciled():
            await rig.reporter.once()
            [report] = rig.sent
            [session] = report["sessions"]
            assert (session["name"], session["peer_name"]) == ("romana_p0_tor_1", "tor-1")
            assert report["routes"][-1]["protocol"] == "romana_p0_tor_1"

    run(scenario())


def test_a_route_line_of_another_shape_is_left_out_not_the_report(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        odd = tmp_path / "odd"
        odd.mkdir()
        (odd / "protocols_all_established.txt").write_text(
            (SAMPLES / "protocols_all_established.txt").read_text()
        )
        text = (SAMPLES / "route_learned.txt").read_text()
        text += "flow4 { dst 10.9.0.0/16; }  unicast [romana_peer0 02:11:55.977] * (100)\n"
        (odd / "route_learned.txt").write_text(text)
        rig.bird.samples = odd
        async with rig.reconciled():
            await rig.reporter.once()
            [report] = rig.sent
            learned = [r["dst"] for r in report["routes"] if r["source"] == "bgp"]
            assert learned == ["10.0.0.0/16"]

    run(scenario())


def test_an_older_romanad_gets_its_report_without_the_agent_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        rig.romanad.older = True
        async with rig.reconciled():
            await rig.reporter.once()
            rig.now = 31.0
            await rig.reporter.once()
        assert len(rig.sent) == 2 and all("agent" not in r for r in rig.sent)
        assert rig.reporter.reports == 2

    run(scenario())
