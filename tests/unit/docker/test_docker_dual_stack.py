"""``--ipv6`` Docker networks over fakes of romanad and the endpoint port: both pools bound,
each endpoint's IPv6 address the one allocated with its IPv4 address, Join answering both
gateways, one release per endpoint, and every refusal leaving nothing bound or allocated.

The hosts see networks ``pods`` (10.0.0.0/8) and ``pods6`` (fd00:10::/56); tenant ``t1``
allocates in both, ``t2`` in ``pods`` only.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from romana.agent import view
from romana.core import addressing, errors
from romana.core import endpoint as ep
from romana.core.dockerpools import DockerPool
from romana.integrations.docker.plugin import Plugin
from romana.integrations.docker.ports import Deps
from unit.docker.test_docker_plugin import (
    ENDPOINT_ID,
    NETWORK,
    NETWORK_ID,
    PODS,
    SANDBOX,
    FakePort,
    FakeRomanad,
    run,
)

POD6 = addressing.layout("pods6", "fd00:10::/56", 16, 16, 32)
NETWORK6 = {**POD6.to_dict(), "topology_bits": 8, "tenants": [], "blackouts": []}
TENANTS = [
    {"name": "t1", "ids": {"pods": 1, "pods6": 1}, "segments": {"default": 0, "web": 1}},
    {"name": "t2", "ids": {"pods": 2}, "segments": {"default": 0}},
]
GATEWAY_TYPE = {"RequestAddressType": "com.docker.network.gateway"}


def dual_view(index: int, *, prefix6: bool = True) -> view.HostView:
    """Host h<index>: 10.<index>.0.0/16 in pods and, with ``prefix6``, its prefix in pods6."""
    prefixes = {"pods": f"10.{index}.0.0/16"}
    gateways = {"pods": f"10.{index}.0.1"}
    if prefix6:
        prefixes["pods6"] = str(addressing.host_prefix(POD6, index))
        gateways["pods6"] = str(addressing.gateway(POD6, index))
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
                "prefixes": prefixes,
                "gateways": gateways,
            },
            "networks": [NETWORK, NETWORK6],
            "routes": [],
            "tenants": tenants,
            "policies": [],
            "address_sets": {},
            "endpoints": [],
        }
    )


class DualRomanad(FakeRomanad):
    """romanad with ``pods6`` beside ``pods``: a t1 allocation holds an address of each."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: str = ""
        """A network whose bindings are refused (a romanad that changed its mind)."""

    async def allocate(
        self, key: str, host: str, tenant: str, segment: str, **more: Any
    ) -> dict[str, Any]:
        fresh = key not in self.allocations
        alloc = await super().allocate(key, host, tenant, segment, **more)
        if fresh and tenant == "t1":
            decoded = addressing.decode(PODS, str(alloc["addresses"][0]))
            ordinal = decoded.ordinal
            address6 = addressing.encode(POD6, int(host[1:]), 1, decoded.segment, ordinal)
            alloc["addresses"] = [*alloc["addresses"], str(address6)]
        return alloc

    async def bind_docker_pool(self, binding: DockerPool) -> dict[str, Any]:
        if binding.network == self.refuse:
            raise errors.Unavailable("romanad is going away")
        return await super().bind_docker_pool(binding)


class DualPort(FakePort):
    """The endpoint port answering an IPv4 and an IPv6 address, each with its gateway."""

    def __init__(self, index: int) -> None:
        super().__init__(f"10.{index}.0.1")
        self.gateway6 = str(addressing.gateway(POD6, index))

    async def add(self, request: ep.EndpointRequest) -> ep.Endpoint:
        answer = await super().add(request)
        six = ep.Address("fd00:10:0:2:1:1:0:1/128", self.gateway6)
        return dataclasses.replace(answer, addresses=(*answer.addresses, six))


