"""Acceptance: the local API's answers, and that a refused request changes nothing.

Requests go over the real Unix socket of a running agent; romanad, the kernel and the
agent's registry are inspected afterwards to prove that nothing was half-done.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from romana.core import errors, hostplan
from romana.integrations.cni import pending
from romana.lab import Agent, Cluster, Host
from support.wait import eventually

pytestmark = pytest.mark.root


def veths(agents: Cluster, host: Host) -> set[str]:
    out = agents.lab.run(host, ["ip", "-o", "link", "show", "type", "veth"]).stdout
    return {line.split()[1].split("@")[0] for line in out.splitlines()}


def allocations(agents: Cluster, host: Host) -> set[str]:
    return {a["key"] for a in agents.api.list_allocations(host=host.name)}


def firewall(agents: Cluster, host: Host) -> str:
    if agents.firewall == "nftables":
        return agents.lab.run(host, ["nft", "list", "table", "inet", "romana"]).stdout
    saved = agents.lab.run(host, ["iptables-save", "-t", "filter"]).stdout
    return "\n".join(line for line in saved.splitlines() if not line.startswith("#"))


def body(agents: Cluster, host: Host, **changes: Any) -> dict[str, Any]:
    workload = agents.lab.add_workload(host, f"w{len(agents.lab.workloads)}")
    base = {
        "container_id": f"c-bad-{len(agents.lab.workloads)}",
        "ifname": "eth0",
        "netns": workload.path,
        "network": "romana-test",
        "tenant": "t1",
        "segment": "default",
        "labels": {},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


BAD = [
    ({"tenant": None}, 422, "tenant"),
    ({"ifname": "eth/0"}, 422, "ifname"),
    ({"container_id": "-leading-dash"}, 422, "container_id"),
    ({"netns": "relative/path"}, 422, "netns"),
    ({"mtu": 20}, 422, "mtu"),
    ({"labels": {"app": 7}}, 422, "labels.app"),
    ({"colour": "blue"}, 422, "colour"),
    ({"netns": "/run/netns/no-such-namespace"}, 404, "netns"),
]


@pytest.mark.parametrize(("changes", "status", "field"), BAD)
def test_bad_add_is_refused_naming_the_field_and_changes_nothing(
    agents: Cluster, changes: dict[str, Any], status: int, field: str
) -> None:
    h1 = agents.hosts[0]
    agent = agents.agent(h1)
    request = body(agents, h1, **changes)
    links, allocated, state = veths(agents, h1), allocations(agents, h1), agent.state()
    got, answer = agent.raw("POST", "/v1/endpoints", request)
    assert got == status, answer
    assert answer["field"] == field, answer
    assert answer["type"] == "about:blank"  # romanad's dialect: the status says what it is
    assert field.split(".")[0] in answer["detail"]
    assert veths(agents, h1) == links
    assert allocations(agents, h1) == allocated
    assert agent.state()["endpoints"] == state["endpoints"]


def test_add_into_a_namespace_whose_interface_exists_is_a_conflict_and_leaves_no_trace(
    agents: Cluster,
) -> None:
    h1 = agents.hosts[0]
    agent = agents.agent(h1)
    existing = next(e for e in agents.endpoints if e.host.name == h1.name)
    links, allocated = veths(agents, h1), allocations(agents, h1)
    for container_id in (existing.container_id, "c-intruder"):
        status, answer = agent.raw(
            "POST",
            "/v1/endpoints",
            {
                "container_id": container_id,
                "ifname": "eth0",
                "netns": existing.workload.path,
                "tenant": existing.tenant,
                "segment": existing.segment,
            },
        )
        assert (status, answer["field"]) == (409, "ifname"), answer
        assert answer["type"] == "about:blank"
    assert veths(agents, h1) == links
    assert allocations(agents, h1) == allocated
    assert agent.api.get_endpoint(existing.container_id, "eth0")["problems"] == []


def test_a_policy_the_backend_cannot_express_is_refused_when_posted(agents: Cluster) -> None:
    # romanad refuses it with the compiler's reason, so no agent ever has to leave it out
    # (the agent's own refusal of such a stored policy: tests/agent/test_agent_desired.py).
    before = {h.name: firewall(agents, h) for h in agents.hosts}
    policy = {
        "name": "deny-from-host",
        "action": "deny",
        "applied_to": [{"tenant": "t1"}],
        "ingress": [{"peers": [{"peer": "host"}], "rules": [{"protocol": "tcp"}]}],
    }
    with pytest.raises(
        errors.Unsupported, match=r"'deny-from-host': .*peer host cannot be enforced"
    ):
        agents.api.add_policies(policy)
    with pytest.raises(errors.NotFound):
        agents.api.get_policy("deny-from-host")
    for host in agents.hosts:
        agent = agents.agent(host)
        assert agent.state()["refused_policies"] == []
        assert agent.metric("romana_agent_policies_refused") == 0
        assert firewall(agents, host) == before[host.name]


def test_check_reports_what_is_missing(agents: Cluster) -> None:
    h3 = agents.hosts[2]
    agent = agents.agent(h3)
    ep = agents.add_endpoint(h3, "checked", "t2", "blue", listen=False)
    try:
        assert agent.api.get_endpoint(ep.container_id, "eth0")["problems"] == []
        agents.lab.run(ep.workload, ["ip", "addr", "del", f"{ep.address}/32", "dev", "eth0"])
        problems = agent.api.get_endpoint(ep.container_id, "eth0")["problems"]
        assert any(f"address {ep.address} is missing" in p for p in problems), problems
        with pytest.raises(errors.NotFound):
            agent.api.get_endpoint("c-never-added", "eth0")
    finally:
        agent.api.delete_endpoint(ep.container_id, "eth0")


def test_del_works_with_the_namespace_gone_and_is_idempotent(agents: Cluster) -> None:
    h2 = agents.hosts[1]
    agent = agents.agent(h2)
    ep = agents.add_endpoint(h2, "short-lived", "t2", "default", listen=False)
    key = f"{ep.container_id}:eth0"
    assert key in allocations(agents, h2)
    agents.lab.remove_namespace(ep.workload)
    assert agent.api.delete_endpoint(ep.container_id, "eth0") is True
    assert eventually(lambda: key not in allocations(agents, h2))
    assert hostplan.host_ifname(key) not in veths(agents, h2)
    assert key not in agent.state()["endpoints"]
    assert agent.api.delete_endpoint(ep.container_id, "eth0") is False
    assert agent.api.delete_endpoint("c-never-added", "eth1") is False


def test_gc_releases_only_stale_endpoints_of_its_network(agents: Cluster) -> None:
    h1 = agents.hosts[0]
    agent = agents.agent(h1)
    stale = agents.add_endpoint(h1, "stale", "t1", "blue", listen=False)
    valid = [(e.container_id, "eth0") for e in agents.endpoints if e.host.name == h1.name]
    time.sleep(1.2)  # past the agents' GC grace period (1 s in these tests)
    young = agents.add_endpoint(h1, "young", "t1", "blue", listen=False)
    assert agent.api.gc("another-network", [])["released"] == []
    answer = agent.api.gc("romana-test", valid)
    assert answer["released"] == [{"container_id": stale.container_id, "ifname": "eth0"}]
    assert answer.get("errors", []) == []
    remaining = allocations(agents, h1)
    assert f"{stale.container_id}:eth0" not in remaining
    assert f"{young.container_id}:eth0" in remaining
    for container_id, _ in valid:
        assert f"{container_id}:eth0" in remaining
    agent.api.delete_endpoint(young.container_id, "eth0")


def test_release_left_pending_by_the_plugin_is_finished_at_start(agents: Cluster) -> None:
    h3 = agents.hosts[2]
    agent = agents.agent(h3)
    ep = agents.add_endpoint(h3, "orphan", "t1", "default", listen=False)
    key = f"{ep.container_id}:eth0"
    assert agent.stop() == 0
    entry = pending.PendingRelease(ep.container_id, "eth0", "romana-test", ep.workload.path)
    pending.record(str(agent.pending_dir), entry)
    agent.start()
    assert pending.list_pending(str(agent.pending_dir)) == []
    assert key not in allocations(agents, h3)
    assert key not in agent.state()["endpoints"]
    assert hostplan.host_ifname(key) not in veths(agents, h3)


def wait_status(agent: Agent, ready: bool, within: float = 15.0) -> str:
    deadline = time.monotonic() + within
    readiness = agent.api.status()
    while readiness.ready != ready and time.monotonic() < deadline:
        time.sleep(0.1)
        readiness = agent.api.status()
    assert readiness.ready == ready, readiness
    return readiness.slug


def test_romanad_down_means_not_ready_and_releases_are_owed_until_it_returns(
    agents: Cluster,
) -> None:
    h2 = agents.hosts[1]
    agent = agents.agent(h2)
    ep = agents.add_endpoint(h2, "owed", "t1", "blue", listen=False)
    key = f"{ep.container_id}:eth0"
    agents.kill_romanad()
    try:
        assert wait_status(agent, ready=False) == "not-ready"
        # An ADD now would wait for romanad (test_agent_workload_side covers that).
        started = time.monotonic()
        assert agent.api.delete_endpoint(ep.container_id, "eth0") is True
        assert time.monotonic() - started < 15
        assert agent.state()["owed_releases"] == [key]
        assert hostplan.host_ifname(key) not in veths(agents, h2)
    finally:
        agents.start_romanad()
    for other in agents.agents.values():
        wait_status(other, ready=True)
    deadline = time.monotonic() + 10
    while agent.state()["owed_releases"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert agent.state()["owed_releases"] == []
    assert key not in allocations(agents, h2)
