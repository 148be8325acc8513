"""``romana drops``: the packets the hosts' firewalls dropped, and what dropped each.

One line per event (:func:`line`): when (UTC), the host that dropped it, the protocol, the
source and destination (``address:port`` and, where romanad knows them, ``[tenant/segment
endpoint]``), and the policy and rule or the isolation default that dropped it. With
``--follow`` the command long-polls ``GET /v1/drops`` and prints each event as it comes
(``-o json``: one JSON object a line), until interrupted.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption

FOLLOW_WAIT = 30.0
"""Seconds one poll of ``--follow`` waits for an event before asking again."""


def _when(seconds: float) -> str:
    at = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _side(side: Mapping[str, Any], port: int | None) -> str:
    address = str(side["address"])
    if port is not None:
        address = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    known = []
    if side.get("tenant"):
        known.append(f"{side['tenant']}/{side.get('segment') or '?'}")
    if side.get("endpoint"):
        known.append(str(side["endpoint"]))
    return f"{address} [{' '.join(known)}]" if known else address


def _proto(event: Mapping[str, Any]) -> str:
    if event.get("icmp_type") is not None:
        return f"{event['proto']} type {event['icmp_type']} code {event.get('icmp_code', 0)}"
    return str(event["proto"])


def reason(event: Mapping[str, Any]) -> str:
    """What dropped the packet: ``policy <id> rule <place>``, or the isolation default."""
    why = event["reason"]
    if why.get("policy"):
        return f"policy {why['policy']} rule {why['rule']}"
    return str(why.get("default") or why["id"])


def line(event: Mapping[str, Any]) -> str:
    """One event as one line for people (see the module docstring)."""
    src = _side(event["src"], event.get("sport"))
    dst = _side(event["dst"], event.get("dport"))
    return (
        f"{_when(float(event['time']))}  {event['host']}  {_proto(event)}  {src} -> {dst}  "
        f"dropped by {reason(event)}"
    )


def _print(events: list[Any], fmt: output.Format, *, stream: bool) -> None:
    if fmt is output.Format.table:
        for event in events:
            typer.echo(line(event))
    elif stream and fmt is output.Format.json:
        for event in events:
            typer.echo(json.dumps(event, separators=(",", ":")))
    elif stream:
        for event in events:
            typer.echo("---\n" + output.dump(event, fmt))
    else:
        output.emit(events, fmt)


def drops(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until interrupted.")
    ] = False,
    host: Annotated[
        str | None, typer.Option("--host", help="Only drops by this host's firewall.")
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Only drops with a source or destination in this tenant."),
    ] = None,
    out: OutputOption = None,
) -> None:
    """Show the packets the firewalls dropped, and the policy and rule, or the isolation
    default, that dropped each.

    A drop event is one packet a host's firewall dropped because of tenant or segment
    isolation or a policy's deny rule, as that host's agent read it from the kernel's log.
    The log is rate-limited, so a flood shows as a sample: at most 10 packets a second per
    drop rule (after a burst of 20), and at most 100 a second for all drop rules of a host
    together (after a burst of 200; with the iptables backend, 100 a second for IPv4 and
    100 for IPv6). Every drop is still counted in the agent's
    romana_agent_dropped_packets_total. Each line: the
    time (UTC), the host that dropped it, the protocol, source -> destination as
    address:port [tenant/segment endpoint], and what dropped it. romanad keeps the latest
    events in memory only: a restart forgets them.

    A tenant user sees only the events of its own tenant, the other side as a bare address
    and another tenant's policy unnamed.

    A line reads: 2026-12-07T11:09:47.123Z  h2  tcp  10.1.33.5:40212 [t2/default web-1] ->
    10.2.17.3:8080 [t1/default db-0]  dropped by isolation: other tenants. With -o json each
    event is the API's object (with --follow: one a line).

    Example: romana drops --follow --tenant t1
    """
    state = context.state(ctx)
    fmt = state.fmt(out)
    client = state.client()
    answer = client.drops(0, 0.0, host, tenant)
    events = answer["events"]
    if not follow:
        if fmt is output.Format.table and not events:
            output.message("no drop events")
        _print(events, fmt, stream=False)
        return
    _print(events, fmt, stream=True)
    after = answer["last"]
    try:
        while True:
            answer = client.drops(after, FOLLOW_WAIT, host, tenant)
            _print(answer["events"], fmt, stream=True)
            after = answer["last"]
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