class Host:
    """One host's plugin over the shared romanad."""

    def __init__(self, index: int, romanad: DualRomanad, state: Path, *, prefix6: bool = True):
        self.port = DualPort(index)
        self.hv = dual_view(index, prefix6=prefix6)
        self.deps = Deps(
            host=f"h{index}",
            romanad=romanad,
            view=lambda: self.hv,
            endpoints=self.port,
            state_dir=str(state),
        )
        self.plugin = Plugin(self.deps, pending_wait=0.2)

    def restarted(self) -> None:
        self.plugin = Plugin(self.deps, pending_wait=0.2)

    async def call(self, path: str, body: Any = None) -> dict[str, Any]:
        raw = b"" if body is None else json.dumps(body).encode()
        answer = await self.plugin.call(path, raw)
        assert answer.status == 200
        return answer.body

    async def address(self, pool: str, wanted: str = "") -> dict[str, Any]:
        body = {"PoolID": pool, "Address": wanted, "Options": None}
        return await self.call("/IpamDriver.RequestAddress", body)

    async def release(self, pool: str, address: str) -> dict[str, Any]:
        body = {"PoolID": pool, "Address": address}
        return await self.call("/IpamDriver.ReleaseAddress", body)

    async def pools(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        """What ``docker network create --ipv6`` asks first: each pool and its gateway."""
        pool = await self.call("/IpamDriver.RequestPool", {"AddressSpace": "romana", "Pool": ""})
        gateway = await self.call(
            "/IpamDriver.RequestAddress", {"PoolID": pool["PoolID"], "Options": GATEWAY_TYPE}
        )
        pool6 = await self.call("/IpamDriver.RequestPool", {"Pool": "", "V6": True})
        gateway6 = await self.call(
            "/IpamDriver.RequestAddress", {"PoolID": pool6["PoolID"], "Options": GATEWAY_TYPE}
        )
        return pool, gateway, pool6, gateway6

    async def create(self, tenant: str = "t1", segment: str = "web") -> tuple[str, str]:
        """``docker network create --ipv6 ...``: the IPv4 and IPv6 pool ids."""
        pool, gateway, pool6, gateway6 = await self.pools()
        body = create_body(tenant, segment, gateway["Address"], gateway6["Address"])
        answer = await self.call("/NetworkDriver.CreateNetwork", body)
        assert answer == {}, answer
        return pool["PoolID"], pool6["PoolID"]


def create_body(tenant: str, segment: str, gateway: str, gateway6: str) -> dict[str, Any]:
    generic = {"romana.tenant": tenant, "romana.segment": segment}
    return {
        "NetworkID": NETWORK_ID,
        "Options": {"com.docker.network.enable_ipv6": True, "com.docker.network.generic": generic},
        "IPv4Data": [{"AddressSpace": "romana", "Gateway": gateway, "Pool": "10.0.0.0/8"}],
        "IPv6Data": [{"AddressSpace": "romana", "Gateway": gateway6, "Pool": "fd00:10::/56"}],
    }


def endpoint(address: str, address6: str, endpoint_id: str = ENDPOINT_ID) -> dict[str, Any]:
    return {
        "NetworkID": NETWORK_ID,
        "EndpointID": endpoint_id,
        "Interface": {"Address": address, "AddressIPv6": address6, "MacAddress": ""},
        "Options": {},
    }


@pytest.fixture
def romanad() -> DualRomanad:
    return DualRomanad()


@pytest.fixture
def host_a(romanad: DualRomanad, tmp_path: Path) -> Host:
    return Host(1, romanad, tmp_path / "a")


@pytest.fixture
def host_b(romanad: DualRomanad, tmp_path: Path) -> Host:
    return Host(2, romanad, tmp_path / "b")


@run
async def test_both_pools_are_bound_each_naming_the_other(
    host_a: Host, romanad: DualRomanad
) -> None:
    pool, gateway, pool6, gateway6 = await host_a.pools()
    assert (pool["Pool"], pool6["Pool"]) == ("10.0.0.0/8", "fd00:10::/56")
    assert gateway6["Address"] == "fd00:10:0:1::1/56", "this host's IPv6 gateway"
    body = create_body("t1", "web", gateway["Address"], gateway6["Address"])
    assert await host_a.call("/NetworkDriver.CreateNetwork", body) == {}
    common = {"tenant": "t1", "segment": "web", "docker_network": NETWORK_ID, "host": "h1"}
    v4, v6 = pool["PoolID"], pool6["PoolID"]
    assert romanad.bindings == {
        v4: {"pool": v4, "network": "pods", "pair": v6, **common},
        v6: {"pool": v6, "network": "pods6", "pair": v4, **common},
    }
    assert romanad.allocations == {}
    # Both settled: the next network of this host is not kept waiting.
    assert "PoolID" in await host_a.call("/IpamDriver.RequestPool", {"Pool": ""})


@run
async def test_an_endpoint_gets_both_addresses_of_one_allocation_and_releases_it_once(
    host_a: Host, host_b: Host, romanad: DualRomanad
) -> None:
    pool, pool6 = await host_a.create()
    assert await host_b.address(pool) == {"Address": "10.2.17.1/32", "Data": {}}
    assert await host_b.address(pool6) == {"Address": "fd00:10:0:2:1:1:0:1/128", "Data": {}}
    ((key, alloc),) = romanad.allocations.items()
    assert alloc["addresses"] == ["10.2.17.1", "fd00:10:0:2:1:1:0:1"]
    created = await host_b.call(
        "/NetworkDriver.CreateEndpoint", endpoint("10.2.17.1/32", "fd00:10:0:2:1:1:0:1/128")
    )
    assert created == {"Interface": {}}
    ids = {"NetworkID": NETWORK_ID, "EndpointID": ENDPOINT_ID}
    joined = await host_b.call("/NetworkDriver.Join", {**ids, "SandboxKey": SANDBOX})
    assert (joined["Gateway"], joined["GatewayIPv6"]) == ("10.2.0.1", "fd00:10:0:2::1")
    assert {"Destination": "fd00:10:0:2::1/128", "RouteType": 1} in joined["StaticRoutes"]
    assert await host_b.call("/NetworkDriver.Leave", ids) == {}
    assert await host_b.call("/NetworkDriver.DeleteEndpoint", ids) == {}
    assert await host_b.release(pool, "10.2.17.1") == {}
    assert await host_b.release(pool6, "fd00:10:0:2:1:1:0:1") == {}
    assert romanad.released == [key], "one release for both addresses"


@run
async def test_endpoints_in_turn_pair_in_turn_and_a_crossed_pair_is_refused(
    host_a: Host, host_b: Host, romanad: DualRomanad
) -> None:
    pool, pool6 = await host_a.create()
    # Two endpoints' IPv4 requests, then their IPv6 requests in the same order.
    first, second = [(await host_b.address(pool))["Address"] for _ in range(2)]
    first6, second6 = [(await host_b.address(pool6))["Address"] for _ in range(2)]
    allocations = [a["addresses"] for a in romanad.allocations.values()]
    assert allocations == [
        [first.split("/")[0], first6.split("/")[0]],
        [second.split("/")[0], second6.split("/")[0]],
    ], "the oldest IPv4 answer gets the first IPv6 request"
    crossed = await host_b.call("/NetworkDriver.CreateEndpoint", endpoint(first, second6))
    assert crossed["Err"].startswith(
        f"romana: AddressIPv6 {second6.split('/')[0]} and Address {first.split('/')[0]} are not "
        "one allocation's"
    ), crossed
    assert await host_b.call("/NetworkDriver.CreateEndpoint", endpoint(first, first6)) == {
        "Interface": {}
    }


@run
async def test_an_ipv6_request_with_no_ipv4_answer_awaiting_is_refused(
    host_a: Host, host_b: Host, romanad: DualRomanad
) -> None:
    pool, pool6 = await host_a.create()
    alone = await host_b.address(pool6)
    assert alone["Error"] == (
        f"romana: no IPv4 address of docker network {NETWORK_ID} awaits its IPv6 address on "
        "this host: docker asks for an endpoint's IPv4 address first"
    )
    # Released before its IPv6 request (docker undoing a failed endpoint), an IPv4 answer
    # awaits nothing any more.
    await host_b.address(pool)
    (key,) = romanad.allocations
    assert await host_b.release(pool, "10.2.17.1") == {}
    assert romanad.released == [key]
    assert "no IPv4 address" in (await host_b.address(pool6))["Error"]
    assert romanad.allocations == {}


@run
async def test_an_ipv4_only_tenant_fails_at_create_and_nothing_is_bound(
    host_a: Host, romanad: DualRomanad
) -> None:
    pool, gateway, pool6, gateway6 = await host_a.pools()
    body = create_body("t2", "default", gateway["Address"], gateway6["Address"])
    assert await host_a.call("/NetworkDriver.CreateNetwork", body) == {
        "Err": "romana: tenant 't2' does not allocate in the IPv6 romana network pods6 (it "
        "allocates in: pods): create the network without --ipv6"
    }
    assert romanad.bindings == {}
    for each in (pool, pool6):
        assert await host_a.call("/IpamDriver.ReleasePool", {"PoolID": each["PoolID"]}) == {}
    assert await host_a.create("t1", "web")
    # Named with --ipam-opt, the tenant is refused at the IPv6 pool already.
    options = {"romana.tenant": "t2"}
    await host_a.call("/IpamDriver.RequestPool", {"Pool": "", "Options": options})
    early = await host_a.call(
        "/IpamDriver.RequestPool", {"Pool": "", "V6": True, "Options": options}
    )
    assert "tenant 't2' does not allocate in the IPv6 romana network pods6" in early["Error"]


@run
async def test_a_refused_ipv4_binding_takes_the_ipv6_binding_back(
    host_a: Host, romanad: DualRomanad
) -> None:
    _, gateway, _, gateway6 = await host_a.pools()
    romanad.refuse = "pods"
    body = create_body("t1", "web", gateway["Address"], gateway6["Address"])
    answer = await host_a.call("/NetworkDriver.CreateNetwork", body)
    assert answer == {"Err": "romana: romanad is going away"}
    assert romanad.bindings == {}, "the IPv6 pool was bound first, then unbound"


@run
async def test_a_host_without_an_ipv6_prefix_refuses_the_ipv6_pool(
    romanad: DualRomanad, tmp_path: Path
) -> None:
    host = Host(3, romanad, tmp_path, prefix6=False)
    await host.call("/IpamDriver.RequestPool", {"Pool": ""})
    answer = await host.call("/IpamDriver.RequestPool", {"Pool": "", "V6": True})
    assert answer == {"Error": "romana: this host has no prefix in romana network pods6 (yet)"}


@run
async def test_an_ipv6_pool_comes_after_an_ipv4_one(host_a: Host) -> None:
    answer = await host_a.call("/IpamDriver.RequestPool", {"Pool": "", "V6": True})
    assert "no IPv4 pool of its network pending on this host" in answer["Error"]


@run
async def test_a_restarted_agent_finds_both_addresses_in_romanad(
    host_a: Host, host_b: Host, romanad: DualRomanad
) -> None:
    pool, pool6 = await host_a.create()
    address = (await host_b.address(pool))["Address"]
    address6 = (await host_b.address(pool6))["Address"]
    host_b.restarted()
    assert await host_b.call("/NetworkDriver.CreateEndpoint", endpoint(address, address6)) == {
        "Interface": {}
    }
    host_b.restarted()
    ids = {"NetworkID": NETWORK_ID, "EndpointID": ENDPOINT_ID}
    joined = await host_b.call("/NetworkDriver.Join", {**ids, "SandboxKey": SANDBOX})
    assert joined["GatewayIPv6"] == "fd00:10:0:2::1"
    await host_b.call("/NetworkDriver.DeleteEndpoint", ids)
    (key,) = romanad.allocations
    assert await host_b.release(pool6, address6.split("/")[0]) == {}
    assert await host_b.release(pool, address.split("/")[0]) == {}
    assert romanad.released == [key]
