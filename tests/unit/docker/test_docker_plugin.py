"""The Docker plugin over fakes of romanad and the endpoint port: the calls docker makes for
``docker network create``, ``docker run`` and their undoing, on the creating host and on
another; and, once, over real HTTP on the Unix socket the agent serves it on."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import os
import socket
import stat
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from romana.agent import main, view
from romana.core import addressing, errors, ipam
from romana.core import endpoint as ep
from romana.core.dockerpools import DockerPool
from romana.integrations.docker import protocol
from romana.integrations.docker.plugin import Plugin
from romana.integrations.docker.ports import Deps

PODS = addressing.layout("pods", "10.0.0.0/8", 4, 4, 8)
NETWORK = {**PODS.to_dict(), "topology_bits": 8, "tenants": [], "blackouts": []}
TENANTS = [
    {"name": "t1", "ids": {"pods": 1}, "segments": {"default": 0, "web": 1}},
    {"name": "t2", "ids": {"pods": 2}, "segments": {"default": 0}},
]
NETWORK_ID = "ab" * 32
ENDPOINT_ID = "cd" * 32
SANDBOX = "/var/run/docker/netns/0123abcd"


def run(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """The test, run to its end on a loop of its own."""

    @functools.wraps(test)
    def sync(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return sync


def host_view(index: int) -> view.HostView:
    """The view of host h<index>, which owns 10.<index>.0.0/16."""
    tenants = [
        {
            "external_id": "",
            "requested_networks": [],
            "isolation": {"mode": "romana", "segments": "isolated"},
            **t,
        }
        for t in TENANTS
    ]
    return view.parse(
        {
            "revision": 1,
            "host": {
                "name": f"h{index}",
                "ip": f"192.0.2.{index}",
                "ip6": None,
                "labels": {},
                "group": "/",
                "prefixes": {"pods": f"10.{index}.0.0/16"},
                "gateways": {"pods": f"10.{index}.0.1"},
            },
            "networks": [NETWORK],
            "routes": [],
            "tenants": tenants,
            "policies": [],
            "address_sets": {},
            "endpoints": [],
        }
    )


class FakeRomanad:
    """Allocations and pool bindings as romanad keeps them, for every host."""

    def __init__(self) -> None:
        self.allocations: dict[str, dict[str, Any]] = {}
        self.bindings: dict[str, dict[str, Any]] = {}
        self.reads: list[str] = []
        self.released: list[str] = []
        self.external: dict[str, str] = {}
        """Allocation key → its external IP."""

    async def allocate(
        self,
        key: str,
        host: str,
        tenant: str,
        segment: str,
        *,
        address: str | None = None,
        within: float = 0.0,
    ) -> dict[str, Any]:
        if key not in self.allocations:
            index = int(host[1:])
            tenant_id = {"t1": 1, "t2": 2}[tenant]
            segment_id = {"default": 0, "web": 1}[segment]
            used = [a for a in self.allocations.values() if a["host"] == host]
            chosen = addressing.encode(PODS, index, tenant_id, segment_id, len(used) + 1)
            if address is not None:  # romanad checks what it encodes; the plugin checks first
                holder = [a["key"] for a in used if address in a["addresses"]]
                if holder:
                    raise errors.AlreadyExists(f"address {address} is allocated to {holder[0]}")
                chosen = ipaddress.ip_address(address)
            made = ipam.Allocation(key, host, tenant, segment, (chosen,))  # type: ignore[arg-type]
            self.allocations[key] = made.to_dict()
        return self.allocations[key]

    async def list_allocations(self, host: str) -> list[dict[str, Any]]:
        return [a for a in self.allocations.values() if a["host"] == host]

    async def release(self, key: str) -> dict[str, Any]:
        if key not in self.allocations:
            raise errors.NotFound(f"no allocation {key}")
        self.released.append(key)
        self.external.pop(key, None)
        return self.allocations.pop(key)

    async def set_workload(self, key: str, workload: str) -> dict[str, Any]:
        if key not in self.allocations:
            raise errors.NotFound(f"no allocation {key}")
        self.allocations[key] = {**self.allocations[key], "workload": workload}
        return self.allocations[key]

    async def bind_docker_pool(self, binding: DockerPool) -> dict[str, Any]:
        if binding.tenant not in {"t1", "t2"}:
            raise errors.NotFound(f"no tenant {binding.tenant!r}")
        self.bindings[binding.pool] = dict(binding.to_dict())
        return self.bindings[binding.pool]

    async def get_docker_pool(self, pool: str) -> dict[str, Any]:
        self.reads.append(pool)
        if pool not in self.bindings:
            raise errors.NotFound(f"no docker pool {pool}")
        return self.bindings[pool]

    async def delete_docker_pool(self, pool: str) -> dict[str, Any]:
        if pool not in self.bindings:
            raise errors.NotFound(f"no docker pool {pool}")
        return self.bindings.pop(pool)

    async def assign_external_ip(
        self, pool: str, endpoint: str, address: str | None = None
    ) -> dict[str, Any]:
        """The pool ``internet`` (203.0.113.0/29) alone exists; one address per allocation,
        unassigned with it (:meth:`release`)."""
        if pool != "internet":
            raise errors.NotFound(f"external pool {pool!r} does not exist")
        if endpoint not in self.allocations:
            raise errors.NotFound(f"no allocation {endpoint!r}")
        held = self.external.get(endpoint)
        if held is not None and address in (None, held):
            return {"address": held, "pool": pool, "key": endpoint}
        wanted = address or next(
            f"203.0.113.{n}" for n in range(1, 7) if f"203.0.113.{n}" not in self.external.values()
        )
        if wanted in self.external.values():
            raise errors.AlreadyExists(f"external IP {wanted} is assigned")
        self.external[endpoint] = wanted
        return {"address": wanted, "pool": pool, "key": endpoint}


class FakePort:
    """The endpoint port: records ADDs and DELs, answers as the agent would."""

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway
        self.added: list[ep.EndpointRequest] = []
        self.deleted: list[tuple[str, str]] = []
        self.collected: list[ep.GcRequest] = []

    async def add(self, request: ep.EndpointRequest) -> ep.Endpoint:
        self.added.append(request)
        return ep.Endpoint(
            container_id=request.container_id,
            ifname=request.ifname,
            netns=request.netns,
            network="",
            tenant=request.tenant,
            segment=request.segment,
            addresses=(ep.Address("10.2.17.1/32", self.gateway),),
            interface=ep.Interface(request.ifname, "02:00:00:00:00:02"),
            host_interface=ep.Interface("romana0123456789", "02:00:00:00:00:01"),
        )

    async def delete(self, container_id: str, ifname: str) -> bool:
        self.deleted.append((container_id, ifname))
        return True

    async def check(self, container_id: str, ifname: str) -> ep.Endpoint:
        raise errors.NotFound("not used")

    async def gc(self, request: ep.GcRequest) -> ep.GcAnswer:
        self.collected.append(request)
        return ep.GcAnswer()

    async def status(self, tenant: str | None, segment: str | None) -> ep.Readiness:
        return ep.Readiness(True)


class Host:
    """One host's plugin over the shared romanad."""

    def __init__(self, index: int, romanad: FakeRomanad, state: Path, wait: float = 10.0):
        self.port = FakePort(f"10.{index}.0.1")
        self.hv = host_view(index)
        self.deps = Deps(
            host=f"h{index}",
            romanad=romanad,
            view=lambda: self.hv,
            endpoints=self.port,
            state_dir=str(state),
        )
        self.wait = wait
        self.plugin = Plugin(self.deps, pending_wait=wait)

    def restarted(self) -> Plugin:
        self.plugin = Plugin(self.deps, pending_wait=self.wait)
        return self.plugin

    async def call(self, path: str, body: Any = None) -> dict[str, Any]:
        raw = b"" if body is None else json.dumps(body).encode()
        answer = await self.plugin.call(path, raw)
        assert answer.status == 200
        return answer.body

    async def address(self, pool: str, wanted: str = "") -> dict[str, Any]:
        """RequestAddress for an endpoint (``docker run``; ``wanted`` is ``--ip``)."""
        body = {"PoolID": pool, "Address": wanted, "Options": None}
        return await self.call("/IpamDriver.RequestAddress", body)

    async def gateway(self, pool: str) -> dict[str, Any]:
        """RequestAddress for the network's gateway (``docker network create``)."""
        options = {"RequestAddressType": protocol.GATEWAY_TYPE}
        body = {"PoolID": pool, "Address": "", "Options": options}
        return await self.call("/IpamDriver.RequestAddress", body)

    async def create(self, tenant: str = "t1", segment: str = "web") -> str:
        """``docker network create -d romana --ipam-driver romana -o ...``; the pool id."""
        pool = await self.call("/IpamDriver.RequestPool", {"AddressSpace": "romana", "Pool": ""})
        gateway = await self.gateway(pool["PoolID"])
        answer = await self.call(
            "/NetworkDriver.CreateNetwork", create_body(tenant, segment, gateway["Address"])
        )
        assert answer == {}, answer
        return str(pool["PoolID"])


