"""The typed client of romanad's REST API: one method per endpoint of docs/api.md.

Each method names the service that serves its endpoint, so that in a split deployment the call
goes to an instance of that service (found through the root, see ``client.directory``), and says
whether it is idempotent, which decides whether it may be retried (see ``client.session``).
Calls whose body carries a password (:meth:`Client.login`, :meth:`Client.create_user`) go only
to the root URLs the client was configured with, never to a discovered instance: a root serves
them even when ``auth`` runs elsewhere (docs/security.md).
Methods return the decoded JSON typed as in ``client.types`` and raise the project's errors
(``romana.core.errors``), chained to the HTTP or transport failure.

Thread-safe: one client may be shared by many threads; it keeps its connections alive.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import quote

import httpx

from romana.client import types
from romana.client.session import Params, Session
from romana.client.settings import ClientSettings
from romana.core.errors import Unavailable

DEFAULT_SEGMENT = "default"


def _seg(value: str) -> str:
    return quote(value, safe="")


class Client:
    """Calls romanad; see the module docstring. Use as a context manager or call close()."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._session = Session(settings, transport=transport, sleep=sleep, clock=clock, rng=rng)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    @property
    def token(self) -> str:
        return self._session.token

    @token.setter
    def token(self, value: str) -> None:
        self._session.token = value

    @property
    def roots(self) -> tuple[str, ...]:
        return self._session.directory.roots

    # -- plumbing ------------------------------------------------------------------------

    def _get(self, service: str, path: str, params: Params | None = None) -> Any:
        return self._session.call(service, "GET", path, params=params, idempotent=True)

    def _put(self, service: str, path: str, body: Any) -> Any:
        return self._session.call(service, "PUT", path, body=body, idempotent=True)

    def _delete(self, service: str, path: str) -> Any:
        return self._session.call(service, "DELETE", path, idempotent=True)

    def _post(self, service: str, path: str, body: Any, *, idempotent: bool = False) -> Any:
        return self._session.call(service, "POST", path, body=body, idempotent=idempotent)

    # -- health and discovery (root) -----------------------------------------------------

    def health(self, url: str | None = None) -> types.Health:
        """``GET /healthz`` of ``url`` (one instance, no retry), or of a root."""
        if url is not None:
            return cast(types.Health, self._session.send(url.rstrip("/"), "GET", "/healthz"))
        return cast(types.Health, self._get("root", "/healthz"))

    def list_services(self) -> list[types.Service]:
        """Live registrations at the root (what discovery uses)."""
        return cast(list[types.Service], self._get("root", "/v1/services"))

    def register(
        self,
        name: str,
        instance: str,
        url: str,
        capabilities: Sequence[str] = (),
        ttl: float = 15.0,
    ) -> types.Service:
        body = {"url": url, "capabilities": list(capabilities), "ttl": ttl}
        path = f"/v1/services/{_seg(name)}/{_seg(instance)}"
        return cast(types.Service, self._put("root", path, body))

    def deregister(self, name: str, instance: str) -> None:
        self._delete("root", f"/v1/services/{_seg(name)}/{_seg(instance)}")

    # -- auth ----------------------------------------------------------------------------

    def login(self, username: str, password: str) -> types.Token:
        """Exchange credentials for a token at a configured root; later calls send it."""
        body = {"username": username, "password": password}
        token = cast(types.Token, self._post("root", "/v1/auth/token", body))
        self.token = token["token"]
        return token

    def list_users(self) -> list[types.User]:
        return cast(list[types.User], self._get("auth", "/v1/users"))

    def create_user(
        self,
        username: str,
        password: str,
        role: str,
        tenant: str | None = None,
        host: str | None = None,
    ) -> types.User:
        """Create a user; a tenant user needs ``tenant``, an agent user ``host``."""
        body: dict[str, Any] = {"username": username, "password": password, "role": role}
        if tenant is not None:
            body["tenant"] = tenant
        if host is not None:
            body["host"] = host
        # A password: to a configured root only, like login.
        return cast(types.User, self._post("root", "/v1/users", body))

    def delete_user(self, username: str) -> None:
        self._delete("auth", f"/v1/users/{_seg(username)}")

    def logout(self) -> None:
        """Revoke every token of the calling user (this client's token included)."""
        self._post("auth", "/v1/auth/logout", None)

    def set_password(
        self, username: str, password: str, current_password: str | None = None
    ) -> types.User:
        """Change a password, revoking the user's tokens; users changing their own give
        ``current_password``. A password: to a configured root only, like login."""
        body: dict[str, Any] = {"password": password}
        if current_password is not None:
            body["current_password"] = current_password
        path = f"/v1/users/{_seg(username)}/password"
        # Not retried: after a lost answer, the current password is no longer current.
        return cast(
            types.User, self._session.call("root", "PUT", path, body=body, idempotent=False)
        )

    def revoke_tokens(self, username: str) -> None:
        """Revoke every token of ``username`` at once (admin)."""
        self._post("auth", f"/v1/users/{_seg(username)}/revoke", None)

    def signing_keys(self) -> list[types.SigningKey]:
        return cast(list[types.SigningKey], self._get("auth", "/v1/auth/signing-keys"))

    def rotate_signing_key(self, retire_now: bool = False) -> list[types.SigningKey]:
        """Sign new tokens with a fresh key; older tokens verify until they expire, or are
        refused at once with ``retire_now``."""
        body = {"retire_now": retire_now}
        return cast(list[types.SigningKey], self._post("auth", "/v1/auth/signing-keys", body))

    # -- tenants and segments ------------------------------------------------------------

    def list_tenants(self) -> list[types.Tenant]:
        return cast(list[types.Tenant], self._get("tenant", "/v1/tenants"))

    def get_tenant(self, name: str) -> types.Tenant:
        return cast(types.Tenant, self._get("tenant", f"/v1/tenants/{_seg(name)}"))

    def create_tenant(
        self,
        name: str,
        external_id: str | None = None,
        networks: Sequence[str] | None = None,
        isolation: types.Isolation | None = None,
    ) -> types.Tenant:
        body: dict[str, Any] = {"name": name}
        if external_id is not None:
            body["external_id"] = external_id
        if networks is not None:
            body["networks"] = list(networks)
        if isolation is not None:
            body["isolation"] = dict(isolation)
        return cast(types.Tenant, self._post("tenant", "/v1/tenants", body))

    def set_isolation(self, name: str, isolation: types.Isolation) -> types.Tenant:
        path = f"/v1/tenants/{_seg(name)}/isolation"
        return cast(types.Tenant, self._put("tenant", path, dict(isolation)))

    def delete_tenant(self, name: str) -> types.Tenant:
        return cast(types.Tenant, self._delete("tenant", f"/v1/tenants/{_seg(name)}"))

    def add_segment(self, tenant: str, segment: str) -> types.Tenant:
        path = f"/v1/tenants/{_seg(tenant)}/segments"
        return cast(types.Tenant, self._post("tenant", path, {"name": segment}))

    def remove_segment(self, tenant: str, segment: str) -> types.Tenant:
        path = f"/v1/tenants/{_seg(tenant)}/segments/{_seg(segment)}"
        return cast(types.Tenant, self._delete("tenant", path))

    # -- quotas --------------------------------------------------------------------------

    def quota_defaults(self) -> types.Quotas:
        return cast(types.Quotas, self._get("tenant", "/v1/quotas"))

    def set_quota_defaults(self, changes: Mapping[str, int]) -> types.Quotas:
        """Change some quota defaults (admin); those not named stay as they are."""
        return cast(types.Quotas, self._put("tenant", "/v1/quotas", dict(changes)))

    def tenant_quota(self, tenant: str) -> types.TenantQuota:
        """The tenant's limits in force, its overrides and its usage."""
        path = f"/v1/tenants/{_seg(tenant)}/quota"
        return cast(types.TenantQuota, self._get("tenant", path))

    def set_tenant_quota(self, tenant: str, changes: Mapping[str, int | None]) -> types.TenantQuota:
        """Override some of the tenant's quotas (admin); None puts one back to the default."""
        path = f"/v1/tenants/{_seg(tenant)}/quota"
        return cast(types.TenantQuota, self._put("tenant", path, dict(changes)))

    # -- topology, networks, hosts -------------------------------------------------------

    def get_topology(self) -> types.Document:
        return cast(types.Document, self._get("topology", "/v1/topology"))

    def apply_topology(self, document: Mapping[str, Any]) -> types.Document:
        """Apply a topology document (ours or Romana v2); the applied document."""
        return cast(types.Document, self._put("topology", "/v1/topology", dict(document)))

    def topology_tree(self) -> types.Document:
        return cast(types.Document, self._get("topology", "/v1/topology/tree"))

    def list_networks(self) -> list[types.Network]:
        return cast(list[types.Network], self._get("topology", "/v1/networks"))

    def set_blackouts(self, network: str, cidrs: Sequence[str]) -> types.Network:
        path = f"/v1/networks/{_seg(network)}/blackouts"
        return cast(types.Network, self._put("topology", path, {"cidrs": list(cidrs)}))

    def add_blackouts(self, network: str, cidrs: Sequence[str]) -> types.Network:
        """Add blackout ranges, keeping the others; Conflict naming any allocation they hold."""
        path = f"/v1/networks/{_seg(network)}/blackouts"
        return cast(types.Network, self._post("topology", path, {"cidrs": list(cidrs)}))

    def remove_blackouts(self, network: str, cidrs: Sequence[str]) -> types.Network:
        """Remove blackout ranges, keeping the others; NotFound naming any that is not there."""
        path = f"/v1/networks/{_seg(network)}/blackouts/remove"
        return cast(types.Network, self._post("topology", path, {"cidrs": list(cidrs)}))

    def list_hosts(self) -> list[types.Host]:
        return cast(list[types.Host], self._get("topology", "/v1/hosts"))

    def get_host(self, name: str) -> types.Host:
        return cast(types.Host, self._get("topology", f"/v1/hosts/{_seg(name)}"))

    def add_host(
        self,
        name: str,
        ip: str,
        labels: Mapping[str, str] | None = None,
        ip6: str | None = None,
    ) -> types.Host:
        """Register a host; ``ip6`` is its IPv6 underlay address beside an IPv4 ``ip``."""
        body: dict[str, Any] = {"name": name, "ip": ip}
        if ip6 is not None:
            body["ip6"] = ip6
        if labels is not None:
            body["labels"] = dict(labels)
        return cast(types.Host, self._post("topology", "/v1/hosts", body))

    def label_host(self, name: str, labels: Mapping[str, str]) -> types.Host:
        """Set the host's labels to exactly ``labels``."""
        return cast(
            types.Host,
            self._session.call(
                "topology",
                "PATCH",
                f"/v1/hosts/{_seg(name)}",
                body={"labels": dict(labels)},
                idempotent=False,
            ),
        )

    def remove_host(self, name: str) -> types.Host:
        return cast(types.Host, self._delete("topology", f"/v1/hosts/{_seg(name)}"))

    # -- IPAM ----------------------------------------------------------------------------

    def allocate(
        self, key: str, host: str, tenant: str, segment: str = DEFAULT_SEGMENT
    ) -> types.Allocation:
        """The allocation for ``key``: the existing one, or new addresses; safe to repeat."""
        body = {"key": key, "host": host, "tenant": tenant, "segment": segment}
        return cast(types.Allocation, self._post("ipam", "/v1/allocations", body, idempotent=True))

    def list_allocations(
        self, host: str | None = None, tenant: str | None = None
    ) -> list[types.Allocation]:
        params = {"host": host, "tenant": tenant}
        return cast(list[types.Allocation], self._get("ipam", "/v1/allocations", params))

    def get_allocation(self, key: str) -> types.Allocation:
        return cast(types.Allocation, self._get("ipam", f"/v1/allocations/{_seg(key)}"))

    def release(self, key: str) -> types.Allocation:
        """Release an allocation by key; NotFound when there is none."""
        return cast(types.Allocation, self._delete("ipam", f"/v1/allocations/{_seg(key)}"))

    def release_address(self, address: str) -> types.Allocation:
        """Release the allocation holding ``address``; NotFound when it is free."""
        return cast(types.Allocation, self._delete("ipam", f"/v1/addresses/{_seg(address)}"))

    def decode(self, address: str) -> types.Decoded:
        return cast(types.Decoded, self._get("ipam", f"/v1/decode/{_seg(address)}"))

    # -- policies ------------------------------------------------------------------------

    def list_policies(self) -> list[types.Document]:
        return cast(list[types.Document], self._get("policy", "/v1/policies"))

    def get_policy(self, policy_id: str) -> types.Document:
        return cast(types.Document, self._get("policy", f"/v1/policies/{_seg(policy_id)}"))

    def add_policies(
        self, policies: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> list[types.Document]:
        """Store one policy or a list of them (Romana v1 or v2 JSON); the stored policies."""
        body: Any = dict(policies) if isinstance(policies, Mapping) else [dict(p) for p in policies]
        stored = self._post("policy", "/v1/policies", body)
        if isinstance(stored, list):
            return cast(list[types.Document], stored)
        if isinstance(stored, dict):
            return [stored]
        raise Unavailable(f"POST /v1/policies: unexpected response {stored!r}")

    def put_policy(self, policy_id: str, policy: Mapping[str, Any]) -> types.Document:
        """Store one policy under its id, replacing what the id held (one transaction)."""
        path = f"/v1/policies/{_seg(policy_id)}"
        return cast(types.Document, self._put("policy", path, dict(policy)))

    def remove_policy(self, policy_id: str) -> types.Document:
        return cast(types.Document, self._delete("policy", f"/v1/policies/{_seg(policy_id)}"))

    # -- address sets --------------------------------------------------------------------

    def list_address_sets(self) -> list[types.AddressSet]:
        return cast(list[types.AddressSet], self._get("policy", "/v1/address-sets"))

    def get_address_set(self, name: str) -> types.AddressSet:
        return cast(types.AddressSet, self._get("policy", f"/v1/address-sets/{_seg(name)}"))

    def put_address_set(self, name: str, members: Sequence[str]) -> types.AddressSet:
        """Make the set hold exactly ``members`` (created when absent); the stored set."""
        path = f"/v1/address-sets/{_seg(name)}"
        return cast(types.AddressSet, self._put("policy", path, {"members": list(members)}))

    def remove_address_set(self, name: str) -> types.AddressSet:
        """Delete a set; NotFound when there is none."""
        path = f"/v1/address-sets/{_seg(name)}"
        return cast(types.AddressSet, self._delete("policy", path))

    # -- Kubernetes objects --------------------------------------------------------------

    def kube_objects(self) -> types.KubeObjects:
        """The namespaces, pods and NetworkPolicies the last Kubernetes sync stored."""
        return cast(types.KubeObjects, self._get("policy", "/v1/kube/objects"))

    def put_kube_objects(self, record: Mapping[str, Any]) -> types.KubeObjects:
        """Replace the stored Kubernetes objects (romanad writes only what changed)."""
        return cast(types.KubeObjects, self._put("policy", "/v1/kube/objects", dict(record)))

    # -- routes and the agent's view -----------------------------------------------------

    def routes(self, host: str) -> types.RoutePlan:
        return cast(types.RoutePlan, self._get("route", f"/v1/hosts/{_seg(host)}/routes"))

    def host_view(
        self, host: str, after: int | None = None, wait: float | None = None
    ) -> types.HostView:
        """The host's view; with ``after``, waits up to ``wait`` s for a newer revision."""
        params: dict[str, str | int | float | None] = {"after": after, "wait": wait}
        timeout = None if wait is None else wait + self._session.timeout
        return cast(
            types.HostView,
            self._session.call(
                "agent-view",
                "GET",
                f"/v1/hosts/{_seg(host)}/view",
                params=params,
                idempotent=True,
                timeout=timeout,
            ),
        )
