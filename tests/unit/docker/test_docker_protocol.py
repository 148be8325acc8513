"""The libnetwork protocol's rules as romana applies them: options, names, networks, --ip."""

from __future__ import annotations

import ipaddress

import pytest

from romana.core import addressing, tenancy
from romana.core.errors import InvalidInput, NotFound, RomanaError
from romana.integrations.docker import protocol

PODS = addressing.layout("pods", "10.0.0.0/8", 4, 4, 8)
MORE = addressing.layout("more", "172.16.0.0/12", 4, 4, 8)
V6 = addressing.layout("six", "fd00::/48")
T1 = tenancy.Tenant.from_dict(
    {"name": "t1", "ids": {"pods": 1}, "segments": {"default": 0, "web": 1}}
)
H1 = ipaddress.ip_network("10.1.0.0/16")


def message(exc: pytest.ExceptionInfo[RomanaError]) -> str:
    return protocol.err(exc.value)["Err"]


def test_network_options_take_tenant_and_segment_and_pass_dockers_own_over() -> None:
    got = protocol.choice(
        {"romana.tenant": "blue", "romana.segment": "web", "com.docker.network.mtu": "1400"}
    )
    assert got == protocol.Choice("blue", "web")
    assert protocol.segment_of(protocol.choice({"romana.tenant": "blue"})) == "default"


def test_any_other_option_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as info:
        protocol.choice({"romana.tenant": "blue", "colour": "red"})
    assert message(info) == (
        "romana: no such option colour (romana takes romana.tenant and romana.segment)"
    )


def test_create_network_reads_the_generic_options_and_its_one_ipv4_pool() -> None:
    body = {
        "NetworkID": "ab" * 32,
        "Options": {
            "com.docker.network.enable_ipv6": False,
            "com.docker.network.generic": {"romana.tenant": "blue"},
        },
        "IPv4Data": [{"AddressSpace": "romana", "Gateway": "10.1.0.1/8", "Pool": "10.0.0.0/8"}],
        "IPv6Data": [],
    }
    got = protocol.network_create(body)
    assert (got.network_id, got.pool, got.options.tenant) == ("ab" * 32, "10.0.0.0/8", "blue")
    with pytest.raises(InvalidInput, match="exactly one IPv4 pool"):
        protocol.network_create({**body, "IPv4Data": []})


def test_an_ipv6_network_asks_for_an_ipv6_pool_and_creates_with_both() -> None:
    got = protocol.pool_request({"AddressSpace": "romana", "Pool": "", "V6": True})
    assert (got.subnet, got.v6) == ("", True)
    assert not protocol.pool_request({"Pool": ""}).v6
    pool6 = {"AddressSpace": "romana", "Gateway": "fd00::1/48", "Pool": "fd00::/48"}
    body = {
        "NetworkID": "ab" * 32,
        "Options": {"com.docker.network.enable_ipv6": True},
        "IPv4Data": [{"AddressSpace": "romana", "Gateway": "10.1.0.1/8", "Pool": "10.0.0.0/8"}],
        "IPv6Data": [pool6],
    }
    created = protocol.network_create(body)
    assert (created.pool, created.pool6) == ("10.0.0.0/8", "fd00::/48")
    with pytest.raises(InvalidInput, match="at most one IPv6 pool"):
        protocol.network_create({**body, "IPv6Data": [pool6, pool6]})
    endpoint = protocol.endpoint_create(
        {
            "NetworkID": "ab" * 32,
            "EndpointID": "cd" * 32,
            "Interface": {"Address": "10.1.17.1/32", "AddressIPv6": "fd00:0:0:1::1/128"},
        }
    )
    assert (endpoint.address, endpoint.address6) == ("10.1.17.1", "fd00:0:0:1::1")


def test_the_ipv6_network_is_the_subnet_given_or_the_only_one() -> None:
    other6 = addressing.layout("other6", "fd01::/48")
    assert protocol.choose_network([PODS, V6], "", 6) is V6
    assert protocol.choose_network([PODS, V6, other6], "fd01::/48", 6) is other6
    with pytest.raises(InvalidInput, match=r"several romana IPv6 networks \(other6, six\)"):
        protocol.choose_network([V6, other6], "", 6)
    with pytest.raises(NotFound) as none:
        protocol.choose_network([PODS], "", 6)
    assert message(none) == "romana: romana has no IPv6 network (omit --ipv6)"


def test_a_dual_stack_network_needs_a_tenant_of_the_ipv6_network() -> None:
    protocol.check_dual_stack(tenancy.Tenant.from_dict({"name": "t6", "ids": {"six": 3}}), "six")
    with pytest.raises(InvalidInput) as info:
        protocol.check_dual_stack(T1, "six")
    assert message(info) == (
        "romana: tenant 't1' does not allocate in the IPv6 romana network six (it allocates "
        "in: pods): create the network without --ipv6"
    )


def test_option_given_twice_differently_is_a_clash() -> None:
    with pytest.raises(InvalidInput, match=r"romana\.tenant is 'a' in -o but 'b' in --ipam-opt"):
        protocol.Choice("a").over(protocol.Choice("b", "web"))
    assert protocol.Choice("a").over(protocol.Choice(None, "web")) == protocol.Choice("a", "web")


