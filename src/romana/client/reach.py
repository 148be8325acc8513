"""romanad's whole model over the REST API, for ``romana explain`` and the demo.

:func:`model` reads networks, hosts, tenants (with their isolation), the stored policies
and address sets, every allocation and the stored Kubernetes objects, and gives them as the
:class:`romana.core.policy.endpoints.Model` that :class:`romana.core.policy.reach.Explainer`
answers from — the same values the agents compile their rulesets from.

The reads are those of :class:`Reader`, which :class:`romana.client.http.Client` is; romanad's
web view (:mod:`romana.api.ui`) hands its own reader, which answers from the same route
handlers, so the view's answers are ``romana explain``'s.

An answer is right only on the *whole* model: one tenant's policy can open another tenant's
endpoints, and an address set can name anyone. A caller who may not read all of it (a
tenant user reads its own tenant's objects, and no networks, hosts or address sets) gets
:class:`Forbidden` saying so, never an answer computed from the part it could see.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from romana.core import addressing, external, ipam, tenancy
from romana.core.errors import Forbidden, InvalidInput
from romana.core.identifiers import AllocationKey, HostName, SegmentName, TenantName
from romana.core.kubernetes import networkpolicy
from romana.core.kubernetes import objects as ko
from romana.core.policy import endpoints

T = TypeVar("T")

WHOLE = (
    "romana explain needs romanad's whole model (every network, host, tenant, policy, "
    "address set and allocation): log in as an admin, service or agent user"
)


class Reader(Protocol):
    """The REST API's reads the model is built from, each as romanad answers it (and raising
    :class:`Forbidden` as it refuses)."""

    def list_networks(self) -> list[dict[str, Any]]: ...
    def list_hosts(self) -> list[dict[str, Any]]: ...
    def list_tenants(self) -> list[dict[str, Any]]: ...
    def list_policies(self) -> list[dict[str, Any]]: ...
    def list_address_sets(self) -> list[dict[str, Any]]: ...
    def list_allocations(self) -> list[dict[str, Any]]: ...
    def kube_objects(self) -> dict[str, Any]: ...
    def list_external_ips(self) -> list[dict[str, Any]]: ...
    def list_egress_nat(self) -> list[dict[str, Any]]: ...
    def list_external_pools(self) -> list[dict[str, Any]]: ...


def model(client: Reader) -> endpoints.Model:
    """Everything the answers depend on, read with ``client``'s credentials."""
    networks = _whole(client.list_networks)
    hosts = _whole(client.list_hosts)
    tenants = _whole(client.list_tenants)
    policies = _whole(client.list_policies)
    sets = _whole(client.list_address_sets)
    allocations = _whole(client.list_allocations)
    kube = _whole(client.kube_objects)
    nat, pools, externals = _edge(client, allocations)
    try:
        layouts = {
            n["name"]: addressing.layout(
                n["name"], n["cidr"], n["tenant_bits"], n["segment_bits"], n["endpoint_bits"]
            )
            for n in networks
        }
        return endpoints.Model(
            layouts=layouts,
            hosts=tuple(_host(h) for h in hosts),
            tenants=tuple(tenancy.Tenant.from_dict(t) for t in tenants),
            policies=tuple(policies),
            address_sets={
                s["name"]: tuple(ipaddress.ip_network(m, strict=False) for m in s["members"])
                for s in sets
            },
            allocations=tuple(_allocation(a) for a in allocations),
            namespaces=tuple(_kube(kube["namespaces"], ko.Namespace, "namespaces")),
            pods=tuple(_kube(kube["pods"], ko.Pod, "pods")),
            networkpolicies=tuple(
                _kube(kube["networkpolicies"], networkpolicy.NetworkPolicy, "networkpolicies")
            ),
            clusternetworkpolicies=tuple(
                _kube(
                    kube.get("clusternetworkpolicies", []),
                    ko.ClusterNetworkPolicy,
                    "clusternetworkpolicies",
                )
            ),
            externals=externals,
            nat=nat,
            pools=pools,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"romanad's model is malformed: {exc!r}") from exc


Pair = tuple[addressing.IPAddress, addressing.IPAddress]


def _edge(
    client: Reader, allocations: list[Any]
) -> tuple[
    tuple[external.EgressNat, ...] | None, tuple[addressing.IPNetwork, ...], tuple[Pair, ...]
]:
    """Egress NAT settings, external pools and (external, romana) address pairs. Only an
    admin (or the service role) reads them all: for others the answer says nothing of NAT
    (None) and knows no external IP."""
    by_key = {str(a["key"]): [ipaddress.ip_address(x) for x in a["addresses"]] for a in allocations}
    pairs: list[Pair] = []
    try:
        assigned = client.list_external_ips()
    except Forbidden:
        return None, (), ()
    for item in assigned:
        address = ipaddress.ip_address(item["address"])
        romana = addressing.of_version(by_key.get(str(item.get("key") or ""), []), address.version)
        if romana is not None:
            pairs.append((address, romana))
    try:
        nat = tuple(external.EgressNat.from_dict(n) for n in client.list_egress_nat())
        pools = tuple(
            ipaddress.ip_network(c) for p in client.list_external_pools() for c in p["cidrs"]
        )
    except Forbidden:
        return None, (), tuple(pairs)
    return nat, pools, tuple(sorted(pairs, key=lambda p: (p[0].version, int(p[0]))))


def _whole(read: Callable[[], T]) -> T:
    try:
        return read()
    except Forbidden as exc:
        raise Forbidden(f"{WHOLE} ({exc})") from exc


def _host(raw: Mapping[str, Any]) -> endpoints.Host:
    prefixes = dict(raw.get("prefixes") or {})
    gateways = dict(raw.get("gateways") or {})
    return endpoints.Host(
        str(raw["name"]),
        tuple(
            (ipaddress.ip_network(prefixes[n]), ipaddress.ip_address(gateways[n]))
            for n in sorted(prefixes)
            if n in gateways
        ),
    )


def _allocation(raw: Mapping[str, Any]) -> ipam.Allocation:
    return ipam.Allocation(
        key=AllocationKey(str(raw["key"])),
        host=HostName(str(raw["host"])),
        tenant=TenantName(str(raw["tenant"])),
        segment=SegmentName(str(raw["segment"])),
        # An address may come with its prefix length; the endpoint is the address.
        addresses=tuple(ipaddress.ip_interface(a).ip for a in raw["addresses"]),
    )


K = TypeVar("K")


def _kube(items: list[dict[str, Any]], kind: type[K], field: str) -> list[K]:
    out: list[K] = []
    for i, item in enumerate(items):
        try:
            parsed = ko.parse(item)
        except InvalidInput as exc:
            raise InvalidInput(f"romanad's stored {field}[{i}]: {exc}") from exc
        if isinstance(parsed, kind):
            out.append(parsed)
    return out
