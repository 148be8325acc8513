"""The Kubernetes sync port (``romana.services.kubesync.Romanad``) over romanad's REST API.

:class:`KubeRomanad` gives :func:`romana.services.kubesync.sync` — the translation the
listener uses — a romanad reached over HTTP, so ``romana policy apply`` writes through
romanad's authorisation and validation like any other client instead of into its store.
The port is structural: this module names no service code.

Every method is idempotent, as the port requires: creating what exists and removing what is
gone succeed. Only ``kube.*`` policies and address sets are reported; of those, the sync
removes only what it translated from the objects it stored before. Namespaces' tenants are
created in ``kubernetes`` isolation mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from romana.client import types
from romana.client.http import Client
from romana.core.errors import AlreadyExists, Conflict, NotFound
from romana.core.policy import kubernetes

# Namespaces' tenants: NetworkPolicy semantics (see romana.core.policy.kubernetes).
_ISOLATION = types.Isolation(
    mode=kubernetes.ISOLATION.mode.value, segments=kubernetes.ISOLATION.segments.value
)


class KubeRomanad:
    """The sync port over one :class:`Client` (which carries the caller's token)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def tenants(self) -> dict[str, kubernetes.KnownTenant]:
        return {
            t["name"]: kubernetes.KnownTenant(
                set(t["segments"]), t["external_id"], t.get("isolation", {}).get("mode", "")
            )
            for t in self.client.list_tenants()
        }

    def ensure_tenant(self, name: str, external_id: str) -> bool:
        try:
            self.client.create_tenant(name, external_id or None, isolation=_ISOLATION)
        except AlreadyExists:
            return False
        return True

    def remove_tenant(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.delete_tenant(name)

    def ensure_segment(self, tenant: str, segment: str) -> None:
        with contextlib.suppress(AlreadyExists):
            self.client.add_segment(tenant, segment)

    def hosts(self) -> dict[str, dict[str, str]]:
        return {h["name"]: dict(h.get("labels") or {}) for h in self.client.list_hosts()}

    def ensure_host(self, name: str, ip: str, labels: Mapping[str, str]) -> None:
        try:
            self.client.add_host(name, ip, labels)
        except (AlreadyExists, Conflict):
            self.client.label_host(name, labels)

    def remove_host(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.remove_host(name)

    def policies(self) -> dict[str, dict[str, Any]]:
        return {
            str(p["id"]): p
            for p in self.client.list_policies()
            if str(p.get("name", "")).startswith(kubernetes.PREFIX)
        }

    def put_policy(self, pid: str, document: Mapping[str, Any]) -> None:
        self.client.put_policy(pid, document)

    def remove_policy(self, pid: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.remove_policy(pid)

    def address_sets(self) -> dict[str, list[str]]:
        return {
            s["name"]: s["members"]
            for s in self.client.list_address_sets()
            if s["name"].startswith(kubernetes.PREFIX)
        }

    def put_address_set(self, name: str, members: Sequence[str]) -> None:
        self.client.put_address_set(name, members)

    def remove_address_set(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.remove_address_set(name)

    def kube_objects(self) -> dict[str, Any]:
        record = self.client.kube_objects()
        return {
            "namespaces": record["namespaces"],
            "pods": record["pods"],
            "networkpolicies": record["networkpolicies"],
            "derived": record.get("derived"),
        }

    def put_kube_objects(self, record: Mapping[str, Any]) -> None:
        self.client.put_kube_objects(record)
