"""Docker pool bindings over the store: bind, get, list, delete (:mod:`romana.core.dockerpools`).

A binding is the one piece of cluster-wide state romana's Docker driver needs: the host where
``docker network create`` ran binds the pool it handed out to a tenant, segment and romana
network, and every host of the Docker cluster reads it to allocate addresses of that network.
Each binding is one key, ``docker-pools/<pool>`` (:mod:`romana.services.keys`), written once.

Invariants:

* A binding names a tenant that exists, one of its segments, a romana network the tenant
  allocates in (one it holds an id in), and a host of the topology, as of the transaction
  that writes it: that transaction guards the tenant and topology records it checked, so a
  concurrent change of either makes it check again. Bad input writes nothing.
* Binding a pool again with the same content answers the stored binding and writes nothing;
  other content is AlreadyExists naming each field that differs.
* Bindings change nothing an agent enforces: the host-view wait ignores their prefix
  (:mod:`romana.services.hostview`).
"""

from __future__ import annotations

from romana.core import dockerpools, tenancy
from romana.core.dockerpools import DockerPool
from romana.core.errors import AlreadyExists, Issues, NotFound
from romana.core.identifiers import TenantName
from romana.core.store import Delete, Put, Store
from romana.services import keys, txn
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService


def not_bound(pool: str) -> str:
    """What a pool without a binding answers (404)."""
    return f"docker pool {pool} is not bound: its network was not created through romana"


class DockerPoolService:
    def __init__(self, store: Store, tenants: TenantService, topology: TopologyService) -> None:
        self._store = store
        self._tenants = tenants
        self._topology = topology

    def get(self, pool: str) -> DockerPool:
        kv = self._store.get(keys.docker_pool(pool))
        if kv is None:
            raise NotFound(not_bound(pool))
        return DockerPool.from_dict(txn.loads(kv))

    def list(self, tenant: TenantName | None = None) -> list[DockerPool]:
        """Every binding, by pool id; only ``tenant``'s when one is named."""
        found = [
            DockerPool.from_dict(raw)
            for raw in txn.loads_all(self._store.range(keys.DOCKER_POOLS).items)
        ]
        return [b for b in found if tenant is None or b.tenant == tenant]

    def bind(self, binding: DockerPool) -> DockerPool:
        """Record ``binding`` (idempotent for the same content); see the module docstring."""
        dockerpools.check(binding)
        key = keys.docker_pool(binding.pool)

        def attempt(w: txn.Writes) -> DockerPool:
            kv = self._store.get(key)
            if kv is not None:
                return _same(DockerPool.from_dict(txn.loads(kv)), binding)
            tkv, tenant = self._tenants.stored(binding.tenant)
            _check_segment(tenant, binding)
            view = self._topology.view()
            view.topology.host(binding.host)
            _check_network(tenant, binding, sorted(view.layouts))
            w.guard(key, None)
            w.guard(tkv.key, tkv)
            w.guard(keys.TOPOLOGY, view.kv)
            w.ops.append(Put(key, txn.dumps(binding.to_dict())))
            return binding

        return txn.run(self._store, attempt, what=f"bind docker pool {binding.pool}")

    def delete(self, pool: str) -> DockerPool:
        """Delete the binding of ``pool``; the deleted binding, NotFound when there is none."""
        key = keys.docker_pool(pool)

        def attempt(w: txn.Writes) -> DockerPool:
            kv = self._store.get(key)
            if kv is None:
                raise NotFound(not_bound(pool))
            w.guard(key, kv)
            w.ops.append(Delete(key))
            return DockerPool.from_dict(txn.loads(kv))

        return txn.run(self._store, attempt, what=f"delete docker pool {pool}")


def _same(stored: DockerPool, wanted: DockerPool) -> DockerPool:
    """``stored`` when ``wanted`` is the same binding; AlreadyExists naming what differs."""
    differing = dockerpools.differing(stored, wanted)
    if not differing:
        return stored
    what = ", ".join(f"{f} {getattr(stored, f)!r} (not {getattr(wanted, f)!r})" for f in differing)
    raise AlreadyExists(
        f"docker pool {stored.pool} is bound already, with {what}; a binding is never changed: "
        "remove the Docker network first"
    )


def _check_segment(tenant: tenancy.Tenant, binding: DockerPool) -> None:
    if binding.segment not in tenant.segments:
        raise NotFound(
            f"tenant {tenant.name!r} has no segment {binding.segment!r} "
            f"(its segments: {', '.join(sorted(tenant.segments))})"
        )


def _check_network(tenant: tenancy.Tenant, binding: DockerPool, networks: list[str]) -> None:
    """InvalidInput at ``network`` unless the tenant allocates in that network."""
    issues = Issues()
    if binding.network not in networks:
        issues.add(
            "network",
            f"network {binding.network!r} does not exist "
            f"(networks: {', '.join(networks) or 'none'})",
        )
    elif binding.network not in tenant.ids:
        issues.add(
            "network",
            f"tenant {tenant.name!r} does not allocate in network {binding.network!r} "
            f"(it allocates in: {', '.join(sorted(tenant.ids)) or 'none'})",
        )
    issues.raise_if_any()
