"""Keep this process's services registered with the root, and deregister them on the way out.

When the process runs ``root`` itself (and no ``--root`` is given) registrations go straight
into the shared store's registry; otherwise each one is a ``PUT /v1/services/{name}/{instance}``
to the root, authorised with ``root_token`` (an admin's token, for a root on another store) or
with a short-lived token this process signs for the internal user (possible because all
processes of one deployment share the store and so the signing key). That user has the
``internal`` role, which may register and deregister service instances and nothing else, so
the token this process sends to ``--root`` is worth no more than that. Heartbeats come every
third of the TTL, so one lost heartbeat never expires a live instance. A root that cannot be
reached is logged and retried at the next beat; it never stops the process from serving.
An ``https://`` root is verified against ``--ca`` (``romana.api.tls``); a root whose
certificate is not accepted is logged the same way, with what to configure. The HTTP
client is imported only for a remote root: it costs about 5 MB resident that a process
registering in its own store never uses.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from romana.api import tls
from romana.api.context import Context
from romana.client.tls import describe_failure
from romana.core.errors import RomanaError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, ctx: Context, capabilities: dict[str, list[str]]) -> None:
        self._ctx = ctx
        self._capabilities = capabilities
        self._remote = bool(ctx.settings.root)
        self._registered = False
        # Verifies an https:// root against --ca and presents --tls-cert (romana.api.tls).
        self._verify = tls.outbound_context(ctx.settings) if self._remote else None

    async def run(self) -> None:
        """Register now and every ttl/3 seconds until cancelled."""
        interval = self._ctx.settings.registration_ttl / 3
        if not self._remote:
            while True:
                await self.beat(None)
                await asyncio.sleep(interval)
        async with self._client(max(1.0, interval)) as client:
            while True:
                await self.beat(client)
                await asyncio.sleep(interval)

    def _client(self, timeout: float) -> httpx.AsyncClient:
        import httpx

        return httpx.AsyncClient(timeout=timeout, verify=self._verify or True)

    def _failures(self) -> tuple[type[Exception], ...]:
        """What a beat or a deregistration logs and survives: the store's failures, and for
        a remote root the HTTP client's."""
        if not self._remote:
            return (RomanaError,)
        import httpx

        return (httpx.HTTPError, RomanaError)

    async def beat(self, client: httpx.AsyncClient | None) -> None:
        """Register every served service once: with the remote root through ``client``, else
        in the store's registry."""
        settings = self._ctx.settings
        try:
            if client is not None:
                headers = await self._headers()
                for name in sorted(self._ctx.served):
                    body = {
                        "url": settings.url,
                        "capabilities": self._capabilities.get(name, []),
                        "ttl": settings.registration_ttl,
                    }
                    response = await client.put(
                        f"{settings.root.rstrip('/')}/v1/services/{name}/{settings.instance_name}",
                        json=body,
                        headers=headers,
                    )
                    response.raise_for_status()
            else:
                await asyncio.to_thread(self._register_locally)
        except self._failures() as exc:
            problem = describe_failure(exc, self._ctx.root_url, cert_flags="--tls-cert") or exc
            log.warning("could not register with the root at %s: %s", self._ctx.root_url, problem)
            return
        if not self._registered:
            log.info(
                "registered %s as instance %s at %s with the root %s",
                ", ".join(sorted(self._ctx.served)),
                settings.instance_name,
                settings.url,
                self._ctx.root_url,
            )
            self._registered = True

    def _register_locally(self) -> None:
        settings = self._ctx.settings
        for name in sorted(self._ctx.served):
            self._ctx.instances.register(
                name,
                settings.instance_name,
                settings.url,
                self._capabilities.get(name, []),
                settings.registration_ttl,
            )
        self._ctx.instances.prune()

    async def _headers(self) -> dict[str, str]:
        token = self._ctx.settings.root_token
        if not token:
            auth = self._ctx.auth

            def mint() -> str:
                return auth.mint(auth.ensure_internal_user(), ttl=600.0).token

            token = await asyncio.to_thread(mint)
        return {"Authorization": f"Bearer {token}"}

    async def stop(self) -> None:
        """Deregister every service of this process (best effort, a few seconds at most)."""
        settings = self._ctx.settings
        try:
            if self._remote:
                headers = await self._headers()
                async with self._client(2.0) as client:
                    for name in sorted(self._ctx.served):
                        await client.delete(
                            f"{settings.root.rstrip('/')}/v1/services/{name}/"
                            f"{settings.instance_name}",
                            headers=headers,
                        )
            else:
                for name in sorted(self._ctx.served):
                    await asyncio.to_thread(
                        self._ctx.instances.deregister, name, settings.instance_name
                    )
        except self._failures() as exc:
            log.warning("could not deregister from the root at %s: %s", self._ctx.root_url, exc)
            return
        log.info("deregistered instance %s from the root", settings.instance_name)
