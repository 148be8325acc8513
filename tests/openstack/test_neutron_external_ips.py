"""A port's external IP through a real neutron-server: ``binding:profile`` key
``romana_external_ip`` (``"POOL"`` or ``"POOL/ADDRESS"``) makes the mechanism driver assign an
external IP of that pool to the port's allocation in romanad (signed in as the ``openstack``
user, which may do so only in the tenants it owns); removing the key unassigns it, deleting
the port releases it; romanad's refusals reach the Neutron caller and Neutron keeps nothing
of the refused request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openstack import rig
from openstack.rig import Rig, Sdk, SdkError
from romana.client import Client
from romana.integrations.openstack import mapping
from romana.lab import neutron_server

pytestmark = pytest.mark.slow

PROJECT = "3e4f5a6b7c8d49e0a1b2c3d4e5f6a7b8"
POOL = "os-internet"
KEY = "romana_external_ip"
PROFILE_POLICY = """\
"create_port:binding:profile": "rule:service_api or role:admin"
"update_port:binding:profile": "rule:service_api or role:admin"
"""


@pytest.fixture(scope="module")
def neutron(
    openstack_python: Path,
    service_user: neutron_server.RomanaSection,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Rig]:
    """neutron-server as docs/openstack.md configures it, with the policy docs/openstack.md
    gives for admins to set ``binding:profile`` (beside Nova's ``service`` role, Neutron's
    default): under ``noauth`` every call has an admin context."""
    work = tmp_path_factory.mktemp("neutron")
    config = rig.romana_config(service_user, extra=rig.binding_policy(work, PROFILE_POLICY))
    with rig.running(openstack_python, work / "server", config) as running:
        yield running


@pytest.fixture(scope="module")
def network(admin: Client, project: Any) -> dict[str, Any]:
    admin.create_external_pool(POOL, ["203.0.113.0/29"])
    sdk = project(PROJECT)
    made: dict[str, Any] = sdk.create_network(name="ext-net")
    sdk.create_subnet(network_id=made["id"], ip_version=4, cidr="10.0.0.0/8")
    return made


def external_ips(admin: Client, port_id: str) -> list[tuple[str, str]]:
    """What romanad holds for the port's allocation: ``(pool, address)``."""
    found = admin.list_external_ips(key=mapping.allocation_key(port_id))
    return [(ip["pool"], ip["address"]) for ip in found]


def test_the_profile_assigns_changes_and_unassigns_the_ports_external_ip(
    admin: Client, nova: Sdk, network: dict[str, Any]
) -> None:
    port = nova.create_port(
        network_id=network["id"],
        project_id=PROJECT,
        binding_host_id="compute-1",
        binding_profile={KEY: POOL},
    )
    assert port["binding_vif_type"] == "tap"
    assert external_ips(admin, port["id"]) == [(POOL, "203.0.113.1")]
    (assigned,) = admin.list_external_ips(key=mapping.allocation_key(port["id"]))
    assert assigned["tenant"] == admin.decode(port["fixed_ips"][0]["ip_address"])["tenant"]

    # Another address of the pool: the old one goes.
    nova.update_port(port["id"], binding_profile={KEY: f"{POOL}/203.0.113.5"})
    assert external_ips(admin, port["id"]) == [(POOL, "203.0.113.5")]
    # Another key of the profile changes nothing.
    nova.update_port(port["id"], binding_profile={KEY: f"{POOL}/203.0.113.5", "x": "y"})
    assert external_ips(admin, port["id"]) == [(POOL, "203.0.113.5")]
    # The key removed: unassigned; the port stays bound.
    updated = nova.update_port(port["id"], binding_profile={})
    assert external_ips(admin, port["id"]) == []
    assert updated["binding_vif_type"] == "tap"

    # Set again, then the port deleted: its allocation's release drops it.
    nova.update_port(port["id"], binding_profile={KEY: POOL})
    assert external_ips(admin, port["id"]) == [(POOL, "203.0.113.1")]
    nova.delete_port(port["id"])
    assert admin.list_external_ips(pool=POOL) == []


def test_a_port_created_without_a_host_gets_its_external_ip_when_bound(
    admin: Client, nova: Sdk, network: dict[str, Any]
) -> None:
    port = nova.create_port(
        network_id=network["id"], project_id=PROJECT, binding_profile={KEY: POOL}
    )
    assert port["fixed_ips"] == []
    assert external_ips(admin, port["id"]) == []
    bound = nova.update_port(port["id"], binding_host_id="compute-2")
    assert bound["fixed_ips"]
    assert external_ips(admin, port["id"]) == [(POOL, "203.0.113.1")]
    nova.delete_port(port["id"])
    assert admin.list_external_ips(pool=POOL) == []


def test_refusals_reach_the_caller_and_neutron_keeps_nothing_of_them(
    admin: Client, nova: Sdk, network: dict[str, Any]
) -> None:
    # A bad value: 400 naming the key, no port.
    with pytest.raises(SdkError) as bad:
        nova.create_port(
            network_id=network["id"],
            project_id=PROJECT,
            binding_host_id="compute-1",
            binding_profile={KEY: f"{POOL}/not-an-address"},
        )
    assert bad.value.status == 400, bad.value.message
    assert "binding:profile.romana_external_ip: 'not-an-address'" in bad.value.message
    assert nova.ports(network_id=network["id"]) == []

    # No such pool: the port is not kept, and its allocation is released.
    with pytest.raises(SdkError) as missing:
        nova.create_port(
            network_id=network["id"],
            project_id=PROJECT,
            binding_host_id="compute-1",
            binding_profile={KEY: "nowhere"},
        )
    assert missing.value.status == 400, missing.value.message
    assert "external pool 'nowhere' does not exist" in missing.value.message
    assert nova.ports(network_id=network["id"]) == []
    (tenant,) = [t["name"] for t in admin.list_tenants() if t["external_id"] == PROJECT]
    assert admin.list_allocations(tenant=tenant) == []

    # An address in use: the update is refused and the port keeps what it had.
    first = nova.create_port(
        network_id=network["id"],
        project_id=PROJECT,
        binding_host_id="compute-1",
        binding_profile={KEY: f"{POOL}/203.0.113.2"},
    )
    second = nova.create_port(
        network_id=network["id"],
        project_id=PROJECT,
        binding_host_id="compute-2",
        binding_profile={KEY: f"{POOL}/203.0.113.3"},
    )
    with pytest.raises(SdkError) as taken:
        nova.update_port(second["id"], binding_profile={KEY: f"{POOL}/203.0.113.2"})
    assert taken.value.status == 400, taken.value.message
    assert "external IP 203.0.113.2 is assigned already" in taken.value.message
    assert nova.get_port(second["id"])["binding_profile"] == {KEY: f"{POOL}/203.0.113.3"}
    assert external_ips(admin, second["id"]) == [(POOL, "203.0.113.3")]
    assert external_ips(admin, first["id"]) == [(POOL, "203.0.113.2")]
    # A bad value on an update: refused as on a create, nothing changed.
    with pytest.raises(SdkError) as bad_update:
        nova.update_port(first["id"], binding_profile={KEY: ["a", "list"]})
    assert bad_update.value.status == 400, bad_update.value.message
    assert nova.get_port(first["id"])["binding_profile"] == {KEY: f"{POOL}/203.0.113.2"}
    assert external_ips(admin, first["id"]) == [(POOL, "203.0.113.2")]
    for port in (first, second):
        nova.delete_port(port["id"])
    assert admin.list_external_ips(pool=POOL) == []
