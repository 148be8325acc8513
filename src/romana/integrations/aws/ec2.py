"""The EC2 calls of ``romana-aws``, through boto3: the only module that imports it.

boto3 is the optional extra ``romana[aws]``; :mod:`romana.integrations.aws.main` imports this
module only once settings are valid, so ``romana-aws --help`` works without it. Credentials
come from boto3's standard chain. Every botocore failure becomes a :class:`RomanaError`:
``NotFound`` for a route table or route that does not exist, ``Unavailable`` for anything
else (throttling, a network error, missing credentials or permissions), so that the
publisher logs it and tries again at its next reconcile.

Calls (the minimal IAM policy in docs/routing.md grants exactly these):
``DescribeInstances``, ``DescribeRouteTables``, ``CreateRoute``, ``ReplaceRoute``,
``DeleteRoute``, ``ModifyInstanceAttribute``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import botocore.exceptions

from romana.core import addressing, vpcroutes
from romana.core.errors import NotFound, RomanaError, Unavailable

FILTER_VALUES = 200
"""At most this many values in one EC2 filter."""
_NOT_FOUND = ("InvalidRouteTableID.NotFound", "InvalidRoute.NotFound")
_RUNNING = "running"
# Preferred when several instances have held one address (a terminated one lingers for a while).
_STATE_ORDER = {"running": 0, "pending": 1, "stopping": 2, "stopped": 3, "shutting-down": 4}


class Ec2:
    """One EC2 client for the publisher's region (and endpoint, in tests)."""

    def __init__(self, region: str = "", endpoint_url: str = "") -> None:
        try:
            self._ec2: Any = boto3.client(
                "ec2", region_name=region or None, endpoint_url=endpoint_url or None
            )
        except botocore.exceptions.BotoCoreError as exc:
            raise Unavailable(f"EC2 client: {exc}") from exc
        self._vpcs: dict[str, str] = {}
        """Route table → its VPC, as :meth:`routes` read it."""

    def instances(
        self, ips: Iterable[addressing.IPAddress]
    ) -> dict[addressing.IPAddress, vpcroutes.Instance]:
        """The instance whose private address each of ``ips`` is (IPv4 only; others are left
        out); when several have held it, the one in the most alive state. Only instances of
        the VPCs of the route tables read so far (:meth:`routes`): VPCs may share private
        ranges, and an instance elsewhere must never be routed to or changed."""
        wanted = sorted({str(ip) for ip in ips if ip.version == 4})
        vpcs = sorted(set(self._vpcs.values()))
        best: dict[addressing.IPAddress, tuple[int, vpcroutes.Instance]] = {}
        for start in range(0, len(wanted), FILTER_VALUES):
            chunk = wanted[start : start + FILTER_VALUES]
            filters = [{"Name": "private-ip-address", "Values": chunk}]
            if vpcs:
                filters.append({"Name": "vpc-id", "Values": vpcs})
            for item in self._pages("describe_instances", Filters=filters):
                for reservation in item.get("Reservations", ()):
                    for raw in reservation.get("Instances", ()):
                        self._keep(raw, set(chunk), best)
        return {ip: instance for ip, (_, instance) in best.items()}

    @staticmethod
    def _keep(
        raw: dict[str, Any],
        wanted: set[str],
        best: dict[addressing.IPAddress, tuple[int, vpcroutes.Instance]],
    ) -> None:
        address = raw.get("PrivateIpAddress")
        if address not in wanted:
            return
        state = raw.get("State", {}).get("Name", "")
        instance = vpcroutes.Instance(
            raw["InstanceId"], state == _RUNNING, bool(raw.get("SourceDestCheck", True))
        )
        rank = _STATE_ORDER.get(state, len(_STATE_ORDER))
        ip = ipaddress.ip_address(address)
        if ip not in best or rank < best[ip][0]:
            best[ip] = (rank, instance)

    def routes(self, table: str) -> tuple[vpcroutes.TableRoute, ...]:
        """The routes of ``table``; NotFound when there is no such table."""
        answer = self._call("describe_route_tables", RouteTableIds=[table])
        found = answer.get("RouteTables", [])
        if not found:
            raise NotFound(f"route table {table} does not exist")
        if found[0].get("VpcId"):
            self._vpcs[table] = str(found[0]["VpcId"])
        routes = []
        for raw in found[0].get("Routes", ()):
            dst = raw.get("DestinationCidrBlock") or raw.get("DestinationIpv6CidrBlock")
            if not dst:
                continue  # a prefix-list destination: never ours
            target = next(
                (raw[k] for k in sorted(raw) if k.endswith("Id") and isinstance(raw[k], str)),
                "",
            )
            routes.append(
                vpcroutes.TableRoute(
                    ipaddress.ip_network(dst),
                    raw.get("InstanceId"),
                    target,
                    raw.get("Origin") == "EnableVgwRoutePropagation",
                )
            )
        return tuple(routes)

    def apply(self, change: vpcroutes.Change) -> None:
        """Make one create, replace or delete call."""
        where = _destination(change.table, change.dst)
        if change.kind is vpcroutes.Kind.DELETE:
            self._call("delete_route", **where)
        elif change.kind is vpcroutes.Kind.CREATE:
            self._call("create_route", InstanceId=change.instance, **where)
        else:
            self._call("replace_route", InstanceId=change.instance, **where)

    def disable_source_dest_check(self, instance: str) -> None:
        self._call(
            "modify_instance_attribute", InstanceId=instance, SourceDestCheck={"Value": False}
        )

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        try:
            yield from self._ec2.get_paginator(operation).paginate(**params)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise _translate(operation, exc) from exc

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._ec2, operation)(**params)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise _translate(operation, exc) from exc
        return answer


def _destination(table: str, dst: addressing.IPNetwork) -> dict[str, str]:
    key = "DestinationCidrBlock" if dst.version == 4 else "DestinationIpv6CidrBlock"
    return {"RouteTableId": table, key: str(dst)}


def _translate(operation: str, exc: Exception) -> RomanaError:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        text = f"EC2 {operation}: {code}: {error.get('Message', '')}"
        return NotFound(text) if code in _NOT_FOUND else Unavailable(text)
    return Unavailable(f"EC2 {operation}: {exc}")
