"""The Neutron IPAM driver ``romana``: romanad chooses every port's address.

``ipam_driver = romana`` in neutron.conf. A subnet is accepted when its CIDR is a romana
network's or lies inside one, and its project's tenant is pinned to that network; a port's
address is allocated by romanad for (the port's ``binding:host_id``, the project's tenant, the
network's segment), so the address itself says where the port lives and whose it is.

A port created without ``binding:host_id`` cannot be given an address yet: the address encodes
the host, which Nova chooses later. :meth:`RomanaSubnet.allocate` then raises Neutron's
``DeferIpam``, which Neutron's own port create catches: the port is stored without a fixed IP
and with ``ip_allocation = deferred``, and the port update that first sets its host allocates
as a port create would (the path Neutron built for routed networks). Neutron takes that path
only with its ``segments`` service plugin loaded; without it the port would be bound with no
address, so such a port is refused instead, with a message naming the setting.

A router interface (``device_owner`` ``network:router_interface``) asks for its subnet's
gateway address. It gets that address without a romana allocation: romana routes every
endpoint itself, so no packet is ever sent to or from a router's interface, and the address
is only Neutron's record of the attachment (:class:`RouterInterfaceRequest`).

Invariants: one romana allocation per port, keyed by the port id
(:func:`~romana.integrations.openstack.mapping.allocation_key`), so every retry of Neutron
gets the same addresses back and a failed create that Neutron rolls back releases them; a
requested ``ip_address`` is refused unless it is the port's own romana address; nothing is
stored on Neutron's side beyond the port's fixed IPs (the subnet's CIDR, project and network
are read back from Neutron's own subnet record).
"""

from __future__ import annotations

from typing import Any

from neutron.ipam import driver, requests
from neutron.ipam import exceptions as ipam_exc
from neutron.objects import subnet as subnet_obj
from neutron_lib import constants as n_const
from neutron_lib import exceptions as n_exc
from neutron_lib.api import validators
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins import directory
from oslo_log import log

from romana.core import addressing, errors
from romana.integrations.openstack import backend, mapping, migration

LOG = log.getLogger(__name__)
SEGMENTS = "segments"


def _field(port: Any, name: str) -> Any:
    """A port attribute from a port dict or a port record; None when unset or absent."""
    try:
        value = port[name]
    except (KeyError, TypeError, AttributeError):
        return None
    return value if validators.is_attr_set(value) and value != "" else None


class PortAddressRequest(requests.AnyAddressRequest):
    """Any address, for this port on this host (None: the port is not bound yet)."""

    def __init__(self, port_id: str, host: str | None) -> None:
        super().__init__()
        self.port_id = port_id
        self.host = host


class PortSpecificRequest(requests.SpecificAddressRequest):
    """A requested address, which romana accepts only when it is the port's own."""

    def __init__(self, address: str, port_id: str) -> None:
        super().__init__(address)
        self.port_id = port_id


class RouterInterfaceRequest(requests.SpecificAddressRequest):
    """A router interface's address: the subnet's gateway, never allocated in romanad."""


class AddressRequestFactory(requests.AddressRequestFactory):
    @classmethod
    def get_request(cls, context: Any, port: Any, ip_dict: dict[str, Any]) -> Any:
        port_id = str(port["id"])
        owner = _field(port, "device_owner")
        if owner in n_const.ROUTER_INTERFACE_OWNERS and ip_dict.get("ip_address"):
            return RouterInterfaceRequest(ip_dict["ip_address"])
        if ip_dict.get("ip_address"):
            return PortSpecificRequest(ip_dict["ip_address"], port_id)
        if ip_dict.get("eui64_address"):
            raise backend.RomanaRefused(
                resource="port",
                reason="SLAAC and DHCPv6-stateless subnets are not supported: romana chooses "
                "IPv6 addresses (ipv6_address_mode dhcpv6-stateful, or unset)",
            )
        return PortAddressRequest(port_id, _field(port, portbindings.HOST_ID))


