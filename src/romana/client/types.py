"""The JSON shapes of romanad's REST API (docs/api.md), as TypedDicts.

These are wire values: what the server sends, decoded, with no behaviour attached, so callers
can index them, print them and dump them back to JSON unchanged. Policies and topology
documents are passed through as plain mappings because their grammar belongs to the server.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

Document = dict[str, Any]
"""A topology document or a policy, as JSON."""


class Health(TypedDict):
    status: str
    services: list[str]
    store: str


class Service(TypedDict):
    name: str
    instance: str
    url: str
    capabilities: list[str]
    expires_at: float


class Token(TypedDict):
    token: str
    expires_at: float
    role: str
    tenant: str | None


class User(TypedDict):
    username: str
    role: str
    tenant: str | None
    host: str | None
    """The host an agent user is bound to; None for other roles."""


class SigningKey(TypedDict):
    id: str
    """Fingerprint (first 16 hex digits of the key's SHA-256); the key never leaves romanad."""
    current: bool
    created: float | None
    retire_at: float | None


class Isolation(TypedDict):
    mode: str
    """romana or kubernetes"""
    segments: str
    """isolated or open (romana mode)"""


class Tenant(TypedDict):
    name: str
    external_id: str
    ids: dict[str, int]
    segments: dict[str, int]
    requested_networks: list[str]
    isolation: Isolation


class Quotas(TypedDict):
    policies: int
    allocations: int
    segments: int


class TenantQuota(TypedDict):
    tenant: str
    limits: Quotas
    override: dict[str, int]
    usage: Quotas


class Network(TypedDict):
    name: str
    cidr: str
    tenant_bits: int
    segment_bits: int
    endpoint_bits: int
    topology_bits: int
    tenants: list[str]
    blackouts: list[str]


class Host(TypedDict):
    name: str
    ip: str
    ip6: str | None
    labels: dict[str, str]
    group: str
    prefixes: dict[str, str]
    gateways: dict[str, str]


class Allocation(TypedDict):
    key: str
    host: str
    tenant: str
    segment: str
    addresses: list[str]


class Decoded(TypedDict):
    address: str
    network: str
    host_index: int
    host: str | None
    tenant_id: int
    tenant: str | None
    segment_id: int
    segment: str | None
    ordinal: int
    host_prefix: str
    is_gateway: bool
    allocation: NotRequired[Allocation | None]


class AddressSet(TypedDict):
    name: str
    members: list[str]


class KubeObjects(TypedDict):
    namespaces: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    networkpolicies: list[dict[str, Any]]
    derived: NotRequired[dict[str, Any] | None]
    """The policy ids and set names syncs derived, and their segment label."""


class Route(TypedDict):
    dst: str
    via: str
    reason: str


class SkippedRoute(TypedDict):
    dst: str
    reason: str


class RoutePlan(TypedDict):
    host: str
    prefixes: dict[str, str]
    gateways: dict[str, str]
    routes: list[Route]
    skipped: list[SkippedRoute]
    aggregate: bool


class HostView(TypedDict):
    revision: int
    host: Host
    networks: list[Network]
    routes: list[Route]
    skipped_routes: list[SkippedRoute]
    tenants: list[Tenant]
    policies: list[Document]
    address_sets: dict[str, list[str]]
    endpoints: list[Allocation]
    policy_tenants: list[str]
    """Tenants whose own policies ``policies`` holds: those with an endpoint on the host."""
