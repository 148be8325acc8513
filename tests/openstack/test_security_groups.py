"""Neutron security groups as romana policies, in a real neutron-server with a real romanad.

Every verdict is romanad's own (``romana explain``): its model (tenants and their isolation,
policies, address sets, allocations) compiled by the function the agents enforce, walked for
one packet from one port's address to another's. No packet is sent here.
"""

from __future__ import annotations

from typing import Any

import pytest

from openstack.rig import Sdk, SdkError
from romana.client import Client
from romana.client import reach as client_reach
from romana.core.policy import reach

pytestmark = pytest.mark.slow

PROJECT_A = "5a5a5a5a5a5a45a5a5a5a5a5a5a5a5a5"
PROJECT_B = "6b6b6b6b6b6b46b6b6b6b6b6b6b6b6b6"


def network_with_subnets(sdk: Sdk, name: str, *cidrs: str) -> dict[str, Any]:
    network = sdk.create_network(name=name)
    for cidr in cidrs:
        sdk.create_subnet(network_id=network["id"], ip_version=6 if ":" in cidr else 4, cidr=cidr)
    return network


def v4(port: dict[str, Any]) -> str:
    return next(ip["ip_address"] for ip in port["fixed_ips"] if ":" not in ip["ip_address"])


def v6(port: dict[str, Any]) -> str:
    return next(ip["ip_address"] for ip in port["fixed_ips"] if ":" in ip["ip_address"])


def explained(admin: Client, source: str, target: str, probe: str) -> reach.Explanation:
    return reach.explain(client_reach.model(admin), source, target, probe)


def allowed(admin: Client, source: str, target: str, probe: str) -> bool:
    return explained(admin, source, target, probe).allowed


class World:
    """Project A with a dual-stack network and a second network; project B with one."""

    def __init__(self, nova: Sdk, project: Any) -> None:
        self.nova = nova
        self.a = project(PROJECT_A)
        self.b = project(PROJECT_B)
        self.net_a = network_with_subnets(self.a, "sg-a", "10.0.0.0/8", "fd00:10::/56")
        self.net_a2 = network_with_subnets(self.a, "sg-a2", "10.0.0.0/8")
        self.net_b = network_with_subnets(self.b, "sg-b", "10.0.0.0/8")
        self.a1 = self.port(self.net_a, PROJECT_A, "compute-1")
        self.a2 = self.port(self.net_a, PROJECT_A, "compute-2")
        self.b1 = self.port(self.net_b, PROJECT_B, "compute-1")
        (self.default_a,) = self.a.security_groups(name="default", project_id=PROJECT_A)
        self.web = self.a.create_security_group(name="web")
        self.w = self.port(self.net_a, PROJECT_A, "compute-2", security_group_ids=[self.web["id"]])

    def port(self, network: dict[str, Any], project_id: str, host: str, **extra: Any) -> Any:
        return self.nova.create_port(
            network_id=network["id"], project_id=project_id, binding_host_id=host, **extra
        )

    def rule(
        self, group: dict[str, Any], ports: tuple[int, int] | None = None, **fields: Any
    ) -> Any:
        if ports is not None:
            fields["port_range_min"], fields["port_range_max"] = ports
        fields.setdefault("direction", "ingress")
        fields.setdefault("ether_type", "IPv4")
        return self.a.create_security_group_rule(security_group_id=group["id"], **fields)


@pytest.fixture(scope="module")
def world(nova: Sdk, project: Any) -> World:
    return World(nova, project)


def test_the_default_group_admits_its_members_and_nobody_else(admin: Client, world: World) -> None:
    a1, a2, b1 = world.a1, world.a2, world.b1
    for probe in ("tcp/22", "udp/53", "icmp"):
        assert allowed(admin, v4(a1), v4(a2), probe)
        assert allowed(admin, v6(a2), v6(a1), probe)
    decided = explained(admin, v4(a1), v4(a2), "tcp/22").ingress.rule
    assert decided is not None and f"os.sg.{world.default_a['id']}" in decided.policy
    # Cross-project: B's ports are not members of A's default group, and the reverse.
    assert not allowed(admin, v4(b1), v4(a1), "tcp/22")
    assert not allowed(admin, v4(a1), v4(b1), "tcp/22")
    # The web port is not in the default group either way.
    assert not allowed(admin, v4(world.w), v4(a1), "tcp/22")


