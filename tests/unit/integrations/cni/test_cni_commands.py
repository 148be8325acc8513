"""DEL, CHECK, STATUS and GC through ``plugin.run`` against the fake agent."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from cni_fake_agent import FakeAgent
from cni_support import invoke

from romana.integrations.cni import pending, spec

# -- DEL -----------------------------------------------------------------------------------


def test_del_releases_the_endpoint_and_prints_nothing(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    assert invoke("ADD", conf).rc == 0
    out = invoke("DEL", conf)
    assert (out.rc, out.stdout, out.stderr) == (0, "", "")
    assert agent.endpoints == {}
    assert agent.calls[-1][:2] == ("DELETE", "/v1/endpoints/ctr1/eth0")


def test_del_is_repeatable_and_needs_no_netns_no_prev_result_no_allocation(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    assert invoke("ADD", conf).rc == 0
    assert invoke("DEL", conf, CNI_NETNS="").rc == 0  # containerd sends an empty CNI_NETNS
    assert invoke("DEL", conf, CNI_NETNS=None).rc == 0
    assert invoke("DEL", {**conf, "prevResult": {}}, CNI_CONTAINERID="never-added").rc == 0


def test_del_after_an_add_that_failed_on_configuration_succeeds(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    broken = {**conf, "mtu": "big", "dns": [], "prevResult": "garbage"}
    del broken["tenant"]
    assert invoke("ADD", broken).json["code"] == spec.ERR_INVALID_CONFIG
    out = invoke("DEL", broken)
    assert (out.rc, out.stdout) == (0, "")


def test_del_with_the_agent_down_records_a_pending_release_and_succeeds(
    conf: dict[str, Any], pending_dir: str
) -> None:
    out = invoke("DEL", {**conf, "agent_socket": "/nonexistent/agent.sock"})
    assert (out.rc, out.stdout) == (0, "")
    [entry] = pending.list_pending(pending_dir)
    assert (entry.container_id, entry.ifname, entry.network) == ("ctr1", "eth0", "romana")
    assert entry.netns == "/run/netns/rtest"
    assert f"release recorded in {pending_dir}/ctr1:eth0.json" in out.stderr
    assert pending.complete(pending_dir, entry)
    assert pending.list_pending(pending_dir) == []


def test_del_with_a_hung_agent_records_a_pending_release(
    socket_dir: str, conf: dict[str, Any], pending_dir: str
) -> None:
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(f"{socket_dir}/mute.sock")
        mute.listen(8)
        config = {**conf, "agent_socket": mute.getsockname(), "agent_timeout": 0.2}
        assert invoke("DEL", config).rc == 0
    assert [e.container_id for e in pending.list_pending(pending_dir)] == ["ctr1"]


@pytest.mark.parametrize("status", [500, 503])
def test_del_refused_by_a_failing_agent_records_a_pending_release(
    agent: FakeAgent, conf: dict[str, Any], pending_dir: str, status: int
) -> None:
    agent.scripted = (status, b'{"detail": "netlink busy"}')
    assert invoke("DEL", conf).rc == 0
    assert len(pending.list_pending(pending_dir)) == 1


def test_del_that_reaches_the_agent_finishes_an_earlier_pending_release(
    agent: FakeAgent, conf: dict[str, Any], pending_dir: str
) -> None:
    assert invoke("DEL", {**conf, "agent_socket": "/nonexistent/agent.sock"}).rc == 0
    assert invoke("DEL", conf).rc == 0
    assert pending.list_pending(pending_dir) == []


def test_del_that_can_neither_reach_the_agent_nor_record_fails_with_5(
    conf: dict[str, Any], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = {**conf, "agent_socket": "/nonexistent/agent.sock", "pending_dir": f"{blocker}/x"}
    out = invoke("DEL", config)
    assert (out.rc, out.json["code"]) == (1, spec.ERR_IO)


# -- CHECK ---------------------------------------------------------------------------------


@pytest.fixture
def added(agent: FakeAgent, conf: dict[str, Any]) -> dict[str, Any]:
    """The configuration CHECK gets after a successful ADD: the ADD result as prevResult."""
    out = invoke("ADD", conf)
    assert out.rc == 0
    return {**conf, "prevResult": out.json}


def test_check_of_a_healthy_endpoint_succeeds_silently(added: dict[str, Any]) -> None:
    out = invoke("CHECK", added)
    assert (out.rc, out.stdout) == (0, "")


def test_check_accepts_a_0_4_0_prev_result(agent: FakeAgent, conf: dict[str, Any]) -> None:
    conf = {**conf, "cniVersion": "0.4.0"}
    prev = invoke("ADD", conf).json
    assert invoke("CHECK", {**conf, "prevResult": prev}).rc == 0


def test_check_fails_with_the_problems_the_agent_found(
    agent: FakeAgent, added: dict[str, Any]
) -> None:
    agent.problems[("ctr1", "eth0")] = ["host route 10.1.16.1/32 missing", "veth is down"]
    out = invoke("CHECK", added)
    assert (out.rc, out.json["code"]) == (1, spec.ERR_CHECK_FAILED)
    assert out.json["details"] == "host route 10.1.16.1/32 missing; veth is down"


def test_check_fails_when_prev_result_disagrees_with_the_allocation(
    added: dict[str, Any],
) -> None:
    added["prevResult"]["ips"][0]["address"] = "10.1.16.99/32"
    details = invoke("CHECK", added).json["details"]
    assert "address 10.1.16.1/32 is allocated to the endpoint but not in prevResult" in details
    assert "prevResult address 10.1.16.99/32 is not allocated to the endpoint" in details


def test_check_fails_when_prev_result_lacks_the_interface(added: dict[str, Any]) -> None:
    added["prevResult"]["interfaces"][1]["sandbox"] = "/run/netns/other"
    out = invoke("CHECK", added)
    assert out.json["code"] == spec.ERR_CHECK_FAILED
    assert "prevResult lists no interface eth0 in /run/netns/rtest" in out.json["details"]


def test_check_of_an_endpoint_the_agent_does_not_know_fails(added: dict[str, Any]) -> None:
    out = invoke("CHECK", added, CNI_CONTAINERID="ghost")
    assert (out.json["code"], out.json["msg"]) == (spec.ERR_CHECK_FAILED, "no endpoint recorded")


def test_check_without_prev_result_is_error_7_naming_it(conf: dict[str, Any]) -> None:
    out = invoke("CHECK", conf)
    assert (out.json["code"], out.json["msg"]) == (
        spec.ERR_INVALID_CONFIG,
        "invalid network configuration: prevResult",
    )


def test_check_with_the_agent_down_is_error_11(added: dict[str, Any]) -> None:
    out = invoke("CHECK", {**added, "agent_socket": "/nonexistent/agent.sock"})
    assert out.json["code"] == spec.ERR_TRY_AGAIN_LATER


# -- STATUS --------------------------------------------------------------------------------


def test_status_of_a_ready_agent_exits_0_without_output(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    out = invoke("STATUS", {**conf, "segment": "web"}, CNI_CONTAINERID=None, CNI_NETNS=None)
    assert (out.rc, out.stdout) == (0, "")
    assert agent.calls[-1][:2] == ("GET", "/v1/status")


@pytest.mark.parametrize(
    ("slug", "code"),
    [
        ("not-ready", spec.ERR_NOT_AVAILABLE),
        ("limited-connectivity", spec.ERR_LIMITED_CONNECTIVITY),
    ],
)
def test_status_of_an_agent_that_is_not_ready(
    agent: FakeAgent, conf: dict[str, Any], slug: str, code: int
) -> None:
    agent.ready_problem = (slug, "routes to 3 peers missing")
    out = invoke("STATUS", conf)
    assert (out.rc, out.json["code"]) == (1, code)
    assert out.json["details"] == "routes to 3 peers missing"


def test_status_is_50_when_the_tenants_space_is_exhausted(
    socket_dir: str, conf: dict[str, Any]
) -> None:
    small = FakeAgent(f"{socket_dir}/small.sock", endpoint_bits=2).start()
    try:
        conf = {**conf, "agent_socket": small.socket_path}
        assert invoke("STATUS", conf).rc == 0
        for container in ("a", "b"):
            assert invoke("ADD", conf, CNI_CONTAINERID=container).rc == 0
        out = invoke("STATUS", conf)
    finally:
        small.stop()
    assert out.json["code"] == spec.ERR_NOT_AVAILABLE
    assert "no address left for tenant acme" in out.json["details"]


def test_status_with_the_agent_down_is_50(conf: dict[str, Any]) -> None:
    out = invoke("STATUS", {**conf, "agent_socket": "/nonexistent/agent.sock"})
    assert (out.rc, out.json["code"]) == (1, spec.ERR_NOT_AVAILABLE)
    assert "unreachable" in out.json["details"]


# -- GC ------------------------------------------------------------------------------------


def gc_conf(conf: dict[str, Any], key: str, valid: list[tuple[str, str]]) -> dict[str, Any]:
    return {**conf, key: [{"containerID": c, "ifname": i} for c, i in valid]}


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
def test_gc_releases_what_is_not_valid_and_prints_nothing(
    agent: FakeAgent, conf: dict[str, Any], key: str
) -> None:
    for container in ("keep", "drop1", "drop2"):
        assert invoke("ADD", conf, CNI_CONTAINERID=container).rc == 0
    out = invoke("GC", gc_conf(conf, key, [("keep", "eth0")]), CNI_CONTAINERID=None)
    assert (out.rc, out.stdout) == (0, "")
    assert list(agent.endpoints) == [("keep", "eth0")]


def test_gc_without_a_valid_list_is_error_7_and_releases_nothing(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    assert invoke("ADD", conf).rc == 0
    out = invoke("GC", conf)
    assert out.json["code"] == spec.ERR_INVALID_CONFIG
    assert "cni.dev/valid-attachments: required for GC" in out.json["details"]
    assert len(agent.endpoints) == 1


def test_gc_names_every_malformed_attachment(conf: dict[str, Any]) -> None:
    config = {**conf, "cni.dev/valid-attachments": [{"containerID": "a"}, {"ifname": ""}, 3]}
    details = invoke("GC", config).json["details"]
    for field in (
        "cni.dev/valid-attachments[0].ifname",
        "cni.dev/valid-attachments[1].containerID",
        "cni.dev/valid-attachments[1].ifname",
        "cni.dev/valid-attachments[2].containerID",
    ):
        assert field in details


def test_gc_reports_what_the_agent_could_not_release(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    agent.gc_errors = ["ctr9/eth0: veth busy"]
    out = invoke("GC", gc_conf(conf, "cni.dev/valid-attachments", []))
    assert (out.json["code"], out.json["details"]) == (spec.ERR_AGENT, "ctr9/eth0: veth busy")


def test_gc_with_the_agent_down_is_error_11(conf: dict[str, Any]) -> None:
    config = gc_conf({**conf, "agent_socket": "/nonexistent/s"}, "cni.dev/valid-attachments", [])
    assert invoke("GC", config).json["code"] == spec.ERR_TRY_AGAIN_LATER


def test_pending_dir_is_private(conf: dict[str, Any], pending_dir: str) -> None:
    assert invoke("DEL", {**conf, "agent_socket": "/nonexistent/agent.sock"}).rc == 0
    assert os.stat(pending_dir).st_mode & 0o777 == 0o700
