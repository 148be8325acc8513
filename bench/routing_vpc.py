"""The VPC half of :mod:`bench.routing`: a route-plan change in romanad until the VPC route
table matches it, with ``romana-aws`` as a daemon against moto's EC2 server.

romanad runs on loopback (:class:`~romana.lab.romanad.Romanad`), moto in the AWS environment
(:mod:`romana.lab.aws`) with one VPC, its route table and one instance per host. The table is
read by a :data:`WATCHER` process in that environment (boto3 is not in the benchmark's
Python): it answers, one JSON line per request, when the table first held the routes asked
for, or how long one ``create_route`` and ``describe_route_tables`` round trip took.
Everything started here is stopped by PID.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import common
from romana.client import Client, ClientSettings
from romana.lab import aws as lab_aws
from romana.lab.romanad import Romanad, terminate

PERIOD = 0.02  # seconds between reads of the route table
USER = "vpc-routes"
IMAGE = "ami-12c6146b"  # an image moto knows
HOSTS = {"a1": "172.31.1.11", "b1": "172.31.1.21", "c1": "172.31.1.31"}
REFERENCE = "create_route + describe_route_tables"
REFERENCE_DST = "192.168.77.0/24"

WATCHER = """\
import json, sys, time
import boto3
args = json.loads(sys.argv[1])
ec2 = boto3.client("ec2", endpoint_url=args["url"], region_name=args["region"])
def table():
    found = ec2.describe_route_tables(RouteTableIds=[args["table"]])["RouteTables"][0]
    return sorted([r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock"),
                   r.get("InstanceId") or r.get("GatewayId", "")] for r in found["Routes"])
table()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    ask = json.loads(line)
    if "expect" in ask:
        deadline = time.monotonic() + ask["timeout"]
        while (now := table()) != sorted(ask["expect"]) and time.monotonic() < deadline:
            time.sleep(args["period"])
        print(json.dumps({"at": time.time(), "table": now}), flush=True)
    elif "read" in ask:
        print(json.dumps({"table": table()}), flush=True)
    else:
        began = time.perf_counter()
        ec2.create_route(RouteTableId=args["table"], DestinationCidrBlock=ask["dst"],
                         InstanceId=ask["instance"])
        table()
        took = time.perf_counter() - began
        ec2.delete_route(RouteTableId=args["table"], DestinationCidrBlock=ask["dst"])
        print(json.dumps({"took": took}), flush=True)
"""


class Watcher:
    """The :data:`WATCHER` process: reads the table ``table`` of ``moto``."""

    def __init__(self, moto: lab_aws.MotoServer, table: str) -> None:
        args = {"url": moto.url, "region": lab_aws.REGION, "table": table, "period": PERIOD}
        self.process = subprocess.Popen(
            [str(moto.bin_dir / "python"), "-c", WATCHER, json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=moto.env,
        )
        self.answer()

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self.answer()

    def answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the route table watcher exited")
        found: dict[str, Any] = json.loads(line)
        return found

    def stop(self) -> None:
        terminate(self.process)


def make_vpc(moto: lab_aws.MotoServer) -> tuple[str, dict[str, str]]:
    """A VPC with a subnet, a route table and one running instance per host: the table's id
    and each host's instance."""
    vpc = moto.call("create_vpc", CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    subnet, table = moto.calls(
        [
            ("create_subnet", {"VpcId": vpc, "CidrBlock": "172.31.1.0/24"}),
            ("create_route_table", {"VpcId": vpc}),
        ]
    )
    subnet_id = subnet["Subnet"]["SubnetId"]
    runs = moto.calls(
        [
            ("run_instances", {"ImageId": IMAGE, "MinCount": 1, "MaxCount": 1,
                               "SubnetId": subnet_id, "PrivateIpAddress": ip})
            for ip in HOSTS.values()
        ]
    )  # fmt: skip
    instances = {n: r["Instances"][0]["InstanceId"] for n, r in zip(HOSTS, runs, strict=True)}
    return table["RouteTable"]["RouteTableId"], instances


def document(table: str, with_c: bool) -> dict[str, Any]:
    """Three racks of one host each naming ``table``; ``rack-c`` empty unless ``with_c``."""
    members = {"rack-a": ["a1"], "rack-b": ["b1"], "rack-c": ["c1"] if with_c else []}
    return {
        "networks": [
            {"name": "pods", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4,
             "endpoint_bits": 8},
        ],
        "topologies": [
            {"networks": ["pods"], "aws": {"route_tables": [table]},
             "map": [{"name": rack, "groups": [{"name": h, "ip": HOSTS[h]} for h in hosts]}
                     for rack, hosts in members.items()]},
        ],
    }  # fmt: skip


def reconciles(log: Path) -> int:
    return log.read_text(errors="replace").count("reconciled:") if log.exists() else 0


def settle(admin: Client, watcher: Watcher, table: str, with_c: bool, log: Path) -> list[Any]:
    """Apply a state, wait for romana-aws's next reconcile, and return the table then."""
    before = reconciles(log)
    admin.apply_topology(document(table, with_c))
    deadline = time.monotonic() + 60
    while reconciles(log) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"romana-aws did not reconcile; log: {log}")
        time.sleep(0.1)
    found: list[Any] = watcher.ask({"read": True})["table"]
    return found


