"""romanad's whole model, and what a name given to ``romana explain`` stands for in it.

:class:`Model` is every stored value the rulesets of all hosts depend on — networks, hosts
with their prefixes and gateways, tenants with their isolation, the stored policies and
address sets — plus what names endpoints: the IPAM allocations and the Kubernetes objects a
sync stored. :func:`addresses` turns a name into addresses and :func:`locate` one address
into an :class:`Endpoint` through the address plan.

A name is one of: an IP address (anywhere: inside a network it need not be allocated; outside
every network it is an *outside* address, as an ipBlock or cidr peer sees it), an
allocation key, or ``NAMESPACE/POD``. The three forms cannot be confused by their syntax
alone — an allocation key may look like an address — so a name that means two different
things is refused as ambiguous, never guessed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from romana.core import addressing, external, ipam, tenancy
from romana.core.errors import InvalidInput, NotFound
from romana.core.kubernetes import networkpolicy
from romana.core.kubernetes import objects as ko

FORMS = "give an IP address, an allocation key or NAMESPACE/POD"
NO_KUBE = (
    "romanad holds no Kubernetes objects (run romana-listener, or `romana policy apply -f "
    "FILE`, first)"
)


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    prefixes: tuple[tuple[addressing.IPNetwork, addressing.IPAddress], ...]
    """(host prefix, gateway) in each network the host is in."""


@dataclass(frozen=True, slots=True)
class Model:
    layouts: Mapping[str, addressing.Layout]
    hosts: tuple[Host, ...]
    tenants: tuple[tenancy.Tenant, ...]
    policies: tuple[Mapping[str, Any], ...] = ()
    """The stored policy documents, unparsed (as the agents get them)."""
    address_sets: Mapping[str, tuple[addressing.IPNetwork, ...]] = field(default_factory=dict)
    allocations: tuple[ipam.Allocation, ...] = ()
    namespaces: tuple[ko.Namespace, ...] = ()
    pods: tuple[ko.Pod, ...] = ()
    networkpolicies: tuple[networkpolicy.NetworkPolicy, ...] = ()
    clusternetworkpolicies: tuple[ko.ClusterNetworkPolicy, ...] = ()
    externals: tuple[tuple[addressing.IPAddress, addressing.IPAddress], ...] = ()
    """(external address, romana address of the same family) of every endpoint that holds
    an external IP, on any host."""
    nat: tuple[external.EgressNat, ...] | None = None
    """Each network's egress NAT setting (a network without one has the default, on);
    None: not known (the reader may not read them), so explain says nothing of NAT."""
    pools: tuple[addressing.IPNetwork, ...] = ()
    """Every external pool's CIDRs (inside the cluster: never NATed to)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of the question: an address and what the model says it is."""

    given: str
    address: addressing.IPAddress
    network: str | None = None
    """None: outside every romana network."""
    host: str | None = None
    """The host whose prefix holds the address; None outside, or when no host has it."""
    tenant_id: int | None = None
    tenant: tenancy.Tenant | None = None
    segment_id: int | None = None
    segment: str | None = None
    gateway: bool = False
    allocation: str | None = None
    pod: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """How to call the endpoint in a sentence: its pod, its allocation or its address."""
        return self.pod or self.allocation or str(self.address)

    @property
    def isolation(self) -> tenancy.Isolation | None:
        return self.tenant.isolation if self.tenant is not None else None

    @property
    def tenancy(self) -> str:
        """``tenant blue (romana, segments isolated), segment web``, or what stands instead."""
        if self.tenant is not None:
            return f"tenant {self.tenant.name} ({self.tenant.isolation}), segment {self.segment}"
        if self.tenant_id == addressing.INFRASTRUCTURE_TENANT:
            return "infrastructure (tenant 0)"
        return f"tenant id {self.tenant_id} in network {self.network} (no tenant holds it)"

    def __str__(self) -> str:
        if self.network is None:
            return f"{self.address}: outside every romana network"
        if self.gateway:
            return f"{self.address}: gateway of host {self.host} (infrastructure)"
        names = [f"pod {self.pod}"] if self.pod else []
        names += [f"allocation {self.allocation}"] if self.allocation else []
        where = f"host {self.host}" if self.host else "no host"
        return f"{self.address}: {', '.join([*names, where, self.tenancy])}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "given": self.given,
            "address": str(self.address),
            "network": self.network,
            "host": self.host,
            "tenant": self.tenant.name if self.tenant is not None else None,
            "tenant_id": self.tenant_id,
            "isolation": self.isolation.to_dict() if self.isolation is not None else None,
            "segment": self.segment,
            "segment_id": self.segment_id,
            "gateway": self.gateway,
            "allocation": self.allocation,
            "pod": self.pod,
            "notes": list(self.notes),
        }