def test_a_remote_ip_prefix_rule_admits_that_prefix_on_that_port_and_ethertype(
    admin: Client, world: World
) -> None:
    w, a1, b1 = world.w, world.a1, world.b1
    assert not allowed(admin, v4(b1), v4(w), "tcp/80")
    world.rule(world.web, protocol="tcp", ports=(80, 80), remote_ip_prefix="10.0.0.0/8")
    assert allowed(admin, v4(b1), v4(w), "tcp/80")  # another project, inside the prefix
    assert allowed(admin, v4(a1), v4(w), "tcp/80")
    assert not allowed(admin, v4(a1), v4(w), "tcp/22")
    assert not allowed(admin, v4(a1), v4(w), "udp/80")
    assert not allowed(admin, v6(a1), v6(w), "tcp/80")  # the rule is IPv4 only


def test_a_port_range_admits_exactly_its_ports(admin: Client, world: World) -> None:
    world.rule(world.web, protocol="udp", ports=(8000, 8080))
    source, target = v4(world.b1), v4(world.w)
    assert allowed(admin, source, target, "udp/8000")
    assert allowed(admin, source, target, "udp/8080")
    assert not allowed(admin, source, target, "udp/7999")
    assert not allowed(admin, source, target, "udp/8081")
    assert not allowed(admin, source, target, "tcp/8000")


def test_a_remote_group_rule_follows_the_groups_ports_as_they_come_and_go(
    admin: Client, world: World
) -> None:
    db = world.a.create_security_group(name="db")
    world.rule(db, protocol="tcp", ports=(5432, 5432), remote_group_id=world.web["id"])
    d = world.port(world.net_a, PROJECT_A, "compute-1", security_group_ids=[db["id"]])
    assert allowed(admin, v4(world.w), v4(d), "tcp/5432")
    assert not allowed(admin, v4(world.w), v4(d), "tcp/5433")
    assert not allowed(admin, v4(world.a1), v4(d), "tcp/5432")

    w2 = world.port(world.net_a, PROJECT_A, "compute-1", security_group_ids=[world.web["id"]])
    assert allowed(admin, v4(w2), v4(d), "tcp/5432")
    world.nova.delete_port(w2["id"])
    members = admin.get_address_set(f"os.sg.{world.web['id']}.v4")["members"]
    assert f"{v4(w2)}/32" not in members and f"{v4(world.w)}/32" in members
    assert not allowed(admin, v4(w2), v4(d), "tcp/5432")


def test_a_second_group_added_to_a_running_port_adds_its_rules(admin: Client, world: World) -> None:
    p = world.port(world.net_a, PROJECT_A, "compute-1")
    world.rule(world.web, protocol="tcp", ports=(443, 443))
    assert not allowed(admin, v4(world.b1), v4(p), "tcp/443")
    groups = [world.default_a["id"], world.web["id"]]
    world.nova.update_port(p["id"], security_group_ids=groups)
    assert allowed(admin, v4(world.b1), v4(p), "tcp/443")
    assert allowed(admin, v4(world.a1), v4(p), "tcp/22")  # still the default group's member
    world.nova.update_port(p["id"], security_group_ids=[world.web["id"]])
    assert not allowed(admin, v4(world.a1), v4(p), "tcp/22")


def test_a_deleted_rule_no_longer_admits(admin: Client, world: World) -> None:
    rule = world.rule(world.web, protocol="tcp", ports=(9090, 9090))
    assert allowed(admin, v4(world.b1), v4(world.w), "tcp/9090")
    world.a.delete_security_group_rule(rule["id"])
    assert not allowed(admin, v4(world.b1), v4(world.w), "tcp/9090")


def test_a_port_without_port_security_is_open_to_its_own_network_only(
    admin: Client, world: World
) -> None:
    o = world.port(
        world.net_a, PROJECT_A, "compute-2", is_port_security_enabled=False, security_group_ids=[]
    )
    x = world.port(world.net_a2, PROJECT_A, "compute-1")
    for source in (world.a1, world.w):  # any group of its network
        assert allowed(admin, v4(source), v4(o), "tcp/5555")
    assert allowed(admin, v6(world.a1), v6(o), "udp/5555")
    assert not allowed(admin, v4(world.b1), v4(o), "tcp/22")  # another project
    assert not allowed(admin, v4(x), v4(o), "tcp/22")  # another network of the project
    assert not allowed(admin, v4(o), v4(world.b1), "tcp/22")  # B's default group
    world.nova.delete_port(o["id"])
    assert not any(p["name"] == f"os.open.{world.net_a['id']}" for p in admin.list_policies())


