"""Neutron routers in a real neutron-server with the L3 router plugin and no L3 agent: an
interface joins its network to the router's others in romana's model (``romana explain``),
removing it parts them again; external gateways and floating IPs are refused."""

from __future__ import annotations

from typing import Any

import pytest

from openstack.rig import Sdk, SdkError
from openstack.test_security_groups import allowed, explained, v4
from romana.client import Client
from romana.core import errors
from romana.integrations.openstack import mapping

pytestmark = pytest.mark.slow

PROJECT = "4e4e4e4e4e4e44e4e4e4e4e4e4e4e4e4"


class Routed:
    """Project R in a tenant pinned to ``pods`` and ``vms``: two networks whose subnets do
    not overlap (one router may not join overlapping subnets), and a third network."""

    def __init__(self, admin: Client, nova: Sdk, project: Any) -> None:
        admin.create_tenant(
            "routed",
            external_id=PROJECT,
            networks=["pods", "pods6", "vms"],
            isolation={"mode": "kubernetes"},
            owner="neutron",
        )
        self.sdk = project(PROJECT)
        self.nets, self.subnets, self.ports = [], [], []
        for name, cidr, host in (
            ("r-one", "10.0.0.0/8", "compute-1"),
            ("r-two", "172.16.0.0/12", "compute-2"),
            ("r-three", "10.0.0.0/8", "compute-2"),
        ):
            network = self.sdk.create_network(name=name)
            self.nets.append(network)
            self.subnets.append(
                self.sdk.create_subnet(network_id=network["id"], ip_version=4, cidr=cidr)
            )
            self.ports.append(
                nova.create_port(network_id=network["id"], project_id=PROJECT, binding_host_id=host)
            )


@pytest.fixture(scope="module")
def routed(admin: Client, nova: Sdk, project: Any) -> Routed:
    return Routed(admin, nova, project)


def test_a_router_joins_its_networks_and_removing_an_interface_parts_them(
    admin: Client, nova: Sdk, routed: Routed
) -> None:
    one, two, three = (v4(p) for p in routed.ports)
    assert not allowed(admin, one, two, "tcp/22")
    router = routed.sdk.create_router(name="r")
    for subnet in routed.subnets[:2]:
        routed.sdk.add_interface_to_router(router["id"], subnet_id=subnet["id"])

    # Joined: the default group, which admits its members, decides as within one network.
    assert allowed(admin, one, two, "tcp/22")
    assert allowed(admin, two, one, "udp/53")
    # The third network is joined to no router: still apart from both.
    for source, target in ((three, one), (one, three), (three, two)):
        decided = explained(admin, source, target, "tcp/22").ingress.rule
        assert decided is not None and decided.action == "deny"

    routed.sdk.remove_interface_from_router(router["id"], subnet_id=routed.subnets[1]["id"])
    assert not allowed(admin, one, two, "tcp/22")
    assert not allowed(admin, two, one, "tcp/22")


def test_a_router_interface_takes_the_gateway_address_without_a_romana_allocation(
    admin: Client, nova: Sdk, routed: Routed
) -> None:
    router = routed.sdk.create_router(name="gw")
    subnet = routed.subnets[2]
    routed.sdk.add_interface_to_router(router["id"], subnet_id=subnet["id"])
    (port,) = nova.ports(device_id=router["id"], device_owner="network:router_interface")
    assert [ip["ip_address"] for ip in port["fixed_ips"]] == [subnet["gateway_ip"]]
    with pytest.raises(errors.NotFound):
        admin.get_allocation(mapping.allocation_key(port["id"]))
    assert admin.decode(subnet["gateway_ip"]).get("allocation") is None
    # The router's port is no endpoint: it is in no security group's address set.
    members = {m for s in admin.list_address_sets() for m in s["members"]}
    assert f"{subnet['gateway_ip']}/32" not in members

    routed.sdk.remove_interface_from_router(router["id"], subnet_id=subnet["id"])
    assert nova.ports(device_id=router["id"]) == []
    routed.sdk.delete_router(router["id"])


def test_external_gateways_and_floating_ips_are_refused_with_the_reason(
    nova: Sdk, routed: Routed
) -> None:
    external = nova.create_network(name="ext", is_router_external=True, project_id=PROJECT)
    router = routed.sdk.create_router(name="out")
    with pytest.raises(SdkError) as gateway:
        nova.update_router(router["id"], external_gateway_info={"network_id": external["id"]})
    assert gateway.value.status == 400
    assert "romana does not support router external gateways" in gateway.value.message
    assert nova.get_router(router["id"])["external_gateway_info"] is None

    with pytest.raises(SdkError) as floating:
        nova.create_ip(floating_network_id=external["id"], project_id=PROJECT)
    assert floating.value.status == 400
    assert "romana does not support floating IPs" in floating.value.message
    assert nova.ips(floating_network_id=external["id"]) == []


def test_a_router_interface_on_a_gateway_that_endpoints_may_hold_is_refused(
    nova: Sdk, routed: Routed
) -> None:
    network = routed.sdk.create_network(name="r-bad-gateway")
    subnet = routed.sdk.create_subnet(
        network_id=network["id"], ip_version=4, cidr="10.0.0.0/8", gateway_ip=v4(routed.ports[0])
    )
    router = routed.sdk.create_router(name="bad")
    with pytest.raises(SdkError) as refused:
        routed.sdk.add_interface_to_router(router["id"], subnet_id=subnet["id"])
    assert refused.value.status == 400
    assert f"the subnet's gateway {v4(routed.ports[0])} is an address romana gives" in (
        refused.value.message
    )
    assert nova.ports(device_id=router["id"]) == []