def create_body(
    tenant: str, segment: str, gateway: str = "10.1.0.1/8", **more: str
) -> dict[str, Any]:
    generic = {"romana.tenant": tenant, "romana.segment": segment, **more}
    return {
        "NetworkID": NETWORK_ID,
        "Options": {"com.docker.network.enable_ipv6": False, "com.docker.network.generic": generic},
        "IPv4Data": [{"AddressSpace": "romana", "Gateway": gateway, "Pool": "10.0.0.0/8"}],
        "IPv6Data": [],
    }


def endpoint(address: str) -> dict[str, Any]:
    return {
        "NetworkID": NETWORK_ID,
        "EndpointID": ENDPOINT_ID,
        "Interface": {"Address": address, "AddressIPv6": "", "MacAddress": ""},
        "Options": {},
    }


@run
async def test_network_create_binds_the_pool_to_tenant_segment_and_network(
    host_a: Host, romanad: FakeRomanad
) -> None:
    pool = await host_a.call("/IpamDriver.RequestPool", {"AddressSpace": "romana", "Pool": ""})
    assert pool["PoolID"].startswith("romana-") and pool["Pool"] == "10.0.0.0/8"
    gateway = await host_a.gateway(pool["PoolID"])
    assert gateway["Address"] == "10.1.0.1/8", "this host's gateway, the network's length"
    assert await host_a.call("/NetworkDriver.CreateNetwork", create_body("t1", "web")) == {}
    assert romanad.bindings == {
        pool["PoolID"]: {
            "pool": pool["PoolID"],
            "tenant": "t1",
            "segment": "web",
            "network": "pods",
            "docker_network": NETWORK_ID,
            "host": "h1",
            "pair": "",
        }
    }
    assert romanad.allocations == {}, "creating a network allocates nothing"


