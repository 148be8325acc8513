"""How Neutron's resources map onto romana's, as pure functions.

* A Neutron project is a romana tenant: the tenant whose ``external_id`` is the project id,
  or, when there is none, a new tenant :func:`tenant_name` named after the project.
* A Neutron network is a segment of its project's tenant, named by the network id.
* A Neutron subnet is a romana network, or a part of one: its CIDR equals a romana network's
  CIDR or lies inside it (:func:`network_for`).
* A port holds one romana allocation, keyed by :func:`allocation_key` of the port id, so that
  Neutron's retries of one port find the same allocation instead of leaking a new one; its
  address in a subnet is the allocation's address inside the subnet's CIDR
  (:func:`address_in`). The key is the romana agent's endpoint key of the port's tap
  (``<port id>:tap<first 11 characters of the port id>``), the device Nova plugs the VM
  into: the agent that sees the tap appear finds the allocation by it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from romana.core import endpoint

TENANT_PREFIX = "os-"


def tenant_name(project_id: str) -> str:
    """The name of the tenant created for ``project_id`` when none carries it as external id."""
    return f"{TENANT_PREFIX}{project_id}"


def segment_name(network_id: str) -> str:
    return network_id


def allocation_key(port_id: str) -> str:
    """The allocation key of a port: the endpoint key of its tap on the bound host."""
    return endpoint.endpoint_key(port_id, endpoint.tap_name(port_id))


def network_for(cidr: str, networks: Iterable[Mapping[str, Any]]) -> str | None:
    """The name of the romana network (``{"name", "cidr"}``) that holds the subnet ``cidr``."""
    subnet = ipaddress.ip_network(cidr, strict=False)
    for network in networks:
        candidate = ipaddress.ip_network(str(network["cidr"]))
        if candidate.version == subnet.version and subnet.subnet_of(candidate):  # type: ignore[arg-type]
            return str(network["name"])
    return None


def hosts_in(document: Mapping[str, Any]) -> set[str]:
    """The names of the hosts placed in a topology document (``GET /v1/topology``): its
    groups nest, and a host is an entry with an ``ip``."""
    found: set[str] = set()
    entries: list[Any] = [e for tree in document.get("topologies", []) for e in tree["map"]]
    while entries:
        entry = entries.pop()
        if "ip" in entry:
            found.add(str(entry["name"]))
        entries += entry.get("groups", [])
    return found


def address_in(addresses: Iterable[str], cidr: str) -> str | None:
    """The one of ``addresses`` that lies in ``cidr``."""
    subnet = ipaddress.ip_network(cidr, strict=False)
    for address in addresses:
        if ipaddress.ip_address(address) in subnet:
            return address
    return None
