"""The lab's outside world: a router in front of the hosts' underlay, and a client behind it.

An operator's external addresses (a pool routed to the cluster's layer 2) are reached the
way a real edge router reaches them: it routes each external pool *on-link* to the hosts'
underlay, so it asks that layer 2 who has an address (ARP, neighbour solicitation), and the
host that holds the endpoint answers with a proxy neighbour entry. :func:`add_outside` builds
that edge in a :class:`~romana.lab.namespaces.Lab`::

    router namespace  <p>-out     ul   = 198.18.0.254/24, 2001:db8:ff::fe/64 on the underlay
                                         bridge (port <p>ur); forwarding on
                                  inet = 192.0.2.1/24, 2001:db8:100::1/64
    client namespace  <p>-client  eth0 = 192.0.2.10/24, 2001:db8:100::10/64, default
                                         routes via the router: "the internet"

The client's link uses documentation ranges (192.0.2.0/24, TEST-NET-1, and
2001:db8:100::/64) that no lab topology, underlay or fabric uses; external pools in tests
come from 203.0.113.0/24 (TEST-NET-3) and other ``2001:db8::/32`` subnets. The router sits on
the flat underlay, so it reaches the hosts that joined it (not the racks of a
:mod:`romana.lab.fabric`, whose spine holds the same ``.254`` address there: a lab has one
or the other). Hosts have no route to the client until :meth:`Outside.route_host` gives one
a default route via the router, the way endpoints' masqueraded traffic leaves. Both
namespaces are the lab's, deleted by :meth:`Lab.close`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from romana.lab.namespaces import UNDERLAY4, UNDERLAY6, Host, Lab, Node

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

INTERNET4 = ipaddress.IPv4Network("192.0.2.0/24")
INTERNET6 = ipaddress.IPv6Network("2001:db8:100::/64")
ROUTER_IP = UNDERLAY4.network_address + 254
ROUTER_IP6 = UNDERLAY6.network_address + 0xFE
UNDERLAY_IFNAME = "ul"
"""The router's port on the underlay bridge, inside its namespace."""


@dataclass
class Outside:
    """The router in front of the underlay and the client behind it (see the module)."""

    router: Node
    client: Node
    router_ip: ipaddress.IPv4Address
    router_ip6: ipaddress.IPv6Address
    client_ip: ipaddress.IPv4Address
    client_ip6: ipaddress.IPv6Address
    lab: Lab = field(repr=False, compare=False)

    def route_host(self, host: Host) -> None:
        """Give ``host`` default routes (IPv4, IPv6) via the router, replacing any."""
        self.lab.run(
            host,
            ["ip", "-batch", "-"],
            input=(
                f"route replace default via {self.router_ip} dev {host.ifname}\n"
                f"route replace ::/0 via {self.router_ip6} dev {host.ifname}\n"
            ),
        )

    def route_external(self, pool: IPNetwork) -> None:
        """Route ``pool`` on-link to the underlay: the router then asks the hosts' layer 2
        for each of its addresses."""
        self.lab.run(self.router, ["ip", "route", "replace", str(pool), "dev", UNDERLAY_IFNAME])


def add_outside(lab: Lab, *, external: Sequence[IPNetwork] = ()) -> Outside:
    """The router on ``lab``'s flat underlay and the client behind it; each pool of
    ``external`` routed on-link to the underlay (:meth:`Outside.route_external`)."""
    underlay = lab.segment
    router = lab.add_node("out")
    client = lab.add_node("client")
    port = f"{lab.prefix}ur"
    router_inet = INTERNET4.network_address + 1, INTERNET6.network_address + 1
    outside = Outside(
        router=router,
        client=client,
        router_ip=ROUTER_IP,
        router_ip6=ROUTER_IP6,
        client_ip=INTERNET4.network_address + 10,
        client_ip6=INTERNET6.network_address + 0x10,
        lab=lab,
    )
    batch = ["ip", "-batch", "-"]
    lab.run(
        underlay.node,
        batch,
        input=(
            f"link add {port} type veth peer name {UNDERLAY_IFNAME} netns {router.ns}\n"
            f"link set {port} master {underlay.bridge} up\n"
        ),
    )
    lab.run(
        router,
        batch,
        input=(
            f"addr add {ROUTER_IP}/{underlay.network4.prefixlen} dev {UNDERLAY_IFNAME}\n"
            f"addr add {ROUTER_IP6}/{underlay.network6.prefixlen} dev {UNDERLAY_IFNAME} nodad\n"
            f"link set {UNDERLAY_IFNAME} up\n"
            f"link add inet type veth peer name eth0 netns {client.ns}\n"
            f"addr add {router_inet[0]}/{INTERNET4.prefixlen} dev inet\n"
            f"addr add {router_inet[1]}/{INTERNET6.prefixlen} dev inet nodad\n"
            "link set inet up\n"
        ),
    )
    lab.run(
        router,
        ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
    )
    lab.run(
        client,
        batch,
        input=(
            f"addr add {outside.client_ip}/{INTERNET4.prefixlen} dev eth0\n"
            f"addr add {outside.client_ip6}/{INTERNET6.prefixlen} dev eth0 nodad\n"
            "link set eth0 up\n"
            f"route add default via {router_inet[0]}\n"
            f"route add ::/0 via {router_inet[1]}\n"
        ),
    )
    for pool in external:
        outside.route_external(pool)
    return outside
