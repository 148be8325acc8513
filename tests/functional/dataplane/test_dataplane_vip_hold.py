"""VIPs on the underlay through the adapter: held for a lifetime the kernel enforces,
renewed, dropped, listed, and announced so that a neighbour switches to a new holder.

Hosts ``a`` and ``b`` and a third node ``r`` share the lab's underlay bridge. ``r`` routes
the VIP pools on-link to the underlay, as the operator's router does, so it asks the layer 2
who holds a VIP and keeps the answer in its neighbour table.
"""

from __future__ import annotations

import ipaddress
import subprocess
import time
from collections.abc import Callable

import pytest

from romana.core.errors import InvalidInput, NotFound
from romana.dataplane.netlink import Netlink
from romana.lab import Host, Lab

pytestmark = pytest.mark.root

ip = ipaddress.ip_address
net = ipaddress.ip_network

POOLS = (net("203.0.113.0/24"), net("2001:db8:200::/64"))
VIP4, VIP6 = ip("203.0.113.7"), ip("2001:db8:200::7")
VIPS = (VIP4, VIP6)


def build(lab: Lab) -> tuple[Host, Host, Host]:
    a, b, r = lab.add_host("a"), lab.add_host("b"), lab.add_host("r")
    lab.run(r, ["ip", "-batch", "-"], input="".join(f"route add {p} dev eth0\n" for p in POOLS))
    return a, b, r


def mac(lab: Lab, host: Host) -> str:
    return lab.run(host, ["cat", "/sys/class/net/eth0/address"]).stdout.strip()


def neighbour(lab: Lab, node: Host, address: object) -> str:
    """What ``ip neigh`` says of ``address`` on the node's underlay (it resolves nothing)."""
    return lab.run(node, ["ip", "neigh", "show", str(address), "dev", "eth0"]).stdout.strip()


