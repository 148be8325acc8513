"""Proxy neighbour entries through the adapter: read back, added, deleted, others' kept, and
a neighbour on the shared layer 2 reaching an external address the host proxies for.

Host ``a`` and host ``b`` share the lab's underlay bridge. Behind ``b`` a workload ``c``
holds the external addresses on a veth, with ``b``'s ``/32`` (``/128``) routes to them: the
way an endpoint holds an external address. ``a`` routes the external pools on-link to the
underlay, as the operator's router does, so it asks the layer 2 who has them.
"""

from __future__ import annotations

import ipaddress

import pytest

from romana.core import hostdiff, hostplan
from romana.core.hostdiff import AddProxy, DeleteProxy
from romana.core.hostplan import ProxySpec
from romana.dataplane.netlink import Netlink
from romana.lab import Host, Lab, Workload
from support.externalholder import workload_with_externals

pytestmark = pytest.mark.root

ip = ipaddress.ip_address
net = ipaddress.ip_network

POOLS = (net("203.0.113.0/24"), net("2001:db8:200::/64"))
EXTERNAL4, EXTERNAL6 = ip("203.0.113.7"), ip("2001:db8:200::7")
GATEWAY = hostplan.GatewaySpec((ipaddress.ip_interface("10.2.0.1/16"),))
PROXIES = (ProxySpec(EXTERNAL4, "eth0"), ProxySpec(EXTERNAL6, "eth0"))


def proxies_shown(lab: Lab, host: Host) -> set[str]:
    """``ADDRESS dev DEV`` of every proxy entry ``ip neigh`` lists, both families."""
    found: set[str] = set()
    for family in ("-4", "-6"):
        for line in lab.run(host, ["ip", family, "neigh", "show", "proxy"]).stdout.splitlines():
            address, _, dev, *_ = line.split()
            found.add(f"{address} dev {dev}")
    return found


def build(lab: Lab) -> tuple[Host, Host, Workload]:
    a, b = lab.add_host("a"), lab.add_host("b")
    c = workload_with_externals(lab, b, "c", EXTERNAL4, EXTERNAL6)
    lab.run(
        a,
        ["ip", "-batch", "-"],
        input="".join(f"route add {pool} dev eth0\n" for pool in POOLS),
    )
    return a, b, c


def test_proxy_entries_answer_for_external_addresses_and_only_ours_are_touched(
    lab: Lab,
) -> None:
    a, b, _ = build(lab)
    # someone else's proxy entries, outside the external pools
    lab.run(b, ["ip", "neigh", "add", "proxy", "198.51.100.9", "dev", "eth0"])
    lab.run(b, ["ip", "neigh", "add", "proxy", "2001:db8:999::9", "dev", "eth0"])
    foreign = {"198.51.100.9 dev eth0", "2001:db8:999::9 dev eth0"}
    wanted = hostplan.plan(GATEWAY, [], [], mtu=1500, proxies=PROXIES, proxy_ranges=POOLS)
    with Netlink(b.path) as nl:
        nl.ensure_sysctls(wanted.sysctls)  # forwarding, and proxy_ndp on eth0
        assert nl.current(proxy_ranges=POOLS).proxies == ()
        assert lab.silent(a, EXTERNAL4) and lab.silent(a, EXTERNAL6)  # nobody answers yet

        ops = hostdiff.diff(nl.current(proxy_ranges=POOLS), wanted)
        assert [op for op in ops if isinstance(op, AddProxy)] == [AddProxy(p) for p in PROXIES]
        for op in ops:
            nl.apply(op)
        assert proxies_shown(lab, b) == foreign | {f"{p.address} dev eth0" for p in PROXIES}
        assert nl.current(proxy_ranges=POOLS).proxies == PROXIES
        assert hostdiff.diff(nl.current(proxy_ranges=POOLS), wanted) == ()
        nl.apply(AddProxy(PROXIES[0]))  # there already: fine
        nl.apply(DeleteProxy(ProxySpec(ip("203.0.113.99"), "eth0")))  # never there: fine
        nl.apply(DeleteProxy(ProxySpec(EXTERNAL4, "gone0")))  # no such device: fine

        # a resolves the external addresses to b's underlay MAC, and c answers its pings
        assert lab.ping(a, EXTERNAL4) and lab.ping(a, EXTERNAL6)
        mac = lab.run(b, ["cat", "/sys/class/net/eth0/address"]).stdout.strip()
        for address in (EXTERNAL4, EXTERNAL6):
            neigh = lab.run(a, ["ip", "neigh", "show", str(address), "dev", "eth0"]).stdout
            assert f"lladdr {mac}" in neigh

        # a plan without them deletes ours and leaves the foreign entries
        emptied = hostplan.plan(GATEWAY, [], [], mtu=1500, proxy_ranges=POOLS)
        ops = hostdiff.diff(nl.current(proxy_ranges=POOLS), emptied)
        assert ops == tuple(DeleteProxy(p) for p in PROXIES)
        for op in ops:
            nl.apply(op)
        assert proxies_shown(lab, b) == foreign
        assert hostdiff.diff(nl.current(proxy_ranges=POOLS), emptied) == ()

    lab.run(a, ["ip", "neigh", "flush", "dev", "eth0"])
    assert lab.silent(a, EXTERNAL4) and lab.silent(a, EXTERNAL6)
