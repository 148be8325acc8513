"""The Kubernetes sync port (``romana.services.kubesync.Romanad``) over romanad's REST API.

:class:`KubeRomanad` gives :func:`romana.services.kubesync.sync` — the translation the
listener uses — a romanad reached over HTTP, so ``romana policy apply`` writes through
romanad's authorisation and validation like any other client instead of into its store.
The port is structural: this module names no service code.

Every method is idempotent, as the port requires: creating what exists and removing what is
gone succeed. Only ``kube.*`` policies and address sets are reported, so a sync never
removes a policy or set that it did not make.

:func:`cluster` reads the other way: romanad's model (networks, hosts, tenants and the stored
Kubernetes objects) as the :class:`romana.core.policy.explain.Cluster` ``romana explain``
walks. Pods keep the addresses romanad's record gives them; a pod sits on its ``nodeName``
when that is a romanad host, else on the host whose prefix holds its address.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from romana.client.http import Client
from romana.core import addressing
from romana.core.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from romana.core.policy import explain, kubernetes, resolve
from romana.core.policy import kubeobjects as ko

EMPTY = (
    "romanad holds no Kubernetes objects: run romana-listener, "
    "or `romana policy apply -f FILE`, first"
)


class KubeRomanad:
    """The sync port over one :class:`Client` (which carries the caller's token)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def tenants(self) -> dict[str, set[str]]:
        return {t["name"]: set(t["segments"]) for t in self.client.list_tenants()}

    def ensure_tenant(self, name: str, external_id: str) -> None:
        with contextlib.suppress(AlreadyExists):
            self.client.create_tenant(name, external_id or None)

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
            if str(p.get("id", "")).startswith(kubernetes.PREFIX)
        }

    def put_policy(self, document: Mapping[str, Any]) -> None:
        pid = str(document["name"])
        try:
            current: dict[str, Any] | None = self.client.get_policy(pid)
        except NotFound:
            current = None
        if current == {"id": pid, **document}:
            return
        if current is not None:
            self.remove_policy(pid)
        self.client.add_policies(document)

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

    def kube_objects(self) -> dict[str, list[dict[str, Any]]]:
        record = self.client.kube_objects()
        return {
            "namespaces": record["namespaces"],
            "pods": record["pods"],
            "networkpolicies": record["networkpolicies"],
        }

    def put_kube_objects(self, record: Mapping[str, Any]) -> None:
        self.client.put_kube_objects(record)


def cluster(client: Client, settings: kubernetes.Settings | None = None) -> explain.Cluster:
    """romanad's Kubernetes model; NotFound (:data:`EMPTY`) when no sync stored any."""
    stored = KubeRomanad(client).kube_objects()
    if not stored["namespaces"] and not stored["pods"]:
        raise NotFound(EMPTY)
    parsed: dict[str, list[Any]] = {}
    for field, items in stored.items():
        try:
            parsed[field] = [ko.parse(item) for item in items]
        except InvalidInput as exc:
            raise InvalidInput(f"romanad's stored {field}: {exc}") from exc
    layouts = {
        n["name"]: addressing.layout(
            n["name"], n["cidr"], n["tenant_bits"], n["segment_bits"], n["endpoint_bits"]
        )
        for n in client.list_networks()
    }
    if not layouts:
        raise NotFound("romanad has no networks: apply a topology first")
    first = layouts[min(layouts)]
    hosts = {
        h["name"]: addressing.decode(first, h["gateways"][first.name]).host
        for h in client.list_hosts()
        if first.name in h["gateways"]
    }
    prefixes = {
        name: [addressing.host_prefix(lay, index) for lay in layouts.values()]
        for name, index in hosts.items()
    }
    pods = tuple(_placed(p, hosts, prefixes) for p in parsed["pods"])
    tenancy = tuple(
        resolve.Tenant(t["name"], dict(t["ids"]), dict(t["segments"]), t["external_id"])
        for t in client.list_tenants()
    )
    return explain.Cluster(
        layouts,
        hosts,
        tuple(parsed["namespaces"]),
        pods,
        tuple(parsed["networkpolicies"]),
        settings or kubernetes.Settings(),
        tenancy,
    )


def _placed(
    pod: ko.Pod, hosts: Mapping[str, int], prefixes: Mapping[str, list[addressing.IPNetwork]]
) -> ko.Pod:
    if pod.node in hosts:
        return pod
    for name, nets in prefixes.items():
        if any(ip in net for ip in pod.ips for net in nets):
            return replace(pod, node=name)
    return pod
