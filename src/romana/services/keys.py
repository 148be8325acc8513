"""The persisted key schema, version 1: every key the services read or write.

Rules: only back-compatible changes here (new keys, new optional JSON fields). A breaking
change gets a new module and a migration. Values are UTF-8 JSON unless noted.

``/romana/v1/topology``                                   topology state (networks, groups, hosts)
``/romana/v1/blackouts/<network>``                        JSON list of CIDRs never handed out
``/romana/v1/tenants/<tenant>``                           tenant JSON (ids per network, segments)
``/romana/v1/tenant-ids/<network>/<id>``                  tenant name holding that id
``/romana/v1/ipam/keys/<key>``                            allocation JSON
``/romana/v1/ipam/addr/<network>/<host>/<tenant>/<segment>/<ordinal>``  allocation key
``/romana/v1/ipam/moved/<key>``                           an allocation living on another host
                                                          than its addresses encode (JSON: key,
                                                          host, origin, tenant, addresses); every
                                                          host's route plan depends on these
``/romana/v1/policies/<name>``                            a global policy's JSON (id ``<name>``)
``/romana/v1/policies/<tenant>/<name>``                   JSON of a policy tenant ``<tenant>`` owns
                                                          (id ``<tenant>/<name>``; see
                                                          :mod:`romana.core.policy.ids`)
``/romana/v1/policy-generation``                          bumped on every policy change
``/romana/v1/address-sets/<name>``                        members of a label-selector set (JSON)
``/romana/v1/address-set-owners/<name>``                  the user name (JSON string) of the
                                                          ``openstack`` user that created the set
``/romana/v1/kube/namespaces``                            Kubernetes namespaces (JSON list)
``/romana/v1/kube/pods/<namespace>``                      that namespace's pods (JSON list)
``/romana/v1/kube/networkpolicies/<namespace>``           its NetworkPolicies (JSON list)
``/romana/v1/kube/clusternetworkpolicies``                the ClusterNetworkPolicies (JSON list)
``/romana/v1/kube/derived``                               what syncs derived from them: policy
                                                          ids, set names, the segment label
``/romana/v1/quotas/defaults``                            quota defaults an admin set (JSON object
                                                          of policies, allocations, segments)
``/romana/v1/quotas/tenants/<tenant>``                    that tenant's overrides (same shape,
                                                          only the quotas it overrides)
``/romana/v1/usage/<tenant>/allocations/<n>``             one of the tenant's allocation counters
                                                          (JSON integer); their sum is how many
                                                          allocations the tenant holds
``/romana/v1/docker-pools/<pool>``                        a Docker network's pool binding (JSON:
                                                          pool, tenant, segment, network,
                                                          docker_network, host)
``/romana/v1/external/pools/<name>``                      an external address pool (JSON: name,
                                                          cidrs, group)
``/romana/v1/external/ips/<address>``                     an external IP's assignment (JSON:
                                                          address, pool, key, tenant); the address
                                                          in its compressed form
``/romana/v1/external/by-key/<key>``                      the external IPs assigned to allocation
                                                          ``<key>`` (JSON list of addresses), which
                                                          its release deletes with them
``/romana/v1/external/nat/<network>``                     the network's egress NAT setting (JSON:
                                                          network, mode, tenants, no_nat); absent:
                                                          NAT on, no no-NAT CIDRs
``/romana/v1/vips/<name>``                                a VIP (JSON: name, address, pool,
                                                          endpoints); its address is reserved
                                                          at ``external/ips/<address>`` (JSON:
                                                          address, pool, vip; key and tenant
                                                          empty)
``/romana/v1/vip-leases/<name>``                          the VIP's lease (JSON: vip, host,
                                                          expires, term), rewritten at every
                                                          renewal
``/romana/v1/vip-holders/<name>``                         who holds the VIP (JSON: host, term),
                                                          written only when the lease's holder
                                                          or term changes, so that what watches
                                                          it wakes on takeovers only
``/romana/v1/routing/<host>``                             the host agent's latest routing report
                                                          (JSON: BGP sessions, routes and where
                                                          each came from, times; see
                                                          :mod:`romana.services.routing`)
``/romana/v1/registry/<service>/<instance>``              registered service instance
``/romana/v1/auth/users/<name>``                          user (role, tenant and its uid, scrypt
                                                          hash, token generation)
``/romana/v1/auth/signing-key``                           token signing keys (current, rotated-out)
``/romana/probe/<instance>``                              readiness probe writes (outside v1, so no
                                                          watch of ``/romana/v1/`` ever sees them)

Numeric path parts are zero-padded so that key order is numeric order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from romana.core.addressing import IPAddress
from romana.core.identifiers import AllocationKey, NetworkName, TenantName

ROOT = "/romana/v1/"
TOPOLOGY = ROOT + "topology"
BLACKOUTS = ROOT + "blackouts/"
TENANTS = ROOT + "tenants/"
TENANT_IDS = ROOT + "tenant-ids/"
IPAM_KEYS = ROOT + "ipam/keys/"
IPAM_ADDR = ROOT + "ipam/addr/"
IPAM_MOVED = ROOT + "ipam/moved/"
POLICIES = ROOT + "policies/"
ADDRESS_SETS = ROOT + "address-sets/"
ADDRESS_SET_OWNERS = ROOT + "address-set-owners/"
KUBE = ROOT + "kube/"
KUBE_NAMESPACES = KUBE + "namespaces"
KUBE_PODS = KUBE + "pods/"
KUBE_POLICIES = KUBE + "networkpolicies/"
KUBE_CLUSTER_POLICIES = KUBE + "clusternetworkpolicies"
KUBE_DERIVED = KUBE + "derived"
QUOTAS = ROOT + "quotas/"
QUOTA_DEFAULTS = QUOTAS + "defaults"
QUOTA_TENANTS = QUOTAS + "tenants/"
USAGE = ROOT + "usage/"
DOCKER_POOLS = ROOT + "docker-pools/"
EXTERNAL = ROOT + "external/"
EXTERNAL_POOLS = EXTERNAL + "pools/"
EXTERNAL_IPS = EXTERNAL + "ips/"
EXTERNAL_BY_KEY = EXTERNAL + "by-key/"
EXTERNAL_NAT = EXTERNAL + "nat/"
VIPS = ROOT + "vips/"
VIP_LEASES = ROOT + "vip-leases/"
VIP_HOLDERS = ROOT + "vip-holders/"
ROUTING = ROOT + "routing/"
REGISTRY = ROOT + "registry/"
AUTH = ROOT + "auth/"
USERS = AUTH + "users/"
PROBES = "/romana/probe/"

_Name = TypeVar("_Name", bound=str)


def n(value: int) -> str:
    """Zero-padded decimal so lexical order equals numeric order."""
    return f"{value:010d}"


@dataclass(frozen=True, slots=True)
class Child(Generic[_Name]):
    """The keys one level under ``prefix``: ``child(name)`` is ``prefix + name``. The type
    parameter is the name type that ends them, so that mypy still tells a tenant from a
    network."""

    prefix: str

    def __call__(self, name: _Name) -> str:
        return self.prefix + name


tenant: Child[TenantName] = Child(TENANTS)
blackouts: Child[NetworkName] = Child(BLACKOUTS)
alloc_key: Child[AllocationKey] = Child(IPAM_KEYS)
moved: Child[AllocationKey] = Child(IPAM_MOVED)
quota: Child[TenantName] = Child(QUOTA_TENANTS)
policy: Child[str] = Child(POLICIES)
"""A policy's key, by its id: an owned id's tenant is a path part of its key."""
address_set: Child[str] = Child(ADDRESS_SETS)
address_set_owner: Child[str] = Child(ADDRESS_SET_OWNERS)
"""The key of the set's recorded owner (outside the sets' prefix, which agents watch)."""
docker_pool: Child[str] = Child(DOCKER_POOLS)
external_pool: Child[str] = Child(EXTERNAL_POOLS)
external_by_key: Child[AllocationKey] = Child(EXTERNAL_BY_KEY)
"""The key listing the external IPs assigned to an allocation, by the allocation's key."""
external_nat: Child[NetworkName] = Child(EXTERNAL_NAT)
vip: Child[str] = Child(VIPS)
vip_lease: Child[str] = Child(VIP_LEASES)
vip_holder: Child[str] = Child(VIP_HOLDERS)
routing: Child[str] = Child(ROUTING)
"""The key of a host's routing report."""


