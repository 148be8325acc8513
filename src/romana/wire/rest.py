"""romanad's REST API, version 1 (docs/api.md): the shape of every request and answer.

The server declares its routes with these models (FastAPI validates requests with the ``In``
models and renders answers, and the OpenAPI document, from the ``Out`` models); the client
and the agent validate every answer with the very same models
(:func:`romana.wire.validate.check`, :func:`romana.wire.validate.parse`). The route plan and
the host view are in :mod:`romana.wire.rest_hostview`, the Kubernetes objects and applies in
:mod:`romana.wire.rest_kube`.

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

import ipaddress
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from romana.core import dockerpools, external, ipam, names, tenancy, vips
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
    """``raw`` as decoded, once it is a ``shape`` (a model of this module or of
    :mod:`romana.wire.rest_hostview`, or :data:`JSON` for a document); InvalidInput naming
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


# -- ipam --------------------------------------------------------------------------------


class AllocationIn(In):
    key: str = Field(pattern=ipam.KEY_PATTERN, max_length=ipam.KEY_MAX)
    host: HostName
    tenant: Name
    segment: Name = tenancy.DEFAULT_SEGMENT
    address: Address | None = None
    """The one address wanted in its network (``docker run --ip``); the tenant's other
    networks get their lowest free address. It must encode this host, tenant and segment."""


class Allocation(Out):
    key: str
    host: str
    tenant: str
    segment: str
    addresses: list[Address]
    origin: str | None = None
    """The host the addresses encode, when the allocation lives on another (``host``)."""
    workload: str | None = None
    """What holds the addresses, once an integration said (``docker:<container id>``)."""


class AllocationHostIn(In):
    host: HostName


class AllocationWorkloadIn(In):
    workload: str = Field(pattern=ipam.WORKLOAD_PATTERN, max_length=ipam.WORKLOAD_MAX)


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
    lives_on: str | None = None
    """The host the address lives on when it moved away from ``host``, the one it encodes."""


# -- Docker pools ------------------------------------------------------------------------


class DockerPoolIn(In):
    """What a Docker network's pool stands for; the pool id is the path's."""

    tenant: Name
    segment: Name
    network: NetworkName
    docker_network: str = Field(
        pattern=dockerpools.DOCKER_NETWORK_PATTERN, max_length=dockerpools.DOCKER_NETWORK_MAX
    )
    host: HostName
    """The host whose driver binds the pool (an agent may name only its own)."""
    pair: str = Field(default="", max_length=dockerpools.POOL_MAX)
    """The other pool of a dual-stack Docker network (``--ipv6``); empty for IPv4 only."""


class DockerPool(Out):
    pool: str
    tenant: str
    segment: str
    network: str
    docker_network: str
    host: str
    pair: str = ""


# -- external addresses and egress NAT ---------------------------------------------------


class ExternalPoolIn(In):
    """A pool's CIDRs (IPv4 and IPv6, outside every romana network); the name is the path's."""

    cidrs: list[str] = Field(min_length=1, max_length=external.MAX_CIDRS)
    group: str | None = Field(default=None, min_length=1, max_length=external.GROUP_MAX)
    """A topology group's name or path: only its hosts' endpoints get the pool's addresses."""
    network: NetworkName | None = None
    """A romana network: only endpoints with an address in it get the pool's addresses."""


class ExternalPool(Out):
    name: str
    cidrs: list[CIDR]
    group: str | None
    network: str | None = None


class ExternalIpIn(In):
    pool: str = Field(pattern=external.POOL_PATTERN, max_length=external.POOL_MAX)
    endpoint: str = Field(min_length=1, max_length=ipam.KEY_MAX)
    """The allocation key of the endpoint, or one of its romana addresses."""
    address: IPAddress | None = None
    """The external address wanted; the pool's lowest free one when left out."""


class ExternalIp(Out):
    address: Address
    pool: str
    key: str
    """The allocation key of the endpoint that holds it; empty for a VIP's address."""
    tenant: str
    vip: str | None = None
    """The VIP whose address it is (key and tenant empty); None for an endpoint's."""


VipName = Annotated[str, Field(pattern=vips.NAME_PATTERN, max_length=63)]
Endpoint = Annotated[str, Field(min_length=1, max_length=ipam.KEY_MAX)]
"""An endpoint: its allocation key, or one of its romana addresses."""


class VipIn(In):
    name: VipName
    pool: str = Field(pattern=external.POOL_PATTERN, max_length=external.POOL_MAX)
    endpoints: list[Endpoint] = Field(max_length=vips.MAX_ENDPOINTS)
    address: IPAddress | None = None
    """The address wanted; the pool's lowest free one of the endpoints' family when left out."""


class VipEndpointsIn(In):
    endpoints: list[Endpoint] = Field(max_length=vips.MAX_ENDPOINTS)


