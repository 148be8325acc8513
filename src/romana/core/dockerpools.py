"""Docker pool bindings: which romana tenant, segment and network a Docker network's pool is.

romana's Docker IPAM driver answers ``RequestPool`` with a pool id of its own making
(:data:`POOL_PREFIX` and :data:`POOL_HEX` random hex digits) on the host where
``docker network create`` runs. When ``CreateNetwork`` follows there, the pool is *bound*:
romanad records the tenant, segment and romana network it stands for, the Docker network's
id and the host that bound it. Every other host of the Docker cluster meets the network only
through its pool id (``RequestAddress``) and reads the binding to know whose address to
allocate. Here are the record and the syntax of its identifiers; the agent's driver and
romanad's service both check against these patterns.

Invariants:

* A binding is written once: binding a pool again with the same content is the same
  binding; with any other content it is refused naming the field that differs
  (:func:`differing`).
* A pool id is exactly :data:`POOL_PATTERN`, a Docker network id :data:`DOCKER_NETWORK_PATTERN`;
  :func:`check` names every field that breaks its rule.
* A dual-stack Docker network (``--ipv6``) has two pools, an IPv4 one and an IPv6 one, each
  bound on its own to a romana network of its family; each binding names the other pool as
  its ``pair`` (empty for an IPv4-only network), which is how an IPv4 endpoint address leads
  to the IPv6 one of the same allocation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from romana.core import names, records
from romana.core.errors import Issues
from romana.core.identifiers import HostName, NetworkName, SegmentName, TenantName

POOL_PREFIX = "romana-"
POOL_HEX = 24
"""How many random lower-case hex digits follow :data:`POOL_PREFIX` in a pool id."""
POOL_MAX = len(POOL_PREFIX) + POOL_HEX
POOL_RULE = f"must be '{POOL_PREFIX}' and {POOL_HEX} lower-case hex digits (a romana pool id)"
POOL_PATTERN = names.register(rf"^{POOL_PREFIX}[0-9a-f]{{{POOL_HEX}}}$", POOL_RULE)
POOL_RE = re.compile(POOL_PATTERN)

DOCKER_NETWORK_MAX = 128
DOCKER_NETWORK_RULE = "must be 1-128 lower-case hex digits (a Docker network id)"
DOCKER_NETWORK_PATTERN = names.register(
    rf"^[0-9a-f]{{1,{DOCKER_NETWORK_MAX}}}$", DOCKER_NETWORK_RULE
)
DOCKER_NETWORK_RE = re.compile(DOCKER_NETWORK_PATTERN)


@dataclass(frozen=True, slots=True)
class DockerPool:
    """The Docker network whose IPAM pool is ``pool``: its romana tenant, segment and
    network, its Docker id ``docker_network``, and the host whose driver bound it."""

    pool: str
    tenant: TenantName
    segment: SegmentName
    network: NetworkName
    docker_network: str
    host: HostName
    pair: str = ""
    """The other pool of a dual-stack Docker network; empty for an IPv4-only one."""

    def to_dict(self) -> dict[str, object]:
        return records.fields_dict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> DockerPool:
        return cls(
            pool=str(raw["pool"]),
            tenant=TenantName(str(raw["tenant"])),
            segment=SegmentName(str(raw["segment"])),
            network=NetworkName(str(raw["network"])),
            docker_network=str(raw["docker_network"]),
            host=HostName(str(raw["host"])),
            pair=str(raw.get("pair", "")),
        )


def is_pool(value: object) -> bool:
    """Whether ``value`` is a pool id of romana's making."""
    return names.matches(POOL_RE, value)


def check(binding: DockerPool) -> None:
    """InvalidInput naming every field of ``binding`` whose syntax breaks its rule."""
    issues = Issues()
    if not is_pool(binding.pool):
        issues.add("pool", f"{binding.pool!r} {POOL_RULE}")
    if binding.pair and not is_pool(binding.pair):
        issues.add("pair", f"{binding.pair!r} {POOL_RULE}, or empty")
    elif binding.pair and binding.pair == binding.pool:
        issues.add("pair", "must be another pool than the binding's own")
    for field, pattern, rule in (
        ("tenant", names.NAME_RE, names.NAME_RULE),
        ("segment", names.NAME_RE, names.NAME_RULE),
        ("network", names.NETWORK_RE, names.NETWORK_RULE),
        ("docker_network", DOCKER_NETWORK_RE, DOCKER_NETWORK_RULE),
        ("host", names.HOST_RE, names.HOST_RULE),
    ):
        if not names.matches(pattern, getattr(binding, field)):
            issues.add(field, rule)
    issues.raise_if_any()


def differing(stored: DockerPool, wanted: DockerPool) -> list[str]:
    """The fields in which ``wanted`` differs from the ``stored`` binding, in field order."""
    return [f.name for f in fields(stored) if getattr(stored, f.name) != getattr(wanted, f.name)]
