"""romanad's REST API, version 1: the addresses it hands out (docs/api.md, "IPAM" and its
"Docker pools", "External addresses and egress NAT" and "VIPs").

Allocations of romana addresses and the decoding of one, the bindings of Docker networks'
pools, external pools and the external IPs assigned from them, VIPs and their leases, and each
network's egress NAT setting. The base models, the names and the checks of answers are those of
:mod:`romana.wire.rest`.

Invariants:

* As in :mod:`romana.wire.rest`: request models forbid unknown fields, answer models ignore
  them, and a field the services check against a pattern carries that very pattern, imported
  from :mod:`romana.core`.
* :class:`Allocation` and :class:`Decoded` declare the fields of the standard-library shapes
  of :mod:`romana.wire.light` that the client reads them with, in the same order.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from romana.core import dockerpools, external, ipam, tenancy, vips
from romana.wire.rest import HostName, In, IPAddress, Name, NetworkName, Out
from romana.wire.validate import CIDR, Address

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