def test_a_body_that_is_not_a_json_object_is_refused_and_an_empty_one_is_empty() -> None:
    assert protocol.body_of(b"") == {}
    assert protocol.body_of(b"null") == {}
    with pytest.raises(InvalidInput, match="not JSON"):
        protocol.body_of(b"{nope")
    with pytest.raises(InvalidInput, match="JSON object"):
        protocol.body_of(b"[1]")


def test_addresses_come_without_their_length_and_pools_must_be_romanas() -> None:
    pool = protocol.pool_id(protocol.new_hex())
    release = protocol.address_release({"PoolID": pool, "Address": "10.1.16.1"})
    assert release.address == "10.1.16.1"
    got = protocol.address_request(
        {
            "PoolID": pool,
            "Address": "10.1.0.1/8",
            "Options": {"RequestAddressType": protocol.GATEWAY_TYPE},
        }
    )
    assert (got.address, got.gateway) == ("10.1.0.1", True)
    with pytest.raises(InvalidInput, match="is not a romana pool"):
        protocol.address_request({"PoolID": "default-pool", "Address": ""})


def test_pool_ids_and_endpoint_keys_have_the_designed_shape() -> None:
    hexpart = protocol.new_hex()
    assert len(hexpart) == 24 and int(hexpart, 16) >= 0
    assert protocol.pool_id(hexpart) == "romana-" + hexpart
    container_id, ifname = protocol.endpoint_names(hexpart)
    assert container_id == "docker-" + hexpart
    assert ifname == "rdk" + hexpart[:11] and len(ifname) <= 15
    assert protocol.split_key(f"{container_id}:{ifname}") == (container_id, ifname)
    assert protocol.split_key(f"{container_id}:eth0") is None
    assert protocol.split_key("4f1c0b3e:eth0") is None


def test_the_network_is_the_subnet_given_or_the_only_ipv4_one() -> None:
    assert protocol.choose_network([PODS, V6], "") is PODS
    assert protocol.choose_network([PODS, MORE], "172.16.0.0/12") is MORE
    with pytest.raises(InvalidInput) as several:
        protocol.choose_network([PODS, MORE], "")
    assert message(several) == (
        "romana: several romana IPv4 networks (more, pods): pass --subnet CIDR of one"
    )
    with pytest.raises(NotFound) as unknown:
        protocol.choose_network([PODS, MORE], "192.168.0.0/16")
    assert "romana has: more 172.16.0.0/12, pods 10.0.0.0/8" in message(unknown)


def test_unknown_tenant_and_segment_are_named_with_what_exists() -> None:
    tenants = {"t1": T1}
    with pytest.raises(NotFound, match=r"no tenant 'blue' \(romana has: t1\)"):
        protocol.check_names(tenants, "blue", "default")
    with pytest.raises(NotFound, match=r"no segment 'db' \(it has: default, web\)"):
        protocol.check_names(tenants, "t1", "db")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.2.17.5", "belongs to host prefix 10.2.0.0/16, not to this host's 10.1.0.0/16"),
        ("10.1.33.5", "encodes tenant id 2, not tenant 't1' (id 1 in network pods)"),
        ("10.1.16.5", "encodes segment id 0, not segment 'web' (id 1)"),
    ],
)
def test_a_preferred_address_must_be_this_hosts_tenants_and_segments(
    address: str, why: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        protocol.check_preferred(PODS, address, H1, T1, "web")
    assert why in message(info)
    protocol.check_preferred(PODS, "10.1.17.5", H1, T1, "web")


def test_join_answers_the_link_to_move_and_a_connected_gateway() -> None:
    assert protocol.join_answer("rdk0123456789a", "10.1.0.1") == {
        "InterfaceName": {"SrcName": "rdk0123456789a", "DstPrefix": "eth"},
        "Gateway": "10.1.0.1",
        "StaticRoutes": [{"Destination": "10.1.0.1/32", "RouteType": 1}],
        "DisableGatewayService": True,
    }
    dual = protocol.join_answer("rdk0123456789a", "10.1.0.1", "fd00:0:0:1::1")
    assert dual["GatewayIPv6"] == "fd00:0:0:1::1"
    assert dual["StaticRoutes"] == [
        {"Destination": "10.1.0.1/32", "RouteType": 1},
        {"Destination": "fd00:0:0:1::1/128", "RouteType": 1},
    ]


def test_every_hosts_gateway_is_known_as_one_and_an_endpoint_is_not() -> None:
    assert protocol.is_gateway([V6, PODS], "10.1.0.1")
    assert protocol.is_gateway([PODS], "10.2.0.1"), "another host's gateway too"
    assert not protocol.is_gateway([PODS], "10.2.17.1")
    assert not protocol.is_gateway([PODS], "192.168.0.1")


def test_a_failure_is_err_for_the_network_driver_and_error_for_ipam() -> None:
    # libnetwork reads the network driver's ``Err`` and the IPAM driver's ``Error`` only.
    assert protocol.failure("/NetworkDriver.Join", "x") == {"Err": "romana: x"}
    assert protocol.failure("/IpamDriver.RequestPool", "x") == {"Error": "romana: x"}
