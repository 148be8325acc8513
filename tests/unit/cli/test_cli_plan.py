"""Topology, hosts, networks, routes, allocations, decoding, policies and status through the CLI.

Runs against a real romanad holding examples/topology/two-racks.json: network ``net``
10.0.0.0/8, racks ``rack-a`` (h1, h2) and ``rack-b`` (h3).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import yaml

from romana.cli import main
from romana.core import errors


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def js(result: Any) -> Any:
    return json.loads(ok(result).stdout)


def code_of(kind: type[errors.RomanaError]) -> int:
    return next(code for k, code, _ in main.EXIT_CODES if k is kind)


def test_topology_show_draws_groups_with_prefixes_and_hosts(planned: Any) -> None:
    drawn = ok(planned("topology", "show")).stdout
    for word in ("rack-a", "rack-b", "h1", "h2", "h3", "192.168.0.3"):
        assert word in drawn
    tree = js(planned("topology", "show", "-o", "json"))
    root = tree["topologies"][0]["root"]
    racks = {g["name"]: g for g in root["groups"]}
    hosts_a = {h["name"]: h for h in racks["rack-a"]["hosts"]}
    assert set(hosts_a) == {"h1", "h2"}
    rack_a = ipaddress.IPv4Network(racks["rack-a"]["prefixes"]["net"])
    for host in hosts_a.values():
        assert ipaddress.IPv4Network(host["prefixes"]["net"]).subnet_of(rack_a)
        assert host["prefixes"]["net"] in drawn
    assert racks["rack-a"]["prefixes"]["net"] in drawn


def test_topology_get_round_trips_through_apply_from_stdin(planned: Any) -> None:
    document = js(planned("topology", "get"))
    as_yaml = ok(planned("topology", "get", "-o", "yaml")).stdout
    applied = js(planned("topology", "apply", "-f", "-", "-o", "json", input=as_yaml))
    assert applied == document
    assert "3 hosts placed" in ok(planned("topology", "apply", "-f", "-", input=as_yaml)).stdout


def test_a_bad_topology_file_is_invalid_input(planned: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("networks: [{name: n, cidr: 10.0.0.0/99}]\n")
    result = planned("topology", "apply", "-f", str(path))
    assert result.exit_code == code_of(errors.InvalidInput), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_network_list_and_show(planned: Any) -> None:
    networks = js(planned("network", "list", "-o", "json"))
    assert [(n["name"], n["cidr"]) for n in networks] == [("net", "10.0.0.0/8")]
    table = ok(planned("network", "list")).stdout
    assert "10.0.0.0/8" in table and "tenant 4" in table
    shown = yaml.safe_load(ok(planned("network", "show", "net", "-o", "yaml")).stdout)
    assert shown["endpoint_bits"] == 8
    assert planned("network", "show", "nope").exit_code == code_of(errors.NotFound)


def test_host_add_label_show_remove(planned: Any) -> None:
    added = js(planned("host", "add", "h9", "192.168.0.9", "--label", "rack=b", "-o", "json"))
    assert added["labels"] == {"rack": "b"}
    assert added["group"].endswith("rack-b")
    assert "net" in added["prefixes"]
    assert "h9" in ok(planned("host", "list")).stdout
    labelled = js(planned("host", "label", "h9", "tier=edge", "-o", "json"))
    assert labelled["labels"] == {"rack": "b", "tier": "edge"}
    unlabelled = js(planned("host", "label", "h9", "tier-", "-o", "json"))
    assert unlabelled["labels"] == {"rack": "b"}
    shown = ok(planned("host", "show", "h9")).stdout
    assert "192.168.0.9" in shown and added["prefixes"]["net"] in shown
    assert "h9 removed" in ok(planned("host", "remove", "h9")).stdout
    assert planned("host", "show", "h9").exit_code == code_of(errors.NotFound)
    bad = planned("host", "label", "h1", "novalue")
    assert bad.exit_code == code_of(errors.InvalidInput)


def test_host_add_with_an_ipv6_underlay_address(planned: Any) -> None:
    added = js(
        planned(
            "host", "add", "h8", "192.168.0.8", "--ip6", "2001:db8::8", "--label", "rack=a",
            "-o", "json",
        )
    )  # fmt: skip
    try:
        assert (added["ip"], added["ip6"]) == ("192.168.0.8", "2001:db8::8")
        assert "2001:db8::8" in ok(planned("host", "show", "h8")).stdout
        listed = {h["name"]: h for h in js(planned("host", "list", "-o", "json"))}
        assert listed["h8"]["ip6"] == "2001:db8::8" and listed["h1"]["ip6"] is None
        clash = planned("host", "add", "h7", "192.168.0.7", "--ip6", "2001:db8::8")
        assert clash.exit_code == code_of(errors.AlreadyExists), clash.stderr
        assert "2001:db8::8" in clash.stderr
    finally:
        ok(planned("host", "remove", "h8"))
    bad = planned("host", "add", "h7", "192.168.0.7", "--ip6", "192.168.0.17")
    assert bad.exit_code == code_of(errors.InvalidInput)
    assert "ip6" in bad.stderr and "must be an IPv6 address" in bad.stderr
    assert planned("host", "show", "h7").exit_code == code_of(errors.NotFound)


def test_route_show_lists_routes_to_the_other_hosts(planned: Any) -> None:
    plan = js(planned("route", "show", "h1", "-o", "json"))
    assert plan["host"] == "h1"
    assert plan["routes"]
    table = ok(planned("route", "show", "h1")).stdout
    for route in plan["routes"]:
        assert route["dst"] in table


def test_allocate_decode_list_release(planned: Any) -> None:
    ok(planned("tenant", "create", "blue"))
    ok(planned("segment", "add", "blue", "web"))
    alloc = js(
        planned(
            "ipam", "allocate", "--host", "h2", "--tenant", "blue", "--segment", "web",
            "--key", "web-1", "-o", "json",
        )
    )  # fmt: skip
    [address] = alloc["addresses"]
    again = js(
        planned(
            "ipam", "allocate", "--host", "h2", "--tenant", "blue", "--segment", "web",
            "--key", "web-1", "-o", "json",
        )
    )  # fmt: skip
    assert again == alloc

    decoded = js(planned("decode", address, "-o", "json"))
    assert (decoded["network"], decoded["host"]) == ("net", "h2")
    assert (decoded["tenant"], decoded["segment"]) == ("blue", "web")
    assert decoded["allocation"]["key"] == "web-1"
    laid_out = ok(planned("decode", address)).stdout
    for word in ("net", "h2", "blue", "web", "web-1", decoded["host_prefix"]):
        assert word in laid_out

    listed = js(planned("ipam", "list", "--tenant", "blue", "-o", "json"))
    assert [a["key"] for a in listed] == ["web-1"]
    assert "web-1" in ok(planned("ipam", "list", "--host", "h2")).stdout
    assert address in ok(planned("ipam", "show", "web-1")).stdout

    busy = planned("tenant", "delete", "blue")
    assert busy.exit_code in (code_of(errors.Conflict), code_of(errors.AlreadyExists))

    released = ok(planned("ipam", "release", "--address", address)).stdout
    assert "web-1" in released and address in released
    assert planned("ipam", "show", "web-1").exit_code == code_of(errors.NotFound)
    assert planned("ipam", "release", "web-1").exit_code == code_of(errors.NotFound)
    assert planned("ipam", "release").exit_code == code_of(errors.InvalidInput)


POLICY = """
name: allow-web
description: web may be reached on 80 and 443
direction: ingress
applied_to:
  - {tenant: green, segment: web}
