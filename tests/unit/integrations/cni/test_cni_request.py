"""Environment, configuration and version errors: each code, each naming what is at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cni_fake_agent import FakeAgent
from cni_support import invoke

from romana.integrations.cni import spec

VALID: dict[str, Any] = {"cni.dev/valid-attachments": []}


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        ("ADD", "CNI_CONTAINERID"),
        ("ADD", "CNI_NETNS"),
        ("ADD", "CNI_IFNAME"),
        ("CHECK", "CNI_CONTAINERID"),
        ("CHECK", "CNI_NETNS"),
        ("CHECK", "CNI_IFNAME"),
        ("DEL", "CNI_CONTAINERID"),
        ("DEL", "CNI_IFNAME"),
        ("GC", "CNI_PATH"),
    ],
)
def test_a_required_variable_missing_is_error_4_naming_it(
    agent: FakeAgent, conf: dict[str, Any], command: str, variable: str
) -> None:
    out = invoke(command, {**conf, **VALID}, **{variable: None})
    assert (out.rc, out.json["code"]) == (1, spec.ERR_INVALID_ENVIRONMENT)
    assert variable in out.json["msg"]
    assert f"{variable}: required for {command}" in out.json["details"]
    assert agent.calls == []


def test_every_missing_variable_is_named_at_once(conf: dict[str, Any]) -> None:
    out = invoke("ADD", conf, CNI_CONTAINERID=None, CNI_NETNS=None, CNI_IFNAME=None)
    assert out.json["msg"] == (
        "invalid environment variables: CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME"
    )


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("CNI_CONTAINERID", "-leading-dash", "must start with a letter or digit"),
        ("CNI_CONTAINERID", "a/b", "must start with a letter or digit"),
        ("CNI_IFNAME", "a-very-long-ifname", "must be at most 15 characters"),
        ("CNI_IFNAME", "eth/0", "must not contain /, : or whitespace"),
        ("CNI_IFNAME", "eth 0", "must not contain /, : or whitespace"),
        ("CNI_IFNAME", "..", "must not be . or .."),
        ("CNI_NETNS", "netns-1", "must be an absolute path"),
        ("CNI_ARGS", "K8S_POD_NAMESPACE", "is not KEY=VALUE"),
    ],
)
def test_an_invalid_variable_is_error_4_with_the_rule(
    conf: dict[str, Any], variable: str, value: str, rule: str
) -> None:
    out = invoke("ADD", conf, **{variable: value})
    assert out.json["code"] == spec.ERR_INVALID_ENVIRONMENT
    assert f"{variable}: {value!r} {rule}" in out.json["details"]


@pytest.mark.parametrize("command", ["", "RESET"])
def test_a_missing_or_unknown_command_is_error_4(conf: dict[str, Any], command: str) -> None:
    out = invoke(command, conf)
    assert (out.json["code"], out.json["msg"]) == (
        spec.ERR_INVALID_ENVIRONMENT,
        "invalid environment variables: CNI_COMMAND",
    )


def test_version_needs_no_other_variable_and_ignores_its_input() -> None:
    out = invoke("VERSION", b"", CNI_CONTAINERID=None, CNI_NETNS=None, CNI_IFNAME=None)
    assert out.rc == 0
    assert out.json == {
        "cniVersion": "1.1.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }
    assert invoke("VERSION", {"cniVersion": "0.4.0"}).json["cniVersion"] == "0.4.0"


@pytest.mark.parametrize("stdin", [b"{not json", b"[1, 2]", b""])
def test_undecodable_configuration_is_error_6(stdin: bytes) -> None:
    out = invoke("ADD", stdin)
    assert (out.rc, out.json["code"]) == (1, spec.ERR_DECODING)


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "1.2.0", "2.0.0", None])
def test_an_unsupported_version_is_error_1_for_every_command(
    conf: dict[str, Any], version: str | None
) -> None:
    for command in ("ADD", "DEL", "CHECK", "GC", "STATUS"):
        out = invoke(command, {**conf, "cniVersion": version, **VALID})
        assert out.json["code"] == spec.ERR_INCOMPATIBLE_VERSION, command
        assert "supported versions: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" in out.json["details"]


def test_cni_versions_serve_a_runtime_newer_than_the_plugin(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    out = invoke("ADD", {**conf, "cniVersion": "1.2.0", "cniVersions": ["1.0.0", "1.2.0"]})
    assert out.rc == 0
    assert out.json["cniVersion"] == "1.0.0"


@pytest.mark.parametrize(
    ("command", "version"),
    [("CHECK", "0.3.1"), ("GC", "1.0.0"), ("STATUS", "1.0.0"), ("STATUS", "0.4.0")],
)
def test_a_command_newer_than_the_configs_version_is_refused_with_1(
    agent: FakeAgent, conf: dict[str, Any], command: str, version: str
) -> None:
    out = invoke(command, {**conf, "cniVersion": version, "prevResult": {}, **VALID})
    assert out.json["code"] == spec.ERR_INCOMPATIBLE_VERSION
    assert out.json["msg"] == f"config version does not allow {command}"
    assert agent.calls == []


def test_every_configuration_problem_is_reported_at_once_with_7(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    config = {
        **conf,
        "name": "bad name",
        "agent_socket": "relative.sock",
        "agent_timeout": True,
        "mtu": 10,
        "dns": {"nameservers": "10.0.0.1", "domain": 5},
        "segment": "",
        "segment_label": 3,
        "args": {"cni": {"labels": [{"key": "", "value": "x"}, "y"]}},
        "runtimeConfig": [],
    }
    out = invoke("ADD", config)
    assert (out.rc, out.json["code"]) == (1, spec.ERR_INVALID_CONFIG)
    expected = [
        "name",
        "agent_socket",
        "agent_timeout",
        "mtu",
        "dns.nameservers",
        "dns.domain",
        "segment",
        "segment_label",
        "args.cni.labels[0]",
        "args.cni.labels[1]",
        "runtimeConfig",
    ]
    fields = out.json["msg"].removeprefix("invalid network configuration: ").split(", ")
    assert sorted(fields) == sorted(expected)
    assert agent.calls == []


def test_prev_result_of_the_wrong_shape_names_the_member(conf: dict[str, Any]) -> None:
    prev = {"interfaces": [{"mac": "x"}], "ips": [{"address": 4}], "routes": "none"}
    out = invoke("CHECK", {**conf, "prevResult": prev})
    assert out.json["code"] == spec.ERR_INVALID_CONFIG
    for member in (
        "prevResult.interfaces[0].name",
        "prevResult.ips[0].address",
        "prevResult.routes",
    ):
        assert member in out.json["details"]


def test_errors_are_written_in_the_requests_version(conf: dict[str, Any]) -> None:
    out = invoke("ADD", {**conf, "cniVersion": "0.4.0", "mtu": 1})
    assert out.json["cniVersion"] == "0.4.0"


# -- hostile input: bounded, and answered with the spec's codes ------------------------------


@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "GC", "STATUS"])
def test_json_nested_too_deeply_is_error_6_not_an_internal_error(
    conf: dict[str, Any], command: str
) -> None:
    head = json.dumps(conf)[:-1].encode()
    out = invoke(command, head + b', "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert out.json["code"] == spec.ERR_DECODING, out.json
    assert "nested too deeply" in out.json["details"]
    assert out.json["cniVersion"] == spec.CURRENT_VERSION


def test_version_with_json_nested_too_deeply_still_answers() -> None:
    out = invoke("VERSION", b"[" * 100_000 + b"]" * 100_000)
    assert out.rc == 0 and out.json["supportedVersions"] == list(spec.SUPPORTED_VERSIONS)


@pytest.mark.parametrize("command", ["ADD", "DEL", "VERSION"])
def test_stdin_over_1_mib_is_error_6_naming_the_cap(conf: dict[str, Any], command: str) -> None:
    stdin = json.dumps({**conf, "pad": "x" * spec.MAX_STDIN_BYTES}).encode()
    out = invoke(command, stdin)
    assert (out.rc, out.json["code"]) == (1, spec.ERR_DECODING)
    assert "1048576 bytes (1 MiB)" in out.json["details"]


def test_stdin_of_exactly_1_mib_is_read(conf: dict[str, Any]) -> None:
    stdin = json.dumps({**conf, "pad": ""}).encode()
    stdin = stdin[:-2] + b"x" * (spec.MAX_STDIN_BYTES - len(stdin)) + b'"}'
    assert len(stdin) == spec.MAX_STDIN_BYTES
    assert invoke("ADD", stdin).rc == 0


@pytest.mark.parametrize(
    ("socket_path", "rule"),
    [
        ("/run/" + "s" * 103, "is 108 bytes long; a Unix socket path holds at most 107 bytes"),
        ("/run/a\x00b", "must not contain a NUL character"),
        ("/run/\ud800", "is not a valid file name"),
    ],
)
@pytest.mark.parametrize("command", ["ADD", "DEL", "STATUS"])
def test_an_agent_socket_no_socket_can_have_is_error_7_not_11(
    conf: dict[str, Any], command: str, socket_path: str, rule: str
) -> None:
    out = invoke(command, {**conf, "agent_socket": socket_path})
    assert out.json["code"] == spec.ERR_INVALID_CONFIG, out.json
    assert out.json["msg"] == "invalid network configuration: agent_socket"
    assert rule in out.json["details"]


def test_an_agent_socket_of_107_bytes_is_used(conf: dict[str, Any]) -> None:
    out = invoke("ADD", {**conf, "agent_socket": "/run/" + "s" * 102})
    assert out.json["code"] == spec.ERR_TRY_AGAIN_LATER  # valid, only nobody listens there


def test_romana_agent_socket_names_the_agent_over_the_configuration(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    # The compiled front reads only the variable; the plugin must reach the same agent.
    out = invoke("STATUS", {**conf, "agent_socket": "/nonexistent/agent.sock"},
                 ROMANA_AGENT_SOCKET=agent.socket_path)  # fmt: skip
    assert (out.rc, out.stdout) == (0, "")
    assert agent.calls != []
    empty = invoke("STATUS", conf, ROMANA_AGENT_SOCKET="")  # empty is unset: the key counts
    assert (empty.rc, empty.stdout) == (0, "")


@pytest.mark.parametrize(
    ("value", "rule"),
    [("agent.sock", "must be an absolute path"), ("/" + "s" * 107, "is 108 bytes long")],
)
def test_an_unusable_romana_agent_socket_is_error_4_naming_it(
    agent: FakeAgent, conf: dict[str, Any], value: str, rule: str
) -> None:
    out = invoke("ADD", conf, ROMANA_AGENT_SOCKET=value)
    assert out.json["code"] == spec.ERR_INVALID_ENVIRONMENT, out.json
    assert out.json["msg"] == "invalid environment variables: ROMANA_AGENT_SOCKET"
    assert rule in out.json["details"]
    assert agent.calls == []