def changes(
    aws_bin: Path, romanad: Romanad, moto: lab_aws.MotoServer, password: str, work: Path,
    runs: int, poll: float,
) -> list[float]:  # fmt: skip
    """Seconds from each of ``runs`` changes to the table matching, romana-aws at ``poll``."""
    moto.reset()
    table, instances = make_vpc(moto)
    with Client(ClientSettings(url=(romanad.url,))) as admin:
        admin.login(*romanad.admin())
        admin.apply_topology(document(table, False))
        log = work / f"romana-aws-poll-{poll:g}.log"
        argv = [
            str(aws_bin / "romana-aws"), "--url", romanad.url, "--username", USER,
            "--endpoint-url", moto.url, "--state-dir", str(work / f"state-{poll:g}"),
            "--poll", str(poll), "--interval", "600",
        ]  # fmt: skip
        env = {**os.environ, **lab_aws.CREDENTIALS, "ROMANA_AWS_PASSWORD": password}
        with open(log, "a") as out:
            daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=out, env=env)
        watcher = Watcher(moto, table)
        try:
            # The two states' tables as romana-aws itself makes them (one warm-up change each).
            wait_start = time.monotonic() + 60
            while reconciles(log) == 0 and time.monotonic() < wait_start:
                time.sleep(0.1)
            states = {
                True: settle(admin, watcher, table, True, log),
                False: settle(admin, watcher, table, False, log),
            }
            added = [r for r in states[True] if r not in states[False]]
            if len(added) != 1 or added[0][1] != instances["c1"]:
                raise RuntimeError(f"rack-c's route is not one route via c1: {states}")
            # Each change lands at a random point of romana-aws's poll cycle: back to back,
            # every change would follow a reconcile closely and wait a whole period.
            phase = random.Random(poll)
            took = []
            for i in range(runs):
                with_c = i % 2 == 0
                time.sleep(phase.uniform(0, poll))
                admin.apply_topology(document(table, with_c))
                began = time.time()
                answer = watcher.ask({"expect": states[with_c], "timeout": 10 * poll + 30})
                if answer["table"] != states[with_c]:
                    raise RuntimeError(f"the table did not match: {answer['table']}")
                took.append(answer["at"] - began)
            return took
        finally:
            watcher.stop()
            terminate(daemon)


def vpc_runs(
    runs: int, polls: list[float], work: Path
) -> tuple[list[common.Result], dict[str, object]]:
    """The figures, and their distribution for the report."""
    aws_bin = lab_aws.aws_venv()
    work.mkdir(parents=True, exist_ok=True)
    with (
        lab_aws.MotoServer(work / "moto", aws_bin) as moto,
        Romanad(work / "romanad", store=f"sqlite://{work}/romana.db") as romanad,
    ):
        with Client(ClientSettings(url=(romanad.url,))) as admin:
            admin.login(*romanad.admin())
            password = secrets.token_urlsafe(18)
            admin.create_user(USER, password, "service")
        by_poll = {p: changes(aws_bin, romanad, moto, password, work, runs, p) for p in polls}
        moto.reset()
        table, instances = make_vpc(moto)
        watcher = Watcher(moto, table)
        try:
            ask = {"dst": REFERENCE_DST, "instance": instances["a1"]}
            reference = [watcher.ask(ask)["took"] for _ in range(runs + 1)][1:]
        finally:
            watcher.stop()
    results = [
        common.compared(
            f"VPC: route-plan change → route table matches, romana-aws --poll {poll:g} s p{p}",
            took,
            reference,
            p,
            reference_name=REFERENCE,
            target=None,
        )
        for poll, took in by_poll.items()
        for p in (50, 95)
    ]
    p50 = " and ".join(
        f"{common.percentile(took, 50) * 1000:.0f} ms at --poll {poll:g} s"
        for poll, took in by_poll.items()
    )
    chart = common.distribution(
        "How long until a route-plan change is in the VPC route table?",
        f"p50 {p50}, beside {common.percentile(reference, 50) * 1000:.0f} ms for one "
        "create_route round trip: romana-aws's poll period bounds the figure; no target.",
        "ms",
        {
            **{
                f"romana-aws --poll {poll:g} s": [round(t * 1000, 3) for t in took]
                for poll, took in by_poll.items()
            },
            REFERENCE: [round(t * 1000, 3) for t in reference],
        },
    )
    return results, chart
