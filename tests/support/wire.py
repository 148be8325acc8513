"""Answers of romanad's REST API as romanad sends them, for tests that fake romanad.

The client validates every answer against :mod:`romana.wire.rest`, so a fake answers with
these (adding or overriding fields) rather than with the few fields a test reads.
"""

from __future__ import annotations

from typing import Any


def host(name: str = "h1", ip: str = "192.0.2.1", **fields: Any) -> dict[str, Any]:
    """A host as ``GET /v1/hosts/{name}`` returns it (no prefixes assigned)."""
    base: dict[str, Any] = {"ip6": None, "labels": {}, "group": "/", "prefixes": {}, "gateways": {}}
    return {**base, "name": name, "ip": ip, **fields}


def tenant(name: str = "t1", **fields: Any) -> dict[str, Any]:
    """A tenant with the default segment and no network ids yet."""
    base = {"external_id": "", "ids": {}, "segments": {"default": 0}, "requested_networks": []}
    isolation = {"mode": "romana", "segments": "isolated"}
    return {"name": name, **base, "isolation": isolation, **fields}


def allocation(key: str = "c1:eth0", **fields: Any) -> dict[str, Any]:
    """An allocation of one address, as ``POST /v1/allocations`` returns it."""
    base = {"host": "h1", "tenant": "t1", "segment": "default", "addresses": ["10.1.0.2"]}
    return {"key": key, **base, **fields}


def host_view(revision: int = 1, **fields: Any) -> dict[str, Any]:
    """An empty view of host h1 (no networks, tenants or endpoints)."""
    empty: dict[str, Any] = {
        "networks": [],
        "routes": [],
        "skipped_routes": [],
        "tenants": [],
        "policies": [],
        "address_sets": {},
        "endpoints": [],
        "policy_tenants": [],
    }
    return {"revision": revision, "host": host(), **empty, **fields}
