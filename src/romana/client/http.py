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
that ``romana decode`` and ``romana tenant list`` never import pydantic; the models of
:mod:`romana.wire.rest` are imported when a method first names one, those of the host view and
of the Kubernetes objects by the methods that read them.

Thread-safe: one client may be shared by many threads; it keeps its connections alive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, Unpack
from urllib.parse import quote

from romana.client.session import Call, Hooks, Params, Session
from romana.client.settings import ClientSettings
from romana.core.errors import Unavailable
from romana.wire import light
from romana.wire.light import JSON, PREFIX

if TYPE_CHECKING:
    from romana.core.dockerpools import DockerPool
    from romana.wire import rest
else:

    class _Rest:
        """:mod:`romana.wire.rest`, imported when a method first names one of its models."""

        def __getattr__(self, name: str) -> Any:
            from romana.wire import rest as module

            globals()["rest"] = module
            return getattr(module, name)

    rest = _Rest()

DEFAULT_SEGMENT = "default"


def _seg(value: str) -> str:
    return quote(value, safe="")


def answer(shape: Any, raw: Any) -> JSON:
    """``raw`` once it is a ``shape``: a :class:`romana.wire.light.Shape`, or a model of
    :mod:`romana.wire.rest` (or :data:`JSON`) that ``rest.answer`` checks."""
    if isinstance(shape, light.Shape):
        return light.answer(shape, raw)
    return rest.answer(shape, raw)


def answers(shape: Any, raw: Any) -> list[JSON]:
    """A list answer, each item a ``shape``; see :func:`answer`."""
    if isinstance(shape, light.Shape):
        return light.answers(shape, raw)
    return rest.answers(shape, raw)


def _body(**members: object) -> dict[str, Any]:
    """A request body of the members that are not None (a member left out takes the server's
    default), with mappings and sequences as the dicts and lists JSON has."""
    body: dict[str, Any] = {}
    for key, value in members.items():
        if isinstance(value, Mapping):
            body[key] = dict(value)
        elif isinstance(value, Sequence) and not isinstance(value, str):
            body[key] = list(value)
        elif value is not None:
            body[key] = value
    return body


