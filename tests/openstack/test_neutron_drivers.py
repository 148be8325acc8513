"""romana's IPAM and ML2 drivers inside a real neutron-server, driven by openstacksdk.

Every address a port gets is checked against romanad's own reading of it (``decode``): the
host the port is bound to, the tenant of the port's project, the segment of its network.
"""

from __future__ import annotations

from typing import Any

import pytest

from openstack.rig import Sdk, SdkError
from romana.client import Client
from romana.core import errors
from romana.integrations.openstack import mapping

pytestmark = pytest.mark.slow

PROJECT_A = "0a1b2c3d4e5f40718293a4b5c6d7e8f9"
PROJECT_B = "f9e8d7c6b5a440392817a6b5c4d3e2f1"


def network_with_subnets(sdk: Sdk, name: str, *cidrs: str) -> dict[str, Any]:
    network = sdk.create_network(name=name)
    for cidr in cidrs:
        sdk.create_subnet(network_id=network["id"], ip_version=6 if ":" in cidr else 4, cidr=cidr)
    return network


def addresses(port: dict[str, Any]) -> list[str]:
    return [ip["ip_address"] for ip in port["fixed_ips"]]


def tenant_of(admin: Client, project_id: str) -> str:
    (name,) = [t["name"] for t in admin.list_tenants() if t["external_id"] == project_id]
    return name


def assert_encodes(admin: Client, address: str, host: str, project_id: str, network: str) -> None:
    decoded = admin.decode(address)
    assert (decoded["host"], decoded["tenant"], decoded["segment"]) == (
        host,
        tenant_of(admin, project_id),
        network,
    ), decoded


def test_a_port_created_on_a_host_gets_an_address_that_encodes_host_tenant_and_network(
    admin: Client, nova: Sdk, project: Any
) -> None:
    network = network_with_subnets(project(PROJECT_A), "a-net", "10.0.0.0/8")
    port = nova.create_port(
        network_id=network["id"], project_id=PROJECT_A, binding_host_id="compute-1"
    )
    (address,) = addresses(port)
    assert_encodes(admin, address, "compute-1", PROJECT_A, network["id"])
    assert port["binding_vif_type"] == "tap"
    assert admin.get_allocation(mapping.allocation_key(port["id"]))["host"] == "compute-1"


def test_another_project_is_another_tenant(admin: Client, nova: Sdk, project: Any) -> None:
    network = network_with_subnets(project(PROJECT_B), "b-net", "10.0.0.0/8")
    port = nova.create_port(
        network_id=network["id"], project_id=PROJECT_B, binding_host_id="compute-1"
    )
    (address,) = addresses(port)
    assert_encodes(admin, address, "compute-1", PROJECT_B, network["id"])
    assert tenant_of(admin, PROJECT_B) != tenant_of(admin, PROJECT_A)


def test_a_dual_stack_port_gets_one_address_of_each_family_from_one_allocation(
    admin: Client, nova: Sdk, project: Any
) -> None:
    network = network_with_subnets(project(PROJECT_A), "a-dual", "10.0.0.0/8", "fd00:10::/56")
    port = nova.create_port(
        network_id=network["id"], project_id=PROJECT_A, binding_host_id="compute-2"
    )
    v4, v6 = sorted(addresses(port), key=lambda a: ":" in a)
    assert ":" in v6 and ":" not in v4
    for address in (v4, v6):
        assert_encodes(admin, address, "compute-2", PROJECT_A, network["id"])
    held = admin.get_allocation(mapping.allocation_key(port["id"]))["addresses"]
    assert sorted(held) == sorted([v4, v6])


def test_a_port_created_without_a_host_waits_for_its_binding(
    admin: Client, nova: Sdk, project: Any
) -> None:
    tenant_user = project(PROJECT_A)
    network = network_with_subnets(tenant_user, "a-deferred", "10.0.0.0/8")
    port = tenant_user.create_port(network_id=network["id"])
    assert port["fixed_ips"] == []
    assert port["ip_allocation"] == "deferred"
    with pytest.raises(errors.NotFound):
        admin.get_allocation(mapping.allocation_key(port["id"]))

    bound = nova.update_port(port["id"], binding_host_id="compute-2")
    (address,) = addresses(bound)
    assert_encodes(admin, address, "compute-2", PROJECT_A, network["id"])
    assert bound["binding_vif_type"] == "tap"


