"""Spec versions, version negotiation, and the golden result of every supported version."""

from __future__ import annotations

from typing import Any

import pytest

from romana.integrations.cni import spec

# A dual-stack result with every 1.1-only key, in the canonical shape.
CANONICAL = {
    "interfaces": [
        {"name": "romana1a2b3c4d", "mac": "06:aa:bb:cc:dd:ee", "mtu": 1450},
        {
            "name": "eth0",
            "mac": "02:aa:bb:cc:dd:ee",
            "mtu": 1450,
            "sandbox": "/run/netns/x",
            "socketPath": "/run/vhost.sock",
            "pciID": "0000:00:1f.6",
        },
    ],
    "ips": [
        {"address": "10.1.17.1/32", "gateway": "10.1.0.1", "interface": 1},
        {"address": "fd00::1:11:1/128", "gateway": "fd00::1", "interface": 1},
    ],
    "routes": [
        {"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400, "advmss": 1360, "scope": 0},
        {"dst": "::/0", "gw": "fd00::1", "priority": 10, "table": 100},
    ],
    "dns": {"nameservers": ["10.1.0.53"], "search": ["acme.svc"]},
}

HOST_1_0 = {"name": "romana1a2b3c4d", "mac": "06:aa:bb:cc:dd:ee"}
INSIDE_1_0 = {"name": "eth0", "mac": "02:aa:bb:cc:dd:ee", "sandbox": "/run/netns/x"}
ROUTES_1_0 = [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}, {"dst": "::/0", "gw": "fd00::1"}]
DNS = {"nameservers": ["10.1.0.53"], "search": ["acme.svc"]}


def golden_0x(version: str) -> dict[str, object]:
    return {
        "cniVersion": version,
        "interfaces": [HOST_1_0, INSIDE_1_0],
        "ips": [
            {"version": "4", "address": "10.1.17.1/32", "gateway": "10.1.0.1", "interface": 1},
            {"version": "6", "address": "fd00::1:11:1/128", "gateway": "fd00::1", "interface": 1},
        ],
        "routes": ROUTES_1_0,
        "dns": DNS,
    }


GOLDEN: dict[str, Any] = {
    "1.1.0": {"cniVersion": "1.1.0", **CANONICAL},
    "1.0.0": {
        "cniVersion": "1.0.0",
        "interfaces": [HOST_1_0, INSIDE_1_0],
        "ips": CANONICAL["ips"],
        "routes": ROUTES_1_0,
        "dns": DNS,
    },
    "0.4.0": golden_0x("0.4.0"),
    "0.3.1": golden_0x("0.3.1"),
    "0.3.0": golden_0x("0.3.0"),
}


def test_supported_versions_are_exactly_030_to_110() -> None:
    assert spec.SUPPORTED_VERSIONS == ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
    assert set(GOLDEN) == set(spec.SUPPORTED_VERSIONS)


@pytest.mark.parametrize("version", spec.SUPPORTED_VERSIONS)
def test_convert_gives_the_golden_result_of_each_version(version: str) -> None:
    assert spec.convert(CANONICAL, version) == GOLDEN[version]


@pytest.mark.parametrize("version", spec.SUPPORTED_VERSIONS)
def test_canonical_undoes_convert_up_to_the_keys_the_version_lacks(version: str) -> None:
    back = spec.canonical(GOLDEN[version])
    assert spec.convert(back, version) == GOLDEN[version]
    assert all("version" not in ip for ip in back["ips"])


def test_convert_leaves_the_canonical_result_untouched() -> None:
    before = repr(CANONICAL)
    spec.convert(CANONICAL, "0.3.0")
    assert repr(CANONICAL) == before


def test_convert_omits_empty_lists_and_empty_dns() -> None:
    minimal = {"ips": [{"address": "10.1.17.1/32"}], "routes": [], "dns": {"nameservers": []}}
    assert spec.convert(minimal, "1.0.0") == {
        "cniVersion": "1.0.0",
        "ips": [{"address": "10.1.17.1/32"}],
    }


def test_convert_refuses_an_unsupported_version() -> None:
    with pytest.raises(ValueError, match=r"0\.2\.0"):
        spec.convert(CANONICAL, "0.2.0")


@pytest.mark.parametrize(
    ("cni_version", "cni_versions", "chosen"),
    [
        ("1.1.0", None, "1.1.0"),
        ("0.3.0", None, "0.3.0"),
        # cniVersion is what the runtime picked and parses: it wins when supported.
        ("0.4.0", ["0.4.0", "1.1.0"], "0.4.0"),
        # A runtime newer than the plugin: the highest common entry of cniVersions.
        ("1.2.0", ["0.4.0", "1.0.0", "1.2.0"], "1.0.0"),
        (None, ["1.1.0", "0.3.1"], "1.1.0"),
    ],
)
def test_choose_version(cni_version: object, cni_versions: object, chosen: str) -> None:
    assert spec.choose_version(cni_version, cni_versions) == chosen


@pytest.mark.parametrize(
    ("cni_version", "cni_versions"),
    [("0.2.0", None), ("2.0.0", None), (None, None), ("1.2.0", ["1.2.0", "2.0.0"]), (1, None)],
)
def test_choose_version_refuses_with_code_1_listing_what_is_supported(
    cni_version: object, cni_versions: object
) -> None:
    with pytest.raises(spec.CniError) as caught:
        spec.choose_version(cni_version, cni_versions)
    assert caught.value.code == spec.ERR_INCOMPATIBLE_VERSION
    assert "0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" in caught.value.details


@pytest.mark.parametrize(
    ("version", "command", "allowed"),
    [
        ("0.3.1", "CHECK", False),
        ("0.4.0", "CHECK", True),
        ("1.0.0", "GC", False),
        ("1.0.0", "STATUS", False),
        ("1.1.0", "GC", True),
        ("1.1.0", "STATUS", True),
        ("0.3.0", "ADD", True),
        ("0.3.0", "DEL", True),
    ],
)
def test_commands_need_the_version_that_introduced_them(
    version: str, command: str, allowed: bool
) -> None:
    assert spec.allows(version, command) is allowed


@pytest.mark.parametrize(
    ("stdin", "echoed"),
    [
        (b'{"cniVersion": "0.4.0"}', "0.4.0"),
        (b'{"cniVersion": "9.9.9"}', "9.9.9"),
        (b"", "1.1.0"),
        (b"not json", "1.1.0"),
        (b'{"cniVersion": "latest"}', "1.1.0"),
    ],
)
def test_version_answer_echoes_the_input_version(stdin: bytes, echoed: str) -> None:
    answer = spec.version_answer(spec.stdin_version(stdin))
    assert answer == {"cniVersion": echoed, "supportedVersions": list(spec.SUPPORTED_VERSIONS)}


def test_error_json_has_the_spec_keys_and_omits_empty_details() -> None:
    err = spec.CniError(7, "invalid network configuration: mtu", "mtu: 'x' must be an integer")
    assert err.to_json("1.0.0") == {
        "cniVersion": "1.0.0",
        "code": 7,
        "msg": "invalid network configuration: mtu",
        "details": "mtu: 'x' must be an integer",
    }
    assert spec.CniError(11, "try again later").to_json("1.1.0") == {
        "cniVersion": "1.1.0",
        "code": 11,
        "msg": "try again later",
    }
