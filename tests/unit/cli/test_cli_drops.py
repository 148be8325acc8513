"""``romana drops``: one line per drop event naming both sides and what dropped the packet,
``-o json`` as the API answers, and a tenant user refused another tenant's events.

Runs against a real romanad holding examples/topology/two-racks.json; the events are sent
through the client in the shape an agent sends them
(tests/functional/agent/test_agent_drops_cli.py shows agents sending theirs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from romana.cli.commands import drops as drops_command
from romana.cli.commands.drops import line
from romana.client import Client, ClientSettings
from romana.core import dropreasons
from support.cliresults import ok, refused
from unit.cli.conftest import Cli, logged_in

EVENT: dict[str, Any] = {
    "seq": 7,
    "host": "h2",
    "time": 1_800_000_000.25,
    "src": {"address": "10.1.33.5", "tenant": "t2", "segment": "default", "endpoint": "web-1"},
    "dst": {"address": "10.2.17.3", "tenant": "t1", "segment": "db", "endpoint": None},
    "proto": "tcp",
    "sport": 40212,
    "dport": 8080,
    "reason": {"id": "0123456789ab", "default": "isolation: other tenants"},
}


def test_the_help_states_the_log_rate_limits_the_firewall_applies() -> None:
    """The help text spells out the bounds in words (the CLI imports nothing of the core for
    them): they must be the ones the renderers use."""
    text = " ".join((drops_command.drops.__doc__ or "").split())
    for bound in (
        f"at most {dropreasons.DROP_LOG_RATE} packets a second per drop rule",
        f"after a burst of {dropreasons.DROP_LOG_BURST})",
        f"at most {dropreasons.DROP_LOG_HOST_RATE} a second for all drop rules of a host",
        f"after a burst of {dropreasons.DROP_LOG_HOST_BURST};",
        f"{dropreasons.DROP_LOG_HOST_RATE} a second for IPv4 and "
        f"{dropreasons.DROP_LOG_HOST_RATE} for IPv6",
    ):
        assert bound in text


def test_a_line_names_time_host_sides_protocol_and_reason() -> None:
    assert line(EVENT) == (
        "2027-01-15T08:00:00.250Z  h2  tcp  10.1.33.5:40212 [t2/default web-1] -> "
        "10.2.17.3:8080 [t1/db]  dropped by isolation: other tenants"
    )
    ping = {
        **EVENT,
        "src": {"address": "fd00::5"},
        "dst": {"address": "fd00::6", "tenant": "t1", "segment": "default"},
        "proto": "icmpv6",
        "sport": None,
        "dport": None,
        "icmp_type": 128,
        "icmp_code": 0,
        "reason": {"id": "0123456789ab", "policy": "t1/deny", "rule": "ingress[0].peers[0]"},
    }
    assert line(ping).endswith(
        "h2  icmpv6 type 128 code 0  fd00::5 -> fd00::6 [t1/default]  "
        "dropped by policy t1/deny rule ingress[0].peers[0]"
    )
    udp6 = {**ping, "proto": "udp", "icmp_type": None, "sport": 5353, "dport": 53}
    assert "[fd00::5]:5353 -> [fd00::6]:53 [t1/default]" in line(udp6)


def _send(server: Any, host: str, events: list[dict[str, Any]]) -> None:
    with Client(ClientSettings(url=(server.url,), discover=False, retries=0)) as client:
        client.login(*server.admin())
        client.report_drops(host, events)


def test_drops_prints_the_recent_events_and_their_json(
    planned: Cli, server: Any, tmp_path: Path
) -> None:
    ok(planned("tenant", "create", "dropt"))
    allocate = ("ipam", "allocate", "--host", "h1", "--tenant", "dropt", "--key", "dropt-1")
    address = json.loads(ok(planned(*allocate, "-o", "json")).stdout)["addresses"][0]
    wire = {k: v for k, v in EVENT.items() if k not in ("seq", "host")}
    wire["reason"] = {"id": "0123456789ab", "policy": "dropt/deny", "rule": "ingress[0]"}
    _send(server, "h3", [{**wire, "src": "192.168.9.9", "dst": address}])
    shown = ok(planned("drops", "--host", "h3")).stdout.splitlines()
    assert shown == [
        f"2027-01-15T08:00:00.250Z  h3  tcp  192.168.9.9:40212 -> {address}:8080 "
        "[dropt/default dropt-1]  dropped by policy dropt/deny rule ingress[0]"
    ]
    (event,) = json.loads(ok(planned("drops", "--host", "h3", "-o", "json")).stdout)
    assert event["dst"]["endpoint"] == "dropt-1" and event["host"] == "h3"
    assert ok(planned("drops", "--host", "h2")).stdout.strip() == "no drop events"
    ok(planned("user", "create", "drops-reader", "--role", "tenant", "--tenant", "dropt",
               "--password-stdin", input="drops-reader-pw\n"))  # fmt: skip
    reader = logged_in(server.url, tmp_path, "drops-reader", "drops-reader-pw")
    (mine,) = json.loads(ok(reader("drops", "-o", "json")).stdout)
    assert mine["dst"]["tenant"] == "dropt"
    assert "forbidden" in refused(reader("drops", "--tenant", "t1"))
