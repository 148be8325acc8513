"""romana's drivers in the other configurations an operator may run: the mechanism driver
beside Neutron's own IPAM, and the IPAM driver without Neutron's ``segments`` plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openstack import rig
from romana.client import Client
from romana.lab.neutron_server import RomanaSection

pytestmark = pytest.mark.slow

PROJECT = "5e6f708192a34b5c6d7e8f90a1b2c3d4"


@pytest.fixture(scope="module")
def internal_ipam(
    openstack_python: Path, service_user: RomanaSection, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[rig.Rig]:
    config = rig.romana_config(service_user, ipam_driver="internal", service_plugins=())
    with rig.running(openstack_python, tmp_path_factory.mktemp("neutron-int"), config) as server:
        yield server


@pytest.fixture(scope="module")
def no_segments(
    openstack_python: Path, service_user: RomanaSection, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[rig.Rig]:
    config = rig.romana_config(service_user, service_plugins=())
    with rig.running(openstack_python, tmp_path_factory.mktemp("neutron-noseg"), config) as server:
        yield server


def test_the_mechanism_driver_binds_a_tap_on_romana_hosts_only(internal_ipam: rig.Rig) -> None:
    network = internal_ipam.project(PROJECT).create_network(name="n")
    internal_ipam.project(PROJECT).create_subnet(
        network_id=network["id"], ip_version=4, cidr="192.168.10.0/24"
    )
    on_romana = internal_ipam.nova.create_port(
        network_id=network["id"], project_id=PROJECT, binding_host_id="compute-1"
    )
    elsewhere = internal_ipam.nova.create_port(
        network_id=network["id"], project_id=PROJECT, binding_host_id="elsewhere"
    )
    assert on_romana["binding_vif_type"] == "tap"
    assert on_romana["status"] == "ACTIVE"
    assert elsewhere["binding_vif_type"] == "binding_failed"
    log = internal_ipam.server.log_tail(400)
    assert "host elsewhere is not in romanad's topology" in log


def test_without_the_segments_plugin_a_port_without_a_host_is_refused_with_the_reason(
    no_segments: rig.Rig, admin: Client
) -> None:
    tenant_user = no_segments.project(PROJECT)
    network = tenant_user.create_network(name="n")
    tenant_user.create_subnet(network_id=network["id"], ip_version=4, cidr="10.0.0.0/8")
    with pytest.raises(rig.SdkError) as refused:
        tenant_user.create_port(network_id=network["id"])
    assert refused.value.status == 400
    assert "needs service_plugins = segments" in refused.value.message
    assert tenant_user.ports(network_id=network["id"]) == []

    port = no_segments.nova.create_port(
        network_id=network["id"], project_id=PROJECT, binding_host_id="compute-2"
    )
    ((address,),) = [[ip["ip_address"] for ip in port["fixed_ips"]]]
    assert admin.decode(address)["host"] == "compute-2"