@run
async def test_the_segment_is_default_unless_given(host_a: Host, romanad: FakeRomanad) -> None:
    await host_a.call("/IpamDriver.RequestPool", {"Pool": ""})
    body = create_body("t2", "x")
    del body["Options"]["com.docker.network.generic"]["romana.segment"]
    assert await host_a.call("/NetworkDriver.CreateNetwork", body) == {}
    assert [b["segment"] for b in romanad.bindings.values()] == ["default"]


@pytest.mark.parametrize(
    ("body", "err"),
    [
        (
            create_body("t1", "web", colour="red"),
            "romana: no such option colour (romana takes romana.tenant and romana.segment)",
        ),
        (create_body("blue", "web"), "romana: no tenant 'blue' (romana has: t1, t2)"),
        (create_body("t2", "web"), "romana: tenant 't2' has no segment 'web' (it has: default)"),
    ],
)
@run
async def test_bad_options_and_unknown_names_are_errs_and_bind_nothing(
    host_a: Host, romanad: FakeRomanad, body: dict[str, Any], err: str
) -> None:
    await host_a.call("/IpamDriver.RequestPool", {"Pool": ""})
    assert await host_a.call("/NetworkDriver.CreateNetwork", body) == {"Err": err}
    assert romanad.bindings == {}


@run
async def test_the_tenant_is_required(host_a: Host, romanad: FakeRomanad) -> None:
    await host_a.call("/IpamDriver.RequestPool", {"Pool": ""})
    body = create_body("t1", "web")
    body["Options"]["com.docker.network.generic"] = {}
    answer = await host_a.call("/NetworkDriver.CreateNetwork", body)
    assert answer == {"Err": "romana: option romana.tenant is required (-o romana.tenant=NAME)"}
    assert romanad.bindings == {}


@run
async def test_ipam_options_are_checked_and_used(host_a: Host, romanad: FakeRomanad) -> None:
    bad = await host_a.call("/IpamDriver.RequestPool", {"Pool": "", "Options": {"size": "2"}})
    assert bad == {
        "Error": "romana: no such option size (romana takes romana.tenant and romana.segment)"
    }
    options = {"romana.tenant": "t1", "romana.segment": "web"}
    await host_a.call("/IpamDriver.RequestPool", {"Pool": "", "Options": options})
    body = create_body("t1", "web")
    body["Options"]["com.docker.network.generic"] = {}
    assert await host_a.call("/NetworkDriver.CreateNetwork", body) == {}
    assert [(b["tenant"], b["segment"]) for b in romanad.bindings.values()] == [("t1", "web")]


