"""The OpenStack rig: a real romanad, a real neutron-server running romana's drivers, and
openstacksdk to drive it (``rig.py``).

neutron-server runs from the OpenStack environment (``romana.lab.neutron_server``): outside
CI a test skips when that environment has not been built (``ROMANA_OPENSTACK_BUILD=1``
builds it, as ``CI=true`` always does). romanad runs over SQLite with the networks ``pods``
(10.0.0.0/8), ``pods6`` (fd00:10::/56) and ``vms`` (172.16.0.0/12) in one topology, and two
hosts that exist only in that topology (no agent runs in this rig). The drivers sign in as an
``openstack``-role user whose password is in the file ``[romana] password_file`` names. Every
daemon is stopped by PID at the end of its module.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openstack import rig
from romana.client import Client, ClientSettings
from romana.lab import neutron_server as lab_openstack
from romana.lab import topologies
from romana.lab.romanad import Romanad
from support import env
from support import romanad as romanad_support

HOSTS = {"compute-1": ("192.0.2.11", "2001:db8::11"), "compute-2": ("192.0.2.12", "2001:db8::12")}
V6_NETWORK = topologies.POD6
SECOND_V4_NETWORK = {
    "name": "vms",
    "cidr": "172.16.0.0/12",
    "tenant_bits": 2,
    "segment_bits": 2,
    "endpoint_bits": 8,
}
"""A tenant created without naming networks is pinned to ``pods`` and ``pods6`` only."""


@pytest.fixture(scope="session")
def openstack_python() -> Path:
    if not lab_openstack.venv_ready() and os.environ.get("ROMANA_OPENSTACK_BUILD") != "1":
        env.need(
            env.IN_CI,
            "the OpenStack environment is not built "
            "(ROMANA_OPENSTACK_BUILD=1 builds it in about a minute)",
        )
    return lab_openstack.openstack_venv()


romanad = romanad_support.sqlite_fixture("os-romanad")


@pytest.fixture(scope="module")
def admin(romanad: Romanad) -> Iterator[Client]:
    with Client(ClientSettings(url=(romanad.url,))) as client:
        client.login(*romanad.admin())
        document = topologies.pods(racks=("1",))
        for network in (V6_NETWORK, SECOND_V4_NETWORK):
            document["networks"].append(network)
            document["topologies"][0]["networks"].append(network["name"])
        client.apply_topology(document)
        for name, (ip, ip6) in HOSTS.items():
            client.add_host(name, ip, labels={"rack": "1"}, ip6=ip6)
        yield client


@pytest.fixture(scope="module")
def service_user(
    romanad: Romanad, admin: Client, tmp_path_factory: pytest.TempPathFactory
) -> lab_openstack.RomanaSection:
    """The ``[romana]`` section: the drivers' ``openstack``-role user of romanad and its
    password file."""
    work = tmp_path_factory.mktemp("romana-user")
    password = secrets.token_urlsafe(18)
    admin.create_user("neutron", password, "openstack")
    password_file = work / "romana.password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return lab_openstack.RomanaSection(romanad.url, "neutron", password_file)


@pytest.fixture(scope="module")
def neutron(
    openstack_python: Path,
    service_user: lab_openstack.RomanaSection,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[rig.Rig]:
    """neutron-server configured as docs/openstack.md says."""
    config = rig.romana_config(service_user)
    with rig.running(openstack_python, tmp_path_factory.mktemp("neutron"), config) as running:
        yield running


@pytest.fixture(scope="module")
def nova(neutron: rig.Rig) -> rig.Sdk:
    """Nova's identity: the only one that may set ``binding:host_id``."""
    return neutron.nova


@pytest.fixture(scope="module")
def project(neutron: rig.Rig) -> Any:
    """``project(id)``: openstacksdk as a member of that project."""
    return neutron.project
