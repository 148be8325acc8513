"""Wire models of the REST API (docs/api.md): pydantic at the edge, nothing deeper.

Request models forbid unknown fields, so a misspelt field is a 422 naming it rather than a
silently ignored value. Response models describe what the handlers return; they exist for
the OpenAPI document (which clients and the schema tests are checked against) and to drop
internal fields a service returns (a host's ``indices``, a user's ``uid``).

Topology documents and policies are passed through as JSON objects: their grammar belongs to
:mod:`romana.core.topology` and :mod:`romana.services.policy`, which report every problem
with a field path of their own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from romana.core import tenancy

NAME = r"^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$"


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- errors ------------------------------------------------------------------------------


class IssueOut(Out):
    field: str
    rule: str


class Problem(Out):
    """RFC 9457 problem details; ``issues`` only for validation errors."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    issues: list[IssueOut] | None = None


# -- root --------------------------------------------------------------------------------


class Health(Out):
    status: str
    services: list[str]
    store: str


class Ready(Out):
    status: str
    revision: int


class RegistrationIn(In):
    url: str = Field(max_length=2048)
    capabilities: list[str] = Field(default_factory=list, max_length=64)
    ttl: float = 15.0


class Registration(Out):
    name: str
    instance: str
    url: str
    capabilities: list[str]
    expires_at: float


# -- auth --------------------------------------------------------------------------------


class Credentials(In):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class TokenOut(Out):
    token: str
    expires_at: float
    role: str
    tenant: str | None


class UserIn(In):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: Literal["admin", "service", "tenant", "agent"]
    tenant: str | None = None


class User(Out):
    username: str
    role: str
    tenant: str | None


class PasswordIn(In):
    password: str = Field(max_length=1024)
    current_password: str | None = Field(default=None, max_length=1024)
    """Required when users change their own password (admins set anyone's without it)."""


class RotateIn(In):
    retire_now: bool = False
    """Refuse tokens of every older key at once, instead of when they expire."""


class SigningKey(Out):
    id: str
    current: bool
    created: float | None
    retire_at: float | None


# -- tenants -----------------------------------------------------------------------------


class IsolationIn(In):
    mode: Literal["romana", "kubernetes"] = "romana"
    segments: Literal["isolated", "open"] = "isolated"

    def value(self) -> tenancy.Isolation:
        return tenancy.Isolation(tenancy.Mode(self.mode), tenancy.Segments(self.segments))


class Isolation(Out):
    mode: str
    segments: str


class TenantIn(In):
    name: str = Field(max_length=63)
    external_id: str = Field(default="", max_length=253)
    networks: list[str] = Field(default_factory=list, max_length=64)
    isolation: IsolationIn = Field(default_factory=IsolationIn)


class SegmentIn(In):
    name: str = Field(max_length=63)


class Tenant(Out):
    name: str
    external_id: str
    ids: dict[str, int]
    segments: dict[str, int]
    requested_networks: list[str]
    isolation: Isolation


# -- topology ----------------------------------------------------------------------------


class Network(Out):
    name: str
    cidr: str
    tenant_bits: int
    segment_bits: int
    endpoint_bits: int
    topology_bits: int
    tenants: list[str]
    blackouts: list[str]


class BlackoutsIn(In):
    cidrs: list[str] = Field(max_length=4096)


class HostIn(In):
    name: str = Field(max_length=253)
    ip: str = Field(max_length=64)
    ip6: str | None = Field(default=None, max_length=64)
    labels: dict[str, str] = Field(default_factory=dict)


class LabelsIn(In):
    labels: dict[str, str]


class Host(Out):
    name: str
    ip: str
    ip6: str | None
    labels: dict[str, str]
    group: str
    prefixes: dict[str, str]
    gateways: dict[str, str]


# -- ipam --------------------------------------------------------------------------------


class AllocationIn(In):
    key: str = Field(max_length=253)
    host: str = Field(max_length=253)
    tenant: str = Field(max_length=63)
    segment: str = Field(default="default", max_length=63)


class Allocation(Out):
    key: str
    host: str
    tenant: str
    segment: str
    addresses: list[str]


class Decoded(Out):
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
    allocation: Allocation | None = None


# -- address sets ------------------------------------------------------------------------


class AddressSetIn(In):
    members: list[str] = Field(max_length=65536)


class AddressSet(Out):
    name: str
    members: list[str]


# -- Kubernetes objects ------------------------------------------------------------------


class DerivedIn(In):
    policies: list[str] = Field(default_factory=list)
    sets: list[str] = Field(default_factory=list)
    segment_label: str = ""


class KubeObjectsIn(In):
    namespaces: list[dict[str, Any]] = Field(default_factory=list)
    pods: list[dict[str, Any]] = Field(default_factory=list)
    networkpolicies: list[dict[str, Any]] = Field(default_factory=list)
    derived: DerivedIn | None = None


class Derived(Out):
    policies: list[str]
    sets: list[str]
    segment_label: str


class KubeObjects(Out):
    namespaces: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    networkpolicies: list[dict[str, Any]]
    derived: Derived | None = None


# -- routes and the agent view -----------------------------------------------------------


class Route(Out):
    dst: str
    via: str
    reason: str


class SkippedRoute(Out):
    dst: str
    reason: str


class RoutePlan(Out):
    host: str
    prefixes: dict[str, str]
    gateways: dict[str, str]
    routes: list[Route]
    skipped: list[SkippedRoute]
    aggregate: bool


class HostView(Out):
    revision: int
    host: Host
    networks: list[Network]
    routes: list[Route]
    skipped_routes: list[SkippedRoute]
    tenants: list[Tenant]
    policies: list[dict[str, Any]]
    address_sets: dict[str, list[str]]
    endpoints: list[Allocation]
