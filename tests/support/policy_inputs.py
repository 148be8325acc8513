"""Build policy-compiler inputs from a compact JSON fixture (see tests/data/policy/).

Fixture shape: ``networks`` (as :func:`addressing.layout` takes them), ``tenants`` (name,
``ids`` per network, ``segments`` name -> id, optional ``isolation`` as romanad stores it),
``host`` (name and index, the same in every
network), optional ``address_sets`` (name -> prefixes) and ``policies`` (Romana policy JSON).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from romana.core import addressing, tenancy
from romana.core.policy import compile, parse

DATA = Path(__file__).resolve().parent.parent / "data" / "policy"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def compile_input(fixture: dict[str, Any], **overrides: Any) -> compile.CompileInput:
    layouts = {n["name"]: addressing.layout(**n) for n in fixture["networks"]}
    index = fixture["host"]["index"]
    values: dict[str, Any] = {
        "layouts": layouts,
        "tenants": tuple(
            compile.Tenant(
                t["name"],
                t["ids"],
                t.get("segments", {}),
                isolation=tenancy.Isolation.parse(t.get("isolation")),
            )
            for t in fixture["tenants"]
        ),
        "host": fixture["host"]["name"],
        "host_prefixes": tuple(addressing.host_prefix(lay, index) for lay in layouts.values()),
        "gateways": tuple(addressing.gateway(lay, index) for lay in layouts.values()),
        "policies": parse.policies(fixture.get("policies", [])),
        "address_sets": {
            name: tuple(ipaddress.ip_network(p) for p in prefixes)
            for name, prefixes in fixture.get("address_sets", {}).items()
        },
    }
    values.update(overrides)
    return compile.CompileInput(**values)


def _layout(fixture: dict[str, Any], net: str) -> addressing.Layout:
    return addressing.layout(**next(n for n in fixture["networks"] if n["name"] == net))


def endpoint_address(
    fixture: dict[str, Any],
    tenant: str,
    segment: str = "default",
    *,
    host: int = 1,
    net: str = "v4",
    n: int = 5,
) -> addressing.IPAddress:
    """Address ``n`` of ``tenant``'s ``segment`` (``default``: id 0) on host index ``host`` in
    network ``net`` of ``fixture``."""
    t = next(t for t in fixture["tenants"] if t["name"] == tenant)
    seg = t["segments"].get(segment, 0)
    return addressing.encode(_layout(fixture, net), host, t["ids"][net], seg, n)


def gateway(fixture: dict[str, Any], host: int, net: str = "v4") -> addressing.IPAddress:
    """The gateway of host index ``host`` in network ``net`` of ``fixture``."""
    return addressing.gateway(_layout(fixture, net), host)