@run
async def test_a_host_that_never_saw_the_pool_reads_its_binding_and_allocates_for_itself(
    host_a: Host, host_b: Host, romanad: FakeRomanad
) -> None:
    pool = await host_a.create()
    answer = await host_b.address(pool)
    assert answer == {"Address": "10.2.17.1/32", "Data": {}}, "host h2, tenant 1, segment 1"
    assert romanad.reads == [pool]
    (alloc,) = romanad.allocations.values()
    assert (alloc["host"], alloc["tenant"], alloc["segment"]) == ("h2", "t1", "web")
    assert protocol.split_key(alloc["key"]) is not None, alloc["key"]
    await host_b.address(pool)
    assert romanad.reads == [pool], "a binding is read once"


@run
async def test_an_unbound_pool_is_an_err(host_b: Host) -> None:
    pool = protocol.pool_id(protocol.new_hex())
    answer = await host_b.address(pool)
    assert answer["Error"].startswith(f"romana: pool {pool} is bound to no docker network")


@run
async def test_a_preferred_address_of_this_slot_is_allocated_and_another_hosts_refused(
    host_a: Host, host_b: Host, romanad: FakeRomanad
) -> None:
    pool = await host_a.create()
    answer = await host_b.address(pool, "10.1.17.9")
    assert "belongs to host prefix 10.1.0.0/16, not to this host's 10.2.0.0/16" in answer["Error"]
    assert romanad.allocations == {}
    fits = await host_b.address(pool, "10.2.17.9")
    assert fits["Address"] == "10.2.17.9/32", "any free address of the slot, not only the next"
    (alloc,) = romanad.allocations.values()
    assert alloc["addresses"] == ["10.2.17.9"]
    taken = await host_b.address(pool, "10.2.17.9")
    assert taken["Error"] == f"romana: address 10.2.17.9 is allocated to {alloc['key']}"
    assert list(romanad.allocations) == [alloc["key"]], "a refused request allocates nothing"


async def mapped(host_a: Host, host_b: Host, romanad: FakeRomanad) -> tuple[str, str]:
    """A network created on host A and an endpoint of it created on host B (10.2.17.1):
    the pool id and the endpoint's allocation key."""
    pool = await host_a.create()
    await host_b.address(pool)
    (key,) = romanad.allocations
    answer = await host_b.call("/NetworkDriver.CreateEndpoint", endpoint("10.2.17.1/32"))
    assert answer == {"Interface": {}}
    return pool, key


@run
async def test_an_endpoint_is_mapped_joined_left_deleted_and_released(
    host_a: Host, host_b: Host, romanad: FakeRomanad
) -> None:
    pool, key = await mapped(host_a, host_b, romanad)
    container_id, ifname = key.split(":")
    joined = await host_b.call(
        "/NetworkDriver.Join",
        {"NetworkID": NETWORK_ID, "EndpointID": ENDPOINT_ID, "SandboxKey": SANDBOX},
    )
    assert host_b.port.added == [
        ep.EndpointRequest(container_id, ifname, SANDBOX, "t1", "web", attachment="docker")
    ]
    assert joined == protocol.join_answer(ifname, "10.2.0.1")
    ids = {"NetworkID": NETWORK_ID, "EndpointID": ENDPOINT_ID}
    assert await host_b.call("/NetworkDriver.ProgramExternalConnectivity", ids) == {}
    assert await host_b.call("/NetworkDriver.EndpointOperInfo", ids) == {"Value": {}}
    assert await host_b.call("/NetworkDriver.Leave", ids) == {}
    assert host_b.port.deleted == [(container_id, ifname)]
    assert key in romanad.allocations, "Leave never releases"
    assert await host_b.call("/NetworkDriver.DeleteEndpoint", ids) == {}
    assert (
        json.loads((Path(host_b.deps.state_dir) / "docker-endpoints.json").read_text())["endpoints"]
        == {}
    )
    release = {"PoolID": pool, "Address": "10.2.17.1"}
    assert await host_b.call("/IpamDriver.ReleaseAddress", release) == {}
    assert romanad.released == [key]
    assert await host_b.call("/IpamDriver.ReleaseAddress", release) == {}, "again: nothing"


