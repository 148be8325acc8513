"""A VM's tap in real namespaces: wired, repaired, unwired, never created nor deleted.

The "VM" is a namespace joined to its host by a veth whose host end carries a tap name, as
Nova's tap would; the VM side is configured by hand here (the agent's DHCP does it in
``tests/functional/agent/test_agent_tap_vms.py``).
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from romana.core import endpoint, hostdiff, hostplan, kernelnames
from romana.core.errors import InvalidInput, NotFound
from romana.lab import Host, Lab, Workload
from support.routed import Cluster

pytestmark = pytest.mark.root

PORT = "5e0c7a1b-93d2-4f6a-8b1c-2d3e4f5a6b7c"
TAP = endpoint.tap_name(PORT)
PROTO = str(kernelnames.ROUTE_PROTOCOL)


def vm(lab: Lab, host: Host, address: str) -> Workload:
    """A namespace behind the tap ``TAP`` of ``host``, holding ``address`` on a /8 with the
    host's gateway as router (what DHCP would give it)."""
    workload = lab.add_workload(host, "vm")
    lab.run(host, ["ip", "link", "add", TAP, "type", "veth", "peer", "eth0", "netns", workload.ns])
    lab.run(workload, ["ip", "link", "set", "eth0", "up"])
    lab.run(workload, ["ip", "addr", "add", f"{address}/8", "dev", "eth0"])
    lab.run(workload, ["ip", "route", "add", "default", "via", f"10.{host.index}.0.1"])
    return workload


def tap_spec(host: Host, address: str) -> hostplan.EndpointSpec:
    return hostplan.EndpointSpec(
        id=endpoint.endpoint_key(PORT, TAP),
        netns="",
        ifname=TAP,
        addresses=(ipaddress.ip_address(address),),
        gateways=(ipaddress.ip_address(f"10.{host.index}.0.1"),),
        mtu=1500,
        attachment=hostplan.TAP,
    )


def sysctl(lab: Lab, host: Host, key: str) -> str:
    return lab.run(host, ["sysctl", "-n", key]).stdout.strip()


def test_a_tap_is_wired_reached_across_hosts_and_unwired_with_its_device_left(
    cluster: Cluster,
) -> None:
    lab = cluster.lab
    h1, h2 = cluster.hosts[0], cluster.hosts[1]
    address = "10.1.17.9"
    guest = vm(lab, h1, address)
    _, other = cluster.endpoint(h2, "a", 1)
    spec = tap_spec(h1, address)
    nl = cluster.nl(h1)

    attached = nl.ensure_endpoint(spec)
    assert attached.host_ifname == TAP
    routes = lab.run(h1, ["ip", "route", "show", "proto", PROTO, "dev", TAP]).stdout
    assert routes.split()[0] == address
    assert "inet 10.1.0.1/32 scope link" in lab.run(h1, ["ip", "-o", "addr", "show", TAP]).stdout
    assert sysctl(lab, h1, f"net.ipv4.conf.{TAP}.proxy_arp") == "1"
    assert sysctl(lab, h1, f"net.ipv4.conf.{TAP}.rp_filter") == "1"
    assert lab.ping(guest, other.addresses[0])
    assert lab.ping(guest, "10.1.0.1")

    # The reconcile view: converged, a lost route put back, then a plan without the tap.
    plan = cluster.plan(h1, [spec])
    assert hostdiff.diff(nl.current(), plan) == ()
    lab.run(h1, ["ip", "route", "del", address, "dev", TAP])
    (repair,) = hostdiff.diff(nl.current(), plan)
    assert repair == hostdiff.AddEndpoint(spec)  # a tap with none of our routes is unwired
    nl.apply(repair)
    assert hostdiff.diff(nl.current(), plan) == ()
    (unwire,) = hostdiff.diff(nl.current(), cluster.plan(h1, []))
    assert unwire == hostdiff.DeleteEndpoint(TAP, "")
    nl.apply(unwire)

    assert lab.run(h1, ["ip", "route", "show", "proto", PROTO, "dev", TAP]).stdout == ""
    assert "inet " not in lab.run(h1, ["ip", "-o", "addr", "show", TAP]).stdout
    assert TAP in lab.run(h1, ["ip", "-o", "link", "show", TAP]).stdout  # Nova's device stays
    assert hostdiff.diff(nl.current(), cluster.plan(h1, [])) == ()
    assert not lab.ping(guest, other.addresses[0], deadline=1)


def test_a_missing_tap_is_not_made_and_other_names_are_refused(cluster: Cluster) -> None:
    h1 = cluster.hosts[0]
    nl = cluster.nl(h1)
    spec = tap_spec(h1, "10.1.17.9")
    with pytest.raises(NotFound):
        nl.ensure_endpoint(spec)
    assert hostdiff.diff(nl.current(), cluster.plan(h1, [spec])) == ()  # nothing to wire
    assert nl.remove_endpoint(TAP) is False
    with pytest.raises(InvalidInput):
        nl.ensure_endpoint(dataclasses.replace(spec, ifname="eth9"))


def test_a_tap_wired_for_an_ipv6_address_gets_ipv6_and_a_link_local_address(
    cluster: Cluster,
) -> None:
    # Router advertisements to the VM come from the tap's link-local address
    # (romana.agent.dhcp6): a tap with IPv6 off, or made with no link-local, gets one.
    lab = cluster.lab
    h1 = cluster.hosts[0]
    vm(lab, h1, "10.1.17.9")
    for key in ("disable_ipv6", "addr_gen_mode"):
        lab.run(h1, ["sysctl", "-qw", f"net.ipv6.conf.{TAP}.{key}=1"])
    assert "inet6" not in lab.run(h1, ["ip", "-6", "-o", "addr", "show", "dev", TAP]).stdout
    spec = dataclasses.replace(
        tap_spec(h1, "10.1.17.9"),
        addresses=(ipaddress.ip_address("10.1.17.9"), ipaddress.ip_address("fd00:10::1:5")),
        gateways=(ipaddress.ip_address("10.1.0.1"), ipaddress.ip_address("fd00:10::1")),
    )
    cluster.nl(h1).ensure_endpoint(spec)
    assert sysctl(lab, h1, f"net.ipv6.conf.{TAP}.disable_ipv6") == "0"
    assert sysctl(lab, h1, f"net.ipv6.conf.{TAP}.addr_gen_mode") == "0"
    shown = lab.run(h1, ["ip", "-6", "-o", "addr", "show", "dev", TAP, "scope", "link"]).stdout
    assert " inet6 fe80::" in shown, shown
    routes = lab.run(h1, ["ip", "-6", "route", "show", "proto", PROTO, "dev", TAP]).stdout
    assert routes.split()[0] == "fd00:10::1:5"
