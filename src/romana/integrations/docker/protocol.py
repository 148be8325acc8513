"""The libnetwork remote plugin protocol as romana speaks it: request shapes, rules, answers.

Docker's daemon calls a remote driver by POSTing JSON to ``/<Interface>.<Method>`` on the
plugin's Unix socket and reads JSON back; an answer carrying ``Err`` is a failure whose text
docker shows to the user. This module parses each request body into a frozen value (every
problem an :class:`~romana.core.errors.InvalidInput` whose text names the member at fault),
holds the option rules and names of the design (docs: the Docker integration), and builds
the answers. Pure: no I/O; only the standard library and the address plan of the core.

Names: a pool id is ``romana-`` + 24 hex characters (:mod:`romana.core.dockerpools`); an
endpoint's allocation key is ``docker-<hex>:rdk<first 11 of hex>`` for 24 fresh hex
characters, where ``docker-<hex>`` is its container id and ``rdk<11 hex>`` the name of the
container end of its veth while that is in the host namespace (:mod:`romana.core.endpoint`).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from romana.core import addressing, dockerpools, endpoint, tenancy
from romana.core.errors import InvalidInput, NotFound, RomanaError

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
ERR_PREFIX = "romana: "
IPAM_PREFIX = "/IpamDriver."
TENANT_OPTION = "romana.tenant"
SEGMENT_OPTION = "romana.segment"
DOCKER_OPTION_PREFIX = "com.docker."
GENERIC_OPTIONS = "com.docker.network.generic"
ADDRESS_TYPE = "RequestAddressType"
GATEWAY_TYPE = "com.docker.network.gateway"
ADDRESS_SPACE = "romana"
CONNECTED = 1
"""A static route's RouteType: connected (no next hop); 0 would be via NextHop."""
CONTAINER_PREFIX = "eth"


def failure(path: str, message: str) -> dict[str, str]:
    """The answer to a call of ``path`` that failed: docker shows ``message`` to the user as
    it is. The member is ``Err`` for the network driver but ``Error`` for the IPAM driver
    (libnetwork's ``ipams/remote/api``); docker reads neither under the other's name."""
    return {"Error" if path.startswith(IPAM_PREFIX) else "Err": ERR_PREFIX + message}


def err(exc: RomanaError, path: str = "") -> dict[str, str]:
    """The answer to a call of ``path`` that raised ``exc``."""
    return failure(path, str(exc))


def body_of(raw: bytes) -> Mapping[str, Any]:
    """A request body as a JSON object; an empty body is an empty object (Plugin.Activate)."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInput(f"the request body is not JSON ({exc})") from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("the request body must be a JSON object")
    return value


def _text(body: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value


def _object(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be an object")
    return value


def _bare_address(text: str, name: str) -> str:
    """``text`` ("A" or "A/len") as the bare address; InvalidInput naming ``name`` otherwise."""
    try:
        return str(ipaddress.ip_interface(text).ip)
    except ValueError as exc:
        raise InvalidInput(f"{name} {text!r} is not an IP address") from exc


@dataclass(frozen=True, slots=True)
class Choice:
    """The romana options of one Docker network; None where the user gave none."""

    tenant: str | None = None
    segment: str | None = None

    def over(self, other: Choice) -> Choice:
        """These options, ``other``'s where these have none; a clash is InvalidInput."""
        for mine, theirs, name in (
            (self.tenant, other.tenant, TENANT_OPTION),
            (self.segment, other.segment, SEGMENT_OPTION),
        ):
            if mine is not None and theirs is not None and mine != theirs:
                raise InvalidInput(f"{name} is {mine!r} in -o but {theirs!r} in --ipam-opt")
        return Choice(
            self.tenant if self.tenant is not None else other.tenant,
            self.segment if self.segment is not None else other.segment,
        )


def segment_of(options: Choice) -> str:
    """The segment ``options`` name: ``default`` when they name none."""
    return options.segment if options.segment is not None else endpoint.DEFAULT_SEGMENT


