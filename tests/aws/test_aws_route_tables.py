"""romana-aws against moto's EC2 server and a real romanad (see conftest.py).

Two racks of two hosts, networks ``pods`` and ``pods6``: each rack is one route per network in
the VPC route table, via a running instance of the rack, whose source/destination check is
off. Shown: the routes, an idempotent second reconcile, next-hop failover when an instance
stops (the publisher running as a daemon), routes made by hand left alone, and the route
limit refused before it is exceeded (moto does not enforce it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from aws.vpcrig import Publisher, Vpc, make_vpc, topology
from romana.client import Client
from romana.lab import aws as lab_aws
from support.wait import eventually

HOSTS = {"a1": "172.31.1.11", "a2": "172.31.1.12", "b1": "172.31.1.21", "b2": "172.31.1.22"}
RACKS = {
    "rack-a": [("a1", HOSTS["a1"]), ("a2", HOSTS["a2"])],
    "rack-b": [("b1", HOSTS["b1"]), ("b2", HOSTS["b2"])],
}
RACK_A = ("10.0.0.0/9", "fd00:10::/57")
RACK_B = ("10.128.0.0/9", "fd00:10:0:80::/57")
LOCAL = "172.31.0.0/16"
BY_HAND = "192.168.50.0/24"


def apply(admin: Client, vpc: Vpc, racks: Any = RACKS, **aws: Any) -> None:
    admin.apply_topology(topology(racks, {"route_tables": [vpc.table], **aws}))


def via(vpc: Vpc) -> dict[str, str]:
    """Destination → host name (or gateway) of every route in the table."""
    return {
        dst: vpc.host_of(target) if target.startswith("i-") else target
        for dst, target in vpc.routes().items()
    }


def check(done: subprocess.CompletedProcess[str], rc: int = 0) -> str:
    assert done.returncode == rc, done.stderr
    return done.stderr


def test_each_rack_is_one_route_per_network_and_a_second_run_changes_nothing(
    moto: lab_aws.MotoServer, admin: Client, publisher: Publisher
) -> None:
    vpc = make_vpc(moto, HOSTS)
    vpc.add_route(BY_HAND, "b2")
    apply(admin, vpc)
    assert vpc.source_dest_check() == dict.fromkeys(HOSTS, True)

    check(publisher.once())

    assert via(vpc) == {
        LOCAL: "local",
        BY_HAND: "b2",
        **dict.fromkeys(RACK_A, "a1"),
        **dict.fromkeys(RACK_B, "b1"),
    }
    assert vpc.source_dest_check() == dict.fromkeys(HOSTS, False)
    assert sorted(publisher.owned()[vpc.table]) == sorted((*RACK_A, *RACK_B))

    before = vpc.routes()
    log = check(publisher.once())
    assert "reconciled: 0 created, 0 replaced, 0 deleted, source/destination check " in log
    assert "turned off on 0 instances, 0 tables refused, 0 errors" in log
    assert vpc.routes() == before


def test_the_next_hop_moves_when_an_instance_stops_and_follows_the_topology(
    moto: lab_aws.MotoServer, admin: Client, publisher: Publisher, tmp_path: Path
) -> None:
    vpc = make_vpc(moto, HOSTS)
    apply(admin, vpc)
    log_path = tmp_path / "romana-aws.log"
    with open(log_path, "wb") as log_file:
        daemon = subprocess.Popen(
            publisher.argv("--interval", "0.5", "--poll", "0.2"),
            env=publisher.env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        assert eventually(lambda: via(vpc).get(RACK_A[0]) == "a1", within=20)

        moto.call("stop_instances", InstanceIds=[vpc.instances["a1"]])
        assert eventually(lambda: all(via(vpc).get(d) == "a2" for d in RACK_A), within=10)
        assert all(via(vpc)[d] == "b1" for d in RACK_B)

        moto.call("terminate_instances", InstanceIds=[vpc.instances["b1"]])
        assert eventually(lambda: all(via(vpc).get(d) == "b2" for d in RACK_B), within=10)

        # rack-b's hosts leave the topology: its routes go at the next poll of romanad.
        apply(admin, vpc, racks={"rack-a": RACKS["rack-a"], "rack-b": []})
        assert eventually(lambda: not set(RACK_B) & set(vpc.routes()), within=10)
        assert all(via(vpc)[d] == "a2" for d in RACK_A)
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
    log = log_path.read_text()
    assert daemon.returncode == 0, log
    assert "replace 10.0.0.0/9 via " in log
    assert "delete 10.128.0.0/9 in " in log


def test_routes_made_by_hand_are_left_alone(
    moto: lab_aws.MotoServer, admin: Client, publisher: Publisher
) -> None:
    vpc = make_vpc(moto, HOSTS)
    vpc.add_route(BY_HAND, "a2")
    vpc.add_route(RACK_B[0], "b2")  # at a group's own destination
    apply(admin, vpc)

    log = check(publisher.once())

    assert via(vpc) == {
        LOCAL: "local",
        BY_HAND: "a2",
        RACK_B[0]: "b2",
        RACK_B[1]: "b1",
        **dict.fromkeys(RACK_A, "a1"),
    }
    assert f"holds a route to {RACK_B[0]} ({vpc.instances['b2']}) that romana-aws did not" in log
    assert RACK_B[0] not in publisher.owned()[vpc.table]

    # Even stopped, the hand-made route's instance is not the publisher's to move.
    moto.call("stop_instances", InstanceIds=[vpc.instances["b2"]])
    check(publisher.once())
    assert via(vpc)[RACK_B[0]] == "b2"

    # Without the aws key the publisher's routes go, and only those.
    admin.apply_topology(topology(RACKS, None))
    check(publisher.once())
    assert via(vpc) == {LOCAL: "local", BY_HAND: "a2", RACK_B[0]: "b2"}
    assert publisher.owned() == {}


def test_the_route_limit_is_refused_before_it_is_exceeded(
    moto: lab_aws.MotoServer, admin: Client, publisher: Publisher
) -> None:
    vpc = make_vpc(moto, HOSTS)
    vpc.add_route(BY_HAND, "a1")
    apply(admin, vpc, route_limit=5)

    log = check(publisher.once(), rc=1)

    assert (
        f"route table {vpc.table} would hold 6 routes, over its limit of 5 (it holds 2, and 4 "
        "groups need a new route): not adding the routes of rack-a (pods 10.0.0.0/9), rack-a "
        "(pods6 fd00:10::/57), rack-b (pods 10.128.0.0/9), rack-b (pods6 fd00:10:0:80::/57)"
    ) in log
    assert set(vpc.routes()) == {LOCAL, BY_HAND}

    apply(admin, vpc, route_limit=6)
    check(publisher.once())
    assert set(vpc.routes()) == {LOCAL, BY_HAND, *RACK_A, *RACK_B}