def tenant_id(network: NetworkName, tid: int) -> str:
    return f"{TENANT_IDS}{network}/{n(tid)}"


def tenant_ids(network: NetworkName) -> str:
    return f"{TENANT_IDS}{network}/"


def addr_slot(network: NetworkName, host: int, tenant_id_: int, segment: int) -> str:
    """Prefix of every address key in one (network, host, tenant, segment) slot."""
    return f"{IPAM_ADDR}{network}/{n(host)}/{n(tenant_id_)}/{n(segment)}/"


def addr(network: NetworkName, host: int, tenant_id_: int, segment: int, ordinal: int) -> str:
    return addr_slot(network, host, tenant_id_, segment) + n(ordinal)


def addr_network(network: NetworkName) -> str:
    return f"{IPAM_ADDR}{network}/"


def addr_host(network: NetworkName, host: int) -> str:
    return f"{IPAM_ADDR}{network}/{n(host)}/"


def parse_addr(key: str) -> tuple[NetworkName, int, int, int, int]:
    """(network, host, tenant id, segment id, ordinal) of an address key."""
    network, host, tid, seg, ordinal = key[len(IPAM_ADDR) :].split("/")
    return NetworkName(network), int(host), int(tid), int(seg), int(ordinal)


def allocation_counters(tenant_: TenantName) -> str:
    """The prefix of the tenant's allocation counters (``romana.services.quotas``)."""
    return f"{USAGE}{tenant_}/allocations/"


def tenant_policies(tenant: TenantName) -> str:
    """Prefix of every policy ``tenant`` owns (none of a global policy's keys starts so)."""
    return f"{POLICIES}{tenant}/"


def external_ip(address: IPAddress) -> str:
    """The key of an external IP: ``str`` of an address is its compressed form."""
    return EXTERNAL_IPS + str(address)
