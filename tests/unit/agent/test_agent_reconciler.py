"""The reconciler against a fake kernel: level-triggered, one writer, failures contained."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest
from agent_fakes import FakeDataplane, host_view

from romana.agent import ledger
from romana.agent.metrics import Metrics
from romana.agent.reconciler import Reconciler
from romana.core import errors, hostdiff, hostplan


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.dp = FakeDataplane()
        self.registry = ledger.Ledger(tmp_path / "state")
        self.registry.load()
        self.metrics = Metrics()
        self.tmp = tmp_path
        self.made = 0

        def make() -> FakeDataplane:
            self.made += 1
            return self.dp

        self.reconciler = Reconciler(
            ledger=self.registry,
            metrics=self.metrics,
            make_dataplane=make,  # type: ignore[arg-type]
            make_reaper=lambda: self.dp,  # type: ignore[arg-type, return-value]
            mtu=lambda: 1500,
            interval=3600,
        )

    def record(self, name: str, address: str) -> ledger.EndpointRecord:
        netns = self.tmp / f"ns-{name}"
        netns.touch()
        self.dp.namespaces.add(str(netns))
        record = ledger.EndpointRecord(
            container_id=name, ifname="eth0", netns=str(netns), tenant="t1", segment="default"
        ).ready((ipaddress.ip_address(address),))
        self.registry.put(record)
        return record

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


T2_FROM_T1 = {
    "name": "p1",
    "applied_to": [{"tenant": "t2"}],
    "ingress": [{"peers": [{"tenant": "t1"}], "rules": [{"protocol": "tcp"}]}],
}
"""A policy change: tenant t1 may reach tenant t2 over TCP."""


def test_without_a_view_nothing_is_touched(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        rig.record("c1", "10.1.16.1")
        task = asyncio.create_task(rig.reconciler.run())
        report = await rig.reconciler.reconcile(full=True)
        task.cancel()
        assert report.errors == ("no host view from romanad yet",)
        assert rig.dp.applied == [] and rig.dp.firewall.applied == []
        assert rig.made == 0

    run(scenario())


def test_a_view_is_converged_in_one_reconcile_and_then_nothing_changes(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        task = asyncio.create_task(rig.reconciler.run())
        rig.record("c1", "10.1.16.1")
        rig.reconciler.set_view(host_view(1))
        report = await rig.reconciler.reconcile()
        assert report.ok and report.revision == 1
        assert rig.dp.gateway is not None
        assert {str(i) for i in rig.dp.gateway.addresses} == {"10.1.0.1/16"}
        assert list(map(str, rig.dp.routes)) == ["10.2.0.0/16"]
        assert [ep.spec.id for ep in rig.dp.endpoints.values()] == ["c1:eth0"]
        assert rig.dp.sysctls == {"net.ipv4.ip_forward": "1"}
        assert len(rig.dp.firewall.applied) == 1
        again = await rig.reconciler.reconcile()
        assert again.operations == 0 and not again.firewall_applied
        full = await rig.reconciler.reconcile(full=True)
        assert full.operations == 0 and full.firewall_applied  # full resync rewrites it
        task.cancel()

    run(scenario())


def test_drift_is_repaired_and_counted(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        task = asyncio.create_task(rig.reconciler.run())
        rig.record("c1", "10.1.16.1")
        rig.reconciler.set_view(host_view(1))
        await rig.reconciler.reconcile()
        rig.dp.routes.clear()
        next(iter(rig.dp.endpoints.values())).addresses = frozenset()
        rig.dp.firewall.deleted = True
        report = await rig.reconciler.reconcile(full=True)
        assert report.ok and report.operations == 2
        assert list(map(str, rig.dp.routes)) == ["10.2.0.0/16"]
        assert rig.sample("romana_agent_drift_repairs_total", {"part": "routes"}) == 1
        assert rig.sample("romana_agent_drift_repairs_total", {"part": "endpoints"}) == 1
        assert rig.sample("romana_agent_drift_repairs_total", {"part": "firewall"}) == 1
        task.cancel()

    run(scenario())


def test_a_firewall_put_back_by_a_policy_change_counts_as_a_repair(tmp_path: Path) -> None:
    """A firewall deleted by hand is put back by the next apply, whichever reconcile makes
    it: a policy change's apply between two full resyncs counts the repair too, once."""

    async def scenario() -> None:
        rig = Rig(tmp_path)
        task = asyncio.create_task(rig.reconciler.run())
        rig.reconciler.set_view(host_view(1))
        await rig.reconciler.reconcile()
        rig.dp.firewall.deleted = True
        rig.reconciler.set_view(host_view(2, policies=[T2_FROM_T1]))
        report = await rig.reconciler.reconcile()
        assert report.ok and report.firewall_applied and rig.dp.firewall.present()
        assert rig.sample("romana_agent_drift_repairs_total", {"part": "firewall"}) == 1
        await rig.reconciler.reconcile(full=True)
        assert rig.sample("romana_agent_drift_repairs_total", {"part": "firewall"}) == 1
        task.cancel()

    run(scenario())


