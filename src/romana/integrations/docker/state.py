"""What the Docker plugin remembers: this host's pending pool, pool bindings, endpoint map.

* The *pending pool*: RequestPool on the host running ``docker network create`` makes a pool
  id that romanad learns of only at CreateNetwork, which does not name the pool but its CIDR.
  At most one pool is pending per host, so CreateNetwork finds its own; a second RequestPool
  waits (:data:`PENDING_WAIT`) for the first to be bound or released, then fails. A
  ``--ipv6`` network's IPv6 pool, which docker asks for after the IPv4 one and before
  CreateNetwork, is pending beside it and settles with it.
* Bindings read from romanad, by pool id: a binding never changes once written
  (:mod:`romana.core.dockerpools`), so one read serves every later RequestAddress.
* The endpoint map, EndpointID → the endpoint's allocation key (with its tenant, segment and
  address): Join, Leave and DeleteEndpoint name only the EndpointID, and the map must outlive
  an agent restart between them. It is the file ``docker-endpoints.json`` in the agent's
  state directory, replaced whole on each change (a temporary file written and fsynced, then
  renamed over it, then the directory fsynced; mode 0600). DeleteEndpoint moves an endpoint
  from the map to its *deleted* endpoints, where ReleaseAddress takes it by address: an
  address is released only under the key the plugin mapped for it, so a late ReleaseAddress
  (a dockerd restarted after GC reclaimed the endpoint and gave its address to another) never
  releases another endpoint's allocation. A file that cannot be read is
  moved aside (``.unreadable``) for an operator and logged, never deleted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from romana import durable
from romana.core import addressing
from romana.core.dockerpools import DockerPool
from romana.core.errors import Conflict
from romana.integrations.docker.protocol import Choice

log = logging.getLogger(__name__)

PENDING_WAIT = 10.0
MAP_FILE = "docker-endpoints.json"
MAP_VERSION = 1


@dataclass(frozen=True, slots=True)
class PendingPool:
    """A pool RequestPool answered on this host that CreateNetwork has not bound yet."""

    pool_id: str
    network: addressing.Layout
    """The romana network it stands for; the pool is its whole CIDR."""
    options: Choice
    """The romana options given with ``--ipam-opt``."""


class Pools:
    """The pending pool of this host and the bindings read so far (module docstring)."""

    def __init__(self, wait: float = PENDING_WAIT) -> None:
        self._wait = wait
        self._pending: PendingPool | None = None
        self._pending6: PendingPool | None = None
        self._changed = asyncio.Condition()
        self._bound: dict[str, DockerPool] = {}

    async def reserve(self, pool: PendingPool) -> None:
        """Make ``pool`` this host's pending pool once no other is; Conflict after the wait."""
        async with self._changed:
            try:
                async with asyncio.timeout(self._wait):
                    await self._changed.wait_for(lambda: self._pending is None)
            except TimeoutError:
                raise Conflict("another docker network is being created on this host") from None
            self._pending, self._pending6 = pool, None

    def reserve6(self, pool: PendingPool) -> None:
        """Make ``pool`` the IPv6 pool pending beside this host's pending IPv4 pool; Conflict
        when there is none, or it has one already."""
        if self._pending is None or self._pending6 is not None:
            raise Conflict(
                "docker asked for an IPv6 pool with no IPv4 pool of its network pending on "
                "this host: romana's networks are IPv4 or dual-stack"
            )
        self._pending6 = pool

    def pending(self, pool_id: str) -> PendingPool | None:
        for found in (self._pending, self._pending6):
            if found is not None and found.pool_id == pool_id:
                return found
        return None

    def pending_of(self, cidr: str, version: int = 4) -> PendingPool | None:
        found = self._pending if version == 4 else self._pending6
        return found if found is not None and str(found.network.cidr) == cidr else None

    async def settle(self, pool_id: str, binding: DockerPool | None = None) -> bool:
        """``pool_id`` is pending no more (bound as ``binding``, or released); whether it was.
        The IPv4 pool takes the IPv6 pool pending beside it along."""
        async with self._changed:
            if binding is not None:
                self._bound[pool_id] = binding
            if self._pending6 is not None and self._pending6.pool_id == pool_id:
                self._pending6 = None
                return True
            if self.pending(pool_id) is None:
                return False
            self._pending, self._pending6 = None, None
            self._changed.notify_all()
            return True

    def bound(self, pool_id: str) -> DockerPool | None:
        return self._bound.get(pool_id)

    def remember(self, binding: DockerPool) -> None:
        self._bound[binding.pool] = binding

    def forget(self, pool_id: str) -> None:
        self._bound.pop(pool_id, None)


