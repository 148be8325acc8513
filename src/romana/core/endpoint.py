"""One endpoint, as every front end and the agent speak of it: values and the port.

An endpoint is one attachment of a workload to a romana network, named by
``(container_id, ifname)``; its key ``<container_id>:<ifname>`` is also its allocation key in
romanad. It is attached one of three ways (:data:`ATTACHMENTS`): ``veth``, a pair the agent
makes from the host into the workload's network namespace ``netns`` (CNI); ``tap``, a
device someone else made in the host namespace (Nova's ``tap`` + 11 characters of the Neutron
port id, :func:`tap_name`), which the agent wires but never creates, deletes or releases; a
tap endpoint has no ``netns``, its ``container_id`` is the port id and its ``ifname`` the
tap; or ``docker``, a pair the agent makes with both ends in the host namespace for Docker's
libnetwork to move the workload end (``ifname``, :func:`docker_ifname`) into the sandbox at
``netns`` (:func:`is_docker_id`). Tap and docker endpoints use an allocation made before
their ADD, which DEL never releases (:data:`HELD`). This module holds the only shapes of it:

* :class:`EndpointRequest`: what a front end asks the agent to wire (CNI ADD and its like);
* :class:`EndpointRecord`: what the agent recorded of an endpoint it made or is making;
* :class:`Endpoint`: the agent's answer for one endpoint (ADD, CHECK, the list);
* :class:`GcRequest`, :class:`GcAnswer` and :class:`Readiness` for GC and STATUS;

and :class:`EndpointPort`, the use cases the agent offers every front end: the CNI plugin it
hosts calls it directly; the local API (:mod:`romana.agent.localapi`) maps HTTP onto it; the
plugin started as a process reaches it through a socket client that implements it too. How
these values travel as JSON is :mod:`romana.core.endpointwire`.

Standard library only, and importable by the CNI plugin, which may import no other core
module but the error tree: nothing here touches the host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Protocol, TypeVar

E = TypeVar("E", bound=Exception)
DEFAULT_SEGMENT = "default"
ALLOCATING = "allocating"
"""A record written before its allocation is requested: the key is known if the agent dies."""
READY = "ready"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MIN_MTU, MAX_MTU = 68, 65535
"""The MTUs the kernel accepts on a veth (IPv4); a request outside them is refused."""


VETH, TAP, DOCKER = "veth", "tap", "docker"
ATTACHMENTS = (VETH, TAP, DOCKER)
HELD = (TAP, DOCKER)
"""Attachments whose allocation a front end made under the endpoint's key before the ADD
(Neutron's IPAM driver, the Docker plugin's IPAM): their ADD never allocates and their DEL
never releases."""
TAP_PREFIX = "tap"
TAP_ID_CHARS = 11
"""Nova names a port's tap ``tap`` + the first 11 characters of the port id (IFNAMSIZ)."""
DOCKER_ID_PREFIX = "docker-"
DOCKER_ID_HEX = 24
DOCKER_IFNAME_PREFIX = "rdk"
DOCKER_IFNAME_HEX = 11
"""A docker endpoint is ``docker-`` + 24 lowercase hex digits; its workload end, while it is
in the host namespace, ``rdk`` + the first 11 of them."""


def at_field(exc: E, field: str) -> E:
    """Name the request member ``exc`` is about (its problem answer's ``field``)."""
    exc.problem_field = field  # type: ignore[attr-defined]
    return exc


def endpoint_key(container_id: str, ifname: str) -> str:
    """The allocation key and endpoint id of one attachment."""
    return f"{container_id}:{ifname}"


def tap_name(port_id: str) -> str:
    """The name Nova gives the tap of a Neutron port."""
    return TAP_PREFIX + port_id[:TAP_ID_CHARS]


def is_tap_name(name: str) -> bool:
    """True for names :func:`tap_name` can produce (``tap`` + 11 characters)."""
    return (
        len(name) == len(TAP_PREFIX) + TAP_ID_CHARS
        and name.startswith(TAP_PREFIX)
        and all(c.isalnum() or c == "-" for c in name)
    )


def is_docker_id(container_id: str) -> bool:
    """True for ``docker-`` + 24 lowercase hex digits, a docker endpoint's ``container_id``."""
    digits = container_id.removeprefix(DOCKER_ID_PREFIX)
    return (
        container_id.startswith(DOCKER_ID_PREFIX)
        and len(digits) == DOCKER_ID_HEX
        and all(c in "0123456789abcdef" for c in digits)
    )


def docker_ifname(container_id: str) -> str:
    """The name of a docker endpoint's workload end while it is in the host namespace."""
    return DOCKER_IFNAME_PREFIX + container_id.removeprefix(DOCKER_ID_PREFIX)[:DOCKER_IFNAME_HEX]


def is_docker_endpoint(container_id: str, ifname: str) -> bool:
    """True when ``(container_id, ifname)`` names a docker endpoint."""
    return is_docker_id(container_id) and ifname == docker_ifname(container_id)


