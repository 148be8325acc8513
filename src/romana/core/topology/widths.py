"""Field widths for Romana v2 networks, and what any network's widths hold.

A Romana v2 document sizes a network by ``block_mask``: the prefix length of the address
blocks v2 handed to a (host, tenant:segment) owner on demand, as many as the host's group
range held. Our plan has no blocks: each host prefix is cut once into fixed tenant, segment and
endpoint fields. Reading ``block_mask`` as the endpoint width (a /29 giving 3 endpoint bits)
left 6 addresses per (host, tenant, segment) where v2 gave thousands, so the widths of a
network given with ``block_mask`` (and no ``endpoint_bits``) are chosen instead:

* Tenant and segment widths are the given ones or the defaults. The rest of the network's bits,
  its *room*, is split between topology bits T and endpoint bits E. A small network (v2 took
  any prefix) whose defaults leave E less than its floor below gets narrower tenant and segment
  widths, those the document did not give, just enough for the floor (:func:`narrowed`).
* E *wants* ``max(POD_ENDPOINT_BITS, address bits - block_mask)``: 7 bits (126 endpoints) hold
  kubelet's default ``maxPods`` (110) in one (host, tenant, segment), and v2's block size stays
  a floor. Every other bit goes to T: more hosts, since a v2 host group had no host limit.
* T never drops below what the topology's groups and listed hosts need
  (:func:`tree_bits`); E then shrinks below its wanted width (and :func:`capacity` warns with
  the numbers), but never below the block floor (then the document is refused).
* Networks of one topology share T, since a host has the same index in each: T is fixed by
  a network there with explicit widths, else it is the smallest T any of its ``block_mask``
  networks wants; each ``block_mask`` network's E is the room it has left.

The chosen widths are written into the applied document, so a stored topology never depends
on this rule again; re-applying the same v2 document chooses the same widths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from romana.core import addressing, records
from romana.core.topology import carving

KUBELET_MAX_PODS = 110
"""kubelet's default ``maxPods``: the pods one node runs, possibly all of one namespace."""


def endpoint_bits_for(endpoints: int) -> int:
    """The fewest endpoint bits giving ``endpoints`` user ordinals (``2**e - 2 >= endpoints``)."""
    return max(2, (endpoints + 1).bit_length())


POD_ENDPOINT_BITS = endpoint_bits_for(KUBELET_MAX_PODS)


def tree_bits(raw_map: object) -> int:
    """Topology bits the ``map`` of a raw topology entry needs: its group levels and its
    listed hosts (a leaf listing ``k`` hosts needs ``ceil(log2 k)`` bits).

    Malformed input counts as needing nothing: the parser reports it with its field path.
    """
    if not isinstance(raw_map, list) or not raw_map:
        return 0
    if len(raw_map) == 1 and isinstance(raw_map[0], Mapping) and "ip" not in raw_map[0]:
        # A map of one group makes that group the root: it takes no slot bits.
        return _contents_bits(raw_map[0].get("groups"), 0)
    return _contents_bits(raw_map, 0)


def _contents_bits(raw: object, depth: int) -> int:
    # Depth is capped like the parser's MAX_DEPTH, so a hostile document cannot recurse deep.
    if not isinstance(raw, list) or not raw or depth > 64:
        return 0
    own = carving.slot_bits(len(raw))
    if any(isinstance(item, Mapping) and "ip" in item for item in raw):
        return own
    below = (
        _contents_bits(item.get("groups"), depth + 1) for item in raw if isinstance(item, Mapping)
    )
    return own + max(below, default=0)


def narrowed(
    tenant_bits: int, segment_bits: int, excess: int, given: tuple[bool, bool]
) -> tuple[int, int] | None:
    """Tenant and segment widths ``excess`` bits narrower in all: a bit at a time from the
    wider of the two (the segment field on a tie), never from a width the document gave
    (``given``: tenant, segment), tenant bits never below 1 (tenant 0 is infrastructure).
    The widths unchanged when ``excess <= 0``; None when they cannot give that much."""
    t, s = tenant_bits, segment_bits
    for _ in range(max(0, excess)):
        can_t, can_s = not given[0] and t > 1, not given[1] and s > 0
        if can_s and (s >= t or not can_t):
            s -= 1
        elif can_t:
            t -= 1
        else:
            return None
    return t, s


@dataclass(frozen=True, slots=True)
class Room:
    """A ``block_mask`` network's bits below its tenant and segment fields, and E's floor."""

    bits: int
    floor: int
    """``address bits - block_mask``: the endpoint bits of one v2 block."""

    @property
    def wanted_topology_bits(self) -> int:
        """T when E gets exactly its wanted width (may be negative for a tiny network)."""
        return self.bits - max(POD_ENDPOINT_BITS, self.floor)


def shared_topology_bits(rooms: Iterable[Room], fixed: int | None, need: int) -> int:
    """T for one topology: ``fixed`` (set by a network with explicit widths) when given, else
    the smallest T its ``block_mask`` networks want, but at least ``need``."""
    if fixed is not None:
        return fixed
    return max(0, need, min((r.wanted_topology_bits for r in rooms), default=0))


@dataclass(frozen=True, slots=True)
class Capacity:
    """What one network's widths hold: hosts, tenants, segments, endpoints per slot."""

    network: str
    cidr: str
    topology_bits: int
    tenant_bits: int
    segment_bits: int
    endpoint_bits: int
    host_prefixlen: int
    hosts: int
    tenants: int
    """User tenant ids (0 is infrastructure)."""
    segments: int
    """Segments per tenant."""
    endpoints: int
    """Endpoints per (host, tenant, segment): ordinals ``1 … 2**endpoint_bits - 2``."""

    @property
    def warnings(self) -> tuple[str, ...]:
        if self.endpoints >= KUBELET_MAX_PODS:
            return ()
        return (
            f"network {self.network!r} ({self.cidr}): a host prefix /{self.host_prefixlen} "
            f"holds {self.endpoints} endpoints per tenant and segment (endpoint_bits "
            f"{self.endpoint_bits}), fewer than kubelet's default maxPods "
            f"{KUBELET_MAX_PODS}: a node is refused pod {self.endpoints + 1} of one "
            "namespace and segment. Give the network a shorter prefix, fewer topology bits "
            "(fewer group levels or hosts), or narrower tenant_bits or segment_bits",
        )

    def to_dict(self) -> dict[str, object]:
        return records.fields_dict(self) | {"warnings": list(self.warnings)}


def capacity(lay: addressing.Layout) -> Capacity:
    """The capacity of the network ``lay``."""
    return Capacity(
        lay.name,
        str(lay.cidr),
        lay.topology_bits,
        lay.tenant_bits,
        lay.segment_bits,
        lay.endpoint_bits,
        lay.host_prefixlen,
        lay.max_hosts,
        lay.max_tenant,
        lay.max_segment + 1,
        lay.endpoints_per_segment,
    )