@run
async def test_a_sandboxs_later_endpoints_get_their_link_and_no_second_gateway(
    host_a: Host, host_b: Host, romanad: FakeRomanad
) -> None:
    pool = await host_a.create()
    ids = [c * 64 for c in "123"]
    for n, endpoint_id in enumerate(ids, start=1):
        await host_b.address(pool)
        body = {**endpoint(f"10.2.17.{n}/32"), "EndpointID": endpoint_id}
        assert await host_b.call("/NetworkDriver.CreateEndpoint", body) == {"Interface": {}}

    async def join(endpoint_id: str, sandbox: str = SANDBOX) -> dict[str, Any]:
        body = {"NetworkID": NETWORK_ID, "EndpointID": endpoint_id, "SandboxKey": sandbox}
        return await host_b.call("/NetworkDriver.Join", body)

    async def leave(endpoint_id: str) -> None:
        body = {"NetworkID": NETWORK_ID, "EndpointID": endpoint_id}
        assert await host_b.call("/NetworkDriver.Leave", body) == {}

    first = await join(ids[0])
    assert first["Gateway"] == "10.2.0.1" and first["StaticRoutes"]
    host_b.restarted()  # what is joined where outlives the agent
    second = await join(ids[1])
    assert second == protocol.later_join_answer(host_b.port.added[1].ifname)
    assert "Gateway" not in second and "StaticRoutes" not in second
    elsewhere = await join(ids[2], "/var/run/docker/netns/other")
    assert elsewhere["Gateway"] == "10.2.0.1", "another sandbox's first endpoint"
    for endpoint_id in ids[:2]:  # docker network disconnect: Leave, then DeleteEndpoint
        await leave(endpoint_id)
        body = {"NetworkID": NETWORK_ID, "EndpointID": endpoint_id}
        assert await host_b.call("/NetworkDriver.DeleteEndpoint", body) == {}
    await host_b.address(pool)
    fresh = {**endpoint("10.2.17.4/32"), "EndpointID": "4" * 64}
    assert await host_b.call("/NetworkDriver.CreateEndpoint", fresh) == {"Interface": {}}
    assert (await join("4" * 64))["Gateway"] == "10.2.0.1", "alone in its sandbox now"


@run
async def test_a_late_release_never_frees_the_address_of_a_later_endpoint(
    host_a: Host, host_b: Host, romanad: FakeRomanad
) -> None:
    pool, first = await mapped(host_a, host_b, romanad)
    # dockerd died: the agent's GC released the endpoint, and the address went to the next
    # container, which is allocated but not yet an endpoint, then to one that is.
    await romanad.release(first)
    await host_b.address(pool)
    (second,) = romanad.allocations
    later = {**endpoint("10.2.17.1/32"), "EndpointID": "e" * 64}
    # The restarted dockerd cleans up after the dead endpoint, late.
    ids = {"NetworkID": NETWORK_ID, "EndpointID": ENDPOINT_ID}
    assert await host_b.call("/NetworkDriver.DeleteEndpoint", ids) == {}
    release = {"PoolID": pool, "Address": "10.2.17.1"}
    assert await host_b.call("/IpamDriver.ReleaseAddress", release) == {}
    assert second in romanad.allocations
    await host_b.call("/NetworkDriver.CreateEndpoint", later)
    assert await host_b.call("/IpamDriver.ReleaseAddress", release) == {}
    assert second in romanad.allocations, "only a deleted endpoint's address is released"
    assert romanad.released == [first]


@run
async def test_the_sweep_asks_gc_about_docker_endpoints_only(host_b: Host) -> None:
    sweep = asyncio.create_task(host_b.plugin.sweep(0.01))
    await asyncio.sleep(0.05)
    sweep.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweep
    assert host_b.port.collected, "no sweep ran"
    assert {r.attachment for r in host_b.port.collected} == {"docker"}


@run
async def test_releasing_the_gateway_and_the_pool_on_the_creating_host(
    host_a: Host, romanad: FakeRomanad
) -> None:
    pool = await host_a.create()
    assert await host_a.call("/NetworkDriver.DeleteNetwork", {"NetworkID": NETWORK_ID}) == {}
    assert (
        await host_a.call("/IpamDriver.ReleaseAddress", {"PoolID": pool, "Address": "10.1.0.1"})
        == {}
    )
    assert romanad.released == []
    assert await host_a.call("/IpamDriver.ReleasePool", {"PoolID": pool}) == {}
    assert romanad.bindings == {}
    assert await host_a.call("/IpamDriver.ReleasePool", {"PoolID": pool}) == {}, "gone is fine"


