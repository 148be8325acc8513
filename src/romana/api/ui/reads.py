"""What the web view reads, answered by the REST API's own route handlers.

:class:`Reads` calls, for one user, the handler of each ``GET`` the view needs
(``/v1/networks``, ``/v1/tenants``, ``/v1/allocations``, ...) and shapes its answer as the
route's response model sends it. So a page shows what the REST API answers that user, and
refuses what the API refuses (the handler raises the same :class:`Forbidden` or
:class:`NotFound`): the view has no authorisation rule of its own. It is also a
:class:`romana.client.reach.Reader`, so the reachability matrix is built by
:func:`romana.client.reach.model` from the same reads ``romana explain`` makes.

Every method does store I/O: call them off the event loop (:meth:`Context.offload`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from romana.api.context import Context
from romana.api.routes import external, ipam, policy, routes, tenants, topology
from romana.client import reach
from romana.core.policy import endpoints
from romana.services import auth
from romana.wire import rest, rest_addresses, rest_kube, rest_routing

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _sent(model: Any, value: Any) -> Any:
    """``value`` as the route whose response model is ``model`` puts it on the wire."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter.dump_python(adapter.validate_python(value), mode="json")


@dataclass(frozen=True, slots=True)
class Reads:
    """The REST reads of one user (``caller``) over this process's services."""

    ctx: Context
    caller: auth.Principal

    def topology_tree(self) -> dict[str, Any]:
        return dict(topology.get_tree(self.ctx, self.caller))

    def list_networks(self) -> list[dict[str, Any]]:
        return list(_sent(list[rest.Network], topology.list_networks(self.ctx, self.caller)))

    def list_hosts(self) -> list[dict[str, Any]]:
        return list(_sent(list[rest.Host], topology.list_hosts(self.ctx, self.caller)))

    def list_routing(self) -> list[dict[str, Any]]:
        answer = routes.list_routing(self.ctx, self.caller)
        return list(_sent(list[rest_routing.RoutingReport], answer))

    def list_tenants(self) -> list[dict[str, Any]]:
        return list(_sent(list[rest.Tenant], tenants.list_tenants(self.ctx, self.caller)))

    def list_policies(self) -> list[dict[str, Any]]:
        return list(policy.list_policies(self.ctx, self.caller))

    def list_address_sets(self) -> list[dict[str, Any]]:
        answer = policy.list_address_sets(self.ctx, self.caller)
        return list(_sent(list[rest.AddressSet], answer))

    def list_allocations(self) -> list[dict[str, Any]]:
        answer = ipam.list_allocations(self.ctx, self.caller)
        return list(_sent(list[rest_addresses.Allocation], answer))

    def kube_objects(self) -> dict[str, Any]:
        answer = policy.get_kube_objects(self.ctx, self.caller)
        return dict(_sent(rest_kube.KubeObjects, answer))

    def list_external_ips(self) -> list[dict[str, Any]]:
        return list(
            _sent(list[rest_addresses.ExternalIp], external.list_ips(self.ctx, self.caller))
        )

    def list_egress_nat(self) -> list[dict[str, Any]]:
        return list(_sent(list[rest_addresses.EgressNat], external.list_nat(self.ctx, self.caller)))

    def list_external_pools(self) -> list[dict[str, Any]]:
        answer = external.list_pools(self.ctx, self.caller)
        return list(_sent(list[rest_addresses.ExternalPool], answer))

    def decode(self, address: str) -> dict[str, Any]:
        return dict(_sent(rest_addresses.Decoded, ipam.decode(address, self.ctx, self.caller)))

    def model(self) -> endpoints.Model:
        """romanad's whole model as ``romana explain`` builds it; Forbidden, saying so, for a
        user who may not read all of it."""
        return reach.model(self)
