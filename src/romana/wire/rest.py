"""romanad's REST API, version 1 (docs/api.md): the shape of every request and answer.

The server declares its routes with these models (FastAPI validates requests with the ``In``
models and renders answers, and the OpenAPI document, from the ``Out`` models); the client
and the agent validate every answer with the very same models
(:func:`romana.wire.validate.check`, :func:`romana.wire.validate.parse`). This module holds
the base models and the health, auth, tenant, quota, topology and address-set models; the
allocations, pools, external addresses and VIPs are in :mod:`romana.wire.rest_addresses`, the
routing reports in :mod:`romana.wire.rest_routing`, the route plan and the host view in
:mod:`romana.wire.rest_hostview`, the Kubernetes objects and applies in
:mod:`romana.wire.rest_kube`, the drop events in :mod:`romana.wire.rest_drops`.

Request models forbid unknown fields, so a misspelt field is a 422 naming it rather than a
silently ignored value. Answer models ignore unknown fields, so a reader of an older minor
revision of v1 reads a newer server's answers; they drop internal fields a service returns
(a host's ``indices``, a user's ``uid``). Readers validate strictly (JSON types as decoded,
no coercion): an answer that does not match is InvalidInput naming each field.

Topology documents and policies are passed through as JSON objects: their grammar belongs to
:mod:`romana.core.topology` and :mod:`romana.core.policy`, which report every problem with a
field path of their own.

Invariants:

* Every path of the API starts with :data:`PREFIX`, made of :data:`VERSION`; a change that a
  v1 reader cannot read needs a new version.
* A field the services check against a pattern (names, label keys and values, allocation
  keys, user names, URLs) carries that very pattern, imported from :mod:`romana.core`, so the
  OpenAPI document is as strict as the server; addresses carry the ``ipv4``/``ipv6``
  formats. A value the schema refuses is a 422 whose rule is the validator's own.
* Checks a reader relies on beyond the JSON types (an address that parses) are validators
  that leave the JSON Schema as it is: the OpenAPI document does not change with them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from romana.core import names, tenancy
from romana.wire.light import PREFIX as PREFIX  # defined without pydantic, exported here too
from romana.wire.light import VERSION as VERSION
from romana.wire.validate import CIDR, JSON, Address, check

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


def answer(shape: Any, raw: Any) -> JSON:
    """``raw`` as decoded, once it is a ``shape`` (a model of this module or of a sibling
    ``romana.wire.rest_*`` module, or :data:`JSON` for a document); InvalidInput naming
    every field that is not, which says romanad and its reader disagree on the API."""
    return cast(JSON, check(shape, raw, _context(shape)))


def answers(shape: Any, raw: Any) -> list[JSON]:
    """A list answer, each item a ``shape``; see :func:`answer`."""
    return cast(list[JSON], check(list[shape], raw, _context(shape)))


def _context(shape: Any) -> str:
    return f"romanad's answer does not match API {VERSION}'s {getattr(shape, '__name__', 'JSON')}"


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
    # Built on first use: a CLI command reads one or two kinds of answer, and building every
    # answer's validator at import would slow each command down.
    model_config = ConfigDict(extra="ignore", defer_build=True)


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
    url: str = Field(pattern=names.URL_PATTERN, max_length=names.URL_MAX)
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
    username: str = Field(pattern=names.USERNAME_PATTERN, max_length=names.USERNAME_MAX)
    password: str = Field(max_length=1024)
    role: Literal["admin", "service", "tenant", "agent", "openstack"]
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
    owner: str | None = Field(
        default=None, pattern=names.USERNAME_PATTERN, max_length=names.USERNAME_MAX
    )
    """The ``openstack``-role user that acts in the tenant; an ``openstack`` caller may name
    only itself, and is recorded as the owner when it names none."""


class OwnerIn(In):
    owner: str | None = Field(pattern=names.USERNAME_PATTERN, max_length=names.USERNAME_MAX)
    """The ``openstack``-role user that acts in the tenant; null for none."""


class SegmentIn(In):
    name: Name


class Tenant(Out):
    name: str
    external_id: str
    ids: dict[str, int]
    segments: dict[str, int]
    requested_networks: list[str]
    isolation: Isolation
    owner: str | None = None
    """The ``openstack``-role user that acts in the tenant; null for none."""


# -- topology ----------------------------------------------------------------------------


class Network(Out):
    name: str
    cidr: CIDR
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
    ip: Address
    ip6: str | None
    labels: dict[str, str]
    group: str
    prefixes: dict[str, CIDR]
    gateways: dict[str, Address]


# -- address sets ------------------------------------------------------------------------


class AddressSetIn(In):
    members: list[str] = Field(max_length=65536)


class AddressSet(Out):
    name: str
    members: list[str]


# -- quotas --------------------------------------------------------------------------------


Quota = Annotated[int, Field(ge=0, le=1 << 31)]


class QuotasIn(In):
    """Quotas to change; one left out stays as it is."""

    policies: Quota | None = None
    allocations: Quota | None = None
    segments: Quota | None = None


class TenantQuotaIn(QuotasIn):
    """One tenant's quotas to change; null puts that quota back to the default."""


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
