"""Acceptance: two racks behind their ToRs and a spine, routed by the agents' BIRDs.

Each rack is its own layer-2 segment behind a ToR running BIRD; both ToRs peer with a spine
running BIRD (:mod:`romana.lab.fabric`); h1 sits in rack 1, h2 in rack 2, and neither reaches
the other's underlay but through the ToRs. The topology is in ``bgp`` route mode: each rack
group names its ToR as peer and asks for its aggregate. So each agent's BIRD announces its
host prefix and its rack's aggregate to its ToR, the ToR passes the aggregate up, and the
spine holds exactly one route per rack. Endpoints of one tenant in the two racks reach each
other over routes learned by BGP only; a 50 ms probe loop loses nothing while an agent
restarts; and no BIRD configuration but the agents' own is ever written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from probes import restart_under_probes

from romana.lab import Cluster, cluster
from romana.lab.fabricconf import racks
from support import env
from support.wait import eventually

pytestmark = pytest.mark.root

AGGREGATES = {"rack-1": ["10.0.0.0/9"], "rack-2": ["10.128.0.0/9"]}


def rack(n: int) -> dict[str, Any]:
    return {
        "name": f"rack-{n}",
        "assignment": {"rack": str(n)},
        "groups": [],
        "bgp": {
            "asn": 64600 + n,
            "peers": [{"address": f"198.18.{n}.1", "asn": 65100 + n, "name": f"tor-{n}"}],
            "underlay": [f"198.18.{n}.0/24"],
            "aggregate": True,
        },
    }


def topology() -> dict[str, Any]:
    return {
        "networks": [
            {"name": "pods", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4,
             "endpoint_bits": 8},
        ],
        "topologies": [
            {"networks": ["pods"], "route_mode": "bgp",
             "bgp": {"hold_time": 3, "restart_time": 60}, "map": [rack(1), rack(2)]}
        ],
    }  # fmt: skip


def configs(made: Cluster) -> dict[str, str]:
    """Every router's BIRD configuration file, by router, as a digest."""
    assert made.fabric is not None
    return {
        r.node.name: hashlib.sha256((r.directory / "bird.conf").read_bytes()).hexdigest()
        for r in made.fabric.routers()
    }


@pytest.fixture(scope="module")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, dict[str, str]]]:
    env.need_agent_lab()
    env.need_binary("bird")
    env.need_binary("birdc")
    workdir: Path = tmp_path_factory.mktemp("bgp-fabric")
    spec = racks({"rack-1": ["h1"], "rack-2": ["h2"]}, AGGREGATES)
    hosts = [("h1", "rack=1"), ("h2", "rack=2")]
    with cluster(workdir, "nftables", hosts, topology=topology(), fabric=spec) as made:
        try:
            before = configs(made)
            made.api.create_tenant("t1")
            for host in made.hosts:
                made.add_endpoint(host, "a", "t1", "default")
            yield made, before
        except BaseException:
            print(made.log_tails())
            raise


def test_workloads_across_racks_connect_over_routes_learned_by_bgp(
    fabric: tuple[Cluster, dict[str, str]],
) -> None:
    made, _ = fabric
    a, b = made.endpoints[0], made.endpoints[1]
    h2 = made.hosts[1]

    def learned() -> list[str]:
        out = made.lab.run(h2, ["ip", "-4", "route", "show", "proto", "bird"]).stdout
        return [r for r in out.splitlines() if not r.startswith("unreachable")]

    assert eventually(lambda: any(r.startswith("10.0.0.0/9 via 198.18.2.1") for r in learned()), 30)
    assert eventually(lambda: made.lab.tcp_probe(b.workload, a.address, a.port, timeout=1), 10)
    assert made.lab.tcp_probe(a.workload, b.address, b.port, timeout=1)
    ours = made.lab.run(h2, ["ip", "-4", "route", "show", "proto", "82"]).stdout
    assert "10.0.0.0" not in ours, "the agent routes no other rack itself"


def test_the_spine_holds_one_route_per_rack(fabric: tuple[Cluster, dict[str, str]]) -> None:
    made, _ = fabric
    assert made.fabric is not None
    spine = made.fabric.spine

    def romana_routes() -> set[str]:
        return set(spine.routes("where", "net ~ [ 10.0.0.0/8+ ]"))

    assert eventually(lambda: romana_routes() == {"10.0.0.0/9", "10.128.0.0/9"}, 30), (
        romana_routes()
    )


def test_an_agent_restart_loses_no_packet(fabric: tuple[Cluster, dict[str, str]]) -> None:
    made, _ = fabric
    a, b = made.endpoints[0], made.endpoints[1]
    assert eventually(lambda: made.lab.tcp_probe(a.workload, b.address, b.port, timeout=1), 30)
    agent = made.agent(made.hosts[0])
    loop = restart_under_probes(made, agent, [(a, b), (b, a)])
    assert loop.probes > 20 and loop.longest == 0.0, loop.failures


def test_no_bird_configuration_but_the_agents_own_is_written(
    fabric: tuple[Cluster, dict[str, str]],
) -> None:
    made, before = fabric
    assert configs(made) == before
    for host in made.hosts:
        written = made.agent(host).state_dir / "bird" / "bird.conf"
        assert written.read_text().startswith("# Written by romana-agent for host")