@run
async def test_the_endpoint_map_survives_an_agent_restart(host_a: Host, host_b: Host) -> None:
    pool = await host_a.create()
    await host_b.address(pool)
    host_b.restarted()
    # The restarted agent finds the address's allocation in romanad, not in its memory.
    assert await host_b.call("/NetworkDriver.CreateEndpoint", endpoint("10.2.17.1/32")) == {
        "Interface": {}
    }
    path = Path(host_b.deps.state_dir) / "docker-endpoints.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    host_b.restarted()
    joined = await host_b.call(
        "/NetworkDriver.Join",
        {"NetworkID": NETWORK_ID, "EndpointID": ENDPOINT_ID, "SandboxKey": SANDBOX},
    )
    assert joined["InterfaceName"]["SrcName"] == host_b.port.added[0].ifname
    host_b.restarted()
    await host_b.call("/NetworkDriver.Leave", {"NetworkID": NETWORK_ID, "EndpointID": ENDPOINT_ID})
    assert host_b.port.deleted == [(host_b.port.added[0].container_id, host_b.port.added[0].ifname)]


@run
async def test_an_address_not_allocated_by_romana_has_no_endpoint(host_b: Host) -> None:
    answer = await host_b.call("/NetworkDriver.CreateEndpoint", endpoint("10.2.17.7/32"))
    assert "no docker allocation of this host holds 10.2.17.7" in answer["Err"]


@run
async def test_a_second_pool_request_waits_for_the_first_to_be_bound(
    host_a: Host, romanad: FakeRomanad
) -> None:
    first = await host_a.call("/IpamDriver.RequestPool", {"Pool": ""})
    second = asyncio.create_task(host_a.call("/IpamDriver.RequestPool", {"Pool": ""}))
    await asyncio.sleep(0.05)
    assert not second.done(), "one pending pool per host"
    assert await host_a.call("/NetworkDriver.CreateNetwork", create_body("t1", "web")) == {}
    got = await asyncio.wait_for(second, 1)
    assert got["PoolID"] != first["PoolID"]
    assert list(romanad.bindings) == [first["PoolID"]]


@run
async def test_a_pending_pool_released_frees_the_host_and_one_never_settled_times_out(
    romanad: FakeRomanad, tmp_path: Path
) -> None:
    host = Host(1, romanad, tmp_path, wait=0.1)
    first = await host.call("/IpamDriver.RequestPool", {"Pool": ""})
    late = await host.call("/IpamDriver.RequestPool", {"Pool": ""})
    assert late == {"Error": "romana: another docker network is being created on this host"}
    assert await host.call("/IpamDriver.ReleasePool", {"PoolID": first["PoolID"]}) == {}
    assert "PoolID" in await host.call("/IpamDriver.RequestPool", {"Pool": ""})


DESIGNED_CALLS = {
    "/Plugin.Activate",
    *(
        f"/NetworkDriver.{name}"
        for name in [
            "GetCapabilities",
            "CreateNetwork",
            "DeleteNetwork",
            "CreateEndpoint",
            "Join",
            "Leave",
            "DeleteEndpoint",
            "EndpointOperInfo",
            "DiscoverNew",
            "DiscoverDelete",
            "ProgramExternalConnectivity",
            "RevokeExternalConnectivity",
        ]
    ),
    *(
        f"/IpamDriver.{name}"
        for name in [
            "GetCapabilities",
            "GetDefaultAddressSpaces",
            "RequestPool",
            "ReleasePool",
            "RequestAddress",
            "ReleaseAddress",
        ]
    ),
}


def test_every_call_docker_makes_is_answered(host_a: Host) -> None:
    assert set(host_a.plugin.paths) == DESIGNED_CALLS


