"""What the AWS tests do with the rig: their VPC in moto, romana-aws runs, topologies."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from romana.lab import aws as lab_aws
from romana.lab.romanad import Romanad

VPC_CIDR = "172.31.0.0/16"
SUBNET = "172.31.1.0/24"
IMAGE = "ami-12c6146b"
"""An image moto knows."""
USER = "vpc-routes"
"""The service-role user romana-aws signs in as."""


@dataclass
class Vpc:
    """One VPC in moto: its route table and the instance of each host (by host name)."""

    moto: lab_aws.MotoServer
    table: str
    instances: dict[str, str] = field(default_factory=dict)
    ips: dict[str, str] = field(default_factory=dict)

    def routes(self) -> dict[str, str]:
        """Destination → target of every route in the table."""
        answer = self.moto.call("describe_route_tables", RouteTableIds=[self.table])
        out = {}
        for route in answer["RouteTables"][0]["Routes"]:
            dst = route.get("DestinationCidrBlock") or route["DestinationIpv6CidrBlock"]
            out[dst] = route.get("InstanceId") or route.get("GatewayId", "")
        return out

    def host_of(self, instance: str) -> str:
        return next(name for name, i in self.instances.items() if i == instance)

    def source_dest_check(self) -> dict[str, bool]:
        answer = self.moto.call("describe_instances", InstanceIds=list(self.instances.values()))
        return {
            self.host_of(i["InstanceId"]): i["SourceDestCheck"]
            for r in answer["Reservations"]
            for i in r["Instances"]
        }

    def add_route(self, dst: str, host: str) -> None:
        """A route made by hand (not by romana-aws) via ``host``'s instance."""
        key = "DestinationCidrBlock" if ":" not in dst else "DestinationIpv6CidrBlock"
        self.moto.call(
            "create_route", RouteTableId=self.table, InstanceId=self.instances[host], **{key: dst}
        )


def make_vpc(moto: lab_aws.MotoServer, hosts: Mapping[str, str]) -> Vpc:
    """An empty account, then a VPC with a subnet, a route table and one running instance per
    host at its address."""
    moto.reset()
    vpc = moto.call("create_vpc", CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    subnet, table = moto.calls(
        [
            ("create_subnet", {"VpcId": vpc, "CidrBlock": SUBNET}),
            ("create_route_table", {"VpcId": vpc}),
        ]
    )
    runs = moto.calls(
        [
            (
                "run_instances",
                {
                    "ImageId": IMAGE,
                    "MinCount": 1,
                    "MaxCount": 1,
                    "SubnetId": subnet["Subnet"]["SubnetId"],
                    "PrivateIpAddress": ip,
                },
            )
            for ip in hosts.values()
        ]
    )
    made = Vpc(moto, table["RouteTable"]["RouteTableId"], ips=dict(hosts))
    for name, run in zip(hosts, runs, strict=True):
        made.instances[name] = run["Instances"][0]["InstanceId"]
    return made


@dataclass
class Publisher:
    """How a test runs romana-aws against this rig."""

    bin_dir: Path
    romanad: Romanad
    moto: lab_aws.MotoServer
    password: str
    state_dir: Path

    def argv(self, *extra: str) -> list[str]:
        return [
            str(self.bin_dir / "romana-aws"),
            "--url",
            self.romanad.url,
            "--username",
            USER,
            "--endpoint-url",
            self.moto.url,
            "--state-dir",
            str(self.state_dir),
            *extra,
        ]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **lab_aws.CREDENTIALS, "ROMANA_AWS_PASSWORD": self.password}

    def once(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv("--once", *extra),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def owned(self) -> dict[str, list[str]]:
        path = self.state_dir / "routes.json"
        tables: dict[str, list[str]] = json.loads(path.read_text())["tables"]
        return tables


def topology(
    racks: Mapping[str, Sequence[tuple[str, str]]], aws: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Networks ``pods`` (10.0.0.0/8) and ``pods6`` (fd00:10::/56) in one tree of the given
    racks, each a leaf listing its (name, ip) hosts, with ``aws`` as the tree's aws key."""
    tree: dict[str, Any] = {
        "networks": ["pods", "pods6"],
        "map": [
            {"name": name, "groups": [{"name": h, "ip": ip} for h, ip in hosts]}
            for name, hosts in racks.items()
        ],
    }
    if aws is not None:
        tree["aws"] = dict(aws)
    return {
        "networks": [
            {
                "name": "pods",
                "cidr": "10.0.0.0/8",
                "tenant_bits": 4,
                "segment_bits": 4,
                "endpoint_bits": 8,
            },
            {
                "name": "pods6",
                "cidr": "fd00:10::/56",
                "tenant_bits": 16,
                "segment_bits": 16,
                "endpoint_bits": 32,
            },
        ],
        "topologies": [tree],
    }
