"""Docker endpoints: the request's shape, the plan of one whose workload end docker took,
ADD on the plugin's allocation and its order, undo, ADD again, DEL without a release, and GC
of an endpoint whose sandbox is gone (fake romanad and kernel)."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import EndpointsRig, FakeDataplane, FakeEndpoint, raw_view, scenario

from romana.agent import desired, ledger, view
from romana.core import endpoint, endpointwire, errors, hostdiff, hostplan
from romana.core.endpoint import EndpointRequest, GcRequest
from romana.dataplane import wire

HEX = "0123456789abcdef01234567"
CONTAINER = f"docker-{HEX}"
IFNAME = "rdk0123456789a"
KEY = f"{CONTAINER}:{IFNAME}"
HOST_END = hostplan.host_ifname(KEY)


def field_of(exc: BaseException) -> str:
    """The request member an error names (every member, for InvalidInput)."""
    if isinstance(exc, errors.InvalidInput):
        return ",".join(sorted(i.field for i in exc.issues))
    return str(getattr(exc, "problem_field", ""))


def kept(rig: EndpointsRig) -> bool:
    """Whether the plugin's allocation is still there and no release was ever asked for."""
    released = [c for c in rig.romanad.calls if c.startswith("release")]
    return list(rig.romanad.allocations) == [KEY] and released == []


# --- the request -------------------------------------------------------------------------------


BODY = {
    "container_id": CONTAINER,
    "ifname": IFNAME,
    "netns": "/var/run/docker/netns/1a2b",
    "tenant": "t1",
    "attachment": "docker",
}
"""The local API's ADD body of a docker endpoint."""


def test_a_docker_request_parses_and_travels_with_its_attachment() -> None:
    request = endpointwire.parse_request(BODY)
    assert (request.key, request.attachment) == (KEY, endpoint.DOCKER)
    assert endpoint.docker_ifname(CONTAINER) == IFNAME
    assert endpointwire.parse_request(endpointwire.request_to_wire(request)) == request


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"container_id": "docker-0123"}, {"container_id"}),
        ({"container_id": f"docker-{HEX.upper()}"}, {"container_id"}),
        ({"container_id": f"dock-{HEX}"}, {"container_id"}),
        ({"ifname": "rdk0123456789b"}, {"ifname"}),
        ({"ifname": "eth0"}, {"ifname"}),
        ({"netns": "var/run/docker/netns/1a2b"}, {"netns"}),
        ({"netns": ""}, {"netns"}),
    ],
)
def test_a_docker_request_of_another_shape_is_refused_naming_the_field(
    changes: dict[str, str], fields: set[str]
) -> None:
    with pytest.raises(errors.InvalidInput) as info:
        endpointwire.parse_request({**BODY, **changes})
    assert {i.field for i in info.value.issues} == fields


def test_the_answer_names_each_familys_gateway() -> None:
    answer = endpoint.Endpoint(
        CONTAINER,
        IFNAME,
        "/x",
        "",
        "t1",
        "default",
        (endpoint.Address("10.1.16.5/32", "10.1.0.1"), endpoint.Address("fd00::5/128", "fd00::1")),
        endpoint.Interface(IFNAME, ""),
        endpoint.Interface(HOST_END, ""),
    )
    assert (answer.gateway(4), answer.gateway(6)) == ("10.1.0.1", "fd00::1")
    assert dataclasses.replace(answer, addresses=answer.addresses[:1]).gateway(6) == ""


# --- the plan ------------------------------------------------------------------------------------


def docker_spec(**changes: Any) -> hostplan.EndpointSpec:
    fields: dict[str, Any] = {
        "id": KEY,
        "netns": "/var/run/docker/netns/1a2b",
        "ifname": IFNAME,
        "addresses": (ipaddress.ip_address("10.1.16.5"),),
        "gateways": (ipaddress.ip_address("10.1.0.1"),),
        "mtu": 1500,
        "mac": "02:00:00:00:00:02",
        "attachment": endpoint.DOCKER,
    }
    fields.update(changes)
    return hostplan.EndpointSpec(**fields)


