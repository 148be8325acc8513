"""Tap endpoints: the wire shape, the record, ADD/DEL without a release, GC, the plan, the
tap's name in the firewall, the watcher's matching of taps to allocations and the DHCP lease
(fake romanad and kernel)."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import (
    EndpointsRig,
    FakeDataplane,
    FakeEndpoint,
    host_view,
    scenario,
)

from romana.agent import desired, dhcp, ledger, taps
from romana.core import endpoint, endpointwire, errors, hostdiff, hostplan, ruleset
from romana.core.endpoint import EndpointRequest, GcRequest
from romana.core.policy import trees
from romana.dataplane import veth

PORT = "1c4c2d6e-7b0a-4d1e-9f3a-5b6c7d8e9f00"
TAP = endpoint.tap_name(PORT)
KEY = endpoint.endpoint_key(PORT, TAP)


def tap_request(**changes: Any) -> EndpointRequest:
    fields: dict[str, Any] = {
        "container_id": PORT,
        "ifname": TAP,
        "netns": "",
        "tenant": "t1",
        "attachment": endpoint.TAP,
    }
    fields.update(changes)
    return EndpointRequest(**fields)


# --- the wire and the record ---------------------------------------------------------------


def test_a_tap_request_parses_and_travels_with_its_attachment() -> None:
    body = {"container_id": PORT, "ifname": TAP, "tenant": "t1", "attachment": "tap"}
    request = endpointwire.parse_request(body)
    assert request == tap_request(network="", segment="default")
    assert request.key == KEY
    assert endpointwire.request_to_wire(request)["attachment"] == "tap"
    veth_body = endpointwire.request_to_wire(dataclasses.replace(request, attachment="veth"))
    assert "attachment" not in veth_body  # a CNI body is what it always was


def test_a_tap_request_names_the_ports_tap_and_no_namespace() -> None:
    body = {
        "container_id": PORT,
        "ifname": "tap0",
        "netns": "/run/netns/x",
        "tenant": "t1",
        "attachment": "tap",
    }
    with pytest.raises(errors.InvalidInput) as info:
        endpointwire.parse_request(body)
    assert {i.field for i in info.value.issues} == {"ifname", "netns"}
    with pytest.raises(errors.InvalidInput) as odd:
        endpointwire.parse_request({**body, "attachment": "macvlan", "ifname": TAP})
    assert {i.field for i in odd.value.issues} == {"attachment"}


def test_a_record_keeps_its_attachment_and_old_records_load_as_veths() -> None:
    record = ledger.EndpointRecord.of(tap_request(), 1.0)
    assert record.is_tap
    assert ledger.record_from_dict(ledger.record_to_dict(record)) == record
    old = ledger.record_to_dict(dataclasses.replace(record, attachment="veth"))
    del old["attachment"]
    assert ledger.record_from_dict(old).attachment == endpoint.VETH


# --- the plan and the lease -----------------------------------------------------------------


def test_a_ready_tap_is_planned_without_a_namespace_and_leased_the_network_prefix() -> None:
    hv = host_view()
    record = ledger.EndpointRecord.of(tap_request(), 1.0).ready(
        (ipaddress.ip_address("10.1.16.5"),)
    )
    made = desired.host_plan(hv, [record], mtu=1500, live_netns=set())
    assert made.skipped == ()
    (spec,) = made.plan.endpoints
    assert (spec.host_ifname, spec.netns, spec.attachment) == (TAP, "", hostplan.TAP)
    lease = dhcp.lease_of(record, hv, 1450)
    assert lease is not None
    assert (str(lease.address), lease.prefixlen, str(lease.router), lease.mtu) == (
        "10.1.16.5",
        8,
        "10.1.0.1",
        1450,
    )
    v6 = dataclasses.replace(record, addresses=(ipaddress.ip_address("fd00::5"),))
    assert dhcp.lease_of(v6, hv, 1450) is None


def test_the_watcher_matches_a_tap_to_the_key_of_its_port_only() -> None:
    assert taps.port_of(KEY, TAP) == PORT
    assert taps.port_of(f"other:{TAP}", TAP) is None
    assert taps.port_of(f"{PORT}:eth0", TAP) is None
    assert taps.port_of(f"neutron:{PORT}", TAP) is None


# --- ADD, DEL, GC -----------------------------------------------------------------------------


@dataclasses.dataclass
class TapDataplane(FakeDataplane):
    """The fake kernel with devices in the host namespace (the VMs' taps)."""

    devices: set[str] = dataclasses.field(default_factory=set)

    def device_exists(self, ifname: str) -> bool:
        return ifname in self.devices

    def ensure_endpoint(self, spec: hostplan.EndpointSpec) -> veth.Attached:
        if spec.attachment != hostplan.TAP:
            return super().ensure_endpoint(spec)
        if hostdiff.AddEndpoint in self.fail:
            raise self.fail[hostdiff.AddEndpoint]
        if spec.ifname not in self.devices:
            raise errors.NotFound(f"tap {spec.ifname} does not exist")
        self.endpoints[spec.host_ifname] = self.endpoint_of(spec)
        return veth.Attached(spec.ifname, "fe:16:3e:00:00:01", spec.ifname, "", "")

    @staticmethod
    def endpoint_of(spec: hostplan.EndpointSpec) -> FakeEndpoint:
        return FakeEndpoint(spec, frozenset(spec.addresses))


class TapRig(EndpointsRig):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.dp = TapDataplane(devices={TAP})


def test_add_of_a_tap_wires_it_with_the_ports_allocation_and_repeats_harmlessly(
    tmp_path: Path,
) -> None:
    async def body(rig: TapRig) -> None:
        made = await rig.romanad.allocate(KEY, "h1", "t1", "default")  # Neutron's IPAM driver
        answer = await rig.service.add(tap_request())
        assert [a.address for a in answer.addresses] == [f"{made['addresses'][0]}/32"]
        assert answer.host_interface.name == TAP and answer.netns == ""
        record = rig.registry.get(KEY)
        assert record is not None and record.state == ledger.READY and record.is_tap
        assert TAP in rig.dp.endpoints
        again = await rig.service.add(tap_request())  # the watcher at start
        assert again.addresses == answer.addresses
        assert list(rig.romanad.allocations) == [KEY]

    scenario(tmp_path, body, TapRig)


def test_add_of_a_missing_tap_or_a_failed_wiring_leaves_the_allocation(tmp_path: Path) -> None:
    async def body(rig: TapRig) -> None:
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        rig.dp.devices.clear()
        with pytest.raises(errors.NotFound) as info:
            await rig.service.add(tap_request())
        assert getattr(info.value, "problem_field", "") == "ifname"
        rig.dp.devices.add(TAP)
        rig.dp.fail = {hostdiff.AddEndpoint: errors.RomanaError("netlink: EBUSY")}
        with pytest.raises(errors.RomanaError, match="EBUSY"):
            await rig.service.add(tap_request())
        assert rig.registry.get(KEY) is None and TAP not in rig.dp.endpoints
        assert list(rig.romanad.allocations) == [KEY]
        assert not any(c.startswith("release") for c in rig.romanad.calls)

    scenario(tmp_path, body, TapRig)


def test_add_of_a_tap_never_allocates_and_refuses_another_tenants_allocation(
    tmp_path: Path,
) -> None:
    async def body(rig: TapRig) -> None:
        with pytest.raises(errors.NotFound) as none:
            await rig.service.add(tap_request())
        assert getattr(none.value, "problem_field", "") == "container_id"
        assert rig.romanad.allocations == {} and rig.registry.get(KEY) is None
        await rig.romanad.allocate(KEY, "h1", "t2", "default")
        with pytest.raises(errors.AlreadyExists) as other:
            await rig.service.add(tap_request())
        assert getattr(other.value, "problem_field", "") == "tenant"
        assert "tenant t2" in str(other.value) and rig.registry.get(KEY) is None
        assert TAP not in rig.dp.endpoints

    scenario(tmp_path, body, TapRig)


def test_del_of_a_tap_unwires_it_and_never_releases_and_gc_never_touches_it(
    tmp_path: Path,
) -> None:
    async def body(rig: TapRig) -> None:
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        await rig.service.add(tap_request())
        rig.now += 3600
        assert (await rig.service.gc(GcRequest("", frozenset()))).released == ()
        answer = await rig.service.gc(GcRequest("net1", frozenset({("other", "eth0")})))
        assert answer.released == () and rig.registry.get(KEY) is not None
        assert await rig.service.delete(PORT, TAP) is True
        assert rig.registry.get(KEY) is None and TAP not in rig.dp.endpoints
        assert await rig.service.delete(PORT, TAP) is False  # unrecorded: still no release
        await rig.service.drain()
        assert list(rig.romanad.allocations) == [KEY]
        assert not any(c.startswith("release") for c in rig.romanad.calls)

    scenario(tmp_path, body, TapRig)


def test_a_tap_is_filtered_before_it_is_wired_and_no_longer_after_its_del(
    tmp_path: Path,
) -> None:
    async def body(rig: TapRig) -> None:
        applied = rig.dp.firewall.applied
        assert applied[-1].interface_sets == ()
        named_when_wired = []
        wire = rig.dp.ensure_endpoint

        def ensure_endpoint(spec: Any) -> Any:
            named_when_wired.append(applied[-1].interface_sets)
            return wire(spec)

        rig.dp.ensure_endpoint = ensure_endpoint  # type: ignore[method-assign]
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        await rig.service.add(tap_request())
        filtered = (ruleset.InterfaceSet(trees.DEVICES, (TAP,)),)
        assert named_when_wired == [filtered]  # no route to a tap the firewall does not name
        assert applied[-1].interface_sets == filtered
        count = len(applied)
        await rig.service.add(tap_request())  # the watcher at start: nothing to change
        await rig.reconciler.reconcile()
        assert len(applied) == count
        assert await rig.service.delete(PORT, TAP)
        await rig.reconciler.reconcile()
        assert applied[-1].interface_sets == ()

    scenario(tmp_path, body, TapRig)


# --- the tap watcher ---------------------------------------------------------------------------


class FakeServers:
    def __init__(self) -> None:
        self.leases: dict[Any, Any] = {}

    async def sync(self, leases: Mapping[str, Any]) -> None:
        self.leases = dict(leases)

    def close(self) -> None:
        self.leases = {}


class WatchedRig(TapRig):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)

        async def listed(host: str) -> list[dict[str, Any]]:
            return [a for a in self.romanad.allocations.values() if a["host"] == host]

        self.romanad.list_allocations = listed  # type: ignore[attr-defined]
        self.dp.devices = set()
        self.servers = FakeServers()
        self.watcher = taps.TapWatcher(
            self.service._parts,
            self.service,
            self.servers,  # type: ignore[arg-type]
            present=lambda _: {name: 7 for name in self.dp.devices},
        )