def test_the_inside_of_an_endpoint_is_read_back_and_repaired_on_a_full_reconcile(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        task = asyncio.create_task(rig.reconciler.run())
        rig.record("c1", "10.1.16.1")
        rig.record("c2", "10.1.16.2")
        rig.reconciler.set_view(host_view(1))
        await rig.reconciler.reconcile()
        name = hostplan.host_ifname("c1:eth0")
        rig.dp.inside[name] = ["address 10.1.16.1 is missing on eth0"]
        quick = await rig.reconciler.reconcile()
        assert quick.repairs == () and name in rig.dp.inside  # events stay cheap
        report = await rig.reconciler.reconcile(full=True)
        assert report.ok and report.operations == 1 and rig.dp.inside == {}
        assert report.repairs == ("RepairEndpoint c1:eth0 (address 10.1.16.1 is missing on eth0)",)
        assert report.to_state()["repairs"] == list(report.repairs)
        assert rig.sample("romana_agent_drift_repairs_total", {"part": "workload"}) == 1
        # An endpoint whose record went (a DEL meanwhile) is not put back.
        rig.dp.inside[name] = ["address 10.1.16.1 is missing on eth0"]
        rig.registry.remove("c1:eth0")
        again = await rig.reconciler.reconcile(full=True)
        assert all("c1:eth0 (" not in line for line in again.repairs)
        task.cancel()

    run(scenario())


def test_a_failing_operation_is_reported_and_the_others_still_happen(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        rig.dp.fail = {hostdiff.AddRoute: errors.AlreadyExists("route exists and is not ours")}
        task = asyncio.create_task(rig.reconciler.run())
        rig.record("c1", "10.1.16.1")
        rig.reconciler.set_view(host_view(1))
        report = await rig.reconciler.reconcile()
        assert not report.ok and report.route_errors == 1
        assert "AddRoute 10.2.0.0/16 via 192.0.2.2: route exists and is not ours" in report.errors
        assert rig.dp.endpoints and rig.dp.firewall.applied
        assert rig.sample("romana_agent_apply_failures_total", {"part": "routes"}) == 1
        task.cancel()

    run(scenario())


def test_endpoints_whose_namespace_is_gone_are_left_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        task = asyncio.create_task(rig.reconciler.run())
        kept = rig.record("c1", "10.1.16.1")
        gone = rig.record("c2", "10.1.16.2")
        Path(gone.netns).unlink()
        rig.reconciler.set_view(host_view(1))
        report = await rig.reconciler.reconcile()
        assert [ep.spec.id for ep in rig.dp.endpoints.values()] == [kept.key]
        assert report.skipped == (f"c2:eth0: network namespace {gone.netns} is gone",)
        task.cancel()

    run(scenario())


def test_a_firewall_failure_keeps_the_last_ruleset_and_recovers(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        task = asyncio.create_task(rig.reconciler.run())
        rig.reconciler.set_view(host_view(1))
        await rig.reconciler.reconcile()
        rig.dp.firewall.fail = errors.RomanaError("nft: syntax error")
        rig.reconciler.set_view(host_view(2, policies=[T2_FROM_T1]))
        report = await rig.reconciler.reconcile()
        assert report.errors == ("firewall (fake): nft: syntax error",)
        assert report.firewall_key == "" and len(rig.dp.firewall.applied) == 1
        assert rig.sample("romana_agent_policy_programming_seconds_count") == 1  # the first
        rig.dp.firewall.fail = None
        report = await rig.reconciler.reconcile()
        assert report.ok and report.firewall_applied
        assert rig.sample("romana_agent_policy_programming_seconds_count") == 2
        task.cancel()

    run(scenario())


def test_requests_coalesce_into_one_reconcile(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        task = asyncio.create_task(rig.reconciler.run())
        rig.reconciler.set_view(host_view(1))
        await rig.reconciler.reconcile()
        before = rig.sample("romana_agent_reconciles_total", {"result": "ok"})
        reports = await asyncio.gather(*(rig.reconciler.reconcile() for _ in range(5)))
        assert len({id(r) for r in reports}) == 1
        assert rig.sample("romana_agent_reconciles_total", {"result": "ok"}) == before + 1
        task.cancel()

    run(scenario())


def test_a_bug_in_the_writer_ends_the_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        rig.dp.fail = {hostdiff.EnsureGateway: ZeroDivisionError("bug")}  # type: ignore[dict-item]
        rig.reconciler.set_view(host_view(1))
        task = asyncio.create_task(rig.reconciler.run())
        with pytest.raises(errors.Unavailable):
            await rig.reconciler.reconcile()
        with pytest.raises(ZeroDivisionError):
            await task
        assert rig.dp.closed

    run(scenario())


def test_calls_run_on_the_single_writer_thread(tmp_path: Path) -> None:
    import threading

    async def scenario() -> None:
        rig = Rig(tmp_path)
        task = asyncio.create_task(rig.reconciler.run())
        names = await asyncio.gather(
            *(rig.reconciler.call(lambda dp: threading.current_thread().name) for _ in range(4))
        )
        assert len(set(names)) == 1 and names[0].startswith("romana-writer")
        assert names[0] != threading.current_thread().name
        task.cancel()

    run(scenario())


def test_steady_events_do_not_postpone_the_full_resync(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = Rig(tmp_path)
        rig.reconciler._interval = 0.2
        rig.reconciler.set_view(host_view(1))
        task = asyncio.create_task(rig.reconciler.run())
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < 0.7:
            rig.reconciler.trigger()  # an event every 20 ms, always before the timer
            await asyncio.sleep(0.02)
        task.cancel()
        # Only full resyncs rewrite an unchanged firewall: one first apply, then >= 2 fulls.
        assert len(rig.dp.firewall.applied) >= 3
        assert rig.dp.firewall.currents[1:] == [None] * (len(rig.dp.firewall.applied) - 1)

    run(scenario())