class Vip(Out):
    name: str
    address: Address
    pool: str
    endpoints: list[str]
    """Allocation keys."""
    holder: str | None
    """The host whose lease is valid now; None when nobody holds it."""


class VipLeaseIn(In):
    host: HostName
    """The asking host (an agent user may ask only as its own)."""
    release: bool = False
    """Give the lease up at once (the holder stopping), so another host takes it."""


class VipLease(Out):
    vip: str
    held: bool
    """Whether the asking host holds the lease now."""
    holder: str | None
    term: int
    """Grows by one each time another host is granted the VIP."""
    ttl: float
    """Seconds a lease lasts from its grant or renewal."""
    expires_in: float
    """Seconds the holder's lease has left; 0 when nobody holds it."""


class EgressNatIn(In):
    mode: Literal["on", "off", "tenants"]
    tenants: list[Name] = Field(default_factory=list, max_length=4096)
    """With mode ``tenants``: whose endpoints' traffic is masqueraded."""
    no_nat: list[str] = Field(default_factory=list, max_length=external.MAX_CIDRS)
    """Destinations never masqueraded."""


class EgressNat(Out):
    network: str
    mode: str
    tenants: list[str]
    no_nat: list[CIDR]


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


# -- routing reports ---------------------------------------------------------------------

ASN = Annotated[int, Field(ge=0, le=4294967295)]
ReportText = Annotated[str, Field(max_length=256)]


def _address_or_empty(value: str) -> str:
    if value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address (nor empty)") from None
    return value


MaybeAddress = Annotated[str, Field(max_length=64), AfterValidator(_address_or_empty)]
"""An IP address, or '' for none."""


class BgpSessionIn(In):
    """One BGP session of the host's BIRD, as the agent read it."""

    name: str = Field(max_length=128)
    """The BIRD protocol (``romana_<peer>``)."""
    peer: Address
    peer_as: ASN
    peer_name: str = Field(default="", max_length=128)
    """The peer's name in the topology; empty for a peer it names by address only."""
    state: str = Field(max_length=32)
    """The BGP state: ``Established`` when up."""
    info: ReportText = ""
    """Why a session that is not established is not (BIRD's last error)."""
    since: str = Field(default="", max_length=64)
    """When the session last changed state, in BIRD's words (the host's local time)."""


class ReportedRouteIn(In):
    """One route of the host: planned and installed by its agent, or learned by BIRD."""

    dst: CIDR
    via: MaybeAddress = ""
    """The next hop; empty for none."""
    source: Literal["direct", "bgp"]
    protocol: str = Field(default="", max_length=128)
    """The BIRD protocol a learned route came from (its session's ``name``)."""
    peer: MaybeAddress = ""
    """The address of the peer a learned route came from."""
    best: bool = True
    """False for a learned route BIRD holds as a backup, not in the kernel."""


class AgentStateIn(In):
    """What the agent itself is: its release and its last reconcile (the host's clock)."""

    version: str = Field(max_length=64)
    reconciled_at: float | None = None
    """When the last reconcile ended (Unix time); null before the first."""
    revision: int | None = Field(default=None, ge=0)
    """The host-view revision that reconcile enforced."""
    errors: int = Field(default=0, ge=0)
    """How many errors that reconcile had (0: everything applied)."""


class AgentState(Out):
    version: str
    reconciled_at: float | None = None
    revision: int | None = None
    errors: int = 0


class RoutingReportIn(In):
    """What an agent reports about its host's routing (``PUT /v1/hosts/{name}/routing``)."""

    agent: AgentStateIn | None = None
    """The reporting agent (absent from agents before this field existed)."""
    mode: Literal["direct", "bgp"]
    """``bgp`` when its host view carries a BGP plan and its BIRD runs."""
    reported_at: float
    """When the agent read its state (Unix time, the host's clock)."""
    sessions: list[BgpSessionIn] = Field(default_factory=list, max_length=1024)
    routes: list[ReportedRouteIn] = Field(default_factory=list, max_length=65536)
    errors: list[ReportText] = Field(default_factory=list, max_length=16)
    """What the agent could not read (BIRD not answering)."""


class BgpSession(Out):
    name: str
    peer: Address
    peer_as: int
    peer_name: str = ""
    state: str
    info: str = ""
    since: str = ""


class ReportedRoute(Out):
    dst: CIDR
    via: str
    source: str
    protocol: str = ""
    peer: str = ""
    best: bool = True


class RoutingReport(Out):
    """A host's latest routing report, as romanad stored it."""

    host: str
    agent: AgentState | None = None
    mode: str
    reported_at: float
    received_at: float
    """When romanad stored it (Unix time, romanad's clock)."""
    age: float
    """Seconds since romanad stored it, at the time of the answer."""
    sessions: list[BgpSession]
    routes: list[ReportedRoute]
    errors: list[str] = Field(default_factory=list)