@dataclass(frozen=True, slots=True)
class EndpointRequest:
    """An endpoint to wire: identity, where, whose, and the workload's labels.

    Values of this type come out of :func:`romana.core.endpointwire.parse_request` (or are
    built by code that already holds checked values), so a port receives a valid request."""

    container_id: str
    ifname: str
    netns: str
    tenant: str
    segment: str = DEFAULT_SEGMENT
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = ""
    k8s: Mapping[str, str] = field(default_factory=dict)
    """The Kubernetes identity (``namespace``, ``pod``, ``pod_uid``) when there is one."""
    mtu: int | None = None
    """The MTU asked for; None leaves it to the agent."""
    attachment: str = VETH
    """:data:`VETH` (a pair into ``netns``), :data:`TAP` (the existing device ``ifname``) or
    :data:`DOCKER` (a pair in the host namespace whose ``ifname`` end docker moves into the
    sandbox ``netns``)."""

    @property
    def key(self) -> str:
        return endpoint_key(self.container_id, self.ifname)


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """One attachment the agent made (or is making) on its host: the request, and what came
    of it. The agent's registry keeps these on disk."""

    container_id: str
    ifname: str
    netns: str
    tenant: str
    segment: str
    network: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    k8s: Mapping[str, str] = field(default_factory=dict)
    mtu: int | None = None
    """The MTU the request asked for; None means the host's endpoint MTU."""
    addresses: tuple[IPAddress, ...] = ()
    state: str = ALLOCATING
    created_at: float = 0.0
    """Unix time the ADD began; GC spares endpoints younger than its grace period."""
    mac: str = ""
    """MAC of the interface inside the workload, kept across repairs; '' until wired."""
    host_mac: str = ""
    attachment: str = VETH
    """As in the request; records written before taps existed are veths."""

    @classmethod
    def of(cls, request: EndpointRequest, created_at: float) -> EndpointRecord:
        """The record of ``request`` before its allocation (state ``allocating``): every
        member of the request, the label maps copied."""
        asked = {f.name: getattr(request, f.name) for f in fields(request)}
        asked.update(labels=dict(request.labels), k8s=dict(request.k8s))
        return cls(**asked, created_at=created_at)

    @property
    def key(self) -> str:
        return endpoint_key(self.container_id, self.ifname)

    @property
    def is_tap(self) -> bool:
        return self.attachment == TAP

    @property
    def is_docker(self) -> bool:
        return self.attachment == DOCKER

    def ready(self, addresses: tuple[IPAddress, ...]) -> EndpointRecord:
        return replace(self, addresses=addresses, state=READY)


@dataclass(frozen=True, slots=True)
class Address:
    """One address of the endpoint, CIDR (``/32``, ``/128``), and its family's gateway."""

    address: str
    gateway: str = ""


@dataclass(frozen=True, slots=True)
class Interface:
    """One end of the endpoint's veth pair, as the CNI result lists it."""

    name: str
    mac: str
    mtu: int | None = None
    sandbox: str = ""
    """The workload's network namespace path; empty for the host end."""


@dataclass(frozen=True, slots=True)
class Route:
    """A route inside the workload; the optional members are CNI 1.1's."""

    dst: str
    gw: str = ""
    mtu: int | None = None
    advmss: int | None = None
    priority: int | None = None
    table: int | None = None
    scope: int | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The agent's answer for one endpoint: one address per family, both veth ends, the
    routes inside. ``problems`` is CHECK's list (None on any other answer)."""

    container_id: str
    ifname: str
    netns: str
    network: str
    tenant: str
    segment: str
    addresses: tuple[Address, ...]
    interface: Interface
    host_interface: Interface
    routes: tuple[Route, ...] = ()
    mtu: int | None = None
    problems: tuple[str, ...] | None = None

    def gateway(self, version: int) -> str:
        """The gateway of the endpoint's IPv``version`` address; '' when it has none."""
        for address in self.addresses:
            if ipaddress.ip_interface(address.address).version == version:
                return address.gateway
        return ""


@dataclass(frozen=True, slots=True)
class GcRequest:
    """Release every endpoint of ``network`` whose (container_id, ifname) is not ``valid``."""

    network: str
    valid: frozenset[tuple[str, str]]
    attachment: str = ""
    """Only endpoints of this attachment (:data:`ATTACHMENTS`); empty: every one a runtime's
    GC judges."""


@dataclass(frozen=True, slots=True)
class GcAnswer:
    released: tuple[tuple[str, str], ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Readiness:
    """STATUS: ready, or the problem slug (not-ready, exhausted, limited-connectivity) and why."""

    ready: bool
    slug: str = ""
    detail: str = ""


class EndpointPort(Protocol):
    """The endpoint use cases of the agent, as every front end calls them.

    Errors are :mod:`romana.core.errors` classes, carrying ``problem_field`` (the request
    member at fault) where one is; their meaning per call is the local API contract
    (:mod:`romana.integrations.cni.agentapi`)."""

    async def add(self, request: EndpointRequest) -> Endpoint:
        """Allocate and wire the endpoint; idempotent per key."""
        ...

    async def delete(self, container_id: str, ifname: str) -> bool:
        """Cut the endpoint off and release it; whether anything was recorded. Never fails
        because the endpoint is already gone."""
        ...

    async def check(self, container_id: str, ifname: str) -> Endpoint:
        """The endpoint with ``problems``: every difference from what ADD made."""
        ...

    async def gc(self, request: GcRequest) -> GcAnswer: ...

    async def status(self, tenant: str | None, segment: str | None) -> Readiness: ...
