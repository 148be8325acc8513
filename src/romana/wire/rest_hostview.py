"""romanad's REST API, version 1: the route plan and the host view (docs/api.md).

``GET /v1/hosts/{name}/view`` is everything one agent needs, at one store revision:
:class:`HostView`. :mod:`romana.services.hostview` builds it, the API serves it with this
model, and the agent reads it with this model (:func:`romana.agent.view.parse`), so the
three agree on every field by construction.

Invariants:

* The server always sends every field. ``address_sets``, ``skipped_routes`` and
  ``policy_tenants`` came later within v1, so a reader takes a view without them (an earlier
  romanad) as one without address sets, without skipped prefixes and carrying every
  tenant's policies (``policy_tenants`` None); the OpenAPI document still lists them as
  always present, which is what this server does.
* Addresses and prefixes a reader turns into values (the host's, the routes', the address
  set members) are checked to parse as such, so a view that validates can be used whole.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema

from romana.wire.rest import Host, Network, Out, Tenant
from romana.wire.rest_addresses import Allocation
from romana.wire.validate import CIDR, Address


class Route(Out):
    dst: CIDR
    via: Address
    reason: str
    moved_from: str | None = None
    """Set on an exception route: the host whose prefix ``dst`` lies in, and which the
    address has moved away from (``via`` is the host it lives on)."""
    pool: str | None = None
    """Set on the route of an external address: its pool (``via`` is the host holding it)."""


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
    moved_here: list[str] = Field(default_factory=list)
    """Addresses of other hosts' prefixes that live on this host, routed to their endpoints."""


class BgpPeer(Out):
    address: Address
    asn: int
    name: str = ""


class Bgp(Out):
    """What the host's BIRD announces and to whom (:mod:`romana.core.bgpplan`): present
    when the host sits in a topology in ``bgp`` route mode."""

    asn: int
    router_id: Address
    peers: list[BgpPeer]
    prefixes: list[CIDR]
    aggregates: list[CIDR]
    accept: list[CIDR]
    communities: list[Annotated[str, Field(pattern=r"^[0-9]{1,10}(:[0-9]{1,10}){1,2}$")]]
    """Rendered into BIRD's configuration as they are: digits and colons only."""
    hold_time: int
    restart_time: int


class ExternalAddress(Out):
    """An external address held by an endpoint of this host (``docs/external.md``)."""

    address: Address
    pool: str
    key: str
    """The allocation key of the endpoint that holds it."""
    romana: list[Address]
    """That endpoint's romana addresses: its external address is judged as these."""


class EgressNat(Out):
    network: str
    mode: Annotated[str, Field(pattern=r"^(on|off|tenants)$")]
    tenants: list[str]
    no_nat: list[CIDR]


class External(Out):
    """What crosses the edge on this host: every external pool (never masqueraded to, and
    the range of the proxy neighbour entries the agent owns), the external addresses its
    endpoints hold, and each network's egress NAT setting."""

    pools: list[CIDR] = Field(default_factory=list)
    addresses: list[ExternalAddress] = Field(default_factory=list)
    nat: list[EgressNat] = Field(default_factory=list)


class Vip(Out):
    """A VIP (``docs/external.md``): its address, its endpoints' romana addresses of that
    family, the allocation keys of those that live on this host, and the host holding it."""

    name: str
    address: Address
    endpoints: list[Address]
    local: list[str]
    holder: str | None = None


class HostView(Out):
    model_config = ConfigDict(
        extra="ignore", defer_build=True, json_schema_serialization_defaults_required=True
    )

    revision: int
    host: Host
    networks: list[Network]
    routes: list[Route]
    skipped_routes: list[SkippedRoute] = Field(default_factory=list)
    tenants: list[Tenant]
    policies: list[dict[str, Any]]
    address_sets: dict[str, list[CIDR]] = Field(default_factory=dict)
    endpoints: list[Allocation]
    policy_tenants: Annotated[
        list[str] | None, WithJsonSchema({"type": "array", "items": {"type": "string"}})
    ] = None
    """The tenants whose own policies the view carries: those with an endpoint on the host.
    Policies of other tenants are left out; those not owned by one tenant are always in.
    None (absent) from an earlier romanad, whose views carry every tenant's policies."""
    bgp: Bgp | None = None
    """The host's BGP plan; None (absent) in ``direct`` route mode, and from an earlier
    romanad."""
    external: External = Field(default_factory=External)
    """External pools and addresses, and egress NAT (one setting per network, the default
    included); empty (absent) from an earlier romanad: an agent then masquerades nothing,
    since it NATs only networks with a setting."""
    vips: list[Vip] = Field(default_factory=list)
    """Every VIP; empty (absent) from an earlier romanad."""