ingress:
  - peers: [{peer: any}]
    rules: [{protocol: tcp, ports: [80, 443]}]
"""


def test_policy_add_list_show_remove(planned: Any, tmp_path: Path) -> None:
    ok(planned("tenant", "create", "green"))
    ok(planned("segment", "add", "green", "web"))
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    [stored] = js(planned("policy", "add", "-f", str(path), "-o", "json"))
    policy_id = stored["id"]
    listed = ok(planned("policy", "list")).stdout
    assert policy_id in listed and "allow-web" in listed
    shown = yaml.safe_load(ok(planned("policy", "show", policy_id)).stdout)
    assert shown["ingress"][0]["rules"][0]["ports"] == [80, 443]
    assert "removed" in ok(planned("policy", "remove", policy_id)).stdout
    assert planned("policy", "show", policy_id).exit_code == code_of(errors.NotFound)


def test_a_policy_with_problems_reports_them_all_on_one_line(planned: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    bad = {"name": "x", "direction": "sideways", "applied_to": [], "ingress": [{"rules": 5}]}
    path.write_text(json.dumps(bad))
    result = planned("policy", "add", "-f", str(path))
    assert result.exit_code == code_of(errors.InvalidInput)
    [line] = result.stderr.strip().splitlines()
    assert "direction" in line and "rules" in line


def test_status_reports_every_service_the_store_and_counts(planned: Any) -> None:
    report = js(planned("status", "-o", "json"))
    assert report["ok"] is True
    assert report["store"] == "sqlite"
    assert {s["name"] for s in report["services"]} >= {"root", "auth", "tenant", "ipam"}
    assert report["counts"]["networks"] == 1
    assert report["counts"]["hosts"] >= 3
    table = ok(planned("status")).stdout
    assert "sqlite" in table and "ipam" in table and "up" in table
