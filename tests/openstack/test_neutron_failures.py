"""neutron-server with romana's drivers when romanad is down or has revoked the drivers'
token: a clear error and nothing leaked, or a new sign-in."""

from __future__ import annotations

import pytest

from openstack import rig
from romana.client import Client
from romana.lab.romanad import Romanad

pytestmark = pytest.mark.slow

PROJECT = "d00dd00dd00d4d00ad00dd00dd00dd00"


def test_a_port_created_while_romanad_is_down_fails_clearly_and_leaves_nothing(
    romanad: Romanad, admin: Client, neutron: rig.Rig
) -> None:
    tenant_user = neutron.project(PROJECT)
    network = tenant_user.create_network(name="n")
    tenant_user.create_subnet(network_id=network["id"], ip_version=4, cidr="10.0.0.0/8")

    romanad.stop()
    try:
        with pytest.raises(rig.SdkError) as failed:
            neutron.nova.create_port(
                network_id=network["id"], project_id=PROJECT, binding_host_id="compute-1"
            )
    finally:
        romanad.start()
    assert failed.value.status == 503
    assert "romanad could not be reached or failed" in failed.value.message
    assert neutron.nova.ports(network_id=network["id"]) == []
    assert [a for a in admin.list_allocations() if ":tap" in a["key"]] == []

    port = neutron.nova.create_port(
        network_id=network["id"], project_id=PROJECT, binding_host_id="compute-1"
    )
    ((address,),) = [[ip["ip_address"] for ip in port["fixed_ips"]]]
    assert admin.decode(address)["host"] == "compute-1"


def test_the_drivers_sign_in_again_when_romanad_revoked_their_token(
    admin: Client, neutron: rig.Rig
) -> None:
    tenant_user = neutron.project(PROJECT)
    network = tenant_user.create_network(name="after-revoke")
    tenant_user.create_subnet(network_id=network["id"], ip_version=4, cidr="10.0.0.0/8")
    admin.revoke_tokens("neutron")

    port = neutron.nova.create_port(
        network_id=network["id"], project_id=PROJECT, binding_host_id="compute-2"
    )
    ((address,),) = [[ip["ip_address"] for ip in port["fixed_ips"]]]
    assert admin.decode(address)["host"] == "compute-2"
