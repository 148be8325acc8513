"""A container on two romana networks answers on both once its second interface's replies are
routed through it (:meth:`romana.agent.kernel.HostDataplane.route_sources`), with real
namespaces and packets.

The "container" has ``eth0`` wired as a veth endpoint (its default route) and a second docker
pair end moved in, renamed ``eth1`` and addressed as dockerd does for a network that is not
the container's first: an address and no routes. A peer endpoint on the same host pings the
second address: the reply leaves by ``eth0`` and the host's ``rp_filter`` drops it, until
the agent's source routes send it out by ``eth1``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess
import time
from typing import Any

import pytest

from romana.agent.kernel import HostDataplane
from romana.core import endpoint, hostplan
from romana.core.errors import NotFound
from romana.dataplane import nlsock, sourceroutes, wire
from romana.lab import Lab, Workload

pytestmark = pytest.mark.root

GATEWAY = ipaddress.ip_address("10.1.0.1")


def spec(
    workload: Workload, key: str, ifname: str, address: str, **changes: Any
) -> hostplan.EndpointSpec:
    return dataclasses.replace(
        hostplan.EndpointSpec(
            id=key,
            netns=workload.path,
            ifname=ifname,
            addresses=(ipaddress.ip_address(address),),
            gateways=(GATEWAY,),
            mtu=1400,
        ),
        **changes,
    )


def pings(lab: Lab, node: Workload, address: str) -> bool:
    done = lab.run(node, ["ping", "-c", "1", "-W", "1", address], check=False)
    return done.returncode == 0


def test_replies_from_a_second_network_leave_by_its_own_interface(lab: Lab) -> None:
    host = lab.add_host("h1")
    lab.run(host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    box, peer = lab.add_workload(host, "box"), lab.add_workload(host, "peer")
    second_name = endpoint.docker_ifname("docker-00112233445566778899aabb")
    first = spec(box, "src-first:eth0", "eth0", "10.1.17.1")
    second = spec(
        box, "docker-00112233445566778899aabb:" + second_name, second_name, "10.1.18.1",
        attachment=endpoint.DOCKER,
    )  # fmt: skip
    with nlsock.Socket(nlsock.NETLINK_ROUTE, host.path) as sock:
        for made in (first, spec(peer, "src-peer:eth0", "eth0", "10.1.19.1")):
            wire.address_pair(sock, wire.create_pair(sock, made), made)
        pair = wire.create_pair(sock, second)
        wire.address_pair(sock, pair, second)
    second = dataclasses.replace(second, mac=pair.mac)
    dataplane = HostDataplane(firewall=None, netns=host.path)  # type: ignore[arg-type]
    try:
        assert dataplane.route_sources(second) is False  # docker has not taken it yet
        lab.run(host, ["ip", "link", "set", second_name, "netns", box.ns])
        lab.run(box, ["ip", "link", "set", second_name, "name", "eth1"])
        lab.run(box, ["ip", "addr", "add", "10.1.18.1/32", "dev", "eth1"])
        lab.run(box, ["ip", "link", "set", "eth1", "up"])
        assert pings(lab, peer, "10.1.17.1")
        assert not pings(lab, peer, "10.1.18.1")  # the reply leaves by eth0: dropped
        assert dataplane.route_sources(second) is False  # no process in the container yet
        sleeper = lab.popen_in(box, ["sleep", "60"], stdout=subprocess.DEVNULL)
        for _ in range(50):
            if dataplane.route_sources(second):
                break
        else:
            pytest.fail("the container end was never found")
        assert pings(lab, peer, "10.1.18.1") and pings(lab, peer, "10.1.17.1")
        rules = lab.run(box, ["ip", "rule", "show"]).stdout
        table = sourceroutes.table_of(
            int(lab.run(box, ["cat", "/sys/class/net/eth1/ifindex"]).stdout)
        )
        assert f"from 10.1.18.1 lookup {table}" in rules
        assert dataplane.route_sources(second)  # again: nothing added twice
        assert lab.run(box, ["ip", "rule", "show"]).stdout == rules
        routes = lab.run(box, ["ip", "route", "show", "table", str(table)]).stdout
        assert routes.split() == [
            "default",
            "via",
            "10.1.0.1",
            "dev",
            "eth1",
            "proto",
            "static",
            "onlink",
        ]
        main = lab.run(box, ["ip", "route", "show"]).stdout
        assert "eth1" not in main  # docker's main table is left as it was
        sleeper.terminate()
        sleeper.wait()
        lab.remove_namespace(box)
        with pytest.raises(NotFound):  # the container went, the host end with it (the
            for _ in range(100):  # kernel frees a namespace's devices soon after, not at once)
                dataplane.route_sources(second)
                time.sleep(0.05)
    finally:
        dataplane.close()
