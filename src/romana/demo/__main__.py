"""``python -m romana.demo``: the address plan, allocation and routes, on the embedded store."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from romana.core import errors
from romana.demo import plan
from romana.store.sqlite import SQLiteStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m romana.demo", description=__doc__)
    parser.parse_args(argv)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="romana-demo-") as tmp:
        store = SQLiteStore(Path(tmp) / "romana.db")
        try:
            return run(console, plan.Services.over(store))
        except errors.RomanaError as exc:
            console.print(f"[red]demo failed:[/red] {exc}")
            return 1
        finally:
            store.close()


def run(console: Console, svc: plan.Services) -> int:
    console.rule("1. topology: 2 racks, 3 hosts")
    svc.topology.apply(plan.load_topology())
    for name, ip, labels in plan.HOSTS:
        svc.topology.add_host(name, ip, labels)
    plan.draw_topology(console, svc)

    console.rule("2. the address plan")
    for lay in svc.topology.view().layouts.values():
        plan.explain_layout(console, lay)

    console.rule("3. tenants, segments, addresses")
    first = ""
    for tenant, segments in plan.TENANTS:
        svc.tenants.create(tenant)
        for seg in segments:
            svc.tenants.add_segment(tenant, seg)
            for host, _, _ in plan.HOSTS:
                alloc = svc.ipam.allocate(f"{tenant}-{seg}-{host}", host, tenant, seg)
                addrs = ", ".join(str(a) for a in alloc.addresses)
                console.print(f"  {tenant:<6} {seg:<4} on {host}: {addrs}")
                first = first or str(alloc.addresses[0])
    plan.explain_address(console, svc, first)

    console.rule("4. routes")
    plan.draw_routes(console, svc, plan.HOSTS[0][0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
