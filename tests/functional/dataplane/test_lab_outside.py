"""The lab's outside: a client behind a router on the hosts' underlay reaches the hosts, and
reaches an external address through the proxy entry of the host that holds it."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest

from romana.core import hostplan
from romana.core.hostdiff import AddProxy
from romana.core.hostplan import ProxySpec
from romana.dataplane.netlink import Netlink
from romana.lab import Lab, Outside, add_outside
from support import env
from support.externalholder import workload_with_externals

pytestmark = pytest.mark.root

ip = ipaddress.ip_address
net = ipaddress.ip_network

POOLS = (net("203.0.113.0/24"), net("2001:db8:200::/64"))
EXTERNAL4, EXTERNAL6 = ip("203.0.113.7"), ip("2001:db8:200::7")
GATEWAY = hostplan.GatewaySpec(
    (ipaddress.ip_interface("10.2.0.1/16"), ipaddress.ip_interface("fd00:2::1/64"))
)


def lab_namespaces(prefix: str) -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(prefix + "-")]


def test_the_client_reaches_hosts_and_proxied_external_addresses_and_all_goes() -> None:
    env.need_root()
    env.need_binary("ip")
    with Lab() as lab:
        h1, h2 = lab.add_host("h1"), lab.add_host("h2")
        outside = add_outside(lab, external=POOLS)
        assert isinstance(outside, Outside)
        assert sorted(lab_namespaces(lab.prefix)) == sorted(
            f"{lab.prefix}-{n}" for n in ("ul", "h1", "h2", "out", "client")
        )
        client = outside.client

        # a host answers the client only once it routes toward the router
        assert lab.silent(client, h1.underlay_ip)
        outside.route_host(h1)
        outside.route_host(h1)  # again: replaces, changes nothing
        for dst in (h1.underlay_ip, h1.underlay_ip6):
            assert lab.ping(client, dst)
        for dst in (outside.client_ip, outside.client_ip6):
            assert lab.ping(h1, dst)

        # an external address: the router asks the underlay, h2's proxy entry answers
        workload_with_externals(lab, h2, "w", EXTERNAL4, EXTERNAL6)
        outside.route_host(h2)
        assert lab.silent(client, EXTERNAL4) and lab.silent(client, EXTERNAL6)
        proxies = (ProxySpec(EXTERNAL4, h2.ifname), ProxySpec(EXTERNAL6, h2.ifname))
        wanted = hostplan.plan(GATEWAY, [], [], mtu=1500, proxies=proxies, proxy_ranges=POOLS)
        with Netlink(h2.path) as nl:
            nl.ensure_sysctls(wanted.sysctls)
            for proxy in proxies:
                nl.apply(AddProxy(proxy))
        assert lab.ping(client, EXTERNAL4) and lab.ping(client, EXTERNAL6)
        mac = lab.run(h2, ["cat", f"/sys/class/net/{h2.ifname}/address"]).stdout.strip()
        for address in (EXTERNAL4, EXTERNAL6):
            neigh = lab.run(outside.router, ["ip", "neigh", "show", str(address)]).stdout
            assert f"dev ul lladdr {mac}" in neigh
        # an address of the pool no host proxies for stays unanswered
        assert lab.silent(client, "203.0.113.8")
        prefix = lab.prefix
    assert lab_namespaces(prefix) == []
