"""The pure mapping of Neutron's resources onto romana's (no Neutron needed)."""

from __future__ import annotations

import pytest

from romana.core import endpoint, ipam, names
from romana.integrations.openstack import mapping

NETWORKS = [
    {"name": "pods", "cidr": "10.0.0.0/8"},
    {"name": "pods6", "cidr": "fd00:10::/56"},
]


@pytest.mark.parametrize(
    ("cidr", "network"),
    [
        ("10.0.0.0/8", "pods"),
        ("10.1.0.0/16", "pods"),
        ("fd00:10::/56", "pods6"),
        ("fd00:10:0:1::/64", "pods6"),
        ("10.0.0.0/7", None),
        ("172.16.0.0/24", None),
        ("fd00:11::/64", None),
    ],
)
def test_a_subnet_is_the_romana_network_that_holds_its_cidr(cidr: str, network: str | None) -> None:
    assert mapping.network_for(cidr, NETWORKS) == network


def test_the_address_of_a_subnet_is_the_allocations_address_inside_it() -> None:
    held = ["10.1.17.5", "fd00:10:0:1::5"]
    assert mapping.address_in(held, "10.0.0.0/8") == "10.1.17.5"
    assert mapping.address_in(held, "fd00:10::/56") == "fd00:10:0:1::5"
    assert mapping.address_in(held, "10.2.0.0/16") is None


def test_names_and_keys_made_from_keystone_and_neutron_ids_are_valid_in_romana() -> None:
    project_id, port_id = "0a1b2c3d4e5f40718293a4b5c6d7e8f9", "1c4c2d6e-7b0a-4d1e-9f3a-5b6c7d8e9f00"
    assert names.NAME_RE.match(mapping.tenant_name(project_id))
    assert names.NAME_RE.match(mapping.segment_name(port_id))
    assert ipam.KEY_RE.match(mapping.allocation_key(port_id))


def test_a_ports_allocation_key_is_the_agents_endpoint_key_of_its_tap() -> None:
    port_id = "1c4c2d6e-7b0a-4d1e-9f3a-5b6c7d8e9f00"
    assert mapping.allocation_key(port_id) == f"{port_id}:tap1c4c2d6e-7b"
    assert mapping.allocation_key(port_id) == endpoint.endpoint_key(
        port_id, endpoint.tap_name(port_id)
    )


def test_the_hosts_of_a_topology_document_are_found_in_nested_groups() -> None:
    from romana.core import topology

    document = {
        "networks": [{**NETWORKS[0], "tenant_bits": 4, "segment_bits": 4, "endpoint_bits": 8}],
        "topologies": [
            {
                "networks": ["pods"],
                "map": [
                    {"name": "rack-1", "groups": [{"name": "c1", "ip": "192.0.2.1"}]},
                    {"name": "rack-2", "groups": [{"groups": [{"name": "c2", "ip": "192.0.2.2"}]}]},
                ],
            }
        ],
    }
    assert mapping.hosts_in(document) == {"c1", "c2"}
    # What romanad answers to GET /v1/topology: the document it was given, parsed again.
    exported = topology.to_document(topology.parse(document))
    assert mapping.hosts_in(exported) == {"c1", "c2"}
    assert mapping.hosts_in({"networks": [], "topologies": []}) == set()
