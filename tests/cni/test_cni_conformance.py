"""Acceptance: ``romana-cni`` run as a runtime runs it, against a real agent and romanad.

Each test creates fresh workload namespaces on a lab host, executes the real plugin with the
CNI environment and configuration, and then looks at the kernel, the agent and romanad: the
checklist of peers.md §5.6 end to end. Every test ends with the host exactly as it began
(same veths, endpoint routes, allocations, agent records and pending releases).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cnilab import environ, invoke, mentions, netconf, settle, snapshot

from romana.core import errors
from romana.integrations.cni import spec
from romana.lab import Cluster, Host, Workload
from support.wait import eventually

pytestmark = pytest.mark.root

SUPPORTED = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


@pytest.fixture
def h1(cni_cluster: Cluster) -> Iterator[Host]:
    """Host h1, asserted to be back as it was found after the test."""
    host = cni_cluster.hosts[0]
    before = snapshot(cni_cluster, host)
    yield host
    assert settle(cni_cluster, host, before), snapshot(cni_cluster, host)


def released(cluster: Cluster, key: str) -> bool:
    """True once romanad holds no allocation for ``key``."""
    try:
        cluster.api.get_allocation(key)
    except errors.NotFound:
        return True
    return False


def workload(cluster: Cluster, host: Host) -> Workload:
    return cluster.lab.add_workload(host, f"w{len(cluster.lab.workloads)}")


def cid(cluster: Cluster, name: str) -> str:
    return f"{cluster.lab.prefix}-{name}"


def sh(cluster: Cluster, node: Host | Workload, *argv: str) -> str:
    return cluster.lab.run(node, list(argv)).stdout


def link(cluster: Cluster, node: Host | Workload, name: str) -> dict[str, Any]:
    """The MAC address and MTU of one interface."""
    words = sh(cluster, node, "ip", "-o", "link", "show", "dev", name).split()
    return {"mac": words[words.index("link/ether") + 1], "mtu": int(words[words.index("mtu") + 1])}


def test_version_lists_every_supported_version(cni_cluster: Cluster, h1: Host) -> None:
    for asked in ("1.1.0", "0.4.0"):
        out = invoke(cni_cluster.agent(h1), environ("VERSION"), {"cniVersion": asked})
        assert out.rc == 0, out
        assert out.json == {"cniVersion": asked, "supportedVersions": SUPPORTED}


def test_refused_requests_change_nothing(cni_cluster: Cluster, h1: Host) -> None:
    agent = cni_cluster.agent(h1)
    w = workload(cni_cluster, h1)
    ok = environ("ADD", cid(cni_cluster, "refused"), w.path)
    cases: list[tuple[dict[str, str], dict[str, Any], int | None, str]] = [
        (ok, netconf(agent, version="0.2.0"), spec.ERR_INCOMPATIBLE_VERSION, "0.2.0"),
        (
            environ("ADD", cid(cni_cluster, "refused"), "/run/netns/no-such-ns"),
            netconf(agent),
            spec.ERR_UNKNOWN_CONTAINER,
            "/run/netns/no-such-ns",
        ),
        (environ("ADD", cid(cni_cluster, "refused")), netconf(agent), 4, "CNI_NETNS"),
        (ok, netconf(agent, tenant=None), spec.ERR_INVALID_CONFIG, "tenant"),
        # An unknown tenant is the configuration's fault: error 7 naming the tenant.
        (ok, netconf(agent, tenant="no-such-tenant"), spec.ERR_INVALID_CONFIG, "no-such-tenant"),
        (ok, netconf(agent, ipam={"type": "host-local"}), spec.ERR_UNSUPPORTED_FIELD, "ipam"),
    ]
    for env, conf, code, named in cases:
        out = invoke(cni_cluster.agent(h1), env, conf)
        assert out.rc == 1, (conf, out)
        if code is not None:
            assert out.code == code, (conf, out)
        assert named in out.json["msg"] + out.json.get("details", ""), out
        assert sh(cni_cluster, w, "ip", "-o", "link", "show", "type", "veth") == ""


@pytest.mark.parametrize("version", ["1.1.0", "0.4.0"])
def test_add_wires_the_endpoint_and_reports_it_and_del_removes_it(
    cni_cluster: Cluster, h1: Host, version: str
) -> None:
    agent = cni_cluster.agent(h1)
    w = workload(cni_cluster, h1)
    container = cid(cni_cluster, f"add-{version}")
    conf = netconf(agent, version=version, tenant="t2", labels={"romana.io/segment": "blue"})
    added = invoke(cni_cluster.agent(h1), environ("ADD", container, w.path), conf)
    assert added.rc == 0, added
    result = added.json
    address = added.address

    # The result: the host side first, the container side with its sandbox, both with MACs.
    assert result["cniVersion"] == version
    host_if, inside_if = result["interfaces"]
    assert inside_if["name"] == "eth0" and inside_if["sandbox"] == w.path
    assert "sandbox" not in host_if
    inside, outside = link(cni_cluster, w, "eth0"), link(cni_cluster, h1, host_if["name"])
    assert inside_if["mac"] == inside["mac"] and host_if["mac"] == outside["mac"]
    if version == "1.1.0":
        assert inside_if["mtu"] == inside["mtu"] and host_if["mtu"] == outside["mtu"]
    else:
        assert "mtu" not in inside_if  # 0.4.0 results have no interface MTU
    (ip,) = result["ips"]
    assert ip["address"] == f"{address}/32" and ip["interface"] == 1
    gateway = ip["gateway"]
    assert ("version" in ip) is (version == "0.4.0")
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": gateway}]

    # The kernel: the address inside, default via the gateway on-link, the host /32 route.
    assert f"inet {address}/32 " in sh(cni_cluster, w, "ip", "-o", "-4", "addr", "show", "eth0")
    default = sh(cni_cluster, w, "ip", "-4", "route", "show", "default").split()
    assert default[:5] == ["default", "via", gateway, "dev", "eth0"] and "onlink" in default
    host_route = sh(cni_cluster, h1, "ip", "-4", "route", "show", f"{address}/32").split()
    assert host_route[:3] == [address, "dev", host_if["name"]]
    assert cni_cluster.lab.ping(h1, address)

    # romanad holds the address for this attachment, for the tenant and segment asked for.
    held = cni_cluster.api.get_allocation(f"{container}:eth0")
    assert (held["tenant"], held["segment"], held["addresses"]) == ("t2", "blue", [address])

    checked = invoke(
        cni_cluster.agent(h1), environ("CHECK", container, w.path), {**conf, "prevResult": result}
    )
    assert (checked.rc, checked.stdout) == (0, ""), checked

    removed = invoke(
        cni_cluster.agent(h1), environ("DEL", container, w.path), {**conf, "prevResult": result}
    )
    assert (removed.rc, removed.stdout) == (0, ""), removed
    # DEL answers once the endpoint is cut off: its veth is down or already gone, and the
    # reaper deletes it just after.
    left = sh(cni_cluster, w, "ip", "-o", "link", "show", "type", "veth")
    assert left == "" or "NO-CARRIER" in left, left
    assert eventually(lambda: sh(cni_cluster, w, "ip", "-o", "link", "show", "type", "veth") == "")
    # The flows are forgotten and the address released just after DEL answers.
    assert eventually(lambda: mentions(cni_cluster, h1, address) == [])
    assert eventually(lambda: released(cni_cluster, f"{container}:eth0"))
    again = invoke(cni_cluster.agent(h1), environ("DEL", container, w.path), conf)
    assert (again.rc, again.stdout) == (0, ""), again


def test_check_fails_once_the_veth_is_gone_and_a_retried_add_gets_the_same_address(
    cni_cluster: Cluster, h1: Host
) -> None:
    agent = cni_cluster.agent(h1)
    w = workload(cni_cluster, h1)
    container = cid(cni_cluster, "check")
    conf = netconf(agent)
    added = invoke(cni_cluster.agent(h1), environ("ADD", container, w.path), conf)
    assert added.rc == 0, added
    with_prev = {**conf, "prevResult": added.json}
    assert invoke(cni_cluster.agent(h1), environ("CHECK", container, w.path), with_prev).rc == 0

    twice = invoke(cni_cluster.agent(h1), environ("ADD", container, w.path), conf)
    assert twice.code == spec.ERR_INTERFACE_EXISTS, twice
    host_ifname = added.json["interfaces"][0]["name"]
    sh(cni_cluster, h1, "ip", "link", "del", host_ifname)
    failed = invoke(cni_cluster.agent(h1), environ("CHECK", container, w.path), with_prev)
    assert failed.code == spec.ERR_CHECK_FAILED, failed
    assert host_ifname in failed.json["details"], failed

    # The runtime retries the ADD of the same attachment: the same address comes back, wired.
    retried = invoke(cni_cluster.agent(h1), environ("ADD", container, w.path), conf)
    assert retried.rc == 0 and retried.address == added.address, retried
    assert invoke(cni_cluster.agent(h1), environ("CHECK", container, w.path), with_prev).rc == 0
    assert cni_cluster.lab.ping(h1, retried.address)

    # A prevResult that is not this endpoint's fails CHECK too.
    forged = copy.deepcopy(added.json)
    forged["ips"][0]["address"] = "10.255.255.1/32"
    wrong = invoke(
        cni_cluster.agent(h1), environ("CHECK", container, w.path), {**conf, "prevResult": forged}
    )
    assert wrong.code == spec.ERR_CHECK_FAILED and "10.255.255.1" in wrong.json["details"]

    # The address released behind the agent's back: the endpoint no longer owns it.
    cni_cluster.api.release(f"{container}:eth0")
    lost = invoke(cni_cluster.agent(h1), environ("CHECK", container, w.path), with_prev)
    assert lost.code == spec.ERR_CHECK_FAILED and "no longer allocated" in lost.json["details"]
    assert invoke(cni_cluster.agent(h1), environ("DEL", container, w.path), conf).rc == 0


def test_del_completes_when_the_namespace_is_gone_and_forgets_its_flows(
    cni_cluster: Cluster, h1: Host
) -> None:
    agent = cni_cluster.agent(h1)
    w = workload(cni_cluster, h1)
    container = cid(cni_cluster, "gone")
    conf = netconf(agent)
    added = invoke(cni_cluster.agent(h1), environ("ADD", container, w.path), conf)
    assert added.rc == 0, added
    address = added.address
    assert cni_cluster.lab.ping(h1, address)
    assert any(line.startswith("conntrack") for line in mentions(cni_cluster, h1, address))
    cni_cluster.lab.remove_namespace(w)

    for netns in (w.path, ""):  # the path the runtime had, then none (as ctr sends it)
        out = invoke(
            cni_cluster.agent(h1),
            environ("DEL", container, netns),
            {**conf, "prevResult": added.json},
        )
        assert (out.rc, out.stdout) == (0, ""), out
    assert mentions(cni_cluster, h1, address) == []
    with pytest.raises(errors.NotFound):
        cni_cluster.api.get_allocation(f"{container}:eth0")


def test_del_with_romanad_down_unwires_at_once_and_releases_when_it_returns(
    cni_cluster: Cluster, h1: Host
) -> None:
    agent = cni_cluster.agent(h1)
    w = workload(cni_cluster, h1)
    container = cid(cni_cluster, "nostore")
    conf = netconf(agent)
    added = invoke(cni_cluster.agent(h1), environ("ADD", container, w.path), conf)
    assert added.rc == 0, added
    cni_cluster.kill_romanad()
    try:
        for _ in range(2):
            out = invoke(cni_cluster.agent(h1), environ("DEL", container, w.path), conf)
            assert (out.rc, out.stdout) == (0, ""), out
        assert sh(cni_cluster, w, "ip", "-o", "link", "show", "type", "veth") == ""
        assert mentions(cni_cluster, h1, added.address) == []
        assert agent.state()["owed_releases"] == [f"{container}:eth0"]
    finally:
        cni_cluster.start_romanad()
        for each in cni_cluster.agents.values():
            each.wait_ready()
    deadline = time.monotonic() + 15
    while agent.state()["owed_releases"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert agent.state()["owed_releases"] == []
    with pytest.raises(errors.NotFound):
        cni_cluster.api.get_allocation(f"{container}:eth0")


def test_with_the_agent_down_status_fails_and_del_is_finished_when_it_returns(
    cni_cluster: Cluster, h1: Host
) -> None:
    agent = cni_cluster.agent(h1)
    w, other = workload(cni_cluster, h1), workload(cni_cluster, h1)
    container = cid(cni_cluster, "away")
    conf = netconf(agent)
    status = invoke(cni_cluster.agent(h1), environ("STATUS"), conf)
    assert (status.rc, status.stdout) == (0, ""), status
    added = invoke(cni_cluster.agent(h1), environ("ADD", container, w.path), conf)
    assert added.rc == 0, added
    host_ifname = added.json["interfaces"][0]["name"]
    assert agent.stop() == 0
    try:
        status = invoke(cni_cluster.agent(h1), environ("STATUS"), conf)
        assert status.code == spec.ERR_NOT_AVAILABLE, status
        refused = invoke(
            cni_cluster.agent(h1), environ("ADD", cid(cni_cluster, "away2"), other.path), conf
        )
        assert refused.code == spec.ERR_TRY_AGAIN_LATER, refused
        for _ in range(2):
            out = invoke(cni_cluster.agent(h1), environ("DEL", container, w.path), conf)
            assert (out.rc, out.stdout) == (0, ""), out
            assert "recorded" in out.stderr
        assert (agent.pending_dir / f"{container}:eth0.json").exists()
        # Nothing is released behind the agent's back: it is the one that owns the host.
        assert cni_cluster.api.get_allocation(f"{container}:eth0")["addresses"] == [added.address]
        assert host_ifname in sh(cni_cluster, h1, "ip", "-o", "link", "show")
    finally:
        agent.start()
    assert not (agent.pending_dir / f"{container}:eth0.json").exists()
    with pytest.raises(errors.NotFound):
        cni_cluster.api.get_allocation(f"{container}:eth0")
    assert host_ifname not in sh(cni_cluster, h1, "ip", "-o", "link", "show")
    assert invoke(cni_cluster.agent(h1), environ("STATUS"), conf).rc == 0


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
def test_gc_releases_exactly_the_attachments_not_listed_as_valid(
    cni_cluster: Cluster, h1: Host, key: str
) -> None:
    agent = cni_cluster.agent(h1)
    conf = netconf(agent, name=f"{cni_cluster.lab.prefix}-gc")
    kept, stale = cid(cni_cluster, f"kept-{key[8:]}"), cid(cni_cluster, f"stale-{key[8:]}")
    results = {}
    for container in (kept, stale):
        w = workload(cni_cluster, h1)
        added = invoke(cni_cluster.agent(h1), environ("ADD", container, w.path), conf)
        assert added.rc == 0, added
        results[container] = (w, added)
    # An endpoint of another network is not this GC's business, valid or not.
    elsewhere_w = workload(cni_cluster, h1)
    elsewhere = invoke(
        cni_cluster.agent(h1),
        environ("ADD", cid(cni_cluster, "elsewhere"), elsewhere_w.path),
        netconf(agent),
    )
    assert elsewhere.rc == 0, elsewhere
    time.sleep(1.2)  # the agents' GC grace for in-flight ADDs (romana.lab: 1 s)

    gc = {**conf, key: [{"containerID": kept, "ifname": "eth0"}]}
    out = invoke(cni_cluster.agent(h1), environ("GC"), gc)
    assert (out.rc, out.stdout) == (0, ""), out
    with pytest.raises(errors.NotFound):
        cni_cluster.api.get_allocation(f"{stale}:eth0")
    assert mentions(cni_cluster, h1, results[stale][1].address) == []
    w, added = results[kept]
    assert (
        invoke(
            cni_cluster.agent(h1),
            environ("CHECK", kept, w.path),
            {**conf, "prevResult": added.json},
        ).rc
        == 0
    )
    assert cni_cluster.lab.ping(h1, elsewhere.address)

    missing_path = invoke(
        cni_cluster.agent(h1), {k: v for k, v in environ("GC").items() if k != "CNI_PATH"}, gc
    )
    assert missing_path.code == spec.ERR_INVALID_ENVIRONMENT and "CNI_PATH" in missing_path.stdout
    for container, netns, c in (
        (kept, w.path, conf),
        (cid(cni_cluster, "elsewhere"), "", netconf(agent)),
    ):
        assert invoke(cni_cluster.agent(h1), environ("DEL", container, netns), c).rc == 0