def until(check: Callable[[], bool], deadline: float, step: float = 0.02) -> float | None:
    """Seconds from now until ``check()`` is true, polled; None if not by ``deadline``."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > deadline:
            return None
        time.sleep(step)


def test_a_vip_not_renewed_is_removed_by_the_kernel(lab: Lab) -> None:
    a, _, r = build(lab)
    # Someone else's addresses on the underlay: outside the pools, or not full length.
    lab.run(
        a,
        ["ip", "-batch", "-"],
        input=(
            "addr add 198.51.100.9/32 dev eth0\n"
            "addr add 203.0.113.200/25 dev eth0\n"
            "addr add 2001:db8:200::99/64 dev eth0 nodad\n"
        ),
    )
    with Netlink(a.path) as nl:
        with pytest.raises(InvalidInput) as raised:
            nl.hold_vip(VIP4, "eth0", 0)
        assert [issue.field for issue in raised.value.issues] == ["lifetime"]
        with pytest.raises(NotFound):
            nl.hold_vip(VIP4, "nope0", 1)
        with pytest.raises(NotFound):
            nl.announce(VIP4, "nope0")
        assert nl.held_vips("eth0", POOLS) == ()

        start = time.monotonic()
        assert nl.hold_vip(VIP4, "eth0", 1) and nl.hold_vip(VIP6, "eth0", 1)
        assert nl.held_vips("eth0", POOLS) == VIPS
        assert nl.held_vips("eth0", POOLS[1:]) == (VIP6,)
        assert nl.held_vips("gone0", POOLS) == ()
        shown = lab.run(a, ["ip", "-o", "addr", "show", "dev", "eth0"]).stdout
        lines = {line.split()[3]: line for line in shown.splitlines()}
        assert "valid_lft 1sec preferred_lft 1sec" in lines["203.0.113.7/32"]
        assert "nodad" in lines["2001:db8:200::7/128"]
        assert "noprefixroute" in lines["2001:db8:200::7/128"]
        assert "valid_lft 1sec preferred_lft 1sec" in lines["2001:db8:200::7/128"]

        time.sleep(max(0.0, start + 0.5 - time.monotonic()))
        assert nl.held_vips("eth0", POOLS) == VIPS  # still there half a second on

        gone = until(lambda: not nl.held_vips("eth0", POOLS), 2.5 - (time.monotonic() - start))
        assert gone is not None, "the kernel kept a VIP whose lifetime ended"
        assert time.monotonic() - start < 2.5
        assert lab.silent(r, VIP4) and lab.silent(r, VIP6)
        remaining = {
            line.split()[3] for line in lab.run(a, ["ip", "-o", "addr"]).stdout.splitlines()
        }
        assert {"198.51.100.9/32", "203.0.113.200/25", "2001:db8:200::99/64"} <= remaining


def test_a_renewed_vip_stays_and_answers_and_a_dropped_one_goes_at_once(lab: Lab) -> None:
    a, _, r = build(lab)
    with Netlink(a.path) as nl:
        assert nl.hold_vip(VIP4, "eth0", 1) and nl.hold_vip(VIP6, "eth0", 1)
        # 12 echo requests 0.25 s apart: three seconds, well past the one-second lifetime
        pingers = [
            lab.popen_in(
                r,
                ["ping", "-n", "-q", "-c", "12", "-i", "0.25", "-W", "1", str(vip)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for vip in VIPS
        ]
        while any(p.poll() is None for p in pingers):
            time.sleep(0.3)
            assert nl.hold_vip(VIP4, "eth0", 1) is False  # there already: renewed
            assert nl.hold_vip(VIP6, "eth0", 1) is False
        for pinger in pingers:
            output = pinger.communicate(timeout=5)[0]
            assert pinger.returncode == 0 and " 0% packet loss" in output, output
        assert nl.held_vips("eth0", POOLS) == VIPS

        # a renewal starts the lifetime again, as the read-back shows
        nl.hold_vip(VIP4, "eth0", 3)
        nl.hold_vip(VIP6, "eth0", 3)
        time.sleep(1.1)
        link = nl.rtnl.link("eth0")
        assert link is not None
        left = nl.rtnl.address_lifetimes(link.index)
        hosts = [ipaddress.ip_interface((vip, vip.max_prefixlen)) for vip in VIPS]
        assert {left[h] for h in hosts} <= {1, 2}, left  # counting down in whole seconds
        assert nl.hold_vip(VIP4, "eth0", 3) is False and nl.hold_vip(VIP6, "eth0", 3) is False
        left = nl.rtnl.address_lifetimes(link.index)
        assert [left[h] for h in hosts] == [3, 3]

        nl.drop_vip(VIP4, "eth0")
        nl.drop_vip(VIP6, "eth0")
        assert nl.held_vips("eth0", POOLS) == ()
        assert lab.silent(r, VIP4) and lab.silent(r, VIP6)
        nl.drop_vip(VIP4, "eth0")  # gone already: fine
        nl.drop_vip(VIP6, "gone0")  # no such interface: fine


@pytest.mark.parametrize("vip", VIPS, ids=["ipv4", "ipv6"])
def test_after_a_failover_the_announcement_moves_neighbours_to_the_new_holder(
    lab: Lab, vip: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> None:
    a, b, r = build(lab)
    mac_a, mac_b = mac(lab, a), mac(lab, b)
    with Netlink(a.path) as na, Netlink(b.path) as nb:
        na.hold_vip(vip, "eth0", 5)
        assert lab.ping(r, vip)
        assert f"lladdr {mac_a}" in neighbour(lab, r, vip)

        na.drop_vip(vip, "eth0")
        assert nb.hold_vip(vip, "eth0", 5)
        # Holding the VIP alone changes nothing for r: its entry is reachable, on a's MAC.
        assert f"lladdr {mac_a}" in neighbour(lab, r, vip)

        # The announcement follows r's last exchange with a within ARP's locktime (1 s),
        # the strictest moment: Linux ignores an ARP that would change an entry updated
        # less than locktime ago, unless it is gratuitous (sender = target address), as
        # both of ours are. Neighbour discovery has no locktime; the advertisement's
        # Override flag is what makes r replace a reachable entry's address.
        nb.announce(vip, "eth0")
        # r sends nothing to the VIP meanwhile, so a new MAC can only come from the
        # announcement, not from r resolving the address again.
        took = until(lambda: f"lladdr {mac_b}" in neighbour(lab, r, vip), 0.5)
        assert took is not None, neighbour(lab, r, vip)
        assert lab.ping(r, vip)  # a no longer holds it: the reply is b's
        assert f"lladdr {mac_b}" in neighbour(lab, r, vip)