def choice(options: Mapping[str, Any]) -> Choice:
    """The romana options among ``options`` (``-o`` or ``--ipam-opt``); docker's own
    (``com.docker.*``) are passed over, any other is refused by name."""
    found: dict[str, str] = {}
    for key, value in sorted(options.items()):
        if key.startswith(DOCKER_OPTION_PREFIX):
            continue
        if key not in (TENANT_OPTION, SEGMENT_OPTION):
            raise InvalidInput(
                f"no such option {key} (romana takes {TENANT_OPTION} and {SEGMENT_OPTION})"
            )
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"option {key} must be a name")
        found[key] = value
    return Choice(found.get(TENANT_OPTION), found.get(SEGMENT_OPTION))


@dataclass(frozen=True, slots=True)
class PoolRequest:
    """IpamDriver.RequestPool: ``subnet`` is docker's ``--subnet`` ("" without one); ``v6``
    for the IPv6 pool of a ``--ipv6`` network, which docker asks for after the IPv4 one."""

    subnet: str
    options: Choice
    v6: bool = False


def pool_request(body: Mapping[str, Any]) -> PoolRequest:
    if _text(body, "SubPool", required=False):
        raise InvalidInput("romana hands out addresses itself: omit --ip-range")
    v6 = body.get("V6", False)
    if not isinstance(v6, bool):
        raise InvalidInput("V6 must be true or false")
    subnet = _text(body, "Pool", required=False)
    return PoolRequest(subnet, choice(_object(body, "Options")), v6)


def pool_id_of(body: Mapping[str, Any]) -> str:
    """The PoolID of a request: one romana made (:mod:`romana.core.dockerpools`)."""
    value = _text(body, "PoolID")
    if not dockerpools.is_pool(value):
        raise InvalidInput(f"PoolID {value!r} is not a romana pool: {dockerpools.POOL_RULE}")
    return value


@dataclass(frozen=True, slots=True)
class AddressRequest:
    """IpamDriver.RequestAddress and ReleaseAddress: ``address`` without its length ("" for
    any address); ``gateway`` when docker asks for the network's gateway."""

    pool_id: str
    address: str
    gateway: bool = False


def address_request(body: Mapping[str, Any]) -> AddressRequest:
    wanted = _text(body, "Address", required=False)
    return AddressRequest(
        pool_id_of(body),
        _bare_address(wanted, "Address") if wanted else "",
        _object(body, "Options").get(ADDRESS_TYPE) == GATEWAY_TYPE,
    )


def address_release(body: Mapping[str, Any]) -> AddressRequest:
    return AddressRequest(pool_id_of(body), _bare_address(_text(body, "Address"), "Address"))


@dataclass(frozen=True, slots=True)
class NetworkCreate:
    """NetworkDriver.CreateNetwork: ``pool`` is the CIDR of its IPv4 pool, ``pool6`` that of
    its IPv6 pool ("" unless ``--ipv6``)."""

    network_id: str
    pool: str
    options: Choice
    pool6: str = ""


def network_create(body: Mapping[str, Any]) -> NetworkCreate:
    pools = body.get("IPv4Data")
    if not isinstance(pools, list) or len(pools) != 1 or not isinstance(pools[0], dict):
        raise InvalidInput("a romana network has exactly one IPv4 pool (IPv4Data)")
    pools6 = body.get("IPv6Data") or []
    if (
        not isinstance(pools6, list)
        or len(pools6) > 1
        or not all(isinstance(p, dict) for p in pools6)
    ):
        raise InvalidInput("a romana network has at most one IPv6 pool (IPv6Data)")
    generic = _object(_object(body, "Options"), GENERIC_OPTIONS)
    pool6 = _text(pools6[0], "Pool") if pools6 else ""
    return NetworkCreate(network_id_of(body), _text(pools[0], "Pool"), choice(generic), pool6)


