"""A small routed cluster in lab namespaces, set up through the dataplane adapters.

Host ``hN`` owns ``10.N.0.0/16`` and ``fd00:N::/64`` with gateways ``10.N.0.1`` and
``fd00:N::1`` on ``romana-gw``, and routes every other host's prefixes via that host's
underlay address, exactly as an agent would from a route plan.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from romana.core import hostplan
from romana.dataplane.netlink import Netlink
from romana.lab import Host, Lab, Workload


def gateway_of(index: int) -> hostplan.GatewaySpec:
    return hostplan.GatewaySpec(
        (
            ipaddress.ip_interface(f"10.{index}.0.1/16"),
            ipaddress.ip_interface(f"fd00:{index}::1/64"),
        )
    )


def routes_for(host: Host, hosts: list[Host]) -> list[hostplan.RouteSpec]:
    found: list[hostplan.RouteSpec] = []
    for other in hosts:
        if other is not host:
            found.append(
                hostplan.RouteSpec(
                    ipaddress.ip_network(f"10.{other.index}.0.0/16"), other.underlay_ip
                )
            )
            found.append(
                hostplan.RouteSpec(
                    ipaddress.ip_network(f"fd00:{other.index}::/64"), other.underlay_ip6
                )
            )
    return found


@dataclass
class Cluster:
    lab: Lab
    hosts: list[Host]
    netlink: dict[str, Netlink] = field(default_factory=dict)
    specs: list[tuple[Host, hostplan.EndpointSpec]] = field(default_factory=list)

    def nl(self, host: Host) -> Netlink:
        return self.netlink[host.name]

    def spec(
        self, host: Host, workload: Workload, ordinal: int, *, ipv6: bool = True, **changes: Any
    ) -> hostplan.EndpointSpec:
        """Tenant 1, segment 1 endpoint ``ordinal`` of ``host`` inside ``workload``."""
        n = host.index
        addresses = [ipaddress.ip_address(f"10.{n}.17.{ordinal}")]
        gateways = [ipaddress.ip_address(f"10.{n}.0.1")]
        if ipv6:
            addresses.append(ipaddress.ip_address(f"fd00:{n}::11:{ordinal}"))
            gateways.append(ipaddress.ip_address(f"fd00:{n}::1"))
        fields: dict[str, object] = {
            "id": f"{workload.ns}:eth0",
            "netns": workload.path,
            "ifname": "eth0",
            "addresses": tuple(addresses),
            "gateways": tuple(gateways),
            "mtu": 1500,
        }
        fields.update(changes)
        return hostplan.EndpointSpec(**fields)  # type: ignore[arg-type]

    def plan(self, host: Host, endpoints: list[hostplan.EndpointSpec]) -> hostplan.HostPlan:
        """The whole desired state of ``host`` with these endpoints."""
        return hostplan.plan(
            gateway_of(host.index), routes_for(host, self.hosts), endpoints, mtu=1500
        )

    def endpoint(
        self, host: Host, name: str, ordinal: int, **changes: Any
    ) -> tuple[Workload, hostplan.EndpointSpec]:
        workload = self.lab.add_workload(host, name)
        spec = self.spec(host, workload, ordinal, **changes)
        self.nl(host).ensure_endpoint(spec)
        self.specs.append((host, spec))
        return workload, spec

    def endpoints_of(self, host: Host) -> list[hostplan.EndpointSpec]:
        return [spec for owner, spec in self.specs if owner is host]


def build(lab: Lab, count: int) -> Cluster:
    hosts = [lab.add_host(f"h{i}") for i in range(1, count + 1)]
    cluster = Cluster(lab, hosts)
    for host in hosts:
        nl = Netlink(host.path)
        cluster.netlink[host.name] = nl
        nl.ensure_gateway(gateway_of(host.index))
        nl.ensure_sysctls(hostplan.default_sysctls([4, 6]))
        nl.ensure_routes(routes_for(host, hosts))
    return cluster