def test_the_watcher_adds_a_tap_once_its_allocation_exists_and_deletes_it_when_it_goes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="romana.agent.taps")

    async def body(rig: WatchedRig) -> None:
        assert await rig.watcher.scan() is False  # no tap, nothing to do
        rig.dp.devices.add(TAP)
        assert await rig.watcher.scan() is True  # a tap with no allocation waits
        assert await rig.watcher.scan() is True
        unmatched = [r for r in caplog.records if "no allocation" in r.getMessage()]
        assert len(unmatched) == 1  # logged once
        assert rig.registry.get(KEY) is None and rig.servers.leases == {}

        await rig.romanad.allocate(KEY, "h1", "t1", "default")  # Neutron binds the port
        assert await rig.watcher.scan() is False
        record = rig.registry.get(KEY)
        assert record is not None and record.is_tap and record.state == ledger.READY
        assert set(rig.servers.leases) == {(TAP, 7)}
        assert rig.servers.leases[TAP, 7].address == record.addresses[0]

        rig.dp.devices.clear()  # the VM went away with its tap
        assert await rig.watcher.scan() is False
        assert rig.registry.get(KEY) is None and rig.servers.leases == {}
        assert list(rig.romanad.allocations) == [KEY]  # the port's, released by Neutron

    scenario(tmp_path, body, WatchedRig)