@run
async def test_the_plugin_says_what_it_is_and_refuses_what_it_is_not(host_a: Host) -> None:
    assert await host_a.call("/Plugin.Activate") == {"Implements": ["NetworkDriver", "IpamDriver"]}
    assert await host_a.call("/NetworkDriver.GetCapabilities") == {
        "Scope": "global",
        "ConnectivityScope": "global",
    }
    spaces = await host_a.call("/IpamDriver.GetDefaultAddressSpaces")
    assert spaces["GlobalDefaultAddressSpace"] == "romana"
    v6 = await host_a.call("/IpamDriver.RequestPool", {"Pool": "", "V6": True})
    assert v6 == {"Error": "romana: romana has no IPv6 network (omit --ipv6)"}
    other = await host_a.call("/IpamDriver.RequestPool", {"Pool": "192.168.0.0/16"})
    assert (
        other["Error"]
        == "romana: --subnet 192.168.0.0/16 is no romana IPv4 network (romana has: pods 10.0.0.0/8)"
    )
    unknown = await host_a.plugin.call("/NetworkDriver.AllocateNetwork", b"{}")
    assert (unknown.status, unknown.body) == (
        404,
        {"Err": "romana: no such call /NetworkDriver.AllocateNetwork"},
    )


@run
async def test_a_host_without_a_view_yet_answers_err(host_a: Host) -> None:
    def no_view() -> view.HostView:
        raise errors.Unavailable("romana-agent is not synced with romanad: not connected")

    host_a.plugin = Plugin(
        Deps(
            host="h1",
            romanad=FakeRomanad(),
            view=no_view,
            endpoints=host_a.port,
            state_dir="/nonexistent",
        )
    )
    answer = await host_a.call("/IpamDriver.RequestPool", {"Pool": ""})
    assert answer == {"Error": "romana: romana-agent is not synced with romanad: not connected"}


def test_the_docker_socket_setting_is_off_by_default_and_absolute_when_set() -> None:
    assert main.load_settings(["--insecure"], {}).settings.docker_socket == ""
    loaded = main.load_settings(
        ["--insecure", "--docker-socket", "/run/docker/plugins/romana.sock"], {}
    )
    assert loaded.settings.docker_socket == "/run/docker/plugins/romana.sock"
    with pytest.raises(errors.InvalidInput) as info:
        main.load_settings(["--insecure", "--docker-socket", "romana.sock"], {})
    assert {i.field for i in info.value.issues} == {"docker_socket"}
    assert "/run/docker/plugins/romana.sock" in " ".join(main.parser().format_help().split())


def test_the_sweep_runs_every_30_s_unless_set_to_a_positive_interval() -> None:
    assert main.load_settings(["--insecure"], {}).settings.docker_gc_interval == 30.0
    loaded = main.load_settings(["--insecure", "--docker-gc-interval", "1"], {})
    assert loaded.settings.docker_gc_interval == 1.0
    with pytest.raises(errors.InvalidInput) as info:
        main.load_settings(["--insecure", "--docker-gc-interval", "0"], {})
    assert {i.field for i in info.value.issues} == {"docker_gc_interval"}


# -- over HTTP, as dockerd calls it -----------------------------------------------------------


@pytest.fixture
def served(host_a: Host, tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "plugins" / "romana.sock")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    server = main.docker_server(path, host_a.plugin)
    task: list[asyncio.Task[None]] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        task.append(loop.create_task(server.serve(ready.set)))
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task[0])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    yield path
    loop.call_soon_threadsafe(task[0].cancel)
    thread.join(5)
    loop.close()
    assert not os.path.exists(path), "the socket file is removed on the way out"


def post(path: str, call: str, body: bytes) -> tuple[str, dict[str, Any]]:
    """POST as dockerd does; the head and the JSON body of the answer."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(
            f"POST {call} HTTP/1.1\r\nHost: plugin\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return head.decode(), json.loads(payload)


@pytest.mark.root  # the agent's server admits root only, as dockerd runs
def test_dockerd_reaches_the_plugin_over_its_unix_socket(served: str) -> None:
    assert stat.S_IMODE(os.stat(os.path.dirname(served)).st_mode) == 0o755
    head, body = post(served, "/Plugin.Activate", b"")
    assert head.startswith("HTTP/1.1 200")
    assert f"Content-Type: {protocol.CONTENT_TYPE}" in head
    assert body == {"Implements": ["NetworkDriver", "IpamDriver"]}
    head, body = post(
        served,
        "/NetworkDriver.CreateNetwork",
        json.dumps(create_body("t1", "web", colour="red")).encode(),
    )
    assert head.startswith("HTTP/1.1 200")
    assert body == {
        "Err": "romana: no such option colour (romana takes romana.tenant and romana.segment)"
    }
