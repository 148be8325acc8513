"""What every handler may use: the services of this process, and who is calling.

:class:`Context` is built once per app by :func:`build` from the settings and the store, and
reached by handlers through the :func:`context` dependency. :func:`principal` turns the
``Authorization: Bearer`` header into a verified :class:`~romana.services.auth.Principal`;
with ``--insecure`` (the only way around it) every caller is an admin.

No handler keeps state between requests: services read the store on every call, so any
number of replicas can share one store. The exceptions are :attr:`Context.logins`, the login
throttle, whose failure counters live in this process (docs/security.md), and
:attr:`Context.drops`, the recent drop events the agents sent to this process
(:mod:`romana.services.drops`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from romana.api import audit
from romana.api.settings import RomanadSettings
from romana.api.storewatch import Changes
from romana.core.errors import Unauthorized
from romana.core.store import Store
from romana.services import auth, keys
from romana.services.addresssets import AddressSetService
from romana.services.dockerpools import DockerPoolService
from romana.services.drops import DropService
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
WORKERS = 40
"""Threads of :meth:`Context.offload`, as many as FastAPI's own pool has for plain handlers:
concurrent allocations wait in them for the commit they share."""

P = ParamSpec("P")
T = TypeVar("T")


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
    drops: DropService
    changes: Changes
    logins: LoginGate
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(WORKERS, thread_name_prefix="romanad")
    )

    @property
    def root_url(self) -> str:
        """Where clients find the directory of services."""
        return self.settings.root or self.settings.url

    async def offload(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in :attr:`pool`, off the event loop, as Starlette's
        ``run_in_threadpool`` runs it (and a cancelled caller still waits until ``fn`` has
        returned, so nothing it began outlives its request), with less CPU spent on the
        hand-over than anyio's: the token check and the allocation routes make one such call
        per request each."""
        done = asyncio.get_running_loop().run_in_executor(
            self.pool, functools.partial(fn, *args, **kwargs)
        )
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            await asyncio.wait({done})
            raise


def build(settings: RomanadSettings, store: Store) -> Context:
    topology = TopologyService(store)
    tenants = TenantService(store, topology)
    ipam = IpamService(store, topology, tenants)
    policies = PolicyService(store)
    external = ExternalService(store, tenants, topology)
    kube_objects = KubeObjectService(store)
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
        kube_objects=kube_objects,
        instances=InstanceService(store),
        auth=auth.AuthService(store, token_ttl=settings.token_ttl),
        hostview=HostViewService(store, topology, tenants, ipam),
        routing=RoutingService(store, topology),
        drops=DropService(topology, tenants, ipam, kube_objects),
        changes=Changes(store, keys.ROOT),
        logins=LoginGate(settings.login_limits()),
    )


async def context(request: Request) -> Context:
    # A coroutine, as every dependency that does no I/O: FastAPI runs a plain ``def``
    # dependency in its thread pool, a round trip per request for a lookup.
    ctx: Context = request.app.state.ctx
    return ctx


_bearer = HTTPBearer(auto_error=False, description="A token from POST /v1/auth/token")


def _verify(ctx: Context, credentials: HTTPAuthorizationCredentials | None) -> auth.Principal:
    if ctx.settings.insecure:
        return INSECURE
    if credentials is None:
        raise Unauthorized("an 'Authorization: Bearer <token>' header is required")
    return ctx.auth.verify(credentials.credentials)


async def _verified(
    ctx: Context, credentials: HTTPAuthorizationCredentials | None
) -> auth.Principal:
    """:func:`_verify`, in the thread pool only when it reads the store (to check that the
    token's user still exists and has not revoked it): an insecure process, or a request
    without a token, is answered without the round trip."""
    if ctx.settings.insecure or credentials is None:
        return _verify(ctx, credentials)
    return await ctx.offload(_verify, ctx, credentials)


async def principal(
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
    caller = await _verified(ctx, credentials)
    request.scope[audit.PRINCIPAL] = caller
    return caller


async def authenticate(connection: HTTPConnection) -> auth.Principal:
    """The verified caller of a request, resolved exactly as :data:`Caller` resolves it but
    from the headers alone: :mod:`romana.api.limits` refuses a body before reading it."""
    ctx: Context = connection.app.state.ctx
    caller = await _verified(ctx, await _bearer(connection))
    connection.scope[audit.PRINCIPAL] = caller
    return caller


Ctx = Annotated[Context, Depends(context)]
Caller = Annotated[auth.Principal, Depends(principal)]
