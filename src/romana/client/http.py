"""The typed client of romanad's REST API: one method per endpoint of docs/api.md.

Each method names the service that serves its endpoint, so that in a split deployment the call
goes to an instance of that service (found through the root, see ``client.directory``), and says
whether it is idempotent, which decides whether it may be retried (see ``client.session``).
Calls whose body carries a password (:meth:`Client.login`, :meth:`Client.create_user`) go only
to the root URLs the client was configured with, never to a discovered instance: a root serves
them even when ``auth`` runs elsewhere (docs/security.md).
Methods return the decoded JSON once it validated against the answer's model of
:mod:`romana.wire.rest` (the models romanad serves), unchanged: an answer of another shape is
InvalidInput naming each field that does not match. They raise the project's errors
(``romana.core.errors``), chained to the HTTP or transport failure. Paths start with the API
version's :data:`romana.wire.light.PREFIX`. Tenants, allocations and decoded addresses are
checked by their standard-library shapes (:mod:`romana.wire.light`, equal to their models), so
that ``romana decode`` and ``romana tenant list`` never import pydantic; the models are imported
when a method first names one (:mod:`romana.client.calls`).

This module holds the calls of the ``root``, ``auth``, ``tenant`` and ``topology`` services;
the ``ipam`` service's are in :mod:`romana.client.ipamcalls`, those of the ``policy``,
``route`` and ``agent-view`` services in :mod:`romana.client.policycalls`; :class:`Client`
joins them.

Thread-safe: one client may be shared by many threads; it keeps its connections alive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from romana.client.calls import answer, answers, body_of, rest, seg
from romana.client.ipamcalls import IpamCalls
from romana.client.policycalls import PolicyCalls
from romana.client.session import Call
from romana.wire import light
from romana.wire.light import JSON, PREFIX


class Client(IpamCalls, PolicyCalls):
    """Calls romanad; see the module docstring. Use as a context manager or call close()."""

    # -- health and discovery (root) -----------------------------------------------------

    def health(self, url: str | None = None) -> JSON:
        """``GET /healthz`` of ``url`` (one instance, no retry), or of a root."""
        if url is not None:
            return answer(rest.Health, self._session.send(url.rstrip("/"), Call("GET", "/healthz")))
        return answer(rest.Health, self._get("root", "/healthz"))

    def list_services(self) -> list[JSON]:
        """Live registrations at the root (what discovery uses)."""
        return answers(rest.Registration, self._get("root", f"{PREFIX}/services"))

    # -- auth ----------------------------------------------------------------------------

    def login(self, username: str, password: str) -> JSON:
        """Exchange credentials for a token at a configured root; later calls send it."""
        body = {"username": username, "password": password}
        token = answer(rest.TokenOut, self._post("root", f"{PREFIX}/auth/token", body))
        self.token = token["token"]
        return token

    def list_users(self) -> list[JSON]:
        return answers(rest.User, self._get("auth", f"{PREFIX}/users"))

    def get_user(self, username: str) -> JSON:
        return answer(rest.User, self._get("auth", f"{PREFIX}/users/{seg(username)}"))

    def create_user(
        self,
        username: str,
        password: str,
        role: str,
        tenant: str | None = None,
        host: str | None = None,
    ) -> JSON:
        """Create a user; a tenant user needs ``tenant``, an agent user ``host``."""
        body = body_of(username=username, password=password, role=role, tenant=tenant, host=host)
        # A password: to a configured root only, like login.
        return answer(rest.User, self._post("root", f"{PREFIX}/users", body))

    def delete_user(self, username: str) -> None:
        self._delete("auth", f"{PREFIX}/users/{seg(username)}")

    def logout(self) -> None:
        """Revoke every token of the calling user (this client's token included)."""
        self._post("auth", f"{PREFIX}/auth/logout", None)

    def set_password(
        self, username: str, password: str, current_password: str | None = None
    ) -> JSON:
        """Change a password, revoking the user's tokens; users changing their own give
        ``current_password``. A password: to a configured root only, like login."""
        body = body_of(password=password, current_password=current_password)
        path = f"{PREFIX}/users/{seg(username)}/password"
        # Not retried: after a lost answer, the current password is no longer current.
        return answer(
            rest.User, self._session.call("root", Call("PUT", path, body), idempotent=False)
        )

    def revoke_tokens(self, username: str) -> None:
        """Revoke every token of ``username`` at once (admin)."""
        self._post("auth", f"{PREFIX}/users/{seg(username)}/revoke", None)

    def signing_keys(self) -> list[JSON]:
        return answers(rest.SigningKey, self._get("auth", f"{PREFIX}/auth/signing-keys"))

    def rotate_signing_key(self, retire_now: bool = False) -> list[JSON]:
        """Sign new tokens with a fresh key; older tokens verify until they expire, or are
        refused at once with ``retire_now``."""
        body = {"retire_now": retire_now}
        return answers(rest.SigningKey, self._post("auth", f"{PREFIX}/auth/signing-keys", body))

    # -- tenants and segments ------------------------------------------------------------

    def list_tenants(self) -> list[JSON]:
        return answers(light.TENANT, self._get("tenant", f"{PREFIX}/tenants"))

    def get_tenant(self, name: str) -> JSON:
        return answer(light.TENANT, self._get("tenant", f"{PREFIX}/tenants/{seg(name)}"))

    def create_tenant(
        self,
        name: str,
        external_id: str | None = None,
        networks: Sequence[str] | None = None,
        isolation: Mapping[str, str] | None = None,
        owner: str | None = None,
    ) -> JSON:
        body = body_of(
            name=name, external_id=external_id, networks=networks, isolation=isolation, owner=owner
        )
        return answer(light.TENANT, self._post("tenant", f"{PREFIX}/tenants", body))

    def set_isolation(self, name: str, isolation: Mapping[str, str]) -> JSON:
        path = f"{PREFIX}/tenants/{seg(name)}/isolation"
        return answer(light.TENANT, self._put("tenant", path, dict(isolation)))

    def set_tenant_owner(self, name: str, owner: str | None) -> JSON:
        """Hand the tenant to the ``openstack`` user ``owner`` (None: to nobody)."""
        path = f"{PREFIX}/tenants/{seg(name)}/owner"
        return answer(light.TENANT, self._put("tenant", path, {"owner": owner}))

    def delete_tenant(self, name: str) -> JSON:
        return answer(light.TENANT, self._delete("tenant", f"{PREFIX}/tenants/{seg(name)}"))

    def add_segment(self, tenant: str, segment: str) -> JSON:
        path = f"{PREFIX}/tenants/{seg(tenant)}/segments"
        return answer(light.TENANT, self._post("tenant", path, {"name": segment}))

    def remove_segment(self, tenant: str, segment: str) -> JSON:
        path = f"{PREFIX}/tenants/{seg(tenant)}/segments/{seg(segment)}"
        return answer(light.TENANT, self._delete("tenant", path))

    # -- quotas --------------------------------------------------------------------------

    def quota_defaults(self) -> JSON:
        return answer(rest.Quotas, self._get("tenant", f"{PREFIX}/quotas"))

    def set_quota_defaults(self, changes: Mapping[str, int]) -> JSON:
        """Change some quota defaults (admin); those not named stay as they are."""
        return answer(rest.Quotas, self._put("tenant", f"{PREFIX}/quotas", dict(changes)))

    def tenant_quota(self, tenant: str) -> JSON:
        """The tenant's limits in force, its overrides and its usage."""
        path = f"{PREFIX}/tenants/{seg(tenant)}/quota"
        return answer(rest.TenantQuota, self._get("tenant", path))

    def set_tenant_quota(self, tenant: str, changes: Mapping[str, int | None]) -> JSON:
        """Override some of the tenant's quotas (admin); None puts one back to the default."""
        path = f"{PREFIX}/tenants/{seg(tenant)}/quota"
        return answer(rest.TenantQuota, self._put("tenant", path, dict(changes)))

    # -- topology, networks, hosts -------------------------------------------------------

    def get_topology(self) -> JSON:
        return answer(JSON, self._get("topology", f"{PREFIX}/topology"))

    def apply_topology(self, document: Mapping[str, Any]) -> JSON:
        """Apply a topology document (ours or Romana v2); the applied document."""
        return answer(JSON, self._put("topology", f"{PREFIX}/topology", dict(document)))

    def topology_tree(self) -> JSON:
        return answer(JSON, self._get("topology", f"{PREFIX}/topology/tree"))

    def list_networks(self) -> list[JSON]:
        return answers(rest.Network, self._get("topology", f"{PREFIX}/networks"))

    def set_blackouts(self, network: str, cidrs: Sequence[str]) -> JSON:
        path = f"{PREFIX}/networks/{seg(network)}/blackouts"
        return answer(rest.Network, self._put("topology", path, {"cidrs": list(cidrs)}))

    def add_blackouts(self, network: str, cidrs: Sequence[str]) -> JSON:
        """Add blackout ranges, keeping the others; Conflict naming any allocation they hold."""
        path = f"{PREFIX}/networks/{seg(network)}/blackouts"
        return answer(rest.Network, self._post("topology", path, {"cidrs": list(cidrs)}))

    def remove_blackouts(self, network: str, cidrs: Sequence[str]) -> JSON:
        """Remove blackout ranges, keeping the others; NotFound naming any that is not there."""
        path = f"{PREFIX}/networks/{seg(network)}/blackouts/remove"
        return answer(rest.Network, self._post("topology", path, {"cidrs": list(cidrs)}))

    def list_hosts(self) -> list[JSON]:
        return answers(rest.Host, self._get("topology", f"{PREFIX}/hosts"))

    def get_host(self, name: str) -> JSON:
        return answer(rest.Host, self._get("topology", f"{PREFIX}/hosts/{seg(name)}"))

    def add_host(
        self,
        name: str,
        ip: str,
        labels: Mapping[str, str] | None = None,
        ip6: str | None = None,
    ) -> JSON:
        """Register a host; ``ip6`` is its IPv6 underlay address beside an IPv4 ``ip``."""
        body = body_of(name=name, ip=ip, ip6=ip6, labels=labels)
        return answer(rest.Host, self._post("topology", f"{PREFIX}/hosts", body))

    def label_host(self, name: str, labels: Mapping[str, str]) -> JSON:
        """Set the host's labels to exactly ``labels``."""
        return answer(
            rest.Host,
            self._session.call(
                "topology",
                Call("PATCH", f"{PREFIX}/hosts/{seg(name)}", {"labels": dict(labels)}),
                idempotent=False,
            ),
        )

    def remove_host(self, name: str) -> JSON:
        return answer(rest.Host, self._delete("topology", f"{PREFIX}/hosts/{seg(name)}"))