class Client:
    """Calls romanad; see the module docstring. Use as a context manager or call close()."""

    def __init__(self, settings: ClientSettings, **hooks: Unpack[Hooks]) -> None:
        self._session = Session(settings, **hooks)

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
        return self._session.call(service, Call("GET", path, params=params), idempotent=True)

    def _put(self, service: str, path: str, body: Any) -> Any:
        return self._session.call(service, Call("PUT", path, body), idempotent=True)

    def _delete(self, service: str, path: str) -> Any:
        return self._session.call(service, Call("DELETE", path), idempotent=True)

    def _post(self, service: str, path: str, body: Any, *, idempotent: bool = False) -> Any:
        return self._session.call(service, Call("POST", path, body), idempotent=idempotent)

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
        return answer(rest.User, self._get("auth", f"{PREFIX}/users/{_seg(username)}"))

    def create_user(
        self,
        username: str,
        password: str,
        role: str,
        tenant: str | None = None,
        host: str | None = None,
    ) -> JSON:
        """Create a user; a tenant user needs ``tenant``, an agent user ``host``."""
        body = _body(username=username, password=password, role=role, tenant=tenant, host=host)
        # A password: to a configured root only, like login.
        return answer(rest.User, self._post("root", f"{PREFIX}/users", body))

    def delete_user(self, username: str) -> None:
        self._delete("auth", f"{PREFIX}/users/{_seg(username)}")

    def logout(self) -> None:
        """Revoke every token of the calling user (this client's token included)."""
        self._post("auth", f"{PREFIX}/auth/logout", None)

    def set_password(
        self, username: str, password: str, current_password: str | None = None
    ) -> JSON:
        """Change a password, revoking the user's tokens; users changing their own give
        ``current_password``. A password: to a configured root only, like login."""
        body = _body(password=password, current_password=current_password)
        path = f"{PREFIX}/users/{_seg(username)}/password"
        # Not retried: after a lost answer, the current password is no longer current.
        return answer(
            rest.User, self._session.call("root", Call("PUT", path, body), idempotent=False)
        )

    def revoke_tokens(self, username: str) -> None:
        """Revoke every token of ``username`` at once (admin)."""
        self._post("auth", f"{PREFIX}/users/{_seg(username)}/revoke", None)

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
        return answer(light.TENANT, self._get("tenant", f"{PREFIX}/tenants/{_seg(name)}"))

    def create_tenant(
        self,
        name: str,
        external_id: str | None = None,
        networks: Sequence[str] | None = None,
        isolation: Mapping[str, str] | None = None,
        owner: str | None = None,
    ) -> JSON:
        body = _body(
            name=name, external_id=external_id, networks=networks, isolation=isolation, owner=owner
        )
        return answer(light.TENANT, self._post("tenant", f"{PREFIX}/tenants", body))

    def set_isolation(self, name: str, isolation: Mapping[str, str]) -> JSON:
        path = f"{PREFIX}/tenants/{_seg(name)}/isolation"
        return answer(light.TENANT, self._put("tenant", path, dict(isolation)))

    def set_tenant_owner(self, name: str, owner: str | None) -> JSON:
        """Hand the tenant to the ``openstack`` user ``owner`` (None: to nobody)."""
        path = f"{PREFIX}/tenants/{_seg(name)}/owner"
        return answer(light.TENANT, self._put("tenant", path, {"owner": owner}))

    def delete_tenant(self, name: str) -> JSON:
        return answer(light.TENANT, self._delete("tenant", f"{PREFIX}/tenants/{_seg(name)}"))

    def add_segment(self, tenant: str, segment: str) -> JSON:
        path = f"{PREFIX}/tenants/{_seg(tenant)}/segments"
        return answer(light.TENANT, self._post("tenant", path, {"name": segment}))

    def remove_segment(self, tenant: str, segment: str) -> JSON:
        path = f"{PREFIX}/tenants/{_seg(tenant)}/segments/{_seg(segment)}"
        return answer(light.TENANT, self._delete("tenant", path))

    # -- quotas --------------------------------------------------------------------------

    def quota_defaults(self) -> JSON:
        return answer(rest.Quotas, self._get("tenant", f"{PREFIX}/quotas"))

    def set_quota_defaults(self, changes: Mapping[str, int]) -> JSON:
        """Change some quota defaults (admin); those not named stay as they are."""
        return answer(rest.Quotas, self._put("tenant", f"{PREFIX}/quotas", dict(changes)))

    def tenant_quota(self, tenant: str) -> JSON:
        """The tenant's limits in force, its overrides and its usage."""
        path = f"{PREFIX}/tenants/{_seg(tenant)}/quota"
        return answer(rest.TenantQuota, self._get("tenant", path))

    def set_tenant_quota(self, tenant: str, changes: Mapping[str, int | None]) -> JSON:
        """Override some of the tenant's quotas (admin); None puts one back to the default."""
        path = f"{PREFIX}/tenants/{_seg(tenant)}/quota"
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
        path = f"{PREFIX}/networks/{_seg(network)}/blackouts"
        return answer(rest.Network, self._put("topology", path, {"cidrs": list(cidrs)}))

    def add_blackouts(self, network: str, cidrs: Sequence[str]) -> JSON:
        """Add blackout ranges, keeping the others; Conflict naming any allocation they hold."""
        path = f"{PREFIX}/networks/{_seg(network)}/blackouts"
        return answer(rest.Network, self._post("topology", path, {"cidrs": list(cidrs)}))

    def remove_blackouts(self, network: str, cidrs: Sequence[str]) -> JSON:
        """Remove blackout ranges, keeping the others; NotFound naming any that is not there."""
        path = f"{PREFIX}/networks/{_seg(network)}/blackouts/remove"
        return answer(rest.Network, self._post("topology", path, {"cidrs": list(cidrs)}))

    def list_hosts(self) -> list[JSON]:
        return answers(rest.Host, self._get("topology", f"{PREFIX}/hosts"))

    def get_host(self, name: str) -> JSON:
        return answer(rest.Host, self._get("topology", f"{PREFIX}/hosts/{_seg(name)}"))

    def add_host(
        self,
        name: str,
        ip: str,
        labels: Mapping[str, str] | None = None,
        ip6: str | None = None,
    ) -> JSON:
        """Register a host; ``ip6`` is its IPv6 underlay address beside an IPv4 ``ip``."""
        body = _body(name=name, ip=ip, ip6=ip6, labels=labels)
        return answer(rest.Host, self._post("topology", f"{PREFIX}/hosts", body))

    def label_host(self, name: str, labels: Mapping[str, str]) -> JSON:
        """Set the host's labels to exactly ``labels``."""
        return answer(
            rest.Host,
            self._session.call(
                "topology",
                Call("PATCH", f"{PREFIX}/hosts/{_seg(name)}", {"labels": dict(labels)}),
                idempotent=False,
            ),
        )

    def remove_host(self, name: str) -> JSON:
        return answer(rest.Host, self._delete("topology", f"{PREFIX}/hosts/{_seg(name)}"))

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
        return answer(light.ALLOCATION, self._get("ipam", f"{PREFIX}/allocations/{_seg(key)}"))

    def release(self, key: str) -> JSON:
        """Release an allocation by key; NotFound when there is none."""
        return answer(light.ALLOCATION, self._delete("ipam", f"{PREFIX}/allocations/{_seg(key)}"))

    def move_allocation(self, key: str, host: str) -> JSON:
        """Make the allocation ``key`` live on ``host``, keeping its addresses; safe to repeat."""
        path = f"{PREFIX}/allocations/{_seg(key)}/host"
        return answer(light.ALLOCATION, self._put("ipam", path, {"host": host}))

    def set_workload(self, key: str, workload: str) -> JSON:
        """Say what holds the allocation ``key`` (``docker:<container id>``); safe to repeat."""
        path = f"{PREFIX}/allocations/{_seg(key)}/workload"
        return answer(light.ALLOCATION, self._put("ipam", path, {"workload": workload}))

    def release_address(self, address: str) -> JSON:
        """Release the allocation holding ``address``; NotFound when it is free."""
        return answer(light.ALLOCATION, self._delete("ipam", f"{PREFIX}/addresses/{_seg(address)}"))

    def decode(self, address: str) -> JSON:
        return answer(light.DECODED, self._get("ipam", f"{PREFIX}/decode/{_seg(address)}"))

    # -- Docker pools --------------------------------------------------------------------

    def bind_docker_pool(self, binding: DockerPool) -> JSON:
        """Bind a Docker network's pool to a tenant, segment and network (``pair``: the other
        pool of a dual-stack network); the binding. Safe to repeat; AlreadyExists naming
        what differs when the pool is bound otherwise."""
        body = {k: v for k, v in binding.to_dict().items() if k != "pool"}
        path = f"{PREFIX}/docker-pools/{_seg(binding.pool)}"
        return answer(rest.DockerPool, self._put("ipam", path, body))

    def get_docker_pool(self, pool: str) -> JSON:
        """The binding of ``pool``; NotFound when it is not bound."""
        path = f"{PREFIX}/docker-pools/{_seg(pool)}"
        return answer(rest.DockerPool, self._get("ipam", path))

    def list_docker_pools(self, tenant: str | None = None) -> list[JSON]:
        path = f"{PREFIX}/docker-pools"
        return answers(rest.DockerPool, self._get("ipam", path, {"tenant": tenant}))

    def delete_docker_pool(self, pool: str) -> JSON:
        """Delete the binding of ``pool``; the deleted binding, NotFound when it is not bound."""
        path = f"{PREFIX}/docker-pools/{_seg(pool)}"
        return answer(rest.DockerPool, self._delete("ipam", path))

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
        path = f"{PREFIX}/external-pools/{_seg(name)}"
        body = _body(cidrs=cidrs, group=group, network=network)
        return answer(rest.ExternalPool, self._put("ipam", path, body))

    def list_external_pools(self) -> list[JSON]:
        return answers(rest.ExternalPool, self._get("ipam", f"{PREFIX}/external-pools"))

    def get_external_pool(self, name: str) -> JSON:
        path = f"{PREFIX}/external-pools/{_seg(name)}"
        return answer(rest.ExternalPool, self._get("ipam", path))

    def delete_external_pool(self, name: str) -> JSON:
        """Delete an external pool; the deleted pool. Conflict while an address of it is
        assigned."""
        path = f"{PREFIX}/external-pools/{_seg(name)}"
        return answer(rest.ExternalPool, self._delete("ipam", path))

    def assign_external_ip(self, pool: str, endpoint: str, address: str | None = None) -> JSON:
        """Assign an external IP of ``pool`` to ``endpoint`` (an allocation key or one of its
        romana addresses): ``address``, or the pool's lowest free one; safe to repeat."""
        body = _body(pool=pool, endpoint=endpoint, address=address)
        path = f"{PREFIX}/external-ips"
        return answer(rest.ExternalIp, self._post("ipam", path, body, idempotent=True))

    def unassign_external_ip(self, address: str) -> JSON:
        """Unassign an external IP; the assignment it was, NotFound when not assigned."""
        path = f"{PREFIX}/external-ips/{_seg(address)}"
        return answer(rest.ExternalIp, self._delete("ipam", path))

    def get_external_ip(self, address: str) -> JSON:
        path = f"{PREFIX}/external-ips/{_seg(address)}"
        return answer(rest.ExternalIp, self._get("ipam", path))

    def list_external_ips(self, pool: str | None = None, key: str | None = None) -> list[JSON]:
        params = {"pool": pool, "key": key}
        return answers(rest.ExternalIp, self._get("ipam", f"{PREFIX}/external-ips", params))

    def egress_nat(self, network: str) -> JSON:
        """The network's egress NAT setting (the default, on, when none was set)."""
        path = f"{PREFIX}/networks/{_seg(network)}/egress-nat"
        return answer(rest.EgressNat, self._get("ipam", path))

    def list_egress_nat(self) -> list[JSON]:
        """Every network's egress NAT setting."""
        return answers(rest.EgressNat, self._get("ipam", f"{PREFIX}/egress-nat"))

    def set_egress_nat(
        self,
        network: str,
        mode: str,
        tenants: Sequence[str] = (),
        no_nat: Sequence[str] = (),
    ) -> JSON:
        """Set the network's egress NAT: ``on``, ``off`` or ``tenants`` (for ``tenants``
        only), never towards ``no_nat``; safe to repeat."""
        path = f"{PREFIX}/networks/{_seg(network)}/egress-nat"
        body = _body(mode=mode, tenants=tenants, no_nat=no_nat)
        return answer(rest.EgressNat, self._put("ipam", path, body))

    # -- VIPs ----------------------------------------------------------------------------

    def create_vip(
        self, name: str, pool: str, endpoints: Sequence[str], address: str | None = None
    ) -> JSON:
        """Create VIP ``name``, an address of external pool ``pool`` (``address``, or its
        lowest free one of the endpoints' family) in front of ``endpoints`` (allocation keys
        or romana addresses); safe to repeat, AlreadyExists naming what differs when the VIP
        exists otherwise."""
        body = _body(name=name, pool=pool, endpoints=endpoints, address=address)
        return answer(rest.Vip, self._post("ipam", f"{PREFIX}/vips", body, idempotent=True))

    def list_vips(self) -> list[JSON]:
        """Every VIP, with the host holding it now."""
        return answers(rest.Vip, self._get("ipam", f"{PREFIX}/vips"))

    def get_vip(self, name: str) -> JSON:
        return answer(rest.Vip, self._get("ipam", f"{PREFIX}/vips/{_seg(name)}"))

    def set_vip_endpoints(self, name: str, endpoints: Sequence[str]) -> JSON:
        """Put the VIP in front of ``endpoints`` instead."""
        path = f"{PREFIX}/vips/{_seg(name)}/endpoints"
        return answer(rest.Vip, self._put("ipam", path, {"endpoints": list(endpoints)}))

    def delete_vip(self, name: str) -> JSON:
        """Delete the VIP, freeing its address; the VIP it was."""
        return answer(rest.Vip, self._delete("ipam", f"{PREFIX}/vips/{_seg(name)}"))

    def lease_vip(self, name: str, host: str, release: bool = False) -> JSON:
        """Ask for (or renew) the VIP's lease as ``host``, or with ``release`` give it up;
        the answer says whether ``host`` holds it and for how long."""
        path = f"{PREFIX}/vips/{_seg(name)}/lease"
        body = {"host": host, "release": release}
        return answer(rest.VipLease, self._post("ipam", path, body, idempotent=True))

    # -- policies ------------------------------------------------------------------------

    def list_policies(self) -> list[JSON]:
        return answers(JSON, self._get("policy", f"{PREFIX}/policies"))

    def get_policy(self, policy_id: str) -> JSON:
        return answer(JSON, self._get("policy", f"{PREFIX}/policies/{_seg(policy_id)}"))

    def add_policies(self, policies: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[JSON]:
        """Store one policy or a list of them (Romana v1 or v2 JSON); the stored policies."""
        body: Any = dict(policies) if isinstance(policies, Mapping) else [dict(p) for p in policies]
        stored = self._post("policy", f"{PREFIX}/policies", body)
        if isinstance(stored, list):
            return answers(JSON, stored)
        if isinstance(stored, dict):
            return [stored]
        raise Unavailable(f"POST /v1/policies: unexpected response {stored!r}")

    def put_policy(self, policy_id: str, policy: Mapping[str, Any]) -> JSON:
        """Store one policy under its id, replacing what the id held (one transaction)."""
        path = f"{PREFIX}/policies/{_seg(policy_id)}"
        return answer(JSON, self._put("policy", path, dict(policy)))

    def remove_policy(self, policy_id: str) -> JSON:
        return answer(JSON, self._delete("policy", f"{PREFIX}/policies/{_seg(policy_id)}"))

    # -- address sets --------------------------------------------------------------------

    def list_address_sets(self) -> list[JSON]:
        return answers(rest.AddressSet, self._get("policy", f"{PREFIX}/address-sets"))

    def get_address_set(self, name: str) -> JSON:
        return answer(rest.AddressSet, self._get("policy", f"{PREFIX}/address-sets/{_seg(name)}"))

    def put_address_set(self, name: str, members: Sequence[str]) -> JSON:
        """Make the set hold exactly ``members`` (created when absent); the stored set."""
        path = f"{PREFIX}/address-sets/{_seg(name)}"
        return answer(rest.AddressSet, self._put("policy", path, {"members": list(members)}))

    def remove_address_set(self, name: str) -> JSON:
        """Delete a set; NotFound when there is none."""
        path = f"{PREFIX}/address-sets/{_seg(name)}"
        return answer(rest.AddressSet, self._delete("policy", path))

    # -- Kubernetes objects --------------------------------------------------------------

    def kube_objects(self) -> JSON:
        """The namespaces, pods and NetworkPolicies the last Kubernetes sync stored."""
        from romana.wire import rest_kube

        return answer(rest_kube.KubeObjects, self._get("policy", f"{PREFIX}/kube/objects"))

    def put_kube_objects(self, record: Mapping[str, Any]) -> JSON:
        """Replace the stored Kubernetes objects (romanad writes only what changed)."""
        from romana.wire import rest_kube

        return answer(
            rest_kube.KubeObjects, self._put("policy", f"{PREFIX}/kube/objects", dict(record))
        )

    # -- routes and the agent's view -----------------------------------------------------

    def routes(self, host: str) -> JSON:
        from romana.wire import rest_hostview

        return answer(
            rest_hostview.RoutePlan, self._get("route", f"{PREFIX}/hosts/{_seg(host)}/routes")
        )

    def report_routing(self, host: str, report: Mapping[str, Any]) -> JSON:
        """Store the host's routing report (a :class:`romana.wire.rest.RoutingReportIn`);
        it replaces the host's previous one."""
        path = f"{PREFIX}/hosts/{_seg(host)}/routing"
        return answer(rest.RoutingReport, self._put("route", path, dict(report)))

    def routing(self, host: str) -> JSON:
        """The host's latest routing report and its age (NotFound when it sent none)."""
        return answer(
            rest.RoutingReport, self._get("route", f"{PREFIX}/hosts/{_seg(host)}/routing")
        )

    def list_routing(self) -> list[JSON]:
        """The latest routing report of every host that sent one."""
        return answers(rest.RoutingReport, self._get("route", f"{PREFIX}/routing"))

    def report_drops(self, host: str, events: Sequence[Mapping[str, Any]]) -> JSON:
        """Send a batch of the drops ``host``'s firewall logged (each a
        :class:`romana.wire.rest_drops.DropEventIn`); romanad keeps them in memory only."""
        from romana.wire import rest_drops

        path = f"{PREFIX}/hosts/{_seg(host)}/drops"
        body = {"events": [dict(e) for e in events]}
        return answer(rest_drops.DropReport, self._post("agent-view", path, body))

    def drops(
        self,
        after: int = 0,
        wait: float = 0.0,
        host: str | None = None,
        tenant: str | None = None,
    ) -> JSON:
        """The drop events after ``after`` the caller may read, of ``host`` and with a side
        in ``tenant`` when given; with ``wait``, waits up to that long for the first.
        ``last`` in the answer is the next call's ``after``."""
        from romana.wire import rest_drops

        params: Params = {"after": after, "wait": wait, "host": host, "tenant": tenant}
        call = Call("GET", f"{PREFIX}/drops", params=params, timeout=wait + self._session.timeout)
        return answer(
            rest_drops.DropEvents, self._session.call("agent-view", call, idempotent=True)
        )

    def host_view(self, host: str, after: int | None = None, wait: float | None = None) -> JSON:
        """The host's view; with ``after``, waits up to ``wait`` s for a newer revision."""
        from romana.wire import rest_hostview

        params: dict[str, str | int | float | None] = {"after": after, "wait": wait}
        timeout = None if wait is None else wait + self._session.timeout
        return answer(
            rest_hostview.HostView,
            self._session.call(
                "agent-view",
                Call("GET", f"{PREFIX}/hosts/{_seg(host)}/view", params=params, timeout=timeout),
                idempotent=True,
            ),
        )
