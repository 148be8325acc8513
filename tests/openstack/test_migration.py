"""Nova's migrations in a real neutron-server: the port keeps its addresses, romanad moves it.

Cold migration updates the port's ``binding:host_id``; live migration uses Neutron's multiple
port bindings (an inactive binding on the destination, activated, the old one deleted). In
both, the addresses stay those the port got on its first host (they still encode its
project's tenant and its network's segment); romanad then holds the allocation on the new
host, and every other host's route plan carries an exception route (``/32``, ``/128``) to it,
until the port comes home or is deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openstack import rig
from openstack.rig import Rig, Sdk
from romana.client import Client
from romana.integrations.openstack import mapping
from romana.lab import neutron_server

pytestmark = pytest.mark.slow

PROJECT = "5a6b7c8d9e0f41a2b3c4d5e6f7a8b9c0"
UNDERLAY = {
    "compute-1": ("192.0.2.11", "2001:db8::11"),
    "compute-2": ("192.0.2.12", "2001:db8::12"),
}


@pytest.fixture(scope="module")
def neutron(
    openstack_python: Path,
    service_user: neutron_server.RomanaSection,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Rig]:
    """neutron-server as docs/openstack.md configures it, letting its admin context make the
    port-binding calls Nova makes."""
    work = tmp_path_factory.mktemp("neutron")
    config = rig.romana_config(service_user, extra=rig.binding_policy(work))
    with rig.running(openstack_python, work / "server", config) as running:
        yield running


def dual_stack_port(nova: Sdk, project: Any, name: str, host: str) -> dict[str, Any]:
    network = project(PROJECT).create_network(name=name)
    for cidr in ("10.0.0.0/8", "fd00:10::/56"):
        project(PROJECT).create_subnet(
            network_id=network["id"], ip_version=6 if ":" in cidr else 4, cidr=cidr
        )
    return dict(
        nova.create_port(
            network_id=network["id"],
            project_id=PROJECT,
            binding_host_id=host,
            device_owner="compute:nova",  # multiple bindings are for compute-owned ports
        )
    )


def addresses(port: dict[str, Any]) -> list[str]:
    return sorted(ip["ip_address"] for ip in port["fixed_ips"])


def exceptions(admin: Client, host: str) -> list[tuple[str, str, str | None]]:
    routes = admin.routes(host)["routes"]
    return sorted((r["dst"], r["via"], r["moved_from"]) for r in routes if r["moved_from"])


def assert_lives_on(admin: Client, port: dict[str, Any], host: str, origin: str) -> None:
    held = admin.get_allocation(mapping.allocation_key(port["id"]))
    assert (held["host"], held["origin"]) == (host, origin)
    for address in addresses(port):
        decoded = admin.decode(address)
        assert (decoded["host"], decoded["lives_on"]) == (origin, host), decoded
    v4, v6 = UNDERLAY[host]
    want = sorted(
        (f"{a}/{128 if ':' in a else 32}", v6 if ":" in a else v4, origin) for a in addresses(port)
    )
    assert exceptions(admin, origin) == want
    assert exceptions(admin, host) == []
    assert sorted(admin.routes(host)["moved_here"]) == addresses(port)


def test_cold_migration_keeps_the_address_and_romanad_moves_the_allocation(
    admin: Client, nova: Sdk, project: Any
) -> None:
    port = dual_stack_port(nova, project, "cold", "compute-1")
    before = addresses(port)
    moved = dict(nova.update_port(port["id"], binding_host_id="compute-2"))
    assert addresses(moved) == before
    assert moved["binding_host_id"] == "compute-2" and moved["binding_vif_type"] == "tap"
    assert_lives_on(admin, port, "compute-2", "compute-1")

    home = dict(nova.update_port(port["id"], binding_host_id="compute-1"))
    assert addresses(home) == before
    assert admin.get_allocation(mapping.allocation_key(port["id"])).get("origin") is None
    assert exceptions(admin, "compute-2") == []

    nova.update_port(port["id"], binding_host_id="compute-2")
    assert exceptions(admin, "compute-1") != []
    nova.delete_port(port["id"])
    assert exceptions(admin, "compute-1") == []
    assert all(admin.decode(a).get("allocation") is None for a in before)


def test_live_migration_through_multiple_port_bindings_moves_the_allocation(
    admin: Client, neutron: Rig, nova: Sdk, project: Any
) -> None:
    port = dual_stack_port(nova, project, "live", "compute-1")
    before = addresses(port)
    inactive = rig.create_inactive_binding(nova, port["id"], "compute-2", PROJECT)
    assert inactive["status"] == "INACTIVE" and inactive["vif_type"] == "tap"
    # An inactive binding moves nothing: the VM still runs on compute-1.
    assert admin.get_allocation(mapping.allocation_key(port["id"]))["host"] == "compute-1"
    assert exceptions(admin, "compute-1") == []

    nova.activate_port_binding(port["id"], "compute-2")
    # Activation moves it: from then on the VM runs on compute-2.
    assert admin.get_allocation(mapping.allocation_key(port["id"]))["host"] == "compute-2"
    nova.delete_port_binding(port["id"], "compute-1")
    after = dict(nova.get_port(port["id"]))
    assert after["binding_host_id"] == "compute-2"
    assert addresses(after) == before
    assert_lives_on(admin, port, "compute-2", "compute-1")
    nova.delete_port(port["id"])
    assert exceptions(admin, "compute-1") == []
