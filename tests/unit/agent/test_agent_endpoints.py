"""The endpoint use cases (ADD, DEL, GC, STATUS, pending releases) with fake romanad and kernel."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest
from agent_fakes import EndpointsRig as Rig
from agent_fakes import scenario

from romana.agent import ledger
from romana.core import endpointwire, errors, hostdiff, hostplan
from romana.core.endpoint import Address, GcAnswer, GcRequest, Readiness
from romana.integrations.cni import pending as cni_pending


def test_add_wires_the_endpoint_and_answers_the_contract(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        answer = endpointwire.endpoint_to_wire(await rig.service.add(rig.request("c1")))
        assert answer["addresses"] == [{"address": "10.1.16.1/32", "gateway": "10.1.0.1"}]
        assert answer["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]
        assert answer["interface"]["name"] == "eth0" and answer["interface"]["mac"]
        assert answer["host_interface"]["name"] == hostplan.host_ifname("c1:eth0")
        assert answer["mtu"] == 1500
        record = rig.registry.get("c1:eth0")
        assert record is not None and record.state == ledger.READY
        assert hostplan.host_ifname("c1:eth0") in rig.dp.endpoints
        # A retried ADD of a wired endpoint must not touch it.
        with pytest.raises(errors.AlreadyExists) as info:
            await rig.service.add(rig.request("c1", netns=record.netns))
        assert getattr(info.value, "problem_field", "") == "ifname"
        assert rig.romanad.allocations.keys() == {"c1:eth0"}

    scenario(tmp_path, body)


def test_failed_add_leaves_nothing_behind(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        rig.dp.fail = {hostdiff.AddEndpoint: errors.RomanaError("veth: ENOSPC")}
        with pytest.raises(errors.RomanaError, match="ENOSPC"):
            await rig.service.add(rig.request("c1"))
        assert rig.registry.records() == []
        assert rig.romanad.allocations == {}
        assert rig.dp.endpoints == {}
        rig.dp.fail = {}
        rig.romanad.fail_allocate = errors.Exhausted("no address left")
        with pytest.raises(errors.Exhausted):
            await rig.service.add(rig.request("c2"))
        assert rig.registry.records() == []

    scenario(tmp_path, body)


def test_an_answered_add_is_ready_in_the_ledger_a_restarted_agent_reads(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await rig.service.add(rig.request("c1"))
        again = ledger.Ledger(rig.registry.root)
        assert again.load() == []
        record = again.get("c1:eth0")
        assert record is not None and record.state == ledger.READY
        assert record == rig.registry.get("c1:eth0") and record.mac and record.host_mac

    scenario(tmp_path, body)


def test_an_add_whose_ready_record_cannot_be_written_is_undone(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        put = rig.registry.put

        def full_disk(record: ledger.EndpointRecord) -> None:
            if record.state == ledger.READY:
                raise OSError(28, "No space left on device")
            put(record)

        rig.registry.put = full_disk  # type: ignore[method-assign]
        with pytest.raises(OSError, match="No space"):
            await rig.service.add(rig.request("c1"))
        assert rig.registry.records() == []
        assert rig.romanad.allocations == {}
        assert rig.dp.endpoints == {}
        again = ledger.Ledger(rig.registry.root)
        assert again.load() == [] and again.records() == []

    scenario(tmp_path, body)


def test_add_with_a_view_but_romanad_away_leaves_the_waiting_to_the_allocation(
    tmp_path: Path,
) -> None:
    async def body(rig: Rig) -> None:
        rig.sync.connected, rig.sync.detail = False, "romanad is unreachable: refused"
        answer = await rig.service.add(rig.request("c1"))  # romanad came back meanwhile
        assert answer.addresses[0] == Address("10.1.16.1/32", "10.1.0.1")
        rig.romanad.down = True
        with pytest.raises(errors.Unavailable):
            await rig.service.add(rig.request("c2"))
        assert rig.registry.get("c2:eth0") is None and rig.dp.endpoints.keys() == {
            hostplan.host_ifname("c1:eth0")
        }

    scenario(tmp_path, body)


def test_add_into_a_missing_namespace_names_netns(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        with pytest.raises(errors.NotFound) as info:
            await rig.service.add(rig.request("c1", netns="/run/netns/none"))
        assert getattr(info.value, "problem_field", "") == "netns"
        assert rig.romanad.calls == []

    scenario(tmp_path, body)


def test_an_unknown_tenant_is_the_requests_fault(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        with pytest.raises(errors.InvalidInput) as info:
            await rig.service.add(rig.request("c1", tenant="nobody"))
        assert [i.field for i in info.value.issues] == ["tenant"]
        assert rig.registry.records() == [] and rig.dp.endpoints == {}

    scenario(tmp_path, body)


def test_del_is_idempotent_and_owes_the_release_while_romanad_is_down(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await rig.service.add(rig.request("c1"))
        rig.romanad.down = True
        assert await rig.service.delete("c1", "eth0") is True
        name = hostplan.host_ifname("c1:eth0")
        assert not rig.dp.endpoints[name].up and rig.registry.get("c1:eth0") is None
        assert rig.registry.releases() == ["c1:eth0"]
        # The veth goes and the flows are forgotten after DEL answers, then the release.
        await rig.service.drain()
        assert rig.dp.endpoints == {}
        assert [str(a) for a in rig.dp.forgotten] == ["10.1.16.1"]
        assert rig.registry.releases() == ["c1:eth0"]
        assert await rig.service.delete("c1", "eth0") is False
        # A new ADD of the same key first settles the owed release, then allocates anew.
        rig.romanad.down = False
        await rig.service.add(rig.request("c1"))
        assert rig.registry.releases() == []
        assert rig.romanad.calls[-2:] == ["release c1:eth0", "allocate c1:eth0"]
        assert rig.romanad.allocations["c1:eth0"]["addresses"] == ["10.1.16.2"]

    scenario(tmp_path, body)


def test_del_answers_before_the_release_and_the_same_keys_next_add_waits_for_it(
    tmp_path: Path,
) -> None:
    async def body(rig: Rig) -> None:
        await rig.service.add(rig.request("c1"))
        rig.romanad.release_gate = gate = asyncio.Event()
        # DEL answers with the endpoint cut off and the release owed; romanad is still busy.
        assert await rig.service.delete("c1", "eth0") is True
        assert rig.registry.releases() == ["c1:eth0"]
        await asyncio.sleep(0.05)
        assert rig.dp.endpoints == {}, "the veth goes before the release"
        again = asyncio.create_task(rig.service.add(rig.request("c1")))
        await asyncio.sleep(0.05)
        assert not again.done(), "an ADD of the same key must wait for the owed release"
        # The flows were forgotten before the release was even tried.
        assert [str(a) for a in rig.dp.forgotten] == ["10.1.16.1"]
        assert "release c1:eth0" not in rig.romanad.calls
        gate.set()
        answer = await again
        assert rig.romanad.calls[-2:] == ["release c1:eth0", "allocate c1:eth0"]
        assert answer.addresses == (Address("10.1.16.2/32", "10.1.0.1"),)
        assert rig.registry.releases() == []

    scenario(tmp_path, body)


def test_settle_finishes_owed_and_plugin_pending_releases(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await rig.service.add(rig.request("c1"))
        await rig.service.add(rig.request("c2"))
        rig.romanad.down = True
        await rig.service.delete("c1", "eth0")
        await rig.service.drain()  # its release was tried while romanad was down
        rig.romanad.down = False
        cni_pending.record(str(rig.pending_dir), cni_pending.PendingRelease("c2", "eth0"))
        assert await rig.service.settle() == 2
        assert rig.romanad.allocations == {}
        assert rig.registry.releases() == [] and rig.registry.records() == []
        assert cni_pending.list_pending(str(rig.pending_dir)) == []
        assert await rig.service.settle() == 0

    scenario(tmp_path, body)


def test_gc_spares_valid_young_and_other_network_endpoints(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        for name in ("valid", "stale"):
            await rig.service.add(rig.request(name))
        await rig.service.add(rig.request("elsewhere", network="net2"))
        rig.now += 120
        await rig.service.add(rig.request("young"))
        answer = await rig.service.gc(GcRequest("net1", frozenset({("valid", "eth0")})))
        assert answer == GcAnswer((("stale", "eth0"),), ())
        assert sorted(rig.romanad.allocations) == ["elsewhere:eth0", "valid:eth0", "young:eth0"]

    scenario(tmp_path, body)


def test_gc_with_an_empty_valid_list_releases_only_endpoints_whose_namespace_is_gone(
    tmp_path: Path,
) -> None:
    async def body(rig: Rig) -> None:
        for name in ("alive", "gone"):
            await rig.service.add(rig.request(name))
        rig.now += 120
        gone = rig.registry.get("gone:eth0")
        assert gone is not None
        Path(gone.netns).unlink()  # the runtime deleted that sandbox's namespace
        # The Docker plugin's sweep asks about docker endpoints only: no veth is its own.
        swept = await rig.service.gc(GcRequest("", frozenset(), attachment="docker"))
        assert swept == GcAnswer() and "gone:eth0" in rig.romanad.allocations
        answer = await rig.service.gc(GcRequest("net1", frozenset()))
        assert answer == GcAnswer((("gone", "eth0"),), ())
        assert sorted(rig.romanad.allocations) == ["alive:eth0"]
        # A list naming anything is the runtime's full account: the rest goes, as the spec says.
        answer = await rig.service.gc(GcRequest("net1", frozenset({("x", "eth0")})))
        assert answer.released == (("alive", "eth0"),)

    scenario(tmp_path, body)


def test_status_says_why_it_is_not_ready(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        assert await rig.service.status("t1", "default") == Readiness(True)
        rig.sync.connected, rig.sync.detail = False, "romanad is unreachable: refused"
        got = await rig.service.status(None, None)
        assert (got.ready, got.slug) == (False, "not-ready") and "refused" in got.detail
        rig.sync.connected = True
        # The agent's own endpoints count (its ledger), as many as t2's block holds here;
        # the view need not list them, since further allocations do not wake the agent.
        for i in range(1, 255):
            request = rig.request(f"k{i}", tenant="t2")
            address = ipaddress.ip_address(f"10.1.32.{i}")
            rig.registry.put(ledger.EndpointRecord.of(request, 0.0).ready((address,)))
        got = await rig.service.status("t2", "default")
        assert (got.ready, got.slug) == (False, "exhausted"), got
        assert (await rig.service.status("t1", "default")).ready
        assert (await rig.service.status("t1", "blue")).ready

    scenario(tmp_path, body)


@pytest.mark.parametrize("netns", ["/proc/self/ns/net", "/proc/thread-self/ns/net"])
def test_add_refuses_the_agents_own_network_namespace(tmp_path: Path, netns: str) -> None:
    # The service is made in this process, so the test's namespace is the "agent's" own.
    async def body(rig: Rig) -> None:
        with pytest.raises(errors.InvalidInput) as info:
            await rig.service.add(rig.request("c1", netns=netns))
        assert [i.field for i in info.value.issues] == ["netns"]
        assert "the agent's own network namespace" in str(info.value)
        assert rig.registry.records() == [] and rig.romanad.allocations == {}

    scenario(tmp_path, body)
