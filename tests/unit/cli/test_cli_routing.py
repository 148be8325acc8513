"""``romana route show`` says where each route came from, and ``romana status`` lists each
host's BGP sessions, from the reports romanad holds.

Runs against a real romanad holding examples/topology/two-racks.json (h1, h2 in rack-a, h3
in rack-b); the report is stored through the client, in the shape an agent sends it
(tests/functional/agent/test_agent_bgp.py shows agents sending theirs).
"""

from __future__ import annotations

import json
from typing import Any

from romana.client import Client, ClientSettings

REPORT: dict[str, Any] = {
    "mode": "bgp",
    "reported_at": 1_800_000_000.0,
    "sessions": [
        {"name": "romana_tor_a", "peer": "192.168.0.254", "peer_as": 65000,
         "peer_name": "tor-a", "state": "Established", "info": "", "since": "02:11:55.873"},
        {"name": "romana_peer1", "peer": "192.168.0.253", "peer_as": 65009, "peer_name": "",
         "state": "Active", "info": "Socket: Connection refused", "since": "02:12:04.978"},
    ],
    "routes": [
        {"dst": "10.128.0.0/9", "via": "192.168.0.254", "source": "bgp",
         "protocol": "romana_tor_a", "peer": "192.168.0.254", "best": True},
        {"dst": "10.128.0.0/9", "via": "192.168.0.253", "source": "bgp",
         "protocol": "romana_peer1", "peer": "192.168.0.253", "best": False},
    ],
    "errors": [],
}  # fmt: skip


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def _report(server: Any, host: str) -> None:
    settings = ClientSettings(url=(server.url,), discover=False, retries=0)
    with Client(settings) as client:
        client.login(*server.admin())
        client.report_routing(host, REPORT)


def test_route_show_marks_planned_routes_direct_and_learned_ones_bgp(
    planned: Any, server: Any
) -> None:
    before = json.loads(ok(planned("route", "show", "h1", "-o", "json")).stdout)
    assert before["routing"] is None and {r["source"] for r in before["routes"]} == {"direct"}
    assert "no routing report from host h1 yet" in ok(planned("route", "show", "h1")).stdout
    _report(server, "h1")
    shown = json.loads(ok(planned("route", "show", "h1", "-o", "json")).stdout)
    planned_routes = [r for r in shown["routes"] if r["source"] == "direct"]
    assert planned_routes == [{**r, "source": "direct"} for r in before["routes"]]
    learned = [r for r in shown["routes"] if r["source"] == "bgp"]
    assert [(r["peer"], r["peer_name"], r["best"]) for r in learned] == [
        ("192.168.0.254", "tor-a", True), ("192.168.0.253", "", False)
    ]  # fmt: skip
    assert shown["routing"]["mode"] == "bgp" and shown["routing"]["age"] >= 0
    table = ok(planned("route", "show", "h1")).stdout
    header = next(line for line in table.splitlines() if "DESTINATION" in line)
    assert header.split() == ["DESTINATION", "VIA", "SOURCE", "REASON"]
    lines = table.splitlines()
    assert any("bgp tor-a" in line and "192.168.0.254" in line for line in lines), table
    assert any("bgp 192.168.0.253" in line and "backup" in line for line in lines), table
    assert any("direct" in line and "h3" in line for line in lines), table
    assert "routing report: bgp mode" in table


def test_status_lists_each_hosts_bgp_sessions_and_the_reports_age(
    planned: Any, server: Any
) -> None:
    _report(server, "h2")
    report = json.loads(ok(planned("status", "-o", "json")).stdout)
    h2 = next(r for r in report["routing"] if r["host"] == "h2")
    assert [(s["peer"], s["state"]) for s in h2["sessions"]] == [
        ("192.168.0.254", "Established"), ("192.168.0.253", "Active")
    ]  # fmt: skip
    assert h2["mode"] == "bgp" and 0 <= h2["age"] < 60
    table = ok(planned("status")).stdout
    assert "BGP sessions" in table
    rows = [line for line in table.splitlines() if "h2" in line.split()]
    assert any("tor-a 192.168.0.254 AS 65000" in r and "Established" in r for r in rows), table
    assert any("Active: Socket: Connection refused" in r for r in rows), table
    assert all("s ago" in r for r in rows), table
