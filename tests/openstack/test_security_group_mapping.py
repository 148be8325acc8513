"""The pure translation of Neutron security groups into romana policies (no Neutron needed).

Every policy made here is parsed by romanad's own parser and checked against what the
compiler can express, so a translated group is never refused by romanad or left out by an
agent.
"""

from __future__ import annotations

from typing import Any

import pytest

from romana.core.policy import compile as policy_compile
from romana.core.policy import ids, parse
from romana.integrations.openstack import securitygroups as sgs

SG = "11111111-2222-4333-8444-555555555555"
OTHER = "99999999-8888-4777-8666-555555555555"


def rule(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "r1",
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        "remote_ip_prefix": None,
        "remote_group_id": None,
    }
    return base | fields


def group(*rules: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": SG, "name": "web", "security_group_rules": list(rules)} | fields


def assert_enforceable(policy: dict[str, Any]) -> None:
    parsed = parse.policy(policy)
    assert ids.owner(parsed) == "os-p"
    assert policy_compile.unsupported(parsed) == ()


@pytest.mark.parametrize(
    ("fields", "peer", "romana_rule"),
    [
        ({}, {"cidr": "0.0.0.0/0"}, {"protocol": "any"}),
        ({"ethertype": "IPv6"}, {"cidr": "::/0"}, {"protocol": "any"}),
        ({"protocol": "any"}, {"cidr": "0.0.0.0/0"}, {"protocol": "any"}),
        (
            {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
            {"cidr": "0.0.0.0/0"},
            {"protocol": "tcp", "ports": [22]},
        ),
        (
            {"protocol": "6", "port_range_min": 8000, "port_range_max": 8080},
            {"cidr": "0.0.0.0/0"},
            {"protocol": "tcp", "port_ranges": [[8000, 8080]]},
        ),
        ({"protocol": "17"}, {"cidr": "0.0.0.0/0"}, {"protocol": "udp"}),
        ({"protocol": "sctp"}, {"cidr": "0.0.0.0/0"}, {"protocol": "sctp"}),
        ({"protocol": "icmp"}, {"cidr": "0.0.0.0/0"}, {"protocol": "icmp"}),
        (
            {"protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
            {"cidr": "0.0.0.0/0"},
            {"protocol": "icmp", "icmp_type": 8, "icmp_code": 0},
        ),
        ({"protocol": "icmp", "ethertype": "IPv6"}, {"cidr": "::/0"}, {"protocol": "icmpv6"}),
        (
            {"protocol": "ipv6-icmp", "ethertype": "IPv6", "port_range_min": 128},
            {"cidr": "::/0"},
            {"protocol": "icmpv6", "icmp_type": 128},
        ),
        (
            {"protocol": "tcp", "remote_ip_prefix": "10.1.2.3/16"},
            {"cidr": "10.1.0.0/16"},
            {"protocol": "tcp"},
        ),
        ({"remote_group_id": OTHER}, {"address_set": f"os.sg.{OTHER}.v4"}, {"protocol": "any"}),
        (
            {"remote_group_id": OTHER, "ethertype": "IPv6"},
            {"address_set": f"os.sg.{OTHER}.v6"},
            {"protocol": "any"},
        ),
    ],
)
def test_a_rule_becomes_one_clause_with_its_remote_protocol_and_ports(
    fields: dict[str, Any], peer: dict[str, str], romana_rule: dict[str, Any]
) -> None:
    assert sgs.rule_clause(rule(**fields)) == {"peers": [peer], "rules": [romana_rule]}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"protocol": "gre"}, "protocol 'gre' is not supported"),
        ({"protocol": "47"}, "protocol '47' is not supported"),
        ({"protocol": "udplite", "port_range_min": 5}, "protocol 'udplite' is not supported"),
        ({"remote_address_group_id": OTHER}, "remote_address_group_id is not supported"),
    ],
)
def test_a_rule_romana_cannot_enforce_exactly_is_refused_naming_it(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(sgs.Unexpressible, match=f"security group rule r1: {reason}"):
        sgs.rule_clause(rule(**fields))


def test_a_stateless_group_is_refused() -> None:
    with pytest.raises(sgs.Unexpressible, match="stateless security groups are not supported"):
        sgs.group_policy(group(stateful=False), "os-p")


def test_the_default_group_allows_egress_and_ingress_from_its_own_members() -> None:
    default = group(
        rule(id="e4", direction="egress"),
        rule(id="e6", direction="egress", ethertype="IPv6"),
        rule(id="i4", remote_group_id=SG),
        rule(id="i6", remote_group_id=SG, ethertype="IPv6"),
    )
    policy = sgs.group_policy(default, "os-p")
    assert policy["applied_to"] == [
        {"address_set": f"os.sg.{SG}.v4", "tenant": "os-p"},
        {"address_set": f"os.sg.{SG}.v6", "tenant": "os-p"},
    ]
    assert [c["peers"] for c in policy["egress"]] == [[{"cidr": "0.0.0.0/0"}], [{"cidr": "::/0"}]]
    assert [c["peers"] for c in policy["ingress"]] == [
        [{"address_set": f"os.sg.{SG}.v4"}],
        [{"address_set": f"os.sg.{SG}.v6"}],
    ]
    assert_enforceable(policy)


def test_a_direction_without_rules_selects_and_allows_nothing() -> None:
    policy = sgs.group_policy(group(rule(direction="egress")), "os-p")
    nothing = [{"peers": [{"address_set": sgs.NOTHING}], "rules": [{"protocol": "any"}]}]
    assert policy["ingress"] == nothing
    assert policy["egress"] != nothing
    assert sgs.closed_policy("p", "os-p")["ingress"] == nothing
    assert sgs.closed_policy("p", "os-p")["egress"] == nothing
    assert_enforceable(policy)
    assert_enforceable(sgs.closed_policy("p", "os-p"))


def test_an_unfiltered_ports_policy_accepts_its_own_tenant_and_segment() -> None:
    policy = sgs.open_policy("net-1", "os-p", "net-1")
    assert policy["applied_to"][0] == {"address_set": "os.open.net-1.v4", "tenant": "os-p"}
    assert policy["ingress"] == [
        {"peers": [{"tenant": "os-p", "segment": "net-1"}], "rules": [{"protocol": "any"}]}
    ]
    assert "egress" not in policy
    assert_enforceable(policy)


def port(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "port-1",
        "network_id": "net-1",
        "project_id": "p",
        "device_owner": "compute:nova",
        "port_security_enabled": True,
        "security_groups": [SG],
        "fixed_ips": [{"ip_address": "10.0.17.1"}, {"ip_address": "fd00:10::1:1:0:1"}],
    }
    return base | fields


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {sgs.group(SG)}),
        ({"security_groups": [SG, OTHER]}, {sgs.group(SG), sgs.group(OTHER)}),
        ({"security_groups": []}, {sgs.Membership("closed", "p")}),
        (
            {"port_security_enabled": False, "security_groups": []},
            {sgs.Membership("open", "net-1")},
        ),
        ({"device_owner": "network:dhcp"}, {sgs.Membership("open", "net-1")}),
    ],
)
def test_a_port_belongs_to_each_of_its_groups_or_to_its_network_or_project(
    fields: dict[str, Any], expected: set[sgs.Membership]
) -> None:
    assert sgs.memberships(port(**fields)) == expected


