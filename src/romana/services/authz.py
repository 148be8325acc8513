"""Roles, actions and the one authorisation rule: who may do what, on whose objects.

:data:`GRANTS` is the whole permission matrix, as data: for each role, the actions it may do
and the :class:`Scope` it may do them in. :func:`authorize` reads nothing else, and handlers
never compare roles themselves: they name the action and, for objects that belong to a
tenant or a host, that owner.

Invariants:

* A scoped grant needs the owner named and equal to the principal's own: a tenant user acts
  only on objects of its tenant, an agent only on objects of the one host its user is bound
  to, an ``openstack`` user only on objects whose recorded owner is its user name (the
  tenants it created or an admin handed to it, and their objects; the address sets it
  created). A call that names no owner (a global read, a list over every host) is refused to
  all three.
* An owner is what romanad recorded on the object, never read from the object's name: the
  caller passes the record's ``owner`` (:mod:`romana.api.ownership` reads it), and a write
  that creates an owned object records the creator (:func:`claim`).
* For an object a route fetched by its id (:func:`authorize` with ``missing``), a scoped principal
  asking about another owner's object gets the answer a missing object gets, so 403 versus
  404 never tells whether it exists.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass

from romana.core.errors import Forbidden, NotFound
from romana.core.identifiers import HostName, TenantName


class Role(enum.StrEnum):
    ADMIN = "admin"
    SERVICE = "service"
    TENANT = "tenant"
    AGENT = "agent"
    OPENSTACK = "openstack"
    """Neutron's drivers: act only in the tenants they own (docs/openstack.md)."""
    INTERNAL = "internal"
    """romanad's own identity (:data:`romana.services.auth.INTERNAL_USER`): may only register
    service instances. It has no password, and no user can be created with it."""


class Action(enum.StrEnum):
    READ = "read"
    """Read state; tenant-scoped when a tenant is named, host-scoped when a host is."""
    READ_TOPOLOGY = "read-topology"
    """Read the whole topology document: networks, groups, every host and its underlay
    address. An agent needs it to compute per-host routes."""
    WRITE = "write"
    """Change state; tenant-scoped when a tenant is named."""
    CREATE_TENANT = "create-tenant"
    """Create a tenant; a creator scoped to what it owns becomes the new tenant's owner."""
    ALLOCATE = "allocate"
    """Allocate or release addresses for a tenant on a host."""
    MOVE_ALLOCATION = "move-allocation"
    """Move an allocation to another host (a migrated VM keeps its addresses): never for a
    tenant or an agent user, since it reroutes an address on every host."""
    REGISTER_HOST = "register-host"
    """Add a host or change its labels."""
    MANAGE_USERS = "manage-users"
    """Create, list and delete users, set another user's password, revoke a user's tokens,
    list and rotate the signing keys."""
    SET_ISOLATION = "set-isolation"
    """Change how a tenant's endpoints are isolated: admin only, since it opens or closes
    every endpoint of the tenant at once."""
    SET_OWNER = "set-owner"
    """Hand an existing tenant to an ``openstack`` user, or take it back: admin only, since
    the owner acts on every object of the tenant."""
    SET_QUOTA = "set-quota"
    """Set the quota defaults or one tenant's quotas: admin only, since quotas are what keeps
    one tenant from loading every agent and romanad."""
    SYNC_KUBERNETES = "sync-kubernetes"
    """Make romanad hold what a set of Kubernetes objects implies (``POST /v1/kube/apply``,
    ``romana policy apply``): creates and removes the namespaces' tenants and the nodes'
    hosts, writes ``kube.*`` policies and address sets of every namespace; never for a tenant
    or an agent user, since it reaches across tenants and hosts."""
    BIND_DOCKER_POOL = "bind-docker-pool"
    """Bind a Docker network's IPAM pool to a tenant, segment and network: an agent binds
    only as its own host, the one where ``docker network create`` ran."""
    USE_DOCKER_POOLS = "use-docker-pools"
    """Read, list and delete Docker pool bindings: every agent, since a Docker network is
    shared by every host of the Docker cluster (any host's dockerd attaches containers to
    it and may remove it); never a tenant user."""
    MANAGE_EXTERNAL = "manage-external"
    """Create, read and delete external address pools and set or read each network's egress
    NAT: admin only, since a pool claims addresses outside romana's networks and NAT decides
    how every endpoint reaches them."""
    ASSIGN_EXTERNAL_IP = "assign-external-ip"
    """Assign, unassign, read and list the external IPs of endpoints: a tenant user only for
    its own tenant's endpoints, an ``openstack`` user only for the endpoints of the tenants
    it owns, an agent (which lists none) only for the endpoints living on its own host (the
    Docker plugin's ``romana.external-ip``)."""
    MANAGE_VIPS = "manage-vips"
    """Create, read, list, re-point and delete VIPs: admin and services (the Kubernetes
    listener makes one per LoadBalancer Service); never a tenant user or an agent, since a VIP
    takes an external address and forwards it to any tenant's endpoints."""
    LEASE_VIP = "lease-vip"
    """Ask for, renew or give up a VIP's lease: an agent only as its own host; never a
    service or a tenant user, since the lease decides which host answers for the address."""
    REPORT_ROUTING = "report-routing"
    """Store a host's routing report (its BGP sessions, the routes it learned and installs):
    an agent reports only for its own host; never a service or a tenant user, since the
    report is what operators trust to say how a host routes."""
    REPORT_DROPS = "report-drops"
    """Send the drops a host's firewall logged (``POST /v1/hosts/{name}/drops``): an agent
    only for its own host; never a service or a tenant user, since readers trust the host an
    event names as the one that dropped the packet."""
    REGISTER_SERVICE = "register-service"
    """Register or deregister an instance of a service with the root: admin and romanad's
    internal identity only, since clients send their calls (and tokens) to what is
    registered."""