def test_a_filtered_port_without_any_group_passes_nothing(admin: Client, world: World) -> None:
    c = world.port(world.net_a, PROJECT_A, "compute-1", security_group_ids=[])
    assert not allowed(admin, v4(world.a1), v4(c), "tcp/22")
    assert not allowed(admin, v4(c), v4(world.w), "tcp/80")  # w admits 10/8, c may not send


def test_what_romana_cannot_enforce_is_refused_with_the_reason(admin: Client, world: World) -> None:
    with pytest.raises(SdkError) as gre:
        world.rule(world.web, protocol="gre")
    assert gre.value.status == 409
    assert "protocol 'gre' is not supported" in gre.value.message
    with pytest.raises(SdkError) as stateless:
        world.a.create_security_group(name="stateless", stateful=False)
    assert stateless.value.status == 409
    assert "stateless security groups are not supported" in stateless.value.message
    spare = world.a.create_security_group(name="stays-stateful")
    with pytest.raises(SdkError) as made_stateless:
        world.a.update_security_group(spare["id"], stateful=False)
    assert made_stateless.value.status == 409
    assert world.a.get_security_group(spare["id"])["stateful"] is True
    kept = world.a.security_group_rules(security_group_id=world.web["id"])
    assert "gre" not in {r["protocol"] for r in kept}


def test_deleting_a_group_removes_its_policy_and_sets(admin: Client, world: World) -> None:
    spare = world.a.create_security_group(name="spare")
    name = f"os.sg.{spare['id']}"
    assert any(p["name"] == name for p in admin.list_policies())
    world.a.delete_security_group(spare["id"])
    assert not any(p["name"] == name for p in admin.list_policies())
    assert not any(s["name"].startswith(name) for s in admin.list_address_sets())


def test_two_networks_of_a_project_stay_apart_whatever_their_groups_admit(
    admin: Client, world: World
) -> None:
    x = world.port(world.net_a2, PROJECT_A, "compute-1")
    y = world.port(world.net_a2, PROJECT_A, "compute-2")
    assert allowed(admin, v4(x), v4(y), "tcp/22")  # the default group, one network
    # a1 is in the default group too, on the project's other network: no router joins them.
    assert not allowed(admin, v4(x), v4(world.a1), "tcp/22")
    assert not allowed(admin, v4(world.a1), v4(x), "tcp/22")
    decided = explained(admin, v4(x), v4(world.a1), "tcp/22").ingress.rule
    assert decided is not None and decided.action == "deny"
    assert f"os.net.{world.net_a['id']}" in decided.policy


def test_a_deleted_network_leaves_the_isolation_of_the_others(admin: Client, world: World) -> None:
    network = network_with_subnets(world.a, "sg-a3", "10.0.0.0/8")
    p = world.port(network, PROJECT_A, "compute-1")
    policies = {p["name"]: p for p in admin.list_policies()}
    apart = policies[f"os.net.{world.net_a['id']}"]["ingress"][0]["peers"]
    assert {"tenant": apart[0]["tenant"], "segment": network["id"]} in apart
    world.nova.delete_port(p["id"])
    world.a.delete_network(network["id"])
    policies = {p["name"]: p for p in admin.list_policies()}
    assert f"os.net.{network['id']}" not in policies
    apart = policies[f"os.net.{world.net_a['id']}"]["ingress"][0]["peers"]
    assert network["id"] not in {peer["segment"] for peer in apart}


def test_a_tenant_made_beforehand_in_romana_mode_also_admits_its_own_segment(
    admin: Client, world: World, project: Any, neutron: Any
) -> None:
    project_id = "7c7c7c7c7c7c47c7c7c7c7c7c7c7c7c7"
    admin.create_tenant("legacy", external_id=project_id, owner="neutron")
    sdk = project(project_id)
    network = network_with_subnets(sdk, "legacy-net", "10.0.0.0/8")
    quiet = sdk.create_security_group(name="quiet")
    for rule in sdk.security_group_rules(security_group_id=quiet["id"]):
        sdk.delete_security_group_rule(rule["id"])
    target = world.nova.create_port(
        network_id=network["id"],
        project_id=project_id,
        binding_host_id="compute-1",
        security_group_ids=[quiet["id"]],
    )
    source = world.nova.create_port(
        network_id=network["id"], project_id=project_id, binding_host_id="compute-2"
    )
    assert allowed(admin, v4(source), v4(target), "tcp/22")  # romana mode: own segment
    assert not allowed(admin, v4(world.b1), v4(target), "tcp/22")
    log = neutron.server.log_path.read_text()
    assert "romana: tenant legacy is in romana isolation mode" in log