class RomanaSubnet(driver.Subnet):
    """One Neutron subnet: its CIDR, its project and its network; addresses come from romanad."""

    def __init__(self, details: requests.SpecificSubnetRequest, network_id: str | None) -> None:
        self._details = details
        self._network_id = network_id

    @property
    def cidr(self) -> str:
        return str(self._details.subnet_cidr)

    def get_details(self) -> requests.SpecificSubnetRequest:
        return self._details

    def allocate(self, address_request: Any) -> str:
        if isinstance(address_request, RouterInterfaceRequest):
            return self._gateway(address_request)
        link = backend.shared()
        if isinstance(address_request, PortSpecificRequest):
            return self._own_address(link, address_request)
        if not isinstance(address_request, PortAddressRequest):
            raise ipam_exc.InvalidAddressType(address_type=type(address_request).__name__)
        key = mapping.allocation_key(address_request.port_id)
        host = address_request.host or self._bound_host(link, key)
        if host is None:
            if directory.get_plugin(SEGMENTS) is None:
                # Without the segments plugin Neutron stores the deferral but never acts on
                # it: the port would be bound without an address.
                raise backend.RomanaRefused(
                    resource="port",
                    reason="a port without binding:host_id gets its address when it is bound, "
                    f"which needs service_plugins = {SEGMENTS} in neutron.conf; without it, "
                    "create the port with binding:host_id",
                )
            LOG.debug("romana: port %s has no host yet: IP allocation deferred", key)
            raise ipam_exc.DeferIpam()
        try:
            tenant = link.tenant_name(self._details.project_id)
            if self._network_id is None:
                raise RuntimeError(f"subnet {self._details.subnet_id} has no network")
            segment = link.segment(tenant, self._network_id)
            allocation = link.call(lambda c: c.allocate(key, host, tenant, segment))
        except errors.RomanaError as exc:
            raise backend.translate(exc, "port") from exc
        migration.allocated_on(key, host)
        address = mapping.address_in(allocation["addresses"], self.cidr)
        if address is None:
            raise ipam_exc.IpAddressGenerationFailure(subnet_id=self._details.subnet_id)
        return address

    @staticmethod
    def _bound_host(link: backend.Backend, key: str) -> str | None:
        """The host of the port's allocation: a port updated without its binding in hand."""
        try:
            return str(link.call(lambda c: c.get_allocation(key))["host"])
        except errors.NotFound:
            return None
        except errors.RomanaError as exc:
            raise backend.translate(exc, "port") from exc

    def _own_address(self, link: backend.Backend, request: PortSpecificRequest) -> str:
        address = str(request.address)
        key = mapping.allocation_key(request.port_id)
        try:
            held = link.call(lambda c: c.get_allocation(key))["addresses"]
        except errors.NotFound:
            held = []
        except errors.RomanaError as exc:
            raise backend.translate(exc, "port") from exc
        if address not in held:
            raise backend.RomanaRefused(
                resource="port",
                reason=f"romana chooses each port's address from its host, tenant and segment: "
                f"fixed_ips may name a subnet_id but not an ip_address ({address})",
            )
        return address

    def _gateway(self, request: RouterInterfaceRequest) -> str:
        """The gateway address, when no port of a project can ever hold it: it must lie in
        romana's infrastructure tenant (as the default gateway of a subnet that is a whole
        romana network does: the network's first address + 1)."""
        address = str(request.address)
        if address != str(self._details.gateway_ip):
            raise backend.RomanaRefused(
                resource="router interface",
                reason=f"a router interface takes its subnet's gateway address "
                f"({self._details.gateway_ip}), not {address}",
            )
        try:
            networks = backend.shared().networks()
        except errors.RomanaError as exc:
            raise backend.translate(exc, "router interface") from exc
        tenant = _tenant_bits_of(address, networks)
        if tenant != addressing.INFRASTRUCTURE_TENANT:
            raise backend.RomanaRefused(
                resource="router interface",
                reason=f"the subnet's gateway {address} is an address romana gives to endpoints "
                f"(tenant number {tenant}); a router interface needs a gateway_ip in romana's "
                "infrastructure range, such as the first address + 1 of the romana network",
            )
        return address

    def deallocate(self, address: Any) -> None:
        """Release the allocation holding ``address`` (all of the port's addresses: the other
        subnet's deallocation then finds it gone, which is not an error).

        The gateway address is a router interface's, never allocated in romanad. When romanad
        fails, the port's delete still goes on: the mechanism driver releases the allocation
        by its key after the commit, and retries (:mod:`~romana.integrations.openstack.resync`).
        """
        if str(address) == str(self._details.gateway_ip):
            return
        try:
            backend.shared().call(lambda c: c.release_address(str(address)))
        except errors.NotFound:
            LOG.debug("romana: %s was already free", address)
        except errors.RomanaError as exc:
            LOG.warning("romana: %s not released now (released by its key later): %s", address, exc)