class Scope(enum.StrEnum):
    """On whose objects a role may do an action."""

    ANY = "any"
    """Every object, whichever tenant or host it belongs to."""
    OWN_TENANT = "own tenant"
    """Objects of the principal's tenant only."""
    OWN_HOST = "own host"
    """Objects of the host the principal is bound to only."""
    OWNED = "owned"
    """Objects whose recorded owner is the principal's user name only: tenants it created
    (or was handed) and their objects, address sets it created."""


def _grant(scope: Scope, *actions: Action) -> Mapping[Action, Scope]:
    return types.MappingProxyType(dict.fromkeys(actions, scope))


_NOT_FOR_SERVICES = (
    Action.MANAGE_USERS,
    Action.SET_ISOLATION,
    Action.SET_OWNER,
    Action.SET_QUOTA,
    Action.REPORT_ROUTING,
    Action.REPORT_DROPS,
    Action.REGISTER_SERVICE,
    Action.MANAGE_EXTERNAL,
    Action.LEASE_VIP,
)

GRANTS: Mapping[Role, Mapping[Action, Scope]] = types.MappingProxyType(
    {
        Role.ADMIN: _grant(Scope.ANY, *Action),
        # A service (an orchestrator integration) does everything but manage users, change a
        # tenant's isolation or owner (it chooses them when it creates a tenant), set quotas,
        # report a host's routing or drops, register services, manage external pools and NAT, and
        # lease VIPs (an agent's, as its host).
        Role.SERVICE: _grant(Scope.ANY, *(a for a in Action if a not in _NOT_FOR_SERVICES)),
        # Nothing global: a tenant user reads and changes its tenant's objects only.
        Role.TENANT: _grant(
            Scope.OWN_TENANT,
            Action.READ,
            Action.WRITE,
            Action.ALLOCATE,
            Action.ASSIGN_EXTERNAL_IP,
        ),
        # An agent's credential sits on its node: stolen, it must not reach other hosts. It
        # reads its own host's view and record, allocates on its host (for any tenant, since
        # pods of every tenant run there), registers and relabels only its host, reads
        # the topology, which per-host routes are computed from, binds Docker pools as its
        # host and uses every binding (a Docker network spans the Docker cluster's hosts),
        # reports its host's routing and drops, leases VIPs as its host and assigns external IPs to
        # endpoints living on its host (a Docker container's ``romana.external-ip``).
        Role.AGENT: types.MappingProxyType(
            {
                Action.READ: Scope.OWN_HOST,
                Action.ALLOCATE: Scope.OWN_HOST,
                Action.REGISTER_HOST: Scope.OWN_HOST,
                Action.READ_TOPOLOGY: Scope.ANY,
                Action.BIND_DOCKER_POOL: Scope.OWN_HOST,
                Action.USE_DOCKER_POOLS: Scope.ANY,
                Action.REPORT_ROUTING: Scope.OWN_HOST,
                Action.REPORT_DROPS: Scope.OWN_HOST,
                Action.LEASE_VIP: Scope.OWN_HOST,
                Action.ASSIGN_EXTERNAL_IP: Scope.OWN_HOST,
            }
        ),
        # Neutron's drivers: they create a tenant per project and then act only in the
        # tenants they own (segments, allocations on any host, moves, policies, address sets
        # they created). They read the topology to place subnets and bind ports, and may not
        # register hosts, apply topology, manage users, set quotas or isolation, sync
        # Kubernetes, nor delete tenants. They assign external IPs (a port's binding profile
        # asks for one) only to allocations of the tenants they own; the pools stay an
        # admin's.
        Role.OPENSTACK: types.MappingProxyType(
            {
                Action.CREATE_TENANT: Scope.OWNED,
                Action.READ_TOPOLOGY: Scope.ANY,
                Action.READ: Scope.OWNED,
                Action.WRITE: Scope.OWNED,
                Action.ALLOCATE: Scope.OWNED,
                Action.MOVE_ALLOCATION: Scope.OWNED,
                Action.ASSIGN_EXTERNAL_IP: Scope.OWNED,
            }
        ),
        Role.INTERNAL: _grant(Scope.ANY, Action.REGISTER_SERVICE),
    }
)
"""Role → action → scope; an action a role's mapping lacks is refused to it."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as established from a verified token."""

    username: str
    role: Role
    tenant: TenantName | None
    host: HostName | None = None
    """The one host an agent user is bound to; None for other roles."""


