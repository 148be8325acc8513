"""ADD through ``plugin.run`` against the fake agent: the request, the result, and failures."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from cni_fake_agent import FakeAgent
from cni_support import invoke

from romana.integrations.cni import commands, pending, spec

K8S_ARGS = (
    "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;"
    "K8S_POD_INFRA_CONTAINER_ID=ctr1;K8S_POD_UID=7c0e"
)


def sent(agent: FakeAgent) -> dict[str, Any]:
    """The body of the last POST /v1/endpoints the agent received."""
    posts = [
        body for method, path, body in agent.calls if (method, path) == ("POST", "/v1/endpoints")
    ]
    return posts[-1]


def test_add_returns_the_agents_endpoint_as_a_1_1_result(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    out = invoke("ADD", conf)
    assert out.rc == 0, out.stdout
    result = out.json
    host, inside = result["interfaces"]
    assert result["cniVersion"] == "1.1.0"
    assert host["name"].startswith("romana") and "sandbox" not in host
    assert inside == {
        "name": "eth0",
        "mac": inside["mac"],
        "mtu": 1500,
        "sandbox": "/run/netns/rtest",
    }
    assert host["mac"] and inside["mac"] and host["mtu"] == 1500
    assert result["ips"] == [{"address": "10.1.16.1/32", "gateway": "10.1.0.1", "interface": 1}]
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]
    assert "dns" not in result
    assert out.stderr == ""


def test_add_sends_identity_network_and_placement_to_the_agent(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    assert invoke("ADD", {**conf, "mtu": 1400}).rc == 0
    assert sent(agent) == {
        "container_id": "ctr1",
        "ifname": "eth0",
        "netns": "/run/netns/rtest",
        "network": "romana",
        "tenant": "acme",
        "segment": "default",
        "labels": {},
        "mtu": 1400,
    }


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0"])
def test_add_in_a_0x_version_puts_version_on_ips_and_no_mtu(
    agent: FakeAgent, conf: dict[str, Any], version: str
) -> None:
    result = invoke("ADD", {**conf, "cniVersion": version}).json
    assert result["cniVersion"] == version
    assert result["ips"][0]["version"] == "4"
    assert all("mtu" not in iface for iface in result["interfaces"])
    assert all(iface["mac"] for iface in result["interfaces"])  # podman rejects results without


def test_add_in_1_0_has_no_ip_version_and_no_interface_mtu(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    result = invoke("ADD", {**conf, "cniVersion": "1.0.0"}).json
    assert "version" not in result["ips"][0]
    assert all("mtu" not in iface for iface in result["interfaces"])


def test_add_copies_dns_from_the_configuration(agent: FakeAgent, conf: dict[str, Any]) -> None:
    dns = {"nameservers": ["10.96.0.10"], "search": ["shop.svc.cluster.local"], "options": []}
    result = invoke("ADD", {**conf, "dns": dns}).json
    assert result["dns"] == {"nameservers": ["10.96.0.10"], "search": ["shop.svc.cluster.local"]}


def test_chained_add_appends_to_prev_result_and_reindexes_ips(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    prev = {
        "cniVersion": "0.4.0",
        "interfaces": [{"name": "lo", "sandbox": "/run/netns/rtest"}],
        "ips": [{"version": "4", "address": "127.0.0.1/8", "interface": 0}],
        "dns": {"nameservers": ["1.1.1.1"]},
    }
    result = invoke("ADD", {**conf, "prevResult": prev}).json
    assert [i["name"] for i in result["interfaces"]][::2] == ["lo", "eth0"]
    assert result["ips"][0] == {"address": "127.0.0.1/8", "interface": 0}
    assert result["ips"][1]["interface"] == 2
    assert result["dns"] == {"nameservers": ["1.1.1.1"]}


# -- tenant and segment --------------------------------------------------------------------


def test_kubernetes_namespace_is_the_tenant_and_pod_identity_is_sent(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    assert invoke("ADD", conf, CNI_ARGS=K8S_ARGS).rc == 0
    body = sent(agent)
    assert (body["tenant"], body["segment"]) == ("shop", "default")
    assert body["k8s"] == {"namespace": "shop", "pod": "web-0", "pod_uid": "7c0e"}


def test_segment_comes_from_the_pods_segment_label_in_runtime_config(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    labels = {"app": "web", "romana.io/segment": "frontend"}
    out = invoke("ADD", {**conf, "runtimeConfig": {"labels": labels}}, CNI_ARGS=K8S_ARGS)
    assert out.rc == 0, out.stdout
    assert (sent(agent)["segment"], sent(agent)["labels"]) == ("frontend", labels)
    assert out.json["ips"][0]["address"] == "10.1.17.1/32"  # tenant 1, segment 1


def test_labels_in_args_cni_use_the_conventions_list_form(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    args = {"cni": {"labels": [{"key": "romana.io/segment", "value": "db"}]}}
    assert invoke("ADD", {**conf, "args": args}).rc == 0
    assert sent(agent)["segment"] == "db"


def test_runtime_config_labels_override_args_labels(agent: FakeAgent, conf: dict[str, Any]) -> None:
    config = {
        **conf,
        "args": {"labels": {"romana.io/segment": "old"}},
        "runtimeConfig": {"labels": [{"key": "romana.io/segment", "value": "new"}]},
    }
    assert invoke("ADD", config).rc == 0
    assert sent(agent)["segment"] == "new"


def test_segment_label_name_is_configurable(agent: FakeAgent, conf: dict[str, Any]) -> None:
    config = {
        **conf,
        "segment_label": "example.com/zone",
        "runtimeConfig": {"labels": {"example.com/zone": "dmz", "romana.io/segment": "ignored"}},
    }
    assert invoke("ADD", config).rc == 0
    assert sent(agent)["segment"] == "dmz"


def test_without_kubernetes_the_tenant_label_then_the_tenant_key_apply(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    args = {"cni": {"labels": [{"key": "romana.io/tenant", "value": "blue"}]}}
    assert invoke("ADD", {**conf, "args": args, "segment": "web"}).rc == 0
    assert (sent(agent)["tenant"], sent(agent)["segment"]) == ("blue", "web")
    assert invoke("ADD", conf, CNI_CONTAINERID="ctr2").rc == 0
    assert sent(agent)["tenant"] == "acme"


def test_kubernetes_namespace_wins_over_tenant_label_and_key(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    args = {"cni": {"labels": [{"key": "romana.io/tenant", "value": "blue"}]}}
    assert invoke("ADD", {**conf, "args": args}, CNI_ARGS=K8S_ARGS).rc == 0
    assert sent(agent)["tenant"] == "shop"


def test_missing_tenant_is_error_7_naming_every_key_that_could_supply_it(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    del conf["tenant"]
    out = invoke("ADD", conf)
    assert (out.rc, out.json["code"]) == (1, spec.ERR_INVALID_CONFIG)
    for key in ("K8S_POD_NAMESPACE", "CNI_ARGS", "romana.io/tenant", "args.cni.labels", "tenant"):
        assert key in out.json["details"]
    assert agent.calls == []


# -- agent answers ------------------------------------------------------------------------------


def test_add_retried_after_failed_wiring_gets_the_same_address(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    agent.fail_wiring.add(("ctr1", "eth0"))
    first = invoke("ADD", conf)
    assert (first.rc, first.json["code"]) == (1, spec.ERR_AGENT)
    assert "veth creation failed" in first.json["details"]
    second = invoke("ADD", conf)
    assert second.rc == 0
    assert second.json["ips"][0]["address"] == agent.address_of("ctr1", "eth0")
    assert len(agent.endpoints) == 1


def test_add_of_an_interface_that_exists_is_error_101(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    assert invoke("ADD", conf).rc == 0
    out = invoke("ADD", conf)
    assert (out.rc, out.json["code"]) == (1, spec.ERR_INTERFACE_EXISTS)
    assert "eth0 already exists in /run/netns/rtest" in out.json["details"]


def test_add_into_a_missing_netns_is_error_3(agent: FakeAgent, conf: dict[str, Any]) -> None:
    agent.missing_netns.add("/run/netns/rtest")
    out = invoke("ADD", conf)
    assert out.json["code"] == spec.ERR_UNKNOWN_CONTAINER
    assert "/run/netns/rtest does not exist" in out.json["details"]


@pytest.mark.parametrize(
    ("config", "cni_args", "code", "named"),
    [
        ({"tenant": "Acme"}, "", spec.ERR_INVALID_CONFIG, "tenant"),
        (
            {},
            "K8S_POD_NAMESPACE=Shop_1",
            spec.ERR_INVALID_ENVIRONMENT,
            "CNI_ARGS K8S_POD_NAMESPACE",
        ),
        (
            {"args": {"cni": {"labels": [{"key": "romana.io/segment", "value": "Web"}]}}},
            "",
            spec.ERR_INVALID_CONFIG,
            "args.cni.labels[romana.io/segment]",
        ),
    ],
)
def test_agent_rejection_names_the_variable_or_key_that_supplied_the_value(
    agent: FakeAgent,
    conf: dict[str, Any],
    config: dict[str, Any],
    cni_args: str,
    code: int,
    named: str,
) -> None:
    out = invoke("ADD", {**conf, **config}, CNI_ARGS=cni_args)
    assert out.json["code"] == code
    assert named in out.json["msg"]
    assert out.json["details"].startswith(f"romana-agent rejected the request: {named}: ")


def test_exhausted_segment_is_error_11_saying_so(socket_dir: str, conf: dict[str, Any]) -> None:
    small = FakeAgent(f"{socket_dir}/small.sock", endpoint_bits=2).start()
    try:
        conf = {**conf, "agent_socket": small.socket_path}
        assert invoke("ADD", conf, CNI_CONTAINERID="a").rc == 0
        assert invoke("ADD", conf, CNI_CONTAINERID="b").rc == 0
        out = invoke("ADD", conf, CNI_CONTAINERID="c")
    finally:
        small.stop()
    assert out.json["code"] == spec.ERR_TRY_AGAIN_LATER
    assert "no address left for tenant acme segment default" in out.json["details"]


def test_agent_not_ready_is_error_11(agent: FakeAgent, conf: dict[str, Any]) -> None:
    agent.ready_problem = ("not-ready", "not yet synced with romanad")
    out = invoke("ADD", conf)
    assert out.json["code"] == spec.ERR_TRY_AGAIN_LATER
    assert "not yet synced" in out.json["details"]


def test_unreachable_agent_is_error_11_naming_the_socket(conf: dict[str, Any]) -> None:
    out = invoke("ADD", {**conf, "agent_socket": "/nonexistent/agent.sock"})
    assert (out.rc, out.json["code"]) == (1, spec.ERR_TRY_AGAIN_LATER)
    assert "/nonexistent/agent.sock is unreachable" in out.json["details"]
    assert "romana-cni ADD ctr1/eth0: error 11" in out.stderr


def test_agent_that_never_answers_is_error_11_after_agent_timeout(
    socket_dir: str, conf: dict[str, Any]
) -> None:
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(f"{socket_dir}/mute.sock")
        mute.listen(8)
        out = invoke("ADD", {**conf, "agent_socket": mute.getsockname(), "agent_timeout": 0.2})
    assert out.json["code"] == spec.ERR_TRY_AGAIN_LATER
    assert "no answer within 0.2 s" in out.json["details"]


def test_malformed_agent_answer_is_error_100_naming_the_member(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    agent.scripted = (200, b'{"addresses": [], "interface": {"name": "eth0"}}')
    out = invoke("ADD", conf)
    assert out.json["code"] == spec.ERR_AGENT
    for member in ("addresses", "interface", "host_interface"):
        assert member in out.json["details"]


def test_conflicting_agent_answer_is_error_11(agent: FakeAgent, conf: dict[str, Any]) -> None:
    agent.scripted = (409, b'{"type": "about:blank", "detail": "busy"}', {"Retry-After": "1"})
    assert invoke("ADD", conf).json["code"] == spec.ERR_TRY_AGAIN_LATER


def test_delegated_ipam_is_error_2_naming_key_and_value(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    out = invoke("ADD", {**conf, "ipam": {"type": "host-local"}})
    assert out.json["code"] == spec.ERR_UNSUPPORTED_FIELD
    assert 'ipam: {"type": "host-local"}' in out.json["details"]
    assert agent.calls == []


def test_add_after_a_pending_release_releases_the_old_endpoint_first(
    agent: FakeAgent, conf: dict[str, Any], pending_dir: str
) -> None:
    assert invoke("ADD", conf).rc == 0
    pending.record(pending_dir, pending.PendingRelease("ctr1", "eth0", "romana"))
    agent.calls.clear()
    out = invoke("ADD", conf)
    assert out.rc == 0, out.stdout
    assert [c[0] for c in agent.calls] == ["DELETE", "POST"]
    assert pending.list_pending(pending_dir) == []


def test_an_unexpected_exception_is_error_999_not_a_traceback(
    agent: FakeAgent, conf: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise KeyError("bug")

    monkeypatch.setitem(commands._HANDLERS, "ADD", broken)
    out = invoke("ADD", conf)
    assert (out.rc, out.json["code"]) == (1, spec.ERR_INTERNAL)
    assert "KeyError" in out.json["details"]