def _tenant_bits_of(address: str, networks: list[dict[str, Any]]) -> int | None:
    """The tenant number ``address`` encodes in the romana network that holds it."""
    name = mapping.network_for(address, networks)
    for network in networks:
        if name is not None and network["name"] == name:
            lay = addressing.layout(
                name,
                str(network["cidr"]),
                network.get("tenant_bits"),
                network.get("segment_bits"),
                network.get("endpoint_bits"),
            )
            return addressing.decode(lay, address).tenant
    return None


class RomanaSubnetGroup(driver.SubnetGroup):
    """The subnets of one IP version of a network: the first that holds the port's address."""

    def __init__(self, pool: RomanaPool, subnet_ids: list[str]) -> None:
        self._pool = pool
        self._subnet_ids = subnet_ids

    def allocate(self, address_request: Any) -> tuple[str, str]:
        for subnet_id in self._subnet_ids:
            try:
                return self._pool.get_subnet(subnet_id).allocate(address_request), subnet_id
            except ipam_exc.IpAddressGenerationFailure:
                continue
        if isinstance(address_request, PortAddressRequest):
            # romanad's addresses fall in none of these subnets (each only a part of a romana
            # network): the create fails, so its allocation must not stay behind.
            key = mapping.allocation_key(address_request.port_id)
            try:
                backend.shared().call(lambda c: c.release(key))
            except errors.RomanaError as exc:
                LOG.warning("romana: could not release %s after a failed allocation: %s", key, exc)
        raise ipam_exc.IpAddressGenerationFailureAllSubnets()


class RomanaPool(driver.Pool):
    """The driver Neutron instantiates (per request) for ``ipam_driver = romana``."""

    def allocate_subnet(self, request: Any) -> RomanaSubnet:
        if not isinstance(request, requests.SpecificSubnetRequest):
            raise ipam_exc.InvalidSubnetRequestType(subnet_type=type(request).__name__)
        cidr = str(request.subnet_cidr)
        link = backend.shared()
        try:
            networks = link.networks()
            name = mapping.network_for(cidr, networks)
            if name is None:
                held = ", ".join(f"{n['name']} {n['cidr']}" for n in networks) or "none"
                raise backend.RomanaRefused(
                    resource="subnet",
                    reason=f"{cidr} is not a romana network nor inside one (romana's networks: "
                    f"{held})",
                )
            tenant = link.tenant(request.project_id)
        except errors.RomanaError as exc:
            raise backend.translate(exc, "subnet") from exc
        if name not in tenant["ids"]:
            pinned = ", ".join(sorted(tenant["ids"])) or "none"
            raise backend.RomanaRefused(
                resource="subnet",
                reason=f"{cidr} lies in romana network {name}, but the project's tenant "
                f"{tenant['name']} is pinned to: {pinned}",
            )
        return RomanaSubnet(request, None)

    def get_subnet(self, subnet_id: str) -> RomanaSubnet:
        record = subnet_obj.Subnet.get_object(self._context, id=subnet_id)
        if record is None:
            raise n_exc.SubnetNotFound(subnet_id=subnet_id)
        details = requests.SpecificSubnetRequest(
            record.project_id, subnet_id, record.cidr, gateway_ip=record.gateway_ip
        )
        return RomanaSubnet(details, record.network_id)

    def update_subnet(self, request: Any) -> RomanaSubnet:
        return self.get_subnet(request.subnet_id)

    def remove_subnet(self, subnet_id: str) -> None:
        """Nothing to do: the tenant and segment outlive the subnet (Neutron refuses to delete
        a subnet that still has ports, so no address is left behind)."""

    def get_allocator(self, subnet_ids: list[str]) -> RomanaSubnetGroup:
        return RomanaSubnetGroup(self, list(subnet_ids))

    def get_address_request_factory(self) -> type[AddressRequestFactory]:
        return AddressRequestFactory

    def needs_rollback(self) -> bool:
        return True