def network_id_of(body: Mapping[str, Any]) -> str:
    """The NetworkID of a request (DeleteNetwork's only member)."""
    return _text(body, "NetworkID")


@dataclass(frozen=True, slots=True)
class EndpointCall:
    """A call about one endpoint: ``address`` and ``address6`` are CreateEndpoint's
    Interface.Address and AddressIPv6 ("" without one) without their lengths, ``sandbox``
    Join's SandboxKey."""

    network_id: str
    endpoint_id: str
    sandbox: str = ""
    address: str = ""
    address6: str = ""


def endpoint_call(body: Mapping[str, Any], *, join: bool = False) -> EndpointCall:
    """Join (``join``), Leave, DeleteEndpoint or EndpointOperInfo."""
    sandbox = _text(body, "SandboxKey") if join else ""
    return EndpointCall(network_id_of(body), _text(body, "EndpointID"), sandbox)


def endpoint_create(body: Mapping[str, Any]) -> EndpointCall:
    interface = _object(body, "Interface")
    address = _text(interface, "Address", required=False)
    address6 = _text(interface, "AddressIPv6", required=False)
    if not address:
        raise InvalidInput("Interface.Address is required: use romana as the IPAM driver too")
    return replace(
        endpoint_call(body),
        address=_bare_address(address, "Address"),
        address6=_bare_address(address6, "AddressIPv6") if address6 else "",
    )