def test_a_docker_endpoints_host_end_is_repaired_but_never_made_again() -> None:
    gateway = hostplan.GatewaySpec((ipaddress.ip_interface("10.1.0.1/16"),))
    spec = docker_spec()
    assert hostplan.endpoint_issues(spec) == [] and spec.host_ifname == HOST_END
    plan = hostplan.plan(gateway, [], [spec], mtu=1500)
    wired = hostdiff.CurrentEndpoint(KEY, HOST_END, frozenset(spec.addresses), 1500, True)
    gw = hostdiff.CurrentGateway(frozenset(gateway.addresses), True)
    assert hostdiff.diff(hostdiff.CurrentHost(gw, (), (wired,)), plan) == ()
    assert hostdiff.diff(hostdiff.CurrentHost(gw, (), ()), plan) == ()  # its sandbox went
    bare = dataclasses.replace(wired, addresses=frozenset())
    (repair,) = hostdiff.diff(hostdiff.CurrentHost(gw, (), (bare,)), plan)
    assert isinstance(repair, hostdiff.RepairEndpoint) and repair.endpoint == spec
    veth_plan = hostplan.plan(gateway, [], [docker_spec(attachment="veth")], mtu=1500)
    assert hostdiff.diff(hostdiff.CurrentHost(gw, (), ()), veth_plan) == (
        hostdiff.AddEndpoint(docker_spec(attachment="veth")),
    )


def test_a_ready_docker_record_is_planned_with_its_workload_ends_mac() -> None:
    rig_view = view.parse(raw_view())
    record = ledger.EndpointRecord.of(docker_request("/ns"), 1.0).ready(
        (ipaddress.ip_address("10.1.16.5"),)
    )
    record = dataclasses.replace(record, mac="02:00:00:00:00:02")
    made = desired.host_plan(
        rig_view, [record], mtu=1500, live_netns={"/ns"}, macs={KEY: record.mac}
    )
    assert made.plan.endpoints == (docker_spec(netns="/ns"),)
    # The sandbox's file comes after Join, and may be in dockerd's own mount namespace:
    # the plan keeps a docker endpoint whatever the path (its host end says whether it lives).
    unseen = desired.host_plan(
        rig_view, [record], mtu=1500, live_netns=set(), macs={KEY: record.mac}
    )
    assert unseen.plan.endpoints == made.plan.endpoints and unseen.skipped == ()


# --- ADD, DEL, GC ------------------------------------------------------------------------------


def docker_request(netns: str, **changes: Any) -> EndpointRequest:
    fields: dict[str, Any] = {
        "container_id": CONTAINER,
        "ifname": IFNAME,
        "netns": netns,
        "tenant": "t1",
        "attachment": endpoint.DOCKER,
    }
    fields.update(changes)
    return EndpointRequest(**fields)


@dataclasses.dataclass
class DockerDataplane(FakeDataplane):
    """The fake kernel making docker pairs in the host namespace, and noting the order."""

    events: list[str] = dataclasses.field(default_factory=list)
    ledger: ledger.Ledger | None = None
    taken: set[str] = dataclasses.field(default_factory=set)
    """Names of other devices in the host namespace."""
    sourced: list[hostplan.EndpointSpec] = dataclasses.field(default_factory=list)
    """Every look for the container end of a pair, to route its replies through it."""
    moved_after: int = 2
    """How many looks find docker has not moved the end yet."""

    def route_sources(self, spec: hostplan.EndpointSpec) -> bool:
        self.sourced.append(spec)
        if spec.host_ifname not in self.endpoints:
            raise errors.NotFound(f"host interface {spec.host_ifname} is missing")
        return len(self.sourced) > self.moved_after

    def device_exists(self, ifname: str) -> bool:
        return ifname in self.endpoints

    def create_docker_pair(self, spec: hostplan.EndpointSpec) -> wire.Pair:
        assert self.ledger is not None
        record = self.ledger.get(spec.id)
        self.events.append(f"pair ({record.state if record else 'unrecorded'})")
        if hostdiff.AddEndpoint in self.fail:
            raise self.fail[hostdiff.AddEndpoint]
        self.endpoints.pop(spec.host_ifname, None)  # left from a failed attempt
        if spec.ifname in self.taken:
            raise errors.AlreadyExists(f"interface {spec.ifname!r} already exists")
        self.endpoints[spec.host_ifname] = FakeEndpoint(spec, frozenset())
        return wire.Pair(
            spec.host_ifname, 1, "02:00:00:00:00:01", spec.ifname, 2, "02:00:00:00:00:02", ""
        )

    def address_pair(self, pair: wire.Pair, spec: hostplan.EndpointSpec) -> Any:
        self.events.append("wire")
        if hostdiff.RepairEndpoint in self.fail:
            raise self.fail[hostdiff.RepairEndpoint]
        self.endpoints[spec.host_ifname] = FakeEndpoint(spec, frozenset(spec.addresses))
        return None


