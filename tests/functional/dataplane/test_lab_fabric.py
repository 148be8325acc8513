"""The lab's routed-access fabric (:mod:`romana.lab.fabric`): racks that meet only through
their ToRs and a spine running BIRD 2, and hosts whose BIRD runs the configuration romana
renders from the topology (:func:`romana.core.bgpplan.for_host`,
:func:`romana.core.render.bird.render`) announcing into it.

The ToRs are configured with the aggregates the topology plans for their racks, so the
fabric in these tests is what docs/routing.md shows on the fabric side."""

from __future__ import annotations

import ipaddress
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from romana.core import bgpplan, topology
from romana.core.identifiers import HostName
from romana.core.render import bird
from romana.lab import Host, Lab, cluster, fabric, fabricconf
from romana.lab.cluster import CTL_IP, CTL_IP6
from support import env

pytestmark = pytest.mark.root

RACKS = {"rack-1": ("h1", "h2"), "rack-2": ("h3",)}
NET = {"name": "pods", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4,
       "endpoint_bits": 8}  # fmt: skip
PODS = ipaddress.IPv4Network(NET["cidr"])
HOLD = 3


def host_ip(rack: int, k: int) -> ipaddress.IPv4Address:
    """What :meth:`Fabric.add_host` gives host ``k`` (from 1) of rack ``rack``."""
    return fabricconf.rack_network(rack).network_address + fabricconf.FIRST_HOST + k


def document() -> dict[str, Any]:
    """route_mode bgp, one group per rack whose peer is its ToR, aggregated."""
    groups = []
    for index, (name, hosts) in enumerate(RACKS.items(), start=1):
        gateway = fabricconf.rack_network(index).network_address + 1
        tor = {"address": str(gateway), "asn": fabricconf.TOR_ASN_BASE + index, "name": "tor"}
        groups.append(
            {
                "name": name,
                "bgp": {
                    "aggregate": True,
                    "peers": [tor],
                    "underlay": [str(fabricconf.rack_network(index))],
                },
                "groups": [
                    {"name": h, "ip": str(host_ip(index, k))} for k, h in enumerate(hosts, 1)
                ],
            }
        )
    tree = {"networks": ["pods"], "route_mode": "bgp", "map": groups,
            "bgp": {"asn": 64512, "hold_time": HOLD}}  # fmt: skip
    return {"networks": [NET], "topologies": [tree]}


PLAN = topology.parse(document())


def planned(host: str) -> bird.BirdHost:
    found = bgpplan.for_host(PLAN, HostName(host))
    assert found is not None
    return found


@dataclass
class Rig:
    lab: Lab
    fabric: fabric.Fabric
    hosts: dict[str, Host]
    ctl: Host
    workdir: Path


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    env.need_root()
    for binary in ("ip", "ping", "bird", "birdc"):
        env.need_binary(binary)
    workdir = tmp_path_factory.mktemp("fabric")
    aggregates = {
        name: tuple(str(n) for n in planned(hosts[0]).aggregates) for name, hosts in RACKS.items()
    }
    with Lab() as lab:
        built = fabric.build(lab, fabricconf.racks(RACKS, aggregates), workdir)
        hosts = {h: built.add_host(rack, h) for rack, names in RACKS.items() for h in names}
        assert [hosts[h].underlay_ip for h in ("h1", "h2", "h3")] == [
            host_ip(1, 1),
            host_ip(1, 2),
            host_ip(2, 1),
        ]
        ctl = built.add_service_host("ctl", CTL_IP, CTL_IP6)
        yield Rig(lab, built, hosts, ctl, workdir)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until ``check`` holds; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - start


