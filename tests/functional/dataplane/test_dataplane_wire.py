"""Fresh endpoints wired by raw rtnetlink (:mod:`romana.dataplane.wire`), held against
``veth.ensure``: the same kernel objects in both namespaces, packets both ways, and the
refusals (taken names, a missing namespace, names that are not ours) leaving nothing made;
and a docker endpoint's pair, whose host side is a veth endpoint's once docker took the other
end.

Each test builds its own lab (one host namespace, one workload namespace, unique prefix,
deleted on exit); nothing touches the root namespace.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from romana.core import endpoint, hostplan
from romana.core.errors import AlreadyExists, InvalidInput, NotFound
from romana.dataplane import nlsock, rtnl, veth, wire
from romana.lab import Host, Lab, Node, Workload
from support import wait

pytestmark = pytest.mark.root

SPECS: dict[str, dict[str, Any]] = {
    "ipv4": {"ipv6": False, "mac": None},
    "dual-stack": {"ipv6": True, "mac": None},
    "dual-stack-mac": {"ipv6": True, "mac": "02:00:0a:01:11:01"},
}


def spec_for(workload: Workload, *, ipv6: bool, **changes: Any) -> hostplan.EndpointSpec:
    addresses = [ipaddress.ip_address("10.1.17.1")]
    gateways = [ipaddress.ip_address("10.1.0.1")]
    if ipv6:
        addresses.append(ipaddress.ip_address("fd00:1::11:1"))
        gateways.append(ipaddress.ip_address("fd00:1::1"))
    spec = hostplan.EndpointSpec(
        id="wire-test:eth0",  # the same id, so the same host veth name, in every lab
        netns=workload.path,
        ifname="eth0",
        addresses=tuple(addresses),
        gateways=tuple(gateways),
        mtu=1400,
    )
    return dataclasses.replace(spec, **changes)


@dataclass
class Bed:
    lab: Lab
    host: Host
    workload: Workload
    sock: nlsock.Socket

    def wire(self, spec: hostplan.EndpointSpec) -> veth.Attached:
        pair = wire.create_pair(self.sock, spec)
        return wire.address_pair(self.sock, pair, spec)

    def ensure(self, spec: hostplan.EndpointSpec) -> veth.Attached:
        with rtnl.Rtnl(self.host.path) as host:
            return veth.ensure(host, spec)


def make_bed(lab: Lab) -> Iterator[Bed]:
    host = lab.add_host("h1")
    workload = lab.add_workload(host, "a")
    with nlsock.Socket(nlsock.NETLINK_ROUTE, host.path) as sock:
        yield Bed(lab, host, workload, sock)


@pytest.fixture
def bed(lab: Lab) -> Iterator[Bed]:
    yield from make_bed(lab)


@pytest.fixture
def other_bed() -> Iterator[Bed]:
    """A second, independent lab: a fresh endpoint made there by ``veth.ensure`` is the
    reference (same namespace layout, so the same interface indexes and names)."""
    with Lab() as other:
        yield from make_bed(other)


# --- snapshots -------------------------------------------------------------------------------

DUMPS = {
    "link": ["ip", "-d", "-j", "link"],
    "addr": ["ip", "-d", "-j", "addr"],
    "route": ["ip", "-d", "-j", "route", "show", "table", "all"],
    "route6": ["ip", "-d", "-j", "-6", "route", "show", "table", "all"],
    "neigh": ["ip", "-d", "-j", "neigh", "show", "nud", "all"],
}


def snapshot(lab: Lab, node: Node) -> dict[str, Any]:
    """Every link, address, route and neighbour of one namespace, and the sysctls of its
    veths (``net.ipv4.conf.eth0.*``, ``…romana….*``, neighbour tables too)."""
    found: dict[str, Any] = {k: json.loads(lab.run(node, argv).stdout) for k, argv in DUMPS.items()}
    # IPv6 multicast entries come and go with the kernel's own MLD and router solicitations
    found["neigh"] = sorted(
        (n for n in found["neigh"] if "NOARP" not in n.get("state", ())),
        key=lambda n: json.dumps(n, sort_keys=True),
    )
    pattern = r"\.(eth0|romana[0-9a-f]+)\."
    done = lab.run(node, ["sysctl", "-a", "-r", pattern], check=False)
    found["sysctl"] = sorted(done.stdout.splitlines())
    return found


def both(bed: Bed) -> tuple[dict[str, Any], dict[str, Any]]:
    return snapshot(bed.lab, bed.host), snapshot(bed.lab, bed.workload)


def normalised(bed: Bed) -> list[Any]:
    """Both snapshots with each MAC and IPv6 link-local address named by its interface
    (they are random per veth), interface indexes left out, routes in a fixed order."""
    names: dict[str, str] = {}
    snaps = both(bed)
    for role, snap in zip(("host", "workload"), snaps, strict=True):
        for link in snap["addr"]:
            names[link["address"]] = f"<mac {role} {link['ifname']}>"
            for info in link.get("addr_info", ()):
                if info["family"] == "inet6" and info["scope"] == "link":
                    names[info["local"]] = f"<link-local {role} {link['ifname']}>"
    names.pop("00:00:00:00:00:00", None)

    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items() if k not in ("ifindex", "link_index")}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    renamed = [rename(snap) for snap in snaps]
    for snap in renamed:
        # a dump lists routes in the kernel's tree order, which follows the (random)
        # link-local addresses
        for key in ("route", "route6"):
            snap[key].sort(key=lambda r: json.dumps(r, sort_keys=True))
    return renamed


# --- the same state as veth.ensure -----------------------------------------------------------


@pytest.mark.parametrize("kind", SPECS)
def test_ensure_after_wire_finds_the_same_endpoint_and_changes_nothing(bed: Bed, kind: str) -> None:
    spec = spec_for(bed.workload, **SPECS[kind])
    attached = bed.wire(spec)
    assert attached.host_ifname == spec.host_ifname and attached.ifname == "eth0"
    if spec.mac is not None:
        assert attached.mac == spec.mac
    before = both(bed)
    assert bed.ensure(spec) == attached
    assert both(bed) == before


@pytest.mark.parametrize("kind", SPECS)
def test_wire_makes_exactly_what_veth_ensure_makes(bed: Bed, other_bed: Bed, kind: str) -> None:
    bed.wire(spec_for(bed.workload, **SPECS[kind]))
    other_bed.ensure(spec_for(other_bed.workload, **SPECS[kind]))
    ours, reference = normalised(bed), normalised(other_bed)
    for (a, b), role in zip(zip(ours, reference, strict=True), ("host", "workload"), strict=True):
        for key in a:
            assert a[key] == b[key], f"{role} {key}"


def test_the_pair_alone_is_up_with_alias_mtu_and_rp_filter(bed: Bed) -> None:
    spec = spec_for(bed.workload, ipv6=False, addresses=(), gateways=())
    pair = wire.create_pair(bed.sock, spec)  # no address yet: it is still being allocated
    host_link = bed.lab.run(bed.host, ["ip", "-d", "link", "show", spec.host_ifname]).stdout
    inside = bed.lab.run(bed.workload, ["ip", "-d", "link", "show", "eth0"]).stdout
    assert "state UP" in host_link and "state UP" in inside
    assert "mtu 1400" in host_link and "mtu 1400" in inside
    assert f"alias {spec.id}" in host_link
    assert pair.host_mac in host_link and pair.mac in inside
    assert f"{pair.host_index}: {spec.host_ifname}@if{pair.peer_index}" in host_link
    key = f"net.ipv4.conf.{spec.host_ifname}.rp_filter"
    assert bed.lab.run(bed.host, ["sysctl", "-n", key]).stdout.strip() == "1"


# --- packets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ipv4", "dual-stack"])
def test_packets_flow_between_the_workload_and_the_host(bed: Bed, kind: str) -> None:
    lab, host, workload = bed.lab, bed.host, bed.workload
    spec = spec_for(workload, **SPECS[kind])
    bed.wire(spec)
    at_host, at_workload = lab.listen(host), lab.listen(workload)
    host_addresses: list[object] = [*spec.gateways, host.underlay_ip]
    if spec.gateway_for(6) is not None:
        host_addresses.append(host.underlay_ip6)
    for address in host_addresses:
        assert lab.ping(workload, address), f"workload -> {address}"
        assert lab.tcp_probe(workload, address, at_host.port), f"workload -> {address} tcp"
    for address in spec.addresses:
        assert lab.ping(host, address), f"host -> {address}"
        assert lab.tcp_probe(host, address, at_workload.port), f"host -> {address} tcp"


# --- refusals and removal --------------------------------------------------------------------


def host_links(bed: Bed) -> str:
    return str(bed.lab.run(bed.host, ["ip", "-o", "link"]).stdout)


def test_a_taken_name_in_the_workload_is_refused_and_no_host_veth_is_left(bed: Bed) -> None:
    bed.lab.run(bed.workload, ["ip", "link", "add", "eth0", "type", "bridge"])
    before = both(bed)
    with pytest.raises(AlreadyExists, match="'eth0' already exists in"):
        wire.create_pair(bed.sock, spec_for(bed.workload, ipv6=True))
    assert both(bed) == before
    assert "romana" not in host_links(bed)


def test_a_taken_host_name_is_refused_and_the_endpoint_in_place_is_kept(bed: Bed) -> None:
    spec = spec_for(bed.workload, ipv6=True)
    bed.wire(spec)
    elsewhere = bed.lab.add_workload(bed.host, "b")
    before = both(bed)
    with pytest.raises(AlreadyExists, match=f"'{spec.host_ifname}' already exists"):
        wire.create_pair(bed.sock, dataclasses.replace(spec, netns=elsewhere.path))
    assert both(bed) == before
    assert "eth0" not in bed.lab.run(elsewhere, ["ip", "-o", "link"]).stdout


def test_a_missing_namespace_is_not_found_and_nothing_is_left(bed: Bed) -> None:
    before = host_links(bed)
    missing = f"/run/netns/{bed.lab.prefix}-missing"
    with pytest.raises(NotFound, match="does not exist"):
        wire.create_pair(
            bed.sock, dataclasses.replace(spec_for(bed.workload, ipv6=True), netns=missing)
        )
    assert host_links(bed) == before


def test_an_invalid_endpoint_is_refused_before_anything_is_made(bed: Bed) -> None:
    before = both(bed)
    bad = spec_for(bed.workload, ipv6=True, ifname="no/slash", mtu=10)
    with pytest.raises(InvalidInput) as exc:
        wire.create_pair(bed.sock, bad)
    assert {i.field for i in exc.value.issues} == {"endpoint.ifname", "endpoint.mtu"}
    assert both(bed) == before


def test_addresses_for_another_pair_are_refused(bed: Bed) -> None:
    spec = spec_for(bed.workload, ipv6=True)
    pair = wire.create_pair(bed.sock, spec)
    before = both(bed)
    with pytest.raises(InvalidInput, match="does not name the pair"):
        wire.address_pair(bed.sock, pair, dataclasses.replace(spec, ifname="eth1"))
    assert both(bed) == before


def test_remove_deletes_the_pair_once_and_leaves_nothing(bed: Bed) -> None:
    host_before = snapshot(bed.lab, bed.host)
    spec = spec_for(bed.workload, ipv6=True)
    bed.wire(spec)
    assert wire.remove(bed.sock, spec.host_ifname) is True
    assert snapshot(bed.lab, bed.host) == host_before
    assert "eth0" not in bed.lab.run(bed.workload, ["ip", "-o", "link"]).stdout
    assert wire.remove(bed.sock, spec.host_ifname) is False


def test_remove_refuses_names_that_are_not_ours(bed: Bed) -> None:
    for name in ("eth0", "romana-gw", "romanaXXXXXXXXXXX"):
        with pytest.raises(InvalidInput, match="not a name we own"):
            wire.remove(bed.sock, name)
    assert "eth0" in host_links(bed)


def test_disconnect_cuts_the_endpoint_off_at_once_and_remove_takes_it_away(bed: Bed) -> None:
    lab, host, workload = bed.lab, bed.host, bed.workload
    spec = spec_for(workload, ipv6=True)
    bed.wire(spec)
    at_workload = lab.listen(workload)
    assert lab.tcp_probe(host, spec.addresses[0], at_workload.port)
    assert wire.disconnect(bed.sock, spec.host_ifname) is True
    for address in spec.addresses:
        assert not lab.ping(host, address), f"host -> {address} after disconnect"
        assert not lab.tcp_probe(host, address, at_workload.port)
    assert not lab.ping(workload, spec.gateways[0]), "workload -> gateway after disconnect"
    v4_routes = lab.run(host, ["ip", "-4", "route", "show", "proto", str(rtnl.ROUTE_PROTOCOL)])
    assert str(spec.addresses[0]) not in v4_routes.stdout
    assert wire.disconnect(bed.sock, spec.host_ifname) is True  # still there, still down
    assert wire.remove(bed.sock, spec.host_ifname) is True
    assert wire.disconnect(bed.sock, spec.host_ifname) is False
    with pytest.raises(InvalidInput, match="not a name we own"):
        wire.disconnect(bed.sock, "eth0")


# --- a docker endpoint's pair -------------------------------------------------------------------
# Both ends made in the host namespace, the workload end left to docker; once docker moved it
# into the sandbox, the host side is exactly a veth endpoint's, and ``veth.ensure_host_end``
# repairs it without ever making a pair.

DOCKER_IFNAME = endpoint.docker_ifname("docker-0123456789abcdef01234567")


def docker_spec(bed: Bed, *, ipv6: bool) -> hostplan.EndpointSpec:
    """The spec of a docker endpoint (``hostplan.DOCKER``): the same pair, its workload end
    left in the host namespace for docker."""
    spec = spec_for(bed.workload, ipv6=ipv6)
    return dataclasses.replace(spec, ifname=DOCKER_IFNAME, attachment=endpoint.DOCKER)


def run(bed: Bed, *argv: str, where: str = "host") -> str:
    node = bed.host if where == "host" else bed.workload
    return bed.lab.run(node, ["ip", *argv], check=False).stdout


def dockerd_takes(bed: Bed, spec: hostplan.EndpointSpec) -> None:
    """What dockerd does with the workload end: into the sandbox, renamed, addressed, up."""
    bed.lab.run(bed.host, ["ip", "link", "set", DOCKER_IFNAME, "netns", bed.workload.ns])
    bed.lab.run(bed.workload, ["ip", "link", "set", DOCKER_IFNAME, "name", "eth0"])
    for address in spec.addresses:
        bed.lab.run(bed.workload, ["ip", "addr", "add", str(address), "dev", "eth0"])
    bed.lab.run(bed.workload, ["ip", "link", "set", "eth0", "up"])


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "dual-stack"])
def test_the_host_side_is_a_veth_endpoints_once_docker_took_the_other_end(
    bed: Bed, other_bed: Bed, ipv6: bool
) -> None:
    spec = docker_spec(bed, ipv6=ipv6)
    pair = wire.create_pair(bed.sock, spec)
    attached = wire.address_pair(bed.sock, pair, spec)
    assert (attached.host_ifname, attached.ifname) == (spec.host_ifname, DOCKER_IFNAME)
    waiting = run(bed, "-d", "link", "show", DOCKER_IFNAME)
    assert "state DOWN" in waiting and pair.mac in waiting  # in the host namespace, for docker
    assert "inet" not in run(bed, "addr", "show", DOCKER_IFNAME)
    assert run(bed, "link", "show", DOCKER_IFNAME, where="workload") == ""
    dockerd_takes(bed, spec)
    other_bed.wire(spec_for(other_bed.workload, ipv6=ipv6))
    ours, reference = normalised(bed), normalised(other_bed)
    for key in ours[0]:
        assert ours[0][key] == reference[0][key], f"host {key}"


def test_ensure_host_end_repairs_the_host_side_and_never_makes_a_pair(
    bed: Bed,
) -> None:
    spec = docker_spec(bed, ipv6=True)
    pair = wire.create_pair(bed.sock, spec)
    wire.address_pair(bed.sock, pair, spec)
    dockerd_takes(bed, spec)
    recorded = dataclasses.replace(spec, mac=pair.mac)
    before = both(bed)
    with rtnl.Rtnl(bed.host.path) as host:
        assert veth.ensure_host_end(host, recorded).host_mac == pair.host_mac
        assert both(bed) == before  # all in place: nothing changed
        bed.lab.run(bed.host, ["ip", "route", "del", "10.1.17.1/32", "dev", spec.host_ifname])
        bed.lab.run(bed.host, ["ip", "neigh", "del", "10.1.17.1", "dev", spec.host_ifname])
        bed.lab.run(bed.host, ["ip", "link", "set", spec.host_ifname, "down"])
        veth.ensure_host_end(host, recorded)
        assert both(bed)[0]["route"] == before[0]["route"]
        assert both(bed)[0]["neigh"] == before[0]["neigh"]
        assert run(bed, "link", "show", DOCKER_IFNAME) == ""

        bed.lab.remove_namespace(bed.workload)  # the sandbox went, and the pair with it
        # The kernel tears a namespace's links down in a work queue, after the last reference
        # went: on a loaded machine, a moment later.
        assert wait.eventually(lambda: run(bed, "link", "show", spec.host_ifname) == "")
        with pytest.raises(NotFound):
            veth.ensure_host_end(host, recorded)
    assert run(bed, "link", "show", spec.host_ifname) == ""
    assert run(bed, "link", "show", DOCKER_IFNAME) == ""