def addresses(model: Model, given: str) -> tuple[addressing.IPAddress, ...]:
    """The addresses ``given`` names; NotFound or InvalidInput naming it and the forms."""
    text = given.strip()
    meanings: dict[str, tuple[addressing.IPAddress, ...]] = {}
    with contextlib.suppress(ValueError):
        meanings["an address"] = (ipaddress.ip_address(text),)
    for alloc in model.allocations:
        if alloc.key == text:
            meanings["an allocation key"] = alloc.addresses
    if "/" in text:
        for pod in model.pods:
            if pod.key == text:
                meanings["a pod"] = pod.ips
    if not meanings:
        raise NotFound(f"{_missing(model, text)}; {FORMS}")
    if len(set(meanings.values())) > 1:
        what = "; ".join(f"{m} ({', '.join(map(str, a))})" for m, a in sorted(meanings.items()))
        raise InvalidInput(f"{given!r} is ambiguous: it is {what}; name the endpoint otherwise")
    found = next(iter(meanings.values()))
    if not found:
        raise InvalidInput(f"{given!r} is {next(iter(meanings))} that holds no address yet")
    return found


def _missing(model: Model, text: str) -> str:
    if "/" not in text:
        return f"no endpoint {text!r}: it is neither an address nor an allocation key"
    if not model.pods and not model.namespaces:
        return f"no pod {text!r}: {NO_KUBE}"
    namespace = text.partition("/")[0]
    known = {n.name for n in model.namespaces} | {p.namespace for p in model.pods}
    if namespace not in known:
        return f"no pod {text!r}: romanad holds no namespace {namespace!r}"
    return f"no pod {text!r} in romanad's Kubernetes objects"


def locate(model: Model, given: str, address: addressing.IPAddress) -> Endpoint:
    """``address`` (named ``given``) placed by the address plan, with what holds it.

    An endpoint's external address is placed as its romana address (network, host, tenant,
    segment, what holds it) and keeps its own :attr:`Endpoint.address`: the rulesets judge
    it as the romana address."""
    romana = next((a for e, a in model.externals if e == address), None)
    if romana is not None:
        placed = _locate(model, given, romana)
        note = f"external IP of {romana}"
        return dataclasses.replace(placed, address=address, notes=(note, *placed.notes))
    return _locate(model, given, address)


def _locate(model: Model, given: str, address: addressing.IPAddress) -> Endpoint:
    allocation = next((a.key for a in model.allocations if address in a.addresses), None)
    pod = next((p.key for p in model.pods if address in p.ips and not p.host_network), None)
    lay = next(
        (
            lay
            for lay in model.layouts.values()
            if lay.version == address.version and address in lay.cidr
        ),
        None,
    )
    if lay is None:
        return Endpoint(given, address, allocation=allocation, pod=pod)
    d = addressing.decode(lay, address)
    host = next(
        (
            h.name
            for h in model.hosts
            for prefix, _ in h.prefixes
            if prefix.version == address.version and address in prefix
        ),
        None,
    )
    tenant = next((t for t in model.tenants if t.ids.get(lay.name) == d.tenant), None)
    if d.tenant == addressing.INFRASTRUCTURE_TENANT:
        tenant = None
    segment = None
    if tenant is not None:
        segment = next((s for s, sid in tenant.segments.items() if sid == d.segment), None)
    gateway = any(address == gw for h in model.hosts for _, gw in h.prefixes)
    notes = []
    if host is None:
        notes.append(f"no host holds host prefix {d.host_prefix} (host index {d.host})")
    if tenant is not None and segment is None:
        notes.append(f"tenant {tenant.name} has no segment with id {d.segment}")
    if not gateway and allocation is None and pod is None:
        notes.append("not allocated: no endpoint holds this address now")
    return Endpoint(
        given,
        address,
        network=lay.name,
        host=host,
        tenant_id=d.tenant,
        tenant=tenant,
        segment_id=d.segment,
        segment=segment,
        gateway=gateway,
        allocation=allocation,
        pod=pod,
        notes=tuple(notes),
    )
