"""VPC route plans: one route per leaf group and network, ownership, next-hop choice, limit."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from romana.core import topology, vpcroutes
from romana.core.errors import InvalidInput
from romana.core.vpcroutes import Change, Instance, Kind, TableRoute

RTB = "rtb-0123456789abcdef0"
RTB2 = "rtb-89abcdef"
IPS = {"a1": "172.31.1.11", "a2": "172.31.1.12", "b1": "172.31.2.11", "c1": "172.31.3.11"}


def document(aws: Any = None, *, with_c: bool = False) -> dict[str, Any]:
    racks: list[dict[str, Any]] = [
        {"name": "rack-a", "groups": [{"name": n, "ip": IPS[n]} for n in ("a1", "a2")]},
        {"name": "rack-b", "groups": [{"name": "b1", "ip": IPS["b1"]}]},
        {"name": "rack-empty", "groups": []},
    ]
    if with_c:
        racks.append({"name": "rack-c", "groups": [{"name": "c1", "ip": IPS["c1"]}]})
    tree: dict[str, Any] = {"networks": ["pods", "pods6"], "map": racks}
    if aws is not None:
        tree["aws"] = aws
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


def want(aws: Any = None, **kw: Any) -> vpcroutes.Wanted:
    return vpcroutes.wanted(topology.parse(document(aws or {"route_tables": [RTB]}, **kw)))


def running(*names: str, check: bool = False) -> dict[Any, Instance]:
    return {ipaddress.ip_address(IPS[n]): Instance(f"i-{n}", True, check) for n in names}


def net(text: str) -> Any:
    return ipaddress.ip_network(text)


def shown(plan: vpcroutes.Plan) -> list[tuple[str, str, str | None]]:
    return [(c.kind.value, str(c.dst), c.instance) for c in plan.changes]


def test_one_route_per_leaf_group_holding_hosts_per_network() -> None:
    routes = want().routes
    assert [(r.group, r.network, str(r.dst)) for r in routes] == [
        ("rack-a", "pods", "10.0.0.0/10"),
        ("rack-a", "pods6", "fd00:10::/58"),
        ("rack-b", "pods", "10.64.0.0/10"),
        ("rack-b", "pods6", "fd00:10:0:40::/58"),
    ]
    assert [h.name for h in routes[0].hosts] == ["a1", "a2"]


def test_a_topology_without_the_aws_key_wants_nothing() -> None:
    assert vpcroutes.wanted(topology.parse(document())) == vpcroutes.Wanted((), {})


def test_every_named_table_gets_the_routes_and_the_smallest_limit_applies() -> None:
    wanted = want({"route_tables": [RTB, RTB2], "route_limit": 7})
    assert sorted({r.table for r in wanted.routes}) == [RTB, RTB2]
    assert wanted.limits == {RTB: 7, RTB2: 7}


def test_new_routes_go_to_the_first_running_instance_and_checks_are_turned_off() -> None:
    instances = {**running("a2", "b1", check=True), **running("c1")}
    a1 = ipaddress.ip_address(IPS["a1"])
    instances[a1] = Instance("i-a1", False, True)
    plan = vpcroutes.plan(want(), instances, {RTB: ()}, {})
    assert shown(plan) == [
        ("create", "10.0.0.0/10", "i-a2"),
        ("create", "fd00:10::/58", "i-a2"),
        ("create", "10.64.0.0/10", "i-b1"),
        ("create", "fd00:10:0:40::/58", "i-b1"),
    ]
    # A stopped instance keeps its check: it carries no route until it runs again.
    assert plan.source_dest == ("i-a2", "i-b1")


def test_a_table_in_step_needs_no_change() -> None:
    present = [
        TableRoute(net("172.31.0.0/16"), None, "local"),
        TableRoute(net("10.0.0.0/10"), "i-a2"),
        TableRoute(net("fd00:10::/58"), "i-a1"),
        TableRoute(net("10.64.0.0/10"), "i-b1"),
        TableRoute(net("fd00:10:0:40::/58"), "i-b1"),
    ]
    owned = {RTB: {r.dst for r in present[1:]}}
    plan = vpcroutes.plan(want(), running("a1", "a2", "b1"), {RTB: present}, owned)
    # A route via any running instance of its group stays: no churn towards the first one.
    assert plan.changes == ()
    assert plan.tables[0].notes == ()


def test_a_stopped_next_hop_moves_to_a_running_instance_of_the_group() -> None:
    present = [TableRoute(net("10.0.0.0/10"), "i-a1"), TableRoute(net("fd00:10::/58"), "i-a1")]
    owned = {RTB: {r.dst for r in present}}
    plan = vpcroutes.plan(want(), running("a2"), {RTB: present}, owned)
    assert shown(plan) == [
        ("replace", "10.0.0.0/10", "i-a2"),
        ("replace", "fd00:10::/58", "i-a2"),
    ]
    assert "group rack-b (pods 10.64.0.0/10): no running instance (no route)" in (
        plan.tables[0].notes
    )
    assert plan.unmatched == ("a1", "b1")


def test_a_group_without_running_instance_keeps_its_route() -> None:
    present = [TableRoute(net("10.64.0.0/10"), "i-b1")]
    plan = vpcroutes.plan(want(), {}, {RTB: present}, {RTB: {net("10.64.0.0/10")}})
    assert plan.changes == ()
    assert "group rack-b (pods 10.64.0.0/10): no running instance (its route is kept)" in (
        plan.tables[0].notes
    )


def test_routes_not_created_by_the_publisher_are_never_touched() -> None:
    present = [
        TableRoute(net("0.0.0.0/0"), None, "igw-1"),
        TableRoute(net("10.0.0.0/10"), None, "pcx-1"),
        TableRoute(net("192.168.0.0/24"), "i-other"),
    ]
    plan = vpcroutes.plan(want(), running("a1", "b1"), {RTB: present}, {})
    assert ("create", "10.0.0.0/10", "i-a1") not in shown(plan)
    assert all(c.dst != net("192.168.0.0/24") for c in plan.changes)
    assert plan.tables[0].notes == (
        f"group rack-a (pods 10.0.0.0/10): {RTB} holds a route to 10.0.0.0/10 (pcx-1) that "
        "romana-aws did not create; left alone",
    )


def test_owned_routes_no_longer_wanted_are_deleted_and_vanished_ones_forgotten() -> None:
    gone = net("10.128.0.0/10")
    vanished = net("10.192.0.0/10")
    present = [TableRoute(gone, "i-x")]
    plan = vpcroutes.plan(
        want(), running("a1", "b1"), {RTB: present}, {RTB: {gone, vanished}, RTB2: {gone}}
    )
    assert [c for c in plan.changes if c.kind is Kind.DELETE] == [Change(Kind.DELETE, RTB, gone)]
    # RTB2 could not be read (absent from current): no plan for it.
    assert [t.table for t in plan.tables] == [RTB]
    done = [c for c in plan.changes if c.table == RTB]
    after = vpcroutes.owned_after({gone, vanished}, present, done)
    assert gone not in after and vanished not in after
    assert net("10.0.0.0/10") in after


def test_a_table_no_tree_names_any_more_loses_its_owned_routes() -> None:
    gone = net("10.0.0.0/10")
    plan = vpcroutes.plan(
        want(), running("a1"), {RTB: (), RTB2: [TableRoute(gone, "i-a1")]}, {RTB2: {gone}}
    )
    assert [c for c in plan.changes if c.table == RTB2] == [Change(Kind.DELETE, RTB2, gone)]


def test_the_limit_refuses_new_routes_naming_groups_and_count() -> None:
    present = [TableRoute(net("172.31.0.0/16"), None, "local")] + [
        TableRoute(net(f"192.168.{i}.0/24"), None, "igw-1") for i in range(2)
    ]
    wanted = want({"route_tables": [RTB], "route_limit": 6}, with_c=True)
    plan = vpcroutes.plan(wanted, running("a1", "b1", "c1"), {RTB: present}, {})
    table = plan.tables[0]
    assert table.changes == ()
    assert table.refused == (
        f"route table {RTB} would hold 9 routes, over its limit of 6 (it holds 3, and 6 groups "
        "need a new route): not adding the routes of rack-a (pods 10.0.0.0/10), rack-a (pods6 "
        "fd00:10::/58), rack-b (pods 10.64.0.0/10), rack-b (pods6 fd00:10:0:40::/58), rack-c "
        "(pods 10.192.0.0/10), rack-c (pods6 fd00:10:0:c0::/58)"
    )


def test_the_limit_counts_deletions_and_not_propagated_routes() -> None:
    old = net("10.192.0.0/10")
    present = [
        TableRoute(old, "i-x"),
        TableRoute(net("192.168.9.0/24"), None, "vgw-1", propagated=True),
    ]
    wanted = want({"route_tables": [RTB], "route_limit": 4})
    plan = vpcroutes.plan(wanted, running("a1", "b1"), {RTB: present}, {RTB: {old}})
    assert plan.tables[0].refused is None
    assert [c.kind for c in plan.changes] == [Kind.CREATE] * 4 + [Kind.DELETE]


def test_replacements_and_deletions_go_on_when_creations_are_refused() -> None:
    present = [TableRoute(net("10.0.0.0/10"), "i-a1"), TableRoute(net("10.192.0.0/10"), "i-x")]
    owned = {RTB: {r.dst for r in present}}
    wanted = want({"route_tables": [RTB], "route_limit": 2})
    plan = vpcroutes.plan(wanted, running("a2", "b1"), {RTB: present}, owned)
    assert shown(plan) == [("replace", "10.0.0.0/10", "i-a2"), ("delete", "10.192.0.0/10", None)]
    assert plan.tables[0].refused is not None


@pytest.mark.parametrize(
    ("aws", "field", "rule"),
    [
        ("x", "topologies[0].aws", "must be an object"),
        ({}, "topologies[0].aws.route_tables", "must be a non-empty list"),
        ({"route_tables": [RTB, "rtb-1"]}, "topologies[0].aws.route_tables[1]", "'rtb-1' is not"),
        ({"route_tables": [RTB, RTB]}, "topologies[0].aws.route_tables[1]", "listed twice"),
        ({"route_tables": [RTB], "route_limit": 0}, "topologies[0].aws.route_limit", "1..1000"),
        ({"route_tables": [RTB], "route_limit": True}, "topologies[0].aws.route_limit", "1..1000"),
        ({"route_tables": [RTB], "routes": 1}, "topologies[0].aws.routes", "unknown key"),
    ],
)
def test_an_invalid_aws_key_is_refused_with_its_field(aws: Any, field: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        topology.parse(document(aws))
    issues = [(i.field, i.rule) for i in caught.value.issues]
    assert any(f == field and rule in r for f, r in issues), issues


def test_the_aws_key_survives_export_and_parse() -> None:
    topo = topology.parse(document({"route_tables": [RTB2, RTB], "route_limit": 60}))
    exported = topology.to_document(topo)
    assert exported["topologies"][0]["aws"] == {"route_tables": [RTB2, RTB], "route_limit": 60}
    assert topology.parse(exported) == topo


def test_the_hosts_to_look_up_and_the_changes_read_plainly() -> None:
    wanted = want({"route_tables": [RTB, RTB2]})
    assert [h.name for h in vpcroutes.hosts_of(wanted)] == ["a1", "a2", "b1"]
    plan = vpcroutes.plan(wanted, running("a1"), {RTB: ()}, {RTB: {net("10.192.0.0/10")}})
    assert [c.describe() for c in plan.changes] == [
        f"create 10.0.0.0/10 via i-a1 in {RTB} (group rack-a)",
        f"create fd00:10::/58 via i-a1 in {RTB} (group rack-a)",
    ]
    delete = Change(Kind.DELETE, RTB, net("10.192.0.0/10"))
    assert delete.describe() == f"delete 10.192.0.0/10 in {RTB}"