def scope_of(principal: Principal, action: Action) -> Scope | None:
    """The scope in which ``principal`` may do ``action``; None when not at all."""
    return GRANTS[principal.role].get(action)


@dataclass(frozen=True, slots=True)
class Target:
    """The objects an action is on: of ``tenant``, on ``host``, recorded as owned by
    ``owner``; None where the call names no such tenant, host or owner."""

    tenant: str | None = None
    host: str | None = None
    owner: str | None = None


ANY_OBJECT = Target()
"""An action on no object of one tenant, host or owner (listing users, the topology)."""


def _allowed(principal: Principal, scope: Scope | None, target: Target) -> bool:
    if scope is Scope.ANY:
        return True
    if scope is Scope.OWN_TENANT:
        return target.tenant is not None and target.tenant == principal.tenant
    if scope is Scope.OWN_HOST:
        return target.host is not None and target.host == principal.host
    if scope is Scope.OWNED:
        return target.owner is not None and target.owner == principal.username
    return False


def authorize(
    principal: Principal,
    action: Action,
    target: Target = ANY_OBJECT,
    *,
    missing: str | None = None,
) -> None:
    """Raise Forbidden unless :data:`GRANTS` lets ``principal`` do ``action`` on ``target``.

    ``missing``: the object was fetched by id, key, address or name, and a principal scoped
    to another tenant, host or owner gets NotFound(``missing``), the answer a missing object
    gets, so that a refusal does not tell it the object exists."""
    scope = scope_of(principal, action)
    if _allowed(principal, scope, target):
        return
    if missing is not None and scope not in (None, Scope.ANY):
        raise NotFound(missing)
    who = f"{principal.role} user {principal.username!r}"
    if scope is Scope.OWN_HOST:
        host = target.host
        what = f"of host {host!r}" if host is not None else "not of one host"
        raise Forbidden(
            f"{who} is bound to host {principal.host!r} and may not {action} objects {what}"
        )
    where = f" of tenant {target.tenant!r}" if target.tenant is not None else ""
    if scope is Scope.OWNED:
        but = f", not objects{where}" if where else ""
        raise Forbidden(f"{who} may {action} only objects it owns{but}")
    raise Forbidden(f"{who} may not {action} objects{where}")


def may(principal: Principal, action: Action, target: Target = ANY_OBJECT) -> bool:
    """:func:`authorize` as a predicate, for filtering lists."""
    return _allowed(principal, scope_of(principal, action), target)


def claim(principal: Principal, action: Action) -> str | None:
    """Who a write of ``principal`` that may create an object must check and record as its
    owner: None when ``principal`` may do ``action`` on any object, its user name when only
    on objects it owns (the write then creates the object as that user's, or changes it only
    when recorded so, in one transaction). Forbidden when it may not do ``action`` at all or
    only in one tenant or host."""
    scope = scope_of(principal, action)
    if scope is Scope.ANY:
        return None
    if scope is Scope.OWNED:
        return principal.username
    authorize(principal, action)
    raise AssertionError("authorize refuses a scoped grant naming no owner")