@dataclass(frozen=True, slots=True)
class MappedEndpoint:
    """One Docker endpoint of this host: its allocation key, whose it is, its address, and
    its IPv6 address on a dual-stack network ("" on an IPv4-only one)."""

    key: str
    tenant: str
    segment: str
    address: str
    address6: str = ""
    sandbox: str = ""
    """The sandbox key it is joined to; "" while it is not joined."""


class EndpointMap:
    """EndpointID → :class:`MappedEndpoint`, kept in step on disk (module docstring)."""

    def __init__(self, state_dir: str) -> None:
        self._path = Path(state_dir) / MAP_FILE
        self._items, self._deleted = self._load()

    def _load(self) -> tuple[dict[str, MappedEndpoint], dict[str, MappedEndpoint]]:
        try:
            raw = json.loads(self._path.read_bytes())
            return _mapped(raw["endpoints"]), _mapped(raw.get("deleted", {}))
        except FileNotFoundError:
            return {}, {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self._path.with_name(self._path.name + ".unreadable")
            os.replace(self._path, aside)
            log.error(
                "docker endpoint map %s is unreadable (%s); moved to %s", self._path, exc, aside
            )
            return {}, {}

    def get(self, endpoint_id: str) -> MappedEndpoint | None:
        return self._items.get(endpoint_id)

    def keys(self) -> dict[str, str]:
        """EndpointID → allocation key, for every endpoint in the map."""
        return {eid: item.key for eid, item in self._items.items()}

    def joined_besides(self, sandbox: str, endpoint_id: str) -> bool:
        """Whether an endpoint other than ``endpoint_id`` is joined to ``sandbox``."""
        return any(e.sandbox == sandbox for k, e in self._items.items() if k != endpoint_id)

    def put(self, endpoint_id: str, endpoint: MappedEndpoint) -> None:
        if self._items.get(endpoint_id) == endpoint:
            return
        self._save({**self._items, endpoint_id: endpoint}, self._deleted)

    def forget(self, endpoint_id: str) -> MappedEndpoint | None:
        """DeleteEndpoint: the endpoint leaves the map for the deleted ones."""
        gone = self._items.get(endpoint_id)
        if gone is not None:
            items = {k: v for k, v in self._items.items() if k != endpoint_id}
            self._save(items, {**self._deleted, gone.key: gone})
        return gone

    def take_deleted(self, address: str) -> list[MappedEndpoint]:
        """ReleaseAddress: the deleted endpoints holding ``address`` (either of a dual-stack
        endpoint's), taken out: the release of its other address finds nothing."""
        taken = [d for d in self._deleted.values() if address in (d.address, d.address6)]
        if taken:
            kept = {k: v for k, v in self._deleted.items() if v not in taken}
            self._save(self._items, kept)
        return taken

    def _save(self, items: dict[str, MappedEndpoint], deleted: dict[str, MappedEndpoint]) -> None:
        """Replace the file with ``items`` and ``deleted``, durably, then hold them in memory."""
        document = {
            "version": MAP_VERSION,
            "endpoints": {eid: asdict(item) for eid, item in sorted(items.items())},
            "deleted": {key: asdict(item) for key, item in sorted(deleted.items())},
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        durable.replace_file(self._path, json.dumps(document, indent=1).encode())
        self._items, self._deleted = items, deleted


def _mapped(raw: dict[str, dict[str, object]]) -> dict[str, MappedEndpoint]:
    return {
        str(name): MappedEndpoint(**{k: str(v) for k, v in item.items()})
        for name, item in raw.items()
    }