def ttl(lab: Lab, src: Host, dst: object) -> int:
    done = lab.run(src, ["ping", "-n", "-c", "1", "-w", "3", str(dst)], check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return int(done.stdout.split("ttl=")[1].split()[0])


def test_the_spine_learns_each_racks_underlay_from_its_tor(rig: Rig) -> None:
    spine = rig.fabric.spine
    learned = spine.routes("where", "net ~ [ 198.18.0.0/16+ ]")
    assert learned == {
        "198.18.0.0/24": ["fabric_services"],
        "198.18.1.0/24": ["fabric_tor1"],
        "198.18.2.0/24": ["fabric_tor2"],
    }
    kernel = spine.kernel_routes()
    assert any(r.startswith("198.18.1.0/24 via 198.19.255.1 dev tor1") for r in kernel)
    assert any(r.startswith("198.18.2.0/24 via 198.19.255.3 dev tor2") for r in kernel)


def test_racks_meet_only_through_their_tors(rig: Rig) -> None:
    lab, h = rig.lab, rig.hosts
    # Same rack: one layer-2 segment, no router between (TTL untouched).
    assert ttl(lab, h["h1"], h["h2"].underlay_ip) == 64
    # Across racks: ToR 1, the spine and ToR 2 each take one off.
    assert ttl(lab, h["h1"], h["h3"].underlay_ip) == 61
    assert ttl(lab, h["h3"], rig.ctl.underlay_ip) == 62  # ToR 2, spine
    neighbours = lab.run(h["h1"], ["ip", "-4", "neigh", "show", "dev", "eth0"]).stdout
    assert str(rig.fabric.rack("rack-1").gateway) in neighbours
    assert str(h["h3"].underlay_ip) not in neighbours
    routes = lab.run(h["h1"], ["ip", "-4", "route", "show"]).stdout.splitlines()
    assert [r.split()[0] for r in routes] == ["default", "198.18.1.0/24"]


class HostBirds:
    """Each host's BIRD on the configuration romana renders for it; stopped by PID."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str) -> None:
        directory = self.rig.workdir / name
        directory.mkdir(exist_ok=True)
        spec = bgpplan.for_host(PLAN, HostName(name), log_file=str(directory / "bird.log"))
        assert spec is not None
        conf = directory / "bird.conf"
        conf.write_text(bird.render(spec))
        argv = [fabric.binary("bird"), "-f", "-c", str(conf), "-s", str(directory / "bird.ctl")]
        self.procs[name] = self.rig.lab.popen_in(
            self.rig.hosts[name], argv, stdin=subprocess.DEVNULL
        )

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a stopped one
                proc.terminate()
                proc.wait(5)


@pytest.fixture
def host_birds(rig: Rig) -> Iterator[HostBirds]:
    started = HostBirds(rig)
    try:
        for name in rig.hosts:
            started.start(name)
        yield started
    finally:
        started.close()


def in_pods(router: fabric.Router) -> dict[str, list[str]]:
    """What ``router`` learned inside the romana network."""
    return router.routes("where", f"net ~ [ {PODS}+ ]")


def prefix(host: str) -> str:
    (own,) = planned(host).prefixes
    return str(own)


def aggregate(host: str) -> str:
    (own,) = planned(host).aggregates
    return str(own)


def test_hosts_announce_their_prefixes_and_the_fabric_carries_one_route_per_rack(
    rig: Rig, host_birds: HostBirds
) -> None:
    tor1, spine = rig.fabric.rack("rack-1").tor, rig.fabric.spine
    rack1 = {prefix("h1"), prefix("h2"), aggregate("h1")}
    wait_for("ToR 1 learns its hosts' prefixes", lambda: rack1 <= set(in_pods(tor1)))
    learned = in_pods(tor1)
    assert all(p.startswith("fabric_host") for p in learned[prefix("h1")])
    assert len(learned[aggregate("h1")]) == 2  # announced by h1 and h2 alike
    # The spine: exactly one route per rack, the aggregate; the host routes stay below.
    want = {aggregate("h1"): ["fabric_tor1"], aggregate("h3"): ["fabric_tor2"]}
    wait_for("the spine learns both aggregates", lambda: in_pods(spine) == want)
    # The other rack's host installs the route to rack 1 (covering h1's prefix) from BIRD.
    h3_route = f"{aggregate('h1')} via {rig.fabric.rack('rack-2').gateway} dev eth0"
    h3 = rig.fabric.rack("rack-2").hosts[0]

    def installed() -> bool:
        done = rig.lab.run(h3, ["ip", "-4", "route", "show", "proto", "bird"])
        return any(line.startswith(h3_route) for line in done.stdout.splitlines())

    wait_for("h3 installs rack 1's aggregate", installed)
    assert ipaddress.IPv4Network(prefix("h1")).subnet_of(ipaddress.IPv4Network(aggregate("h1")))
    # A real packet to an address of h1's prefix takes that route: h3, ToR 2, spine, ToR 1
    # (which routes h1's prefix to h1 itself), h1.
    address = ipaddress.ip_network(prefix("h1")).network_address + 1
    rig.lab.run(rig.hosts["h1"], ["ip", "addr", "add", f"{address}/32", "dev", "lo"])
    try:
        assert ttl(rig.lab, h3, address) == 61
    finally:
        rig.lab.run(rig.hosts["h1"], ["ip", "addr", "del", f"{address}/32", "dev", "lo"])


def test_a_silent_host_is_withdrawn_within_the_hold_time_a_restarting_one_is_kept(
    rig: Rig, host_birds: HostBirds
) -> None:
    tor1 = rig.fabric.rack("rack-1").tor
    rack1 = {prefix("h1"), prefix("h2")}
    wait_for("ToR 1 learns its hosts' prefixes", lambda: rack1 <= set(in_pods(tor1)))
    # h1 goes silent, as a host that dies or loses its link (its BIRD frozen: no keepalive,
    # no TCP reset); h2's BIRD is killed and its TCP session closed without a NOTIFICATION,
    # which is how a restart of BIRD or of the host's agent looks to the ToR.
    host_birds.procs["h1"].send_signal(signal.SIGSTOP)
    host_birds.procs["h2"].kill()
    took = wait_for("h1's prefix is withdrawn", lambda: prefix("h1") not in in_pods(tor1))
    assert took <= HOLD + 0.5  # the hold time, and the slack of polling birdc
    time.sleep(max(0.0, HOLD + 1 - took))
    # The ToR, a graceful-restart helper, keeps h2's routes for the restart time h2 announced.
    assert prefix("h2") in in_pods(tor1)
    host_birds.procs["h2"].wait()
    host_birds.start("h2")

    def refreshed() -> bool:
        # h2's route comes from a session that is up again (h1's stays down: it is silent)
        up = tor1.established()
        return len(up) == 2 and in_pods(tor1).get(prefix("h2"), [""])[0] in up

    wait_for("h2 is back", refreshed)


def test_a_cluster_placed_in_a_rack_reaches_romanad_through_the_fabric(tmp_path: Path) -> None:
    # Both hosts in rack 1: in the default route mode (direct) an agent routes to the other
    # hosts over its own segment, which hosts of another rack are not on.
    env.need_agent_lab("bird", "birdc")
    spec = fabricconf.racks({"rack-1": ["h1", "h2"], "rack-2": []})
    with cluster(tmp_path, "nftables", [("h1", "rack=1"), ("h2", "rack=1")], fabric=spec) as made:
        assert made.fabric is not None
        assert [h.underlay_ip for h in made.hosts] == [host_ip(1, 1), host_ip(1, 2)]
        registered = {h["name"]: h["ip"] for h in made.call(lambda c: c.list_hosts())}
        assert registered == {"h1": str(host_ip(1, 1)), "h2": str(host_ip(1, 2))}
        # romanad sits behind the spine: ToR 1 and the spine lie between.
        assert ttl(made.lab, made.hosts[0], made.ctl.underlay_ip) == 62