def new_hex() -> str:
    """24 fresh random hex characters: a pool's or an endpoint's own part."""
    return secrets.token_hex(endpoint.DOCKER_ID_HEX // 2)


def pool_id(hexpart: str) -> str:
    return dockerpools.POOL_PREFIX + hexpart[: dockerpools.POOL_HEX]


def endpoint_names(hexpart: str) -> tuple[str, str]:
    """(container_id, ifname) of the endpoint whose own part is ``hexpart``."""
    container_id = endpoint.DOCKER_ID_PREFIX + hexpart
    return container_id, endpoint.docker_ifname(container_id)


def split_key(key: str) -> tuple[str, str] | None:
    """(container_id, ifname) of a Docker allocation key; None for any other key."""
    container_id, sep, ifname = key.partition(":")
    if sep and endpoint.is_docker_endpoint(container_id, ifname):
        return container_id, ifname
    return None


def choose_network(
    layouts: Iterable[addressing.Layout], subnet: str, version: int = 4
) -> addressing.Layout:
    """The romana network of a Docker network's IPv``version`` pool: the one whose CIDR is
    ``subnet``, or, with no ``subnet``, the only one of that family."""
    family = f"IPv{version}"
    found = sorted((lay for lay in layouts if lay.version == version), key=lambda lay: lay.name)
    listed = ", ".join(f"{lay.name} {lay.cidr}" for lay in found) or "none"
    if subnet:
        try:
            wanted = ipaddress.ip_network(subnet, strict=True)
        except ValueError as exc:
            raise InvalidInput(f"--subnet {subnet} is not a network ({exc})") from exc
        for lay in found:
            if lay.cidr == wanted:
                return lay
        raise NotFound(f"--subnet {subnet} is no romana {family} network (romana has: {listed})")
    if len(found) == 1:
        return found[0]
    if not found:
        omit = " (omit --ipv6)" if version == 6 else ""
        raise NotFound(f"romana has no {family} network{omit}")
    names = ", ".join(lay.name for lay in found)
    raise InvalidInput(f"several romana {family} networks ({names}): pass --subnet CIDR of one")


def check_dual_stack(tenant: tenancy.Tenant, network6: str) -> None:
    """InvalidInput unless ``tenant`` allocates in the IPv6 romana network ``network6``: its
    endpoints' allocations would hold no IPv6 address."""
    if network6 not in tenant.ids:
        held = ", ".join(sorted(tenant.ids)) or "none"
        raise InvalidInput(
            f"tenant {tenant.name!r} does not allocate in the IPv6 romana network {network6} "
            f"(it allocates in: {held}): create the network without --ipv6"
        )


def is_gateway(layouts: Iterable[addressing.Layout], address: str) -> bool:
    """Whether ``address`` is a romana gateway (some host's, in any network): what docker
    releases as a network's gateway, which romana never allocated."""
    ip = ipaddress.ip_address(address)
    return any(
        ip.version == lay.version and ip in lay.cidr and addressing.decode(lay, ip).is_gateway
        for lay in layouts
    )


def check_names(tenants: Mapping[str, tenancy.Tenant], tenant: str, segment: str) -> None:
    """NotFound naming an unknown tenant or segment, and what exists."""
    found = tenants.get(tenant)
    if found is None:
        known = ", ".join(sorted(tenants)) or "none"
        raise NotFound(f"no tenant {tenant!r} (romana has: {known})")
    if segment not in found.segments:
        known = ", ".join(sorted(found.segments))
        raise NotFound(f"tenant {tenant!r} has no segment {segment!r} (it has: {known})")


def check_preferred(
    lay: addressing.Layout,
    address: str,
    host_prefix: addressing.IPNetwork,
    tenant: tenancy.Tenant,
    segment: str,
) -> None:
    """InvalidInput saying which part of a preferred ``address`` (``--ip``) is not this
    host's, ``tenant``'s or ``segment``'s in network ``lay``."""
    decoded = addressing.decode(lay, address)
    if decoded.host_prefix != host_prefix:
        raise InvalidInput(
            f"--ip {address} belongs to host prefix {decoded.host_prefix}, not to this host's "
            f"{host_prefix}"
        )
    tenant_id = tenant.ids.get(lay.name)
    if decoded.tenant != tenant_id:
        raise InvalidInput(
            f"--ip {address} encodes tenant id {decoded.tenant}, not tenant {tenant.name!r} "
            f"(id {tenant_id} in network {lay.name})"
        )
    segment_id = tenant.segments.get(segment)
    if decoded.segment != segment_id:
        raise InvalidInput(
            f"--ip {address} encodes segment id {decoded.segment}, not segment {segment!r} "
            f"(id {segment_id})"
        )


def capabilities() -> dict[str, str]:
    """NetworkDriver.GetCapabilities: a network spans hosts, so docker keeps it in its
    cluster store and every host sees it."""
    return {"Scope": "global", "ConnectivityScope": "global"}


def activation() -> dict[str, list[str]]:
    return {"Implements": ["NetworkDriver", "IpamDriver"]}


def join_answer(ifname: str, gateway: str, gateway6: str = "") -> dict[str, Any]:
    """Join's answer: docker moves the link ``ifname`` into the sandbox as eth<N>, and the
    container routes everything through ``gateway`` (IPv6 through ``gateway6``, when the
    endpoint has an IPv6 address), connected over its veth."""
    answer: dict[str, Any] = {
        "InterfaceName": {"SrcName": ifname, "DstPrefix": CONTAINER_PREFIX},
        "Gateway": gateway,
        "StaticRoutes": [{"Destination": f"{gateway}/32", "RouteType": CONNECTED}],
        "DisableGatewayService": True,
    }
    if gateway6:
        answer["GatewayIPv6"] = gateway6
        answer["StaticRoutes"].append({"Destination": f"{gateway6}/128", "RouteType": CONNECTED})
    return answer


def later_join_answer(ifname: str) -> dict[str, Any]:
    """Join's answer for an endpoint of a sandbox that has a romana endpoint already (``docker
    network connect``, or a container started on several romana networks): the link only.
    Every romana gateway of a host is one address, which the first endpoint routes through
    its own interface; a second connected route to it would fail, and a second gateway would
    move the container's default route. Replies from this endpoint's address leave through
    it all the same: the agent routes them by source inside the container."""
    return {
        "InterfaceName": {"SrcName": ifname, "DstPrefix": CONTAINER_PREFIX},
        "DisableGatewayService": True,
    }
