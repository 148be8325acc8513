"""Acceptance: in ``bgp`` route mode each agent runs BIRD, and routes come from BGP alone.

Two hosts on the lab's underlay, each in a rack group of its own whose one BGP peer is the
other host (eBGP, AS 65001 and 65002, hold time 3 s): each agent writes its BIRD's
configuration from the host view and starts it; each host learns the other's prefix from
BGP (``proto bird``) and the agent installs no route to it itself; endpoints of one tenant
on the two hosts reach each other. A 50 ms probe loop loses nothing while an agent restarts
(its BIRD runs on) or while BIRD is killed and the agent starts it again (graceful restart:
the peer keeps the routes, the kernel keeps them). A host whose underlay goes dark is
withdrawn by its peer within the hold time. The agent touches no BIRD file it did not
write. Each agent reports its routing to romanad: ``route show`` marks the other host's
prefix as learned over BGP from that host, ``status`` lists each host's session as
established, and a session lost is reported within seconds, not at the next heartbeat.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from probes import ProbeLoop, restart_under_probes

from romana.core.errors import NotFound
from romana.lab import Cluster, Endpoint, cluster
from support import env
from support.wait import eventually

pytestmark = pytest.mark.root

HOLD = 3


def topology() -> dict[str, Any]:
    """Rack 1 holds h1 (198.18.0.2), rack 2 holds h2 (198.18.0.3): the lab numbers hosts in
    the order they are added, after ctl."""
    return {
        "networks": [
            {"name": "pods", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4,
             "endpoint_bits": 8},
        ],
        "topologies": [
            {
                "networks": ["pods"],
                "route_mode": "bgp",
                "bgp": {"hold_time": HOLD, "restart_time": 60},
                "map": [
                    {"name": "rack-1", "assignment": {"rack": "1"}, "groups": [],
                     "bgp": {"asn": 65001, "peers": [{"address": "198.18.0.3", "asn": 65002}]}},
                    {"name": "rack-2", "assignment": {"rack": "2"}, "groups": [],
                     "bgp": {"asn": 65002, "peers": [{"address": "198.18.0.2", "asn": 65001}]}},
                ],
            }
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def bgp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    env.need_agent_lab()
    env.need_binary("bird")
    env.need_binary("birdc")
    workdir: Path = tmp_path_factory.mktemp("bgp")
    hosts = [("h1", "rack=1"), ("h2", "rack=2")]
    with cluster(workdir, "nftables", hosts, topology=topology(), interval=1.0) as made:
        try:
            assert [str(h.underlay_ip) for h in made.hosts] == ["198.18.0.2", "198.18.0.3"]
            made.api.create_tenant("t1")
            for host in made.hosts:
                made.add_endpoint(host, "a", "t1", "default")
            yield made
        except BaseException:
            print(made.log_tails())
            raise


def bird_routes(made: Cluster, host: int) -> list[str]:
    out = made.lab.run(made.hosts[host], ["ip", "-4", "route", "show", "proto", "bird"]).stdout
    return out.splitlines()


def learned(made: Cluster, host: int) -> list[str]:
    """Destinations of the routes BIRD learned and installed on host ``host`` (index)."""
    return [r.split()[0] for r in bird_routes(made, host) if not r.startswith("unreachable")]


def prefix(made: Cluster, host: int) -> str:
    found: dict[str, Any] = made.api.get_host(made.hosts[host].name)
    return str(found["prefixes"]["pods"])


def endpoints(made: Cluster) -> tuple[Endpoint, Endpoint]:
    return made.endpoints[0], made.endpoints[1]


def test_each_host_learns_the_others_prefix_from_bgp_and_endpoints_connect(bgp: Cluster) -> None:
    assert eventually(lambda: learned(bgp, 1) == [prefix(bgp, 0)], 20), bgp.log_tails()
    assert eventually(lambda: learned(bgp, 0) == [prefix(bgp, 1)], 20)
    own = bgp.lab.run(bgp.hosts[1], ["ip", "-4", "route", "show", "proto", "82"]).stdout
    assert prefix(bgp, 0) not in own, "the agent routes no other host's prefix itself"
    a, b = endpoints(bgp)
    assert bgp.lab.tcp_probe(a.workload, b.address, b.port, timeout=1)
    assert bgp.lab.tcp_probe(b.workload, a.address, a.port, timeout=1)
    # Its own prefix is unreachable in the kernel below its endpoints' /32 routes: a packet for
    # an address no endpoint holds is refused, not sent back to the fabric.
    assert f"unreachable {prefix(bgp, 0)} metric 32" in [
        " ".join(r.split()[:2] + r.split()[-2:]) for r in bird_routes(bgp, 0)
    ]
    conf = bgp.agent(bgp.hosts[0]).state_dir / "bird" / "bird.conf"
    assert "neighbor 198.18.0.3 as 65002;" in conf.read_text()
    assert oct(conf.stat().st_mode & 0o777) == "0o600"


def converged(made: Cluster) -> None:
    """Wait until each host routes the other's prefix as BGP learned it: what a test of a
    restart measures from (run alone, it starts as soon as the agents do)."""
    assert eventually(lambda: learned(made, 1) == [prefix(made, 0)], 20), made.log_tails()
    assert eventually(lambda: learned(made, 0) == [prefix(made, 1)], 20), made.log_tails()


def test_an_agent_restart_drops_nothing(bgp: Cluster) -> None:
    converged(bgp)
    agent = bgp.agent(bgp.hosts[0])
    pid = agent.bird_pid()
    a, b = endpoints(bgp)
    loop = restart_under_probes(bgp, agent, [(a, b), (b, a)])
    assert loop.probes > 20 and loop.longest == 0.0, loop.failures
    assert agent.bird_pid() == pid, "the agent adopted its BIRD and did not restart it"


def test_a_killed_bird_is_started_again_and_graceful_restart_drops_nothing(bgp: Cluster) -> None:
    converged(bgp)
    agent = bgp.agent(bgp.hosts[0])
    pid = agent.bird_pid()
    assert pid is not None
    a, b = endpoints(bgp)
    with ProbeLoop(bgp, [(a, b), (b, a)]) as loop:
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        assert eventually(lambda: agent.bird_pid() not in (None, pid), 10), agent.log_tail()
        time.sleep(1.0)
    assert loop.longest == 0.0, loop.failures
    assert eventually(lambda: learned(bgp, 0) == [prefix(bgp, 1)], 15)
    assert learned(bgp, 1) == [prefix(bgp, 0)]


def test_a_host_that_goes_dark_is_withdrawn_within_the_hold_time(bgp: Cluster) -> None:
    h1 = bgp.hosts[0]
    ifname = h1.ifname
    assert eventually(lambda: learned(bgp, 1) == [prefix(bgp, 0)], 20)
    bgp.lab.run(h1, ["ip", "link", "set", ifname, "down"])
    try:
        started = time.monotonic()
        assert eventually(lambda: learned(bgp, 1) == [], HOLD + 3)
        took = time.monotonic() - started
        # The peer's hold timer runs out within HOLD of the last keepalive it got; BIRD then
        # flushes the routes. Measured 2.3-2.6 s with a hold time of 3 s on a quiet machine.
        # A second of margin for a loaded machine.
        assert took <= HOLD + 1, f"withdrawn after {took:.1f} s"
    finally:
        bgp.lab.run(h1, ["ip", "link", "set", ifname, "up"])
    assert eventually(lambda: learned(bgp, 1) == [prefix(bgp, 0)], 30), bgp.log_tails()


def routes_shown(made: Cluster, host: str) -> dict[str, Any]:
    """What ``romana route show HOST -o json`` prints, from romanad in the lab."""
    from romana.cli.commands import routes

    return made.call(lambda c: routes.routes_of(c.routes(host), c.routing(host)))


def sessions_shown(made: Cluster) -> dict[str, list[tuple[str, str]]]:
    """Host → (peer, state) of each BGP session, as ``romana status`` lists them."""
    from romana.cli.commands import status

    report = made.call(status.collect)
    return {h["host"]: [(s["peer"], s["state"]) for s in h["sessions"]] for h in report["routing"]}


def learned_over_bgp(made: Cluster, host: str) -> list[tuple[str, str, str]]:
    """(destination, next hop, peer) of each route ``route show`` marks as learned."""
    try:
        shown = routes_shown(made, host)
    except NotFound:
        return []  # no report yet
    return [(r["dst"], r["via"], r["peer"]) for r in shown["routes"] if r["source"] == "bgp"]


def test_route_show_and_status_say_what_bgp_brought_and_from_whom(bgp: Cluster) -> None:
    h1, h2 = (str(h.underlay_ip) for h in bgp.hosts)
    assert eventually(lambda: learned_over_bgp(bgp, "h2") == [(prefix(bgp, 0), h1, h1)], 10), (
        bgp.call(lambda c: c.list_routing()),
        bgp.log_tails(),
    )
    assert eventually(lambda: learned_over_bgp(bgp, "h1") == [(prefix(bgp, 1), h2, h2)], 10)
    shown = routes_shown(bgp, "h2")
    assert shown["routing"]["mode"] == "bgp" and shown["routing"]["age"] < 60
    direct = [r["dst"] for r in shown["routes"] if r["source"] == "direct"]
    assert prefix(bgp, 0) not in direct, "the plan routes no other host's prefix in bgp mode"
    established = {"h1": [(h2, "Established")], "h2": [(h1, "Established")]}
    assert eventually(lambda: sessions_shown(bgp) == established, 10), sessions_shown(bgp)
    # A session that goes down is reported without waiting for the heartbeat (30 s): h2
    # loses h1 within the hold time, and says so within its next read.
    bgp.lab.run(bgp.hosts[0], ["ip", "link", "set", bgp.hosts[0].ifname, "down"])
    try:
        assert eventually(lambda: learned_over_bgp(bgp, "h2") == [], HOLD + 5)
        [(peer, state)] = sessions_shown(bgp)["h2"]
        assert peer == h1 and state != "Established"
    finally:
        bgp.lab.run(bgp.hosts[0], ["ip", "link", "set", bgp.hosts[0].ifname, "up"])
    assert eventually(lambda: sessions_shown(bgp) == established, 30), bgp.log_tails()


def test_an_external_ip_is_announced_by_the_holders_bird_and_learned_by_the_other(
    bgp: Cluster,
) -> None:
    a, b = endpoints(bgp)
    bgp.api.create_external_pool("bgp-edge", ["203.0.113.0/28"])
    address = bgp.api.assign_external_ip("bgp-edge", f"{a.container_id}:eth0")["address"]
    try:
        assert eventually(lambda: f"{address}" in learned(bgp, 1), 20), bird_routes(bgp, 1)
        assert bgp.lab.tcp_probe(b.workload, address, a.port, timeout=1)
        own = bgp.lab.run(bgp.hosts[1], ["ip", "-4", "route", "show", "proto", "82"]).stdout
        assert address not in own, "in bgp mode the agent routes no external address itself"
        proxies = bgp.lab.run(bgp.hosts[0], ["ip", "neigh", "show", "proxy"]).stdout
        assert address not in proxies, "in bgp mode nothing answers for it on the underlay"
    finally:
        bgp.api.unassign_external_ip(address)
        bgp.api.delete_external_pool("bgp-edge")
    assert eventually(lambda: f"{address}" not in learned(bgp, 1), 20), bird_routes(bgp, 1)


def test_going_back_to_direct_mode_stops_bird_and_takes_its_routes_away(bgp: Cluster) -> None:
    """The last test: it leaves the cluster in direct route mode."""
    agents = [bgp.agent(h) for h in bgp.hosts]
    assert all(a.bird_pid() is not None for a in agents)
    direct = bgp.call(lambda c: c.get_topology())  # with its hosts, where they are
    for tree in direct["topologies"]:
        tree["route_mode"] = "direct"
    bgp.call(lambda c: c.apply_topology(direct))
    assert eventually(lambda: all(a.bird_pid() is None for a in agents), 15), bgp.log_tails()
    # BIRD took what it installed with it; the agent routes the other host itself.
    assert eventually(lambda: bird_routes(bgp, 1) == [], 10), bird_routes(bgp, 1)
    own = bgp.lab.run(bgp.hosts[1], ["ip", "-4", "route", "show", "proto", "82"]).stdout
    assert f"via {bgp.hosts[0].underlay_ip} " in own, own  # h1's rack, via h1
    a, b = endpoints(bgp)
    assert eventually(lambda: bgp.lab.tcp_probe(b.workload, a.address, a.port, timeout=1), 10)