def test_a_selections_sets_hold_the_addresses_of_its_ports_by_family() -> None:
    ports = [
        port(),
        port(id="port-2", fixed_ips=[{"ip_address": "10.0.17.9"}]),
        port(id="port-3", security_groups=[OTHER], fixed_ips=[{"ip_address": "10.0.17.5"}]),
        port(id="port-4", fixed_ips=[]),
    ]
    assert sgs.members(sgs.group(SG), ports) == {
        f"os.sg.{SG}.v4": ["10.0.17.1/32", "10.0.17.9/32"],
        f"os.sg.{SG}.v6": ["fd00:10::1:1:0:1/128"],
    }
    assert sgs.members(sgs.group("gone"), ports) == {"os.sg.gone.v4": [], "os.sg.gone.v6": []}


def test_each_network_of_a_project_denies_the_projects_other_networks() -> None:
    policies = sgs.network_isolation("os-p", ["n2", "n1", "n3"])
    assert sorted(policies) == ["os.net.n1", "os.net.n2", "os.net.n3"]
    n1 = policies["os.net.n1"]
    assert n1["action"] == "deny"
    assert n1["applied_to"] == [{"tenant": "os-p", "segment": "n1"}]
    assert n1["ingress"][0]["peers"] == [
        {"tenant": "os-p", "segment": "n2"},
        {"tenant": "os-p", "segment": "n3"},
    ]
    for policy in policies.values():
        assert_enforceable(policy)
    assert sgs.network_isolation("os-p", ["n1"]) == {}


def test_networks_joined_by_routers_are_not_denied_to_each_other_and_joins_chain() -> None:
    # r1 joins n1 and n2, r2 joins n2 and n3: n1 reaches n3 through both; n4 is joined to none.
    policies = sgs.network_isolation("os-p", ["n1", "n2", "n3", "n4"], [["n1", "n2"], ["n2", "n3"]])
    assert sorted(policies) == ["os.net.n1", "os.net.n2", "os.net.n3", "os.net.n4"]
    for joined in ("n1", "n2", "n3"):
        peers = policies[f"os.net.{joined}"]["ingress"][0]["peers"]
        assert peers == [{"tenant": "os-p", "segment": "n4"}]
    assert [p["segment"] for p in policies["os.net.n4"]["ingress"][0]["peers"]] == [
        "n1",
        "n2",
        "n3",
    ]
    # One router joining every network: nothing is denied.
    assert sgs.network_isolation("os-p", ["n1", "n2"], [["n1", "n2", "gone"]]) == {}


def test_a_routers_port_is_no_endpoint_of_any_selection() -> None:
    for owner in ("network:router_interface", "network:router_gateway", "network:floatingip"):
        port = {"network_id": "net-1", "project_id": "p", "device_owner": owner}
        assert sgs.memberships(port) == frozenset()
