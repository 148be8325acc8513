"""``romana status``: can we reach the root and every registered service; what is stored; and
each host's BGP sessions, as its agent last reported them (``GET /v1/routing``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption
from romana.core.errors import RomanaError

if TYPE_CHECKING:
    from romana.client import Client

UNAVAILABLE_EXIT = 10


def _probe(client: Client, url: str) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        health = client.health(url)
    except RomanaError as exc:
        return {"url": url, "ok": False, "error": str(exc), "latency_ms": None}
    latency = round((time.perf_counter() - start) * 1000, 1)
    return {
        "url": url,
        "ok": True,
        "error": None,
        "latency_ms": latency,
        "store": health.get("store"),
        "services": health.get("services", []),
    }


def _count(get: Callable[[], list[Any]]) -> int | None:
    try:
        return len(get())
    except RomanaError:
        return None


def _routing(client: Client) -> list[dict[str, Any]] | None:
    """Every host's BGP sessions and how old its report is; None when romanad would not say
    (an earlier romanad, or a caller that may not read every host)."""
    try:
        reports = client.list_routing()
    except RomanaError:
        return None
    return [
        {
            "host": r["host"],
            "mode": r["mode"],
            "age": r["age"],
            "sessions": [
                {
                    k: s.get(k, "")
                    for k in ("name", "peer", "peer_as", "peer_name", "state", "since", "info")
                }
                for s in r["sessions"]
            ],
        }
        for r in reports
    ]


def collect(client: Client) -> dict[str, Any]:
    roots = [_probe(client, url) for url in client.roots]
    live = next((r for r in roots if r["ok"]), None)
    services: list[dict[str, Any]] = []
    if live is not None:
        registered: list[dict[str, Any]] = []
        with contextlib.suppress(RomanaError):
            registered = [dict(r) for r in client.list_services()]
        if not registered:
            registered = [
                {"name": name, "instance": "(root)", "url": live["url"]}
                for name in live["services"]
            ]
        probes: dict[str, dict[str, Any]] = {}
        for reg in registered:
            probe = probes.setdefault(reg["url"], _probe(client, reg["url"]))
            services.append({"name": reg["name"], "instance": reg["instance"], **probe})
    counts = {
        "tenants": _count(client.list_tenants),
        "networks": _count(client.list_networks),
        "hosts": _count(client.list_hosts),
        "allocations": _count(client.list_allocations),
        "policies": _count(client.list_policies),
    }
    return {
        "roots": roots,
        "store": live.get("store") if live else None,
        "services": services,
        "counts": counts,
        "routing": _routing(client) if live is not None else None,
        "ok": live is not None and all(s["ok"] for s in services),
    }


def _state(row: dict[str, Any]) -> str:
    if row["ok"]:
        return f"up ({row['latency_ms']} ms)"
    return f"DOWN: {row['error']}"


def status(ctx: typer.Context, out: OutputOption = None) -> None:
    """Show whether the root and every registered service answer, the store kind, counts, and
    each host's BGP sessions (peer, state, since when) with the age of its agent's report.

    Exits with 10 (unavailable) when the root or any registered instance does not answer.

    Example: romana status
    """
    found = context.state(ctx)
    report = collect(found.client())
    fmt = found.fmt(out)
    if fmt is not output.Format.table:
        output.emit(report, fmt)
    else:
        rows = [("root", "-", r["url"], _state(r)) for r in report["roots"]]
        rows += [(s["name"], s["instance"], s["url"], _state(s)) for s in report["services"]]
        columns: list[output.Column] = [
            ("SERVICE", lambda r: r[0]),
            ("INSTANCE", lambda r: r[1]),
            ("URL", lambda r: r[2]),
            ("STATE", lambda r: r[3]),
        ]
        out_console = output.console()
        out_console.print(output.table(columns, rows))
        counts = ", ".join(
            f"{name} {'?' if n is None else n}" for name, n in report["counts"].items()
        )
        output.message(f"store: {report['store'] or 'unknown'}; {counts}")
        _print_sessions(report["routing"])
    if not any(r["ok"] for r in report["roots"]):
        typer.echo(f"romana: no root answered; {found.reach_hint()}", err=True)
    if not report["ok"]:
        raise typer.Exit(UNAVAILABLE_EXIT)


def _print_sessions(hosts: list[dict[str, Any]] | None) -> None:
    if hosts is None:
        output.message("bgp sessions: unknown (romanad did not list the routing reports)")
        return
    rows = [(h, s) for h in hosts if h["mode"] == "bgp" for s in h["sessions"] or [None]]
    if not rows:
        output.message(f"bgp sessions: none ({len(hosts)} hosts reported, none in bgp mode)")
        return

    def peer(row: tuple[dict[str, Any], dict[str, Any] | None]) -> str:
        s = row[1]
        if s is None:
            return "(no sessions)"
        named = f"{s['peer_name']} " if s["peer_name"] else ""
        return f"{named}{s['peer']} AS {s['peer_as']}"

    def state(row: tuple[dict[str, Any], dict[str, Any] | None]) -> str:
        s = row[1]
        if s is None:
            return "-"
        return f"{s['state']}: {s['info']}" if s["info"] else str(s["state"])

    columns: list[output.Column] = [
        ("HOST", lambda r: r[0]["host"]),
        ("PEER", peer),
        ("STATE", state),
        ("SINCE", lambda r: r[1]["since"] if r[1] else "-"),
        ("REPORTED", lambda r: f"{r[0]['age']:.0f} s ago"),
    ]
    output.console().print(output.table(columns, rows, title="BGP sessions"))