def test_deleting_a_port_releases_its_address(admin: Client, nova: Sdk, project: Any) -> None:
    network = network_with_subnets(project(PROJECT_A), "a-delete", "10.0.0.0/8")
    port = nova.create_port(
        network_id=network["id"], project_id=PROJECT_A, binding_host_id="compute-1"
    )
    key = mapping.allocation_key(port["id"])
    assert key in {a["key"] for a in admin.list_allocations()}

    nova.delete_port(port["id"])

    assert key not in {a["key"] for a in admin.list_allocations()}
    (address,) = addresses(port)
    assert admin.decode(address).get("allocation") is None


def test_a_subnet_outside_romanas_networks_is_refused_with_the_reason(project: Any) -> None:
    tenant_user = project(PROJECT_A)
    network = tenant_user.create_network(name="a-foreign")
    with pytest.raises(SdkError) as refused:
        tenant_user.create_subnet(network_id=network["id"], ip_version=4, cidr="192.168.77.0/24")
    assert refused.value.status == 400
    assert "192.168.77.0/24 is not a romana network nor inside one" in refused.value.message
    assert tenant_user.subnets(network_id=network["id"]) == []


def test_a_port_on_a_host_romana_does_not_know_is_refused_with_the_reason(
    admin: Client, nova: Sdk, project: Any
) -> None:
    network = network_with_subnets(project(PROJECT_A), "a-unknown-host", "10.0.0.0/8")
    with pytest.raises(SdkError) as refused:
        nova.create_port(
            network_id=network["id"], project_id=PROJECT_A, binding_host_id="not-a-romana-host"
        )
    assert "not-a-romana-host" in refused.value.message
    assert nova.ports(network_id=network["id"]) == []
    assert [a for a in admin.list_allocations() if a["host"] == "not-a-romana-host"] == []


def test_a_network_and_its_subnet_go_only_without_ports_and_leave_nothing_in_romanad(
    admin: Client, nova: Sdk, project: Any
) -> None:
    tenant_user = project(PROJECT_A)
    network = network_with_subnets(tenant_user, "a-gone", "10.0.0.0/8")
    (subnet,) = tenant_user.subnets(network_id=network["id"])
    port = nova.create_port(
        network_id=network["id"], project_id=PROJECT_A, binding_host_id="compute-1"
    )
    tenant = tenant_of(admin, PROJECT_A)
    assert network["id"] in admin.get_tenant(tenant)["segments"]
    key = mapping.allocation_key(port["id"])
    # Neutron's rule: neither goes while a port uses it; romana keeps everything meanwhile.
    for delete, what in (
        (tenant_user.delete_subnet, subnet),
        (tenant_user.delete_network, network),
    ):
        with pytest.raises(SdkError) as refused:
            delete(what["id"])
        assert refused.value.status == 409, refused.value.message
    assert admin.get_allocation(key)["host"] == "compute-1"

    nova.delete_port(port["id"])
    tenant_user.delete_subnet(subnet["id"])
    tenant_user.delete_network(network["id"])

    assert network["id"] not in admin.get_tenant(tenant)["segments"]
    assert [a for a in admin.list_allocations() if a["key"] == key] == []
    assert not any(network["id"] in p["name"] for p in admin.list_policies())
    assert not any(network["id"] in s["name"] for s in admin.list_address_sets())


def test_a_new_projects_default_security_group_has_neutrons_four_default_rules(
    project: Any,
) -> None:
    project_id = "77777777777747777777777777777777"
    tenant_user = project(project_id)
    tenant_user.create_network(name="first")
    (group,) = tenant_user.security_groups(name="default", project_id=project_id)
    rules = {
        (r["direction"], r["ether_type"], r["remote_group_id"] is not None)
        for r in tenant_user.security_group_rules(security_group_id=group["id"])
    }
    assert rules == {
        ("egress", "IPv4", False),
        ("egress", "IPv6", False),
        ("ingress", "IPv4", True),
        ("ingress", "IPv6", True),
    }


