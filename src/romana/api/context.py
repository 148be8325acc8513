"""What every handler may use: the services of this process, and who is calling.

:class:`Context` is built once per app by :func:`build` from the settings and the store, and
reached by handlers through the :func:`context` dependency. :func:`principal` turns the
``Authorization: Bearer`` header into a verified :class:`~romana.services.auth.Principal`;
with ``--insecure`` (the only way around it) every caller is an admin.

No handler keeps state between requests: services read the store on every call, so any
number of replicas can share one store. The one exception is :attr:`Context.logins`, the login
throttle, whose failure counters live in this process (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from romana.api import audit
from romana.api.settings import RomanadSettings
from romana.api.storewatch import Changes
from romana.core.errors import Unauthorized
from romana.core.store import Store
from romana.services import auth, keys
from romana.services.addresssets import AddressSetService
from romana.services.dockerpools import DockerPoolService
from romana.services.external import ExternalService
from romana.services.hostview import HostViewService
from romana.services.instances import InstanceService
from romana.services.ipam import IpamService
from romana.services.kubestore import KubeObjectService
from romana.services.logins import LoginGate
from romana.services.policy import PolicyService
from romana.services.quotas import QuotaService
from romana.services.routing import RoutingService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.services.vips import VipService

INSECURE = auth.Principal("insecure", auth.Role.ADMIN, None)


@dataclass(frozen=True, slots=True)
class Context:
    settings: RomanadSettings
    store: Store
    store_kind: str
    served: frozenset[str]
    topology: TopologyService
    tenants: TenantService
    ipam: IpamService
    docker_pools: DockerPoolService
    external: ExternalService
    vips: VipService
    quotas: QuotaService
    policies: PolicyService
    address_sets: AddressSetService
    kube_objects: KubeObjectService
    instances: InstanceService
    auth: auth.AuthService
    hostview: HostViewService
    routing: RoutingService
    changes: Changes
    logins: LoginGate

    @property
    def root_url(self) -> str:
        """Where clients find the directory of services."""
        return self.settings.root or self.settings.url


def build(settings: RomanadSettings, store: Store) -> Context:
    topology = TopologyService(store)
    tenants = TenantService(store, topology)
    ipam = IpamService(store, topology, tenants)
    policies = PolicyService(store)
    external = ExternalService(store, tenants, topology)
    return Context(
        settings=settings,
        store=store,
        store_kind=settings.store.partition("://")[0],
        served=frozenset(settings.services),
        topology=topology,
        tenants=tenants,
        ipam=ipam,
        docker_pools=DockerPoolService(store, tenants, topology),
        external=external,
        vips=VipService(store, external, ipam, ttl=settings.vip_lease_ttl),
        quotas=QuotaService(store),
        policies=policies,
        address_sets=AddressSetService(store),
        kube_objects=KubeObjectService(store),
        instances=InstanceService(store),
        auth=auth.AuthService(store, token_ttl=settings.token_ttl),
        hostview=HostViewService(store, topology, tenants, ipam),
        routing=RoutingService(store, topology),
        changes=Changes(store, keys.ROOT),
        logins=LoginGate(settings.login_limits()),
    )


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


_bearer = HTTPBearer(auto_error=False, description="A token from POST /v1/auth/token")


def _verify(ctx: Context, credentials: HTTPAuthorizationCredentials | None) -> auth.Principal:
    if ctx.settings.insecure:
        return INSECURE
    if credentials is None:
        raise Unauthorized("an 'Authorization: Bearer <token>' header is required")
    return ctx.auth.verify(credentials.credentials)


def principal(
    request: Request,
    ctx: Annotated[Context, Depends(context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> auth.Principal:
    """The verified caller, also left in the request's scope for the audit log. A request
    whose body :mod:`romana.api.limits` let through was verified there, from these very
    headers: that caller is taken as it is rather than verified twice."""
    verified = request.scope.get(audit.PRINCIPAL)
    if isinstance(verified, auth.Principal):
        return verified
    caller = _verify(ctx, credentials)
    request.scope[audit.PRINCIPAL] = caller
    return caller


async def authenticate(connection: HTTPConnection) -> auth.Principal:
    """The verified caller of a request, resolved exactly as :data:`Caller` resolves it but
    from the headers alone: :mod:`romana.api.limits` refuses a body before reading it."""
    ctx: Context = connection.app.state.ctx
    caller = await run_in_threadpool(_verify, ctx, await _bearer(connection))
    connection.scope[audit.PRINCIPAL] = caller
    return caller


Ctx = Annotated[Context, Depends(context)]
Caller = Annotated[auth.Principal, Depends(principal)]
