"""Wire models of the REST API (docs/api.md): pydantic at the edge, nothing deeper.

Request models forbid unknown fields, so a misspelt field is a 422 naming it rather than a
silently ignored value. Response models describe what the handlers return; they exist for
the OpenAPI document (which clients and the schema tests are checked against) and to drop
internal fields a service returns (a host's ``indices``, a user's ``uid``).

Topology documents and policies are passed through as JSON objects: their grammar belongs to
:mod:`romana.core.topology` and :mod:`romana.services.policy`, which report every problem
with a field path of their own.

Invariant: a field the services check against a pattern (names, label keys and values,
allocation keys, URLs) carries that very pattern, imported from the validator's module
(:mod:`romana.core.names` and the modules that register theirs there), so the OpenAPI
document is as strict as the server; addresses carry the ``ipv4``/``ipv6`` formats. A value
the schema refuses is a 422 whose rule is the validator's own (:mod:`romana.api.errors`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from romana.core import ipam, names, tenancy
from romana.services import auth, registry

NAME = names.NAME_PATTERN

Name = Annotated[str, Field(pattern=names.NAME_PATTERN, max_length=names.NAME_MAX)]
"""A tenant or segment name."""
HostName = Annotated[str, Field(pattern=names.HOST_PATTERN, max_length=names.HOST_MAX)]
NetworkName = Annotated[str, Field(pattern=names.NETWORK_PATTERN, max_length=names.NETWORK_MAX)]
LabelKey = Annotated[str, Field(pattern=names.LABEL_KEY_PATTERN, max_length=names.LABEL_KEY_MAX)]
LabelValue = Annotated[
    str, Field(pattern=names.LABEL_VALUE_PATTERN, max_length=names.LABEL_VALUE_MAX)
]
IPAddress = Annotated[
    str, Field(max_length=64, json_schema_extra={"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})
]
IPv6Address = Annotated[str, Field(max_length=64, json_schema_extra={"format": "ipv6"})]


def _label_names(schema: dict[str, Any]) -> None:
    """Say the key rule as JSON Schema means it: pydantic writes a key pattern as
    ``patternProperties``, which only picks the keys the value schema applies to and lets
    every other key through; ``propertyNames`` refuses them."""
    for value_schema in schema.pop("patternProperties", {}).values():
        schema["additionalProperties"] = value_schema
    schema["propertyNames"] = {
        "type": "string",
        "pattern": names.LABEL_KEY_PATTERN,
        "maxLength": names.LABEL_KEY_MAX,
    }


def labels_field(**kwargs: Any) -> Any:
    """A field of labels (:data:`LabelKey` → :data:`LabelValue`)."""
    return Field(json_schema_extra=_label_names, **kwargs)


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
    tenant: str | None = None
    """With type ``https://romana.io/problems/quota-exceeded``: the tenant, ``quota``, its
    ``limit`` and ``usage``."""
    quota: str | None = None
    limit: int | None = None
    usage: int | None = None


# -- root --------------------------------------------------------------------------------


class Health(Out):
    status: str
    services: list[str]
    store: str


class Ready(Out):
    status: str
    revision: int


class RegistrationIn(In):
    url: str = Field(pattern=registry.URL_PATTERN, max_length=registry.URL_MAX)
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
    username: str = Field(pattern=auth.USERNAME_PATTERN, max_length=64)
    password: str = Field(max_length=1024)
    role: Literal["admin", "service", "tenant", "agent"]
    tenant: Name | None = None
    host: HostName | None = None
    """The one host an agent user acts for: required for role ``agent``, refused for others."""


class User(Out):
    username: str
    role: str
    tenant: str | None
    host: str | None = None
    """The host an agent user is bound to; null for other roles."""


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
    name: Name
    external_id: str = Field(default="", max_length=253)
    networks: list[NetworkName] = Field(default_factory=list, max_length=64)
    isolation: IsolationIn = Field(default_factory=IsolationIn)


class SegmentIn(In):
    name: Name


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
    name: HostName
    ip: IPAddress
    ip6: IPv6Address | None = None
    labels: dict[LabelKey, LabelValue] = labels_field(default_factory=dict)


class LabelsIn(In):
    labels: dict[LabelKey, LabelValue] = labels_field()


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
    key: str = Field(pattern=ipam.KEY_PATTERN, max_length=ipam.KEY_MAX)
    host: HostName
    tenant: Name
    segment: Name = tenancy.DEFAULT_SEGMENT


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
    policy_tenants: list[str]
    """The tenants whose own policies the view carries: those with an endpoint on the host.
    Policies of other tenants are left out; those not owned by one tenant are always in."""


Quota = Annotated[int, Field(ge=0, le=1 << 31)]


class QuotasIn(In):
    """Quotas to change; one left out stays as it is."""

    policies: Quota | None = None
    allocations: Quota | None = None
    segments: Quota | None = None


class TenantQuotaIn(In):
    """One tenant's quotas to change; null puts that quota back to the default."""

    policies: Quota | None = None
    allocations: Quota | None = None
    segments: Quota | None = None


class Quotas(Out):
    policies: int
    allocations: int
    segments: int


class TenantQuota(Out):
    tenant: str
    limits: Quotas
    """What is in force: the override where set, else the default."""
    override: dict[str, int]
    usage: Quotas
