"""The calls of romanad's ``ipam`` service: allocations, Docker pools, external addresses,
egress NAT and VIPs (docs/api.md, "IPAM").

:class:`IpamCalls` is a group of the methods of :class:`romana.client.http.Client`; each
method is one endpoint. Allocations and decoded addresses are checked by their
standard-library shapes (:mod:`romana.wire.light`), the other answers by the models of
:mod:`romana.wire.rest_addresses`, imported when a method first names one.

Invariants:

* Every method sends to the ``ipam`` service.
* A create that is safe to repeat (an allocation for a key, an external IP for an endpoint, a
  VIP) is a POST marked idempotent, so a lost answer is retried and returns what the first
  call made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from romana.client.calls import Calls, answer, answers, body_of, lazy, seg
from romana.wire import light
from romana.wire.light import JSON, PREFIX

if TYPE_CHECKING:
    from romana.core.dockerpools import DockerPool
    from romana.wire import rest_addresses
else:
    rest_addresses = lazy("romana.wire.rest_addresses")

DEFAULT_SEGMENT = "default"


class IpamCalls(Calls):
    """The ``ipam`` service's endpoints; see the module docstring."""

    # -- IPAM ----------------------------------------------------------------------------

    def allocate(
        self,
        key: str,
        host: str,
        tenant: str,
        segment: str = DEFAULT_SEGMENT,
        address: str | None = None,
    ) -> JSON:
        """The allocation for ``key``: the existing one, or new addresses (``address`` among
        them, when given); safe to repeat."""
        body = {"key": key, "host": host, "tenant": tenant, "segment": segment}
        if address is not None:
            body["address"] = address
        return answer(
            light.ALLOCATION, self._post("ipam", f"{PREFIX}/allocations", body, idempotent=True)
        )

    def list_allocations(self, host: str | None = None, tenant: str | None = None) -> list[JSON]:
        params = {"host": host, "tenant": tenant}
        return answers(light.ALLOCATION, self._get("ipam", f"{PREFIX}/allocations", params))

    def get_allocation(self, key: str) -> JSON:
        return answer(light.ALLOCATION, self._get("ipam", f"{PREFIX}/allocations/{seg(key)}"))

    def release(self, key: str) -> JSON:
        """Release an allocation by key; NotFound when there is none."""
        return answer(light.ALLOCATION, self._delete("ipam", f"{PREFIX}/allocations/{seg(key)}"))

    def move_allocation(self, key: str, host: str) -> JSON:
        """Make the allocation ``key`` live on ``host``, keeping its addresses; safe to repeat."""
        path = f"{PREFIX}/allocations/{seg(key)}/host"
        return answer(light.ALLOCATION, self._put("ipam", path, {"host": host}))

    def set_workload(self, key: str, workload: str) -> JSON:
        """Say what holds the allocation ``key`` (``docker:<container id>``); safe to repeat."""
        path = f"{PREFIX}/allocations/{seg(key)}/workload"
        return answer(light.ALLOCATION, self._put("ipam", path, {"workload": workload}))

    def release_address(self, address: str) -> JSON:
        """Release the allocation holding ``address``; NotFound when it is free."""
        return answer(light.ALLOCATION, self._delete("ipam", f"{PREFIX}/addresses/{seg(address)}"))

    def decode(self, address: str) -> JSON:
        return answer(light.DECODED, self._get("ipam", f"{PREFIX}/decode/{seg(address)}"))

    # -- Docker pools --------------------------------------------------------------------

    def bind_docker_pool(self, binding: DockerPool) -> JSON:
        """Bind a Docker network's pool to a tenant, segment and network (``pair``: the other
        pool of a dual-stack network); the binding. Safe to repeat; AlreadyExists naming
        what differs when the pool is bound otherwise."""
        body = {k: v for k, v in binding.to_dict().items() if k != "pool"}
        path = f"{PREFIX}/docker-pools/{seg(binding.pool)}"
        return answer(rest_addresses.DockerPool, self._put("ipam", path, body))

    def get_docker_pool(self, pool: str) -> JSON:
        """The binding of ``pool``; NotFound when it is not bound."""
        path = f"{PREFIX}/docker-pools/{seg(pool)}"
        return answer(rest_addresses.DockerPool, self._get("ipam", path))

    def list_docker_pools(self, tenant: str | None = None) -> list[JSON]:
        path = f"{PREFIX}/docker-pools"
        return answers(rest_addresses.DockerPool, self._get("ipam", path, {"tenant": tenant}))

    def delete_docker_pool(self, pool: str) -> JSON:
        """Delete the binding of ``pool``; the deleted binding, NotFound when it is not bound."""
        path = f"{PREFIX}/docker-pools/{seg(pool)}"
        return answer(rest_addresses.DockerPool, self._delete("ipam", path))

    # -- external addresses and egress NAT -----------------------------------------------

    def create_external_pool(
        self,
        name: str,
        cidrs: Sequence[str],
        group: str | None = None,
        network: str | None = None,
    ) -> JSON:
        """Create an external pool of ``cidrs`` (its addresses only for hosts of topology
        group ``group``, and for endpoints with an address in romana network ``network``,
        when given); safe to repeat, AlreadyExists naming what differs when the pool exists
        otherwise."""
        path = f"{PREFIX}/external-pools/{seg(name)}"
        body = body_of(cidrs=cidrs, group=group, network=network)
        return answer(rest_addresses.ExternalPool, self._put("ipam", path, body))

    def list_external_pools(self) -> list[JSON]:
        return answers(rest_addresses.ExternalPool, self._get("ipam", f"{PREFIX}/external-pools"))

    def get_external_pool(self, name: str) -> JSON:
        path = f"{PREFIX}/external-pools/{seg(name)}"
        return answer(rest_addresses.ExternalPool, self._get("ipam", path))

    def delete_external_pool(self, name: str) -> JSON:
        """Delete an external pool; the deleted pool. Conflict while an address of it is
        assigned."""
        path = f"{PREFIX}/external-pools/{seg(name)}"
        return answer(rest_addresses.ExternalPool, self._delete("ipam", path))

    def assign_external_ip(self, pool: str, endpoint: str, address: str | None = None) -> JSON:
        """Assign an external IP of ``pool`` to ``endpoint`` (an allocation key or one of its
        romana addresses): ``address``, or the pool's lowest free one; safe to repeat."""
        body = body_of(pool=pool, endpoint=endpoint, address=address)
        path = f"{PREFIX}/external-ips"
        return answer(rest_addresses.ExternalIp, self._post("ipam", path, body, idempotent=True))

    def unassign_external_ip(self, address: str) -> JSON:
        """Unassign an external IP; the assignment it was, NotFound when not assigned."""
        path = f"{PREFIX}/external-ips/{seg(address)}"
        return answer(rest_addresses.ExternalIp, self._delete("ipam", path))

    def get_external_ip(self, address: str) -> JSON:
        path = f"{PREFIX}/external-ips/{seg(address)}"
        return answer(rest_addresses.ExternalIp, self._get("ipam", path))

    def list_external_ips(self, pool: str | None = None, key: str | None = None) -> list[JSON]:
        params = {"pool": pool, "key": key}
        return answers(
            rest_addresses.ExternalIp, self._get("ipam", f"{PREFIX}/external-ips", params)
        )

    def egress_nat(self, network: str) -> JSON:
        """The network's egress NAT setting (the default, on, when none was set)."""
        path = f"{PREFIX}/networks/{seg(network)}/egress-nat"
        return answer(rest_addresses.EgressNat, self._get("ipam", path))

    def list_egress_nat(self) -> list[JSON]:
        """Every network's egress NAT setting."""
        return answers(rest_addresses.EgressNat, self._get("ipam", f"{PREFIX}/egress-nat"))

    def set_egress_nat(
        self,
        network: str,
        mode: str,
        tenants: Sequence[str] = (),
        no_nat: Sequence[str] = (),
    ) -> JSON:
        """Set the network's egress NAT: ``on``, ``off`` or ``tenants`` (for ``tenants``
        only), never towards ``no_nat``; safe to repeat."""
        path = f"{PREFIX}/networks/{seg(network)}/egress-nat"
        body = body_of(mode=mode, tenants=tenants, no_nat=no_nat)
        return answer(rest_addresses.EgressNat, self._put("ipam", path, body))

    # -- VIPs ----------------------------------------------------------------------------

    def create_vip(
        self, name: str, pool: str, endpoints: Sequence[str], address: str | None = None
    ) -> JSON:
        """Create VIP ``name``, an address of external pool ``pool`` (``address``, or its
        lowest free one of the endpoints' family) in front of ``endpoints`` (allocation keys
        or romana addresses); safe to repeat, AlreadyExists naming what differs when the VIP
        exists otherwise."""
        body = body_of(name=name, pool=pool, endpoints=endpoints, address=address)
        return answer(
            rest_addresses.Vip, self._post("ipam", f"{PREFIX}/vips", body, idempotent=True)
        )

    def list_vips(self) -> list[JSON]:
        """Every VIP, with the host holding it now."""
        return answers(rest_addresses.Vip, self._get("ipam", f"{PREFIX}/vips"))

    def get_vip(self, name: str) -> JSON:
        return answer(rest_addresses.Vip, self._get("ipam", f"{PREFIX}/vips/{seg(name)}"))

    def set_vip_endpoints(self, name: str, endpoints: Sequence[str]) -> JSON:
        """Put the VIP in front of ``endpoints`` instead."""
        path = f"{PREFIX}/vips/{seg(name)}/endpoints"
        return answer(rest_addresses.Vip, self._put("ipam", path, {"endpoints": list(endpoints)}))

    def delete_vip(self, name: str) -> JSON:
        """Delete the VIP, freeing its address; the VIP it was."""
        return answer(rest_addresses.Vip, self._delete("ipam", f"{PREFIX}/vips/{seg(name)}"))

    def lease_vip(self, name: str, host: str, release: bool = False) -> JSON:
        """Ask for (or renew) the VIP's lease as ``host``, or with ``release`` give it up;
        the answer says whether ``host`` holds it and for how long."""
        path = f"{PREFIX}/vips/{seg(name)}/lease"
        body = {"host": host, "release": release}
        return answer(rest_addresses.VipLease, self._post("ipam", path, body, idempotent=True))
