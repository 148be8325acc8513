"""Endpoints as veth pairs in real namespaces: reachability, idempotence, drift, removal."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from romana.core import hostdiff, kernelnames
from romana.core.errors import AlreadyExists, InvalidInput, NotFound
from romana.lab import Lab, Node
from support.routed import Cluster

PROTO = str(kernelnames.ROUTE_PROTOCOL)
GW = kernelnames.GATEWAY_IFNAME

pytestmark = pytest.mark.root


def snapshot(lab: Lab, *nodes: Node) -> list[str]:
    """Links, addresses, routes and neighbours of each namespace, without counters."""
    found = []
    for node in nodes:
        for argv in (
            ["ip", "-o", "link"],
            ["ip", "-o", "addr"],
            ["ip", "route"],
            ["ip", "-6", "route"],
            ["ip", "neigh", "show", "nud", "permanent"],
        ):
            found.append(lab.run(node, argv).stdout)
    return found


def host_state(lab: Lab, node: Node) -> str:
    return lab.run(node, ["ip", "-o", "link"]).stdout + lab.run(node, ["ip", "route"]).stdout


def test_endpoints_reach_each_other_on_one_host_and_across_hosts(cluster: Cluster) -> None:
    lab = cluster.lab
    h1, h2, h3 = cluster.hosts
    w1, s1 = cluster.endpoint(h1, "a", 1)
    _, s2 = cluster.endpoint(h1, "b", 2)
    w3, s3 = cluster.endpoint(h2, "a", 1)
    w4, s4 = cluster.endpoint(h3, "a", 1)
    pairs = [(w1, s2), (w1, s3), (w3, s4), (w4, s1)]
    for src, dst in pairs:
        for address in dst.addresses:
            assert lab.ping(src, address), f"{src.ns} -> {address}"
    listener = lab.listen(w4)
    assert lab.tcp_probe(w1, s4.addresses[0], listener.port)
    assert lab.tcp_probe(w1, s4.addresses[1], listener.port)
    udp = lab.listen(w3, "udp")
    assert lab.udp_probe(w4, s3.addresses[0], udp.port)
    # the gateway answers on every host, and the other host's underlay is reachable
    assert lab.ping(w1, "10.1.0.1")
    assert lab.ping(w1, h2.underlay_ip)


def test_an_endpoint_reports_its_interfaces(cluster: Cluster) -> None:
    host = cluster.hosts[0]
    workload = cluster.lab.add_workload(host, "a")
    spec = cluster.spec(host, workload, 1, mac="02:00:0a:01:11:01", mtu=1400)
    attached = cluster.nl(host).ensure_endpoint(spec)
    assert attached.host_ifname == spec.host_ifname
    assert attached.ifname == "eth0" and attached.mac == "02:00:0a:01:11:01"
    assert attached.netns == workload.path
    inside = cluster.lab.run(workload, ["ip", "-o", "link", "show", "eth0"]).stdout
    assert "mtu 1400" in inside and "02:00:0a:01:11:01" in inside
    assert attached.host_mac in cluster.lab.run(host, ["ip", "-o", "link"]).stdout
    routes = cluster.lab.run(workload, ["ip", "route"]).stdout
    assert "default via 10.1.0.1 dev eth0" in routes and "onlink" in routes
    alias = cluster.lab.run(host, ["ip", "-d", "link", "show", spec.host_ifname]).stdout
    assert f"alias {spec.id}" in alias
    assert (
        cluster.lab.run(
            host, ["sysctl", "-n", f"net.ipv4.conf.{spec.host_ifname}.rp_filter"]
        ).stdout.strip()
        == "1"
    )


def test_ensure_endpoint_twice_changes_nothing(cluster: Cluster) -> None:
    host = cluster.hosts[0]
    workload, spec = cluster.endpoint(host, "a", 1)
    first = cluster.nl(host).ensure_endpoint(spec)
    before = snapshot(cluster.lab, host, workload)
    assert cluster.nl(host).ensure_endpoint(spec) == first
    assert snapshot(cluster.lab, host, workload) == before
    assert hostdiff.diff(cluster.nl(host).current(), cluster.plan(host, [spec])) == ()


def test_a_host_route_deleted_by_hand_is_seen_and_restored(cluster: Cluster) -> None:
    lab = cluster.lab
    h1, h2 = cluster.hosts[:2]
    _, s1 = cluster.endpoint(h1, "a", 1)
    w2, _ = cluster.endpoint(h2, "a", 1)
    nl = cluster.nl(h1)
    assert lab.ping(w2, "10.1.17.1")
    lab.run(h1, ["ip", "route", "del", "10.1.17.1/32"])
    assert lab.silent(w2, "10.1.17.1")
    ops = hostdiff.diff(nl.current(), cluster.plan(h1, [s1]))
    assert ops == (hostdiff.RepairEndpoint(s1, ("host route to 10.1.17.1 is missing",)),)
    for op in ops:
        nl.apply(op)
    assert hostdiff.diff(nl.current(), cluster.plan(h1, [s1])) == ()
    assert lab.ping(w2, "10.1.17.1")


def test_routes_inside_the_workload_are_repaired_by_ensure(cluster: Cluster) -> None:
    lab = cluster.lab
    h1, h2 = cluster.hosts[:2]
    w1, s1 = cluster.endpoint(h1, "a", 1)
    assert lab.ping(w1, h2.underlay_ip)
    lab.run(w1, ["ip", "route", "flush", "default"])
    lab.run(w1, ["ip", "addr", "del", "10.1.17.1/32", "dev", "eth0"])
    assert lab.silent(w1, h2.underlay_ip)
    cluster.nl(h1).ensure_endpoint(s1)
    assert lab.ping(w1, h2.underlay_ip)


def test_a_changed_address_replaces_the_old_one_everywhere(cluster: Cluster) -> None:
    lab = cluster.lab
    h1, h2 = cluster.hosts[:2]
    w1, s1 = cluster.endpoint(h1, "a", 1, ipv6=False)
    w2, _ = cluster.endpoint(h2, "a", 1, ipv6=False)
    moved = dataclasses.replace(s1, addresses=(ipaddress.ip_address("10.1.17.9"),))
    cluster.nl(h1).ensure_endpoint(moved)
    assert "10.1.17.1" not in lab.run(w1, ["ip", "-o", "addr"]).stdout
    assert "10.1.17.1 " not in lab.run(h1, ["ip", "route"]).stdout
    assert lab.ping(w2, "10.1.17.9")


def test_removal_leaves_nothing_and_repeats_quietly(cluster: Cluster) -> None:
    lab = cluster.lab
    host = cluster.hosts[0]
    before = host_state(lab, host)
    workload, spec = cluster.endpoint(host, "a", 1)
    assert cluster.nl(host).remove_endpoint(spec.host_ifname) is True
    assert host_state(lab, host) == before
    assert lab.run(host, ["ip", "route", "show", "proto", PROTO, "dev", GW]).stdout == ""
    assert lab.run(host, ["ip", "neigh", "show", "nud", "permanent"]).stdout == ""
    assert "eth0" not in lab.run(workload, ["ip", "-o", "link"]).stdout
    assert cluster.nl(host).remove_endpoint(spec.host_ifname) is False
    assert cluster.nl(host).endpoints() == ()


def test_removal_succeeds_when_the_workload_namespace_is_gone(cluster: Cluster) -> None:
    lab = cluster.lab
    host = cluster.hosts[0]
    before = host_state(lab, host)
    workload, spec = cluster.endpoint(host, "a", 1)
    lab.remove_namespace(workload)
    # the kernel destroys the pair with the namespace, asynchronously: whichever of the two
    # gets there first, removal succeeds and nothing is left
    cluster.nl(host).remove_endpoint(spec.host_ifname)
    assert host_state(lab, host) == before
    assert cluster.nl(host).remove_endpoint(spec.host_ifname) is False
    with pytest.raises(NotFound, match="does not exist"):
        cluster.nl(host).ensure_endpoint(spec)


def test_a_host_veth_whose_peer_moved_elsewhere_is_rebuilt(cluster: Cluster) -> None:
    lab = cluster.lab
    h1, h2 = cluster.hosts[:2]
    old, spec = cluster.endpoint(h1, "a", 1)
    new = lab.add_workload(h1, "b")
    cluster.nl(h1).ensure_endpoint(dataclasses.replace(spec, netns=new.path))
    assert "eth0" not in lab.run(old, ["ip", "-o", "link"]).stdout
    assert lab.ping(new, h2.underlay_ip)


def test_a_taken_interface_name_in_the_workload_is_refused_and_kept(cluster: Cluster) -> None:
    lab = cluster.lab
    host = cluster.hosts[0]
    workload = lab.add_workload(host, "a")
    lab.run(workload, ["ip", "link", "add", "eth0", "type", "bridge"])
    with pytest.raises(AlreadyExists, match="'eth0' already exists"):
        cluster.nl(host).ensure_endpoint(cluster.spec(host, workload, 1))
    assert "eth0" in lab.run(workload, ["ip", "-o", "link", "show", "type", "bridge"]).stdout
    assert cluster.nl(host).endpoints() == ()


def test_an_invalid_endpoint_changes_nothing(cluster: Cluster) -> None:
    lab = cluster.lab
    host = cluster.hosts[0]
    workload = lab.add_workload(host, "a")
    before = snapshot(lab, host, workload)
    bad = cluster.spec(host, workload, 1, ifname="no/slash", mtu=10)
    with pytest.raises(InvalidInput) as exc:
        cluster.nl(host).ensure_endpoint(bad)
    assert {i.field for i in exc.value.issues} == {"endpoint.ifname", "endpoint.mtu"}
    assert snapshot(lab, host, workload) == before


def test_removal_refuses_names_that_are_not_ours(cluster: Cluster) -> None:
    host = cluster.hosts[0]
    with pytest.raises(InvalidInput, match="not a name we own"):
        cluster.nl(host).remove_endpoint("eth0")
    assert "eth0" in cluster.lab.run(host, ["ip", "-o", "link"]).stdout
