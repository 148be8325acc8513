"""The publisher over a fake EC2: the order of record and call, failures, the process's edges.

The behaviour against a real EC2 API (moto) is in tests/aws; here are what moto cannot show:
a crash between recording and creating, calls that fail, and ``romana-aws`` without boto3.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from romana.core import addressing, topology, vpcroutes
from romana.core.errors import InvalidInput, NotFound, Unavailable
from romana.integrations.aws import main
from romana.integrations.aws.owned import OwnedRoutes
from romana.integrations.aws.publisher import Publisher

RTB = "rtb-0123456789abcdef0"
GONE = "rtb-89abcdef"


def document(tables: list[str]) -> dict[str, Any]:
    return {
        "networks": [{"name": "pods", "cidr": "10.0.0.0/8", "tenant_bits": 4, "segment_bits": 4}],
        "topologies": [
            {
                "networks": ["pods"],
                "aws": {"route_tables": tables},
                "map": [
                    {"name": "rack-a", "groups": [{"name": "a1", "ip": "172.31.1.11"}]},
                    {"name": "rack-b", "groups": [{"name": "b1", "ip": "172.31.1.21"}]},
                ],
            }
        ],
    }


class FakeEc2:
    """Route tables and instances in memory; ``fail`` names calls that raise."""

    def __init__(self, owned: OwnedRoutes | None = None) -> None:
        self.tables: dict[str, dict[addressing.IPNetwork, str]] = {RTB: {}}
        self.instances_by_ip = {
            ipaddress.ip_address("172.31.1.11"): vpcroutes.Instance("i-a1", True, True),
            ipaddress.ip_address("172.31.1.21"): vpcroutes.Instance("i-b1", True, False),
        }
        self.fail: dict[str, Exception] = {}
        self.calls: list[str] = []
        self.owned = owned
        self.owned_at_call: list[dict[str, list[str]]] = []

    def instances(
        self, ips: Iterable[addressing.IPAddress]
    ) -> dict[addressing.IPAddress, vpcroutes.Instance]:
        return {ip: self.instances_by_ip[ip] for ip in ips if ip in self.instances_by_ip}

    def routes(self, table: str) -> tuple[vpcroutes.TableRoute, ...]:
        if table not in self.tables:
            raise NotFound(f"route table {table} does not exist")
        return tuple(vpcroutes.TableRoute(d, i, i) for d, i in self.tables[table].items())

    def apply(self, change: vpcroutes.Change) -> None:
        self.calls.append(change.describe())
        if self.owned is not None:
            on_disk = json.loads(self.owned.path.read_text())["tables"]
            self.owned_at_call.append(on_disk)
        error = self.fail.get(str(change.dst))
        if error is not None:
            raise error
        if change.kind is vpcroutes.Kind.DELETE:
            del self.tables[change.table][change.dst]
        else:
            assert change.instance is not None
            self.tables[change.table][change.dst] = change.instance

    def disable_source_dest_check(self, instance: str) -> None:
        self.calls.append(f"source/dest {instance}")


def test_a_destination_is_recorded_before_its_route_is_created(tmp_path: Path) -> None:
    owned = OwnedRoutes(tmp_path)
    owned.load()
    ec2 = FakeEc2(owned)
    report = Publisher(ec2, owned).reconcile(topology.parse(document([RTB])))
    assert report.ok
    assert ec2.calls == [
        "source/dest i-a1",
        f"create 10.0.0.0/9 via i-a1 in {RTB} (group rack-a)",
        f"create 10.128.0.0/9 via i-b1 in {RTB} (group rack-b)",
    ]
    assert ec2.owned_at_call[0] == {RTB: ["10.0.0.0/9", "10.128.0.0/9"]}
    assert OwnedRoutes(tmp_path).load() == {
        RTB: frozenset({ipaddress.ip_network("10.0.0.0/9"), ipaddress.ip_network("10.128.0.0/9")})
    }


def test_a_failed_creation_is_reported_and_not_owned(tmp_path: Path) -> None:
    owned = OwnedRoutes(tmp_path)
    owned.load()
    ec2 = FakeEc2()
    ec2.fail["10.128.0.0/9"] = Unavailable("EC2 create_route: RequestLimitExceeded: slow down")
    report = Publisher(ec2, owned).reconcile(topology.parse(document([RTB])))
    assert not report.ok
    assert report.errors == [
        f"create 10.128.0.0/9 via i-b1 in {RTB} (group rack-b): "
        "EC2 create_route: RequestLimitExceeded: slow down"
    ]
    assert owned.tables == {RTB: frozenset({ipaddress.ip_network("10.0.0.0/9")})}


def test_a_vanished_table_no_tree_names_is_forgotten(tmp_path: Path) -> None:
    owned = OwnedRoutes(tmp_path)
    owned.load()
    owned.set(GONE, {ipaddress.ip_network("10.0.0.0/9")})
    ec2 = FakeEc2()
    report = Publisher(ec2, owned).reconcile(topology.parse(document([RTB])))
    assert report.errors == [f"route table {GONE} does not exist"]
    assert GONE not in owned.tables
    assert RTB in owned.tables


def test_an_empty_topology_takes_no_route_away(tmp_path: Path) -> None:
    owned = OwnedRoutes(tmp_path)
    owned.load()
    ec2 = FakeEc2(owned)
    publisher = Publisher(ec2, owned)
    assert publisher.reconcile(topology.parse(document([RTB]))).ok
    made = dict(ec2.tables[RTB])
    report = publisher.reconcile(topology.parse({"networks": [], "topologies": []}))
    assert not report.ok and "no topologies[] at all" in report.errors[0]
    assert ec2.tables[RTB] == made and RTB in owned.tables


def test_a_named_table_that_does_not_exist_is_an_error_and_the_rest_goes_on(
    tmp_path: Path,
) -> None:
    owned = OwnedRoutes(tmp_path)
    owned.load()
    ec2 = FakeEc2()
    report = Publisher(ec2, owned).reconcile(topology.parse(document([GONE, RTB])))
    assert report.errors == [f"route table {GONE} does not exist"]
    assert len(ec2.tables[RTB]) == 2


def test_a_route_record_of_another_shape_stops_the_publisher(tmp_path: Path) -> None:
    (tmp_path / "routes.json").write_text('{"version": 7}')
    with pytest.raises(InvalidInput, match="not a version 1 route record"):
        OwnedRoutes(tmp_path).load()


def test_help_teaches_without_boto3(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "Publish romana's topology groups to AWS VPC route tables." in out
    assert "docs/routing.md" in out and "--once" in out


def test_invalid_settings_are_reported_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["--url", "romanad:9600", "--interval", "0", "--state-dir", "rel"]) == 2
    err = capsys.readouterr().err
    for field in ("url[0]", "interval", "state_dir", "token"):
        assert field in err


def test_boto3_missing_is_a_start_up_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The project's environment has no boto3: it is the optional extra romana[aws].
    assert importlib.util.find_spec("boto3") is None
    assert main.main(["--insecure", "--once", "--state-dir", str(tmp_path)]) == 1
    assert "boto3 is missing (install romana[aws])" in capsys.readouterr().err