class DockerRig(EndpointsRig):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.dp = DockerDataplane(ledger=self.registry)

    def sandbox(self) -> str:
        return self.netns("sandbox")


def test_add_uses_the_plugins_allocation_and_answers_the_gateway(tmp_path: Path) -> None:
    async def body(rig: DockerRig) -> None:
        made = await rig.romanad.allocate(KEY, "h1", "t1", "default")  # the plugin's IPAM
        answer = await rig.service.add(docker_request(rig.sandbox()))
        assert [a.address for a in answer.addresses] == [f"{made['addresses'][0]}/32"]
        assert answer.gateway(4) == "10.1.0.1" and answer.gateway(6) == ""
        assert (answer.interface.name, answer.host_interface.name) == (IFNAME, HOST_END)
        assert rig.dp.events == ["pair (allocating)", "wire"]
        record = rig.registry.get(KEY)
        assert record is not None and record.is_docker and record.state == ledger.READY
        assert (record.mac, record.host_mac) == ("02:00:00:00:00:02", "02:00:00:00:00:01")
        again = await rig.service.add(docker_request(rig.sandbox()))
        assert again == answer and rig.dp.events == ["pair (allocating)", "wire"]
        assert kept(rig)
        assert [c for c in rig.romanad.calls if c.startswith("allocate")] == [f"allocate {KEY}"]
        with pytest.raises(errors.AlreadyExists) as other:
            await rig.service.add(docker_request(rig.netns("elsewhere")))
        assert field_of(other.value) == "netns"

    scenario(tmp_path, body, DockerRig)


def test_once_docker_moved_the_end_its_replies_are_routed_through_it(tmp_path: Path) -> None:
    async def body(rig: DockerRig) -> None:
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        answer = await rig.service.add(docker_request(rig.sandbox()))
        for _ in range(100):
            if len(rig.dp.sourced) == 3:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert len(rig.dp.sourced) == 3  # looked until docker had moved it, then no more
        spec = rig.dp.sourced[-1]
        assert spec.mac == "02:00:00:00:00:02"  # the container end's, which docker keeps
        assert [str(a) for a in spec.addresses] == [answer.addresses[0].address.split("/")[0]]

    scenario(tmp_path, body, DockerRig)


def test_the_wait_for_the_container_ends_when_the_endpoint_goes(tmp_path: Path) -> None:
    async def body(rig: DockerRig) -> None:
        rig.dp.moved_after = 10**6  # docker never moves it
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        await rig.service.add(docker_request(rig.sandbox()))
        await rig.service.delete(CONTAINER, IFNAME)
        await asyncio.sleep(0.3)
        looks = len(rig.dp.sourced)
        await asyncio.sleep(0.6)
        assert len(rig.dp.sourced) == looks  # it stopped looking once the host end went

    scenario(tmp_path, body, DockerRig)


def test_add_refuses_a_missing_or_foreign_allocation_and_a_bad_shape(tmp_path: Path) -> None:
    async def body(rig: DockerRig) -> None:
        sandbox = rig.sandbox()
        refusals: list[tuple[EndpointRequest, type[errors.RomanaError], str]] = [
            (docker_request(sandbox), errors.NotFound, "container_id"),
            (docker_request(sandbox, ifname="eth0"), errors.InvalidInput, "ifname"),
        ]
        for request, kind, field in refusals:
            with pytest.raises(kind) as refused:
                await rig.service.add(request)
            assert field_of(refused.value) == field
        await rig.romanad.allocate(KEY, "h1", "t2", "default")
        with pytest.raises(errors.AlreadyExists) as foreign:
            await rig.service.add(docker_request(sandbox))
        assert field_of(foreign.value) == "tenant" and "tenant t2" in str(foreign.value)
        assert rig.registry.get(KEY) is None and rig.dp.events == []
        assert [c for c in rig.romanad.calls if c.startswith("allocate")] == [f"allocate {KEY}"]

    scenario(tmp_path, body, DockerRig)


