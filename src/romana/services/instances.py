"""The root's service directory: instances register, heartbeat, and expire.

A registration is one store key per (service, instance), ``registry/<service>/<instance>``,
holding the instance's URL, its capabilities and the wall-clock time it expires at. A
heartbeat is the same registration written again with a fresh expiry. Wall-clock time (not a
monotonic clock) because every replica of the root reads the same keys and must agree on
whether an instance is live; clocks of the replicas are assumed to be synchronised to well
under the TTL.

Invariants:

* :meth:`InstanceService.list_live` never returns an expired registration, whether or not it
  has been pruned from the store yet.
* Service names are the fixed set :data:`SERVICES`; anything else is refused, so a client
  looking up ``ipam`` cannot be handed an instance registered under a misspelling.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from romana.core import names, records
from romana.core.errors import Issues, NotFound
from romana.core.store import Compare, Delete, Put, Store
from romana.services import keys, txn

SERVICES = ("root", "auth", "tenant", "topology", "ipam", "policy", "route", "agent-view")
"""Every service romanad can run, in the order ``--services`` lists them by default."""

INSTANCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
URL_RULE = names.URL_RULE
URL_PATTERN = names.URL_PATTERN
URL_MAX = names.URL_MAX
URL_RE = re.compile(URL_PATTERN)
MIN_TTL = 1.0
MAX_TTL = 3600.0


@dataclass(frozen=True, slots=True)
class Registration:
    name: str
    instance: str
    url: str
    capabilities: tuple[str, ...]
    expires_at: float
    """Wall-clock seconds since the epoch after which the instance counts as gone."""

    def to_dict(self) -> dict[str, Any]:
        return records.fields_dict(self, {"capabilities": list})

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Registration:
        return cls(
            name=str(raw["name"]),
            instance=str(raw["instance"]),
            url=str(raw["url"]),
            capabilities=tuple(str(c) for c in raw.get("capabilities", [])),
            expires_at=float(raw["expires_at"]),
        )


def registry_key(name: str, instance: str) -> str:
    return f"{keys.REGISTRY}{name}/{instance}"


def check_identity(name: str, instance: str, issues: Issues) -> None:
    if name not in SERVICES:
        issues.add("name", f"must be one of {', '.join(SERVICES)}")
    if not isinstance(instance, str) or not INSTANCE_RE.match(instance):
        issues.add(
            "instance",
            "must be 1-128 characters of letters, digits and _ . : -, starting alphanumeric",
        )


class InstanceService:
    """Registrations of service instances over the store; ``clock`` is wall-clock seconds."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def register(
        self,
        name: str,
        instance: str,
        url: str,
        capabilities: Sequence[str] = (),
        ttl: float = 15.0,
    ) -> Registration:
        """Create or refresh a registration; it stays live for ``ttl`` seconds."""
        issues = Issues()
        check_identity(name, instance, issues)
        if not names.matches(URL_RE, url) or len(url) > URL_MAX:
            issues.add("url", URL_RULE)
        if not MIN_TTL <= ttl <= MAX_TTL:
            issues.add("ttl", f"must be between {MIN_TTL:g} and {MAX_TTL:g} seconds")
        for i, cap in enumerate(capabilities):
            if not isinstance(cap, str) or not 0 < len(cap) <= 128:
                issues.add(f"capabilities[{i}]", "must be a string of 1-128 characters")
        issues.raise_if_any()
        reg = Registration(
            name, instance, url.rstrip("/"), tuple(capabilities), self._clock() + ttl
        )
        self._store.txn([], [Put(registry_key(name, instance), txn.dumps(reg.to_dict()))])
        return reg

    def list_live(self, name: str | None = None) -> list[Registration]:
        """Unexpired registrations (of service ``name`` when given), by service and instance."""
        prefix = keys.REGISTRY if name is None else f"{keys.REGISTRY}{name}/"
        now = self._clock()
        regs = (
            Registration.from_dict(raw) for raw in txn.loads_all(self._store.range(prefix).items)
        )
        return [r for r in regs if r.expires_at > now]

    def deregister(self, name: str, instance: str) -> Registration:
        """Remove a registration; NotFound when there is none (live or expired)."""
        issues = Issues()
        check_identity(name, instance, issues)
        issues.raise_if_any()
        key = registry_key(name, instance)

        def attempt(w: txn.Writes) -> Registration:
            kv = self._store.get(key)
            if kv is None:
                raise NotFound(f"service {name!r} has no instance {instance!r}")
            w.guard(key, kv)
            w.ops.append(Delete(key))
            return Registration.from_dict(txn.loads(kv))

        return txn.run(self._store, attempt, what=f"deregister {name}/{instance}")

    def prune(self) -> int:
        """Delete expired registrations; how many were deleted.

        Each is deleted only if unchanged since it was read, so a heartbeat racing the prune
        always survives.
        """
        now = self._clock()
        pruned = 0
        for kv in self._store.range(keys.REGISTRY).items:
            if Registration.from_dict(txn.loads(kv)).expires_at > now:
                continue
            if self._store.txn([Compare(kv.key, kv.mod_revision)], [Delete(kv.key)]).succeeded:
                pruned += 1
        return pruned