def test_a_requested_ip_address_is_refused_unless_it_is_the_ports_own(
    admin: Client, nova: Sdk, project: Any
) -> None:
    network = network_with_subnets(project(PROJECT_A), "a-fixed", "10.0.0.0/8")
    (subnet,) = nova.subnets(network_id=network["id"])
    with pytest.raises(SdkError) as refused:
        nova.create_port(
            network_id=network["id"],
            project_id=PROJECT_A,
            binding_host_id="compute-1",
            fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.1.17.200"}],
        )
    assert refused.value.status == 400
    assert "fixed_ips may name a subnet_id but not an ip_address" in refused.value.message

    port = nova.create_port(
        network_id=network["id"],
        project_id=PROJECT_A,
        binding_host_id="compute-1",
        fixed_ips=[{"subnet_id": subnet["id"]}],
    )
    (address,) = addresses(port)
    assert_encodes(admin, address, "compute-1", PROJECT_A, network["id"])


def test_an_ipv6_slaac_subnet_is_refused_when_a_port_would_use_it_and_nothing_is_leaked(
    admin: Client, nova: Sdk, project: Any
) -> None:
    # The IPv4 address is allocated first; Neutron's rollback of the failed create releases it.
    network = network_with_subnets(project(PROJECT_A), "a-slaac", "10.0.0.0/8")
    held_before = {a["key"] for a in admin.list_allocations()}
    project(PROJECT_A).create_subnet(
        network_id=network["id"],
        ip_version=6,
        cidr="fd00:10::/64",
        ipv6_address_mode="slaac",
        ipv6_ra_mode="slaac",
    )
    with pytest.raises(SdkError) as refused:
        nova.create_port(
            network_id=network["id"], project_id=PROJECT_A, binding_host_id="compute-1"
        )
    assert refused.value.status == 400
    assert "SLAAC and DHCPv6-stateless subnets are not supported" in refused.value.message
    assert nova.ports(network_id=network["id"]) == []
    assert {a["key"] for a in admin.list_allocations()} == held_before


def test_a_tenant_created_beforehand_with_the_projects_id_is_the_projects_tenant(
    admin: Client, nova: Sdk, project: Any
) -> None:
    project_id = "c0c0c0c0c0c04c0c8c0c0c0c0c0c0c0c"
    admin.create_tenant("acme", external_id=project_id, owner="neutron")
    network = network_with_subnets(project(project_id), "c-net", "10.0.0.0/8")
    port = nova.create_port(
        network_id=network["id"], project_id=project_id, binding_host_id="compute-2"
    )
    (address,) = addresses(port)
    assert admin.decode(address)["tenant"] == "acme"


def test_a_tenant_made_beforehand_but_not_handed_to_the_drivers_is_not_theirs(
    admin: Client, project: Any
) -> None:
    project_id = "d0d0d0d0d0d04d0d8d0d0d0d0d0d0d0d"
    admin.create_tenant("kept", external_id=project_id)
    network = project(project_id).create_network(name="d-net")
    with pytest.raises(SdkError) as refused:
        project(project_id).create_subnet(network_id=network["id"], ip_version=4, cidr="10.0.0.0/8")
    assert refused.value.status == 400
    assert f"external_id {project_id!r} is already used by tenant 'kept'" in refused.value.message
    assert admin.get_tenant("kept")["segments"] == {"default": 0}


def test_a_subnet_in_a_romana_network_the_tenant_is_not_pinned_to_is_refused(
    admin: Client, nova: Sdk, project: Any
) -> None:
    network_with_subnets(project(PROJECT_A), "a-pinned", "10.0.0.0/8")
    tenant = tenant_of(admin, PROJECT_A)
    assert sorted(admin.get_tenant(tenant)["ids"]) == ["pods", "pods6"]
    network = project(PROJECT_A).create_network(name="a-vms")
    with pytest.raises(SdkError) as refused:
        project(PROJECT_A).create_subnet(
            network_id=network["id"], ip_version=4, cidr="172.16.0.0/24"
        )
    assert refused.value.status == 400
    assert (
        f"172.16.0.0/24 lies in romana network vms, but the project's tenant {tenant} is "
        "pinned to: pods, pods6" in refused.value.message
    )