def test_a_failed_add_takes_back_the_record_and_the_pair_never_the_allocation(
    tmp_path: Path,
) -> None:
    async def body(rig: DockerRig) -> None:
        rig.dp.fail = {hostdiff.RepairEndpoint: errors.RomanaError("netlink: EBUSY")}
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        with pytest.raises(errors.RomanaError, match="EBUSY"):
            await rig.service.add(docker_request(rig.sandbox()))
        assert rig.dp.events == ["pair (allocating)", "wire"]
        assert rig.registry.get(KEY) is None and HOST_END not in rig.dp.endpoints
        rig.dp.fail, rig.dp.taken = {}, {IFNAME}
        with pytest.raises(errors.AlreadyExists) as taken:
            await rig.service.add(docker_request(rig.sandbox()))
        assert field_of(taken.value) == "ifname" and rig.registry.get(KEY) is None
        assert kept(rig)

    scenario(tmp_path, body, DockerRig)


def test_add_makes_no_pair_before_the_tenants_policies_are_enforced(tmp_path: Path) -> None:
    async def body(rig: DockerRig) -> None:
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        rig.reconciler.set_view(view.parse({**raw_view(2), "policy_tenants": ["t2"]}))
        adding = asyncio.create_task(rig.service.add(docker_request(rig.sandbox())))
        await asyncio.sleep(0.05)
        assert not adding.done() and rig.dp.events == []
        rig.reconciler.set_view(view.parse({**raw_view(3), "policy_tenants": ["t1", "t2"]}))
        await asyncio.wait_for(adding, 5)
        assert rig.dp.events == ["pair (allocating)", "wire"]

    scenario(tmp_path, body, DockerRig)


def test_del_deletes_the_pair_and_never_releases(tmp_path: Path) -> None:
    async def body(rig: DockerRig) -> None:
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        await rig.service.add(docker_request(rig.sandbox()))
        assert await rig.service.delete(CONTAINER, IFNAME) is True
        assert rig.registry.get(KEY) is None and HOST_END not in rig.dp.endpoints
        assert await rig.service.delete(CONTAINER, IFNAME) is False  # unrecorded: no release
        await rig.service.drain()
        assert kept(rig)

    scenario(tmp_path, body, DockerRig)


def test_gc_releases_a_docker_endpoint_only_once_its_sandbox_is_gone(tmp_path: Path) -> None:
    async def body(rig: DockerRig) -> None:
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        sandbox = rig.sandbox()
        await rig.service.add(docker_request(sandbox))
        everything = (GcRequest("", frozenset()), GcRequest("net1", frozenset({("x", "eth0")})))
        rig.now += 3600
        for request in everything:
            assert (await rig.service.gc(request)).released == ()
        rig.now -= 3600
        del rig.dp.endpoints[HOST_END]  # the sandbox went, and the pair with it
        assert (await rig.service.gc(everything[1])).released == ()  # within the grace period
        rig.now += 3600
        assert (await rig.service.gc(everything[1])).released == ((CONTAINER, IFNAME),)
        assert rig.registry.get(KEY) is None and rig.romanad.allocations == {}

        # dockerd makes the sandbox's file when the container starts, after Join, and may
        # keep it in a mount namespace of its own: only the host end says the sandbox lives.
        await rig.romanad.allocate(KEY, "h1", "t1", "default")
        await rig.service.add(docker_request(str(rig.tmp / "not-made-yet")))
        rig.now += 3600
        assert (await rig.service.gc(everything[0])).released == ()
        assert KEY in rig.romanad.allocations and HOST_END in rig.dp.endpoints

    scenario(tmp_path, body, DockerRig)
