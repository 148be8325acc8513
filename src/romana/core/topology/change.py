"""What replacing one topology with another does to the state kept per network.

Allocated addresses, tenant ids and blackouts are stored per network *name*, and an address
means (host index, tenant id, segment id, ordinal) only through its network's CIDR and widths.
So before a new topology is applied, each old network that holds state is matched to its
*successor* in the new one, and the change is refused when it would change what stored state
means. Rules:

* The successor is the new network with the same CIDR (CIDRs never overlap within a
  topology, so there is at most one); when the name differs, the network is *renamed* and its
  state moves to the new name. Without a same-CIDR network, a new network of the same name
  is the successor (its CIDR changed), unless that one is another network's renamed
  successor; otherwise the network is removed.
* An old network whose name a renamed network takes over, and which is not renamed itself,
  is *dropped*: what it left (tenant ids, blackouts) must go, or it would mix with the state
  moving in.
* A network holding addresses must keep its CIDR and its widths, and every host owning
  addresses in it must keep its index there.
* A network whose tenant ids are held must still have room for the highest of them, and
  for the highest segment id of every tenant pinned to it (a segment id is the same in every
  network of its tenant, so it must fit each of them).

:func:`plan` returns the :class:`Change`, or raises one :class:`Conflict` naming every
conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from romana.core import addressing
from romana.core.errors import Conflict, NotFound
from romana.core.identifiers import NetworkName
from romana.core.topology import model

_LISTED = 10
_WIDTHS = ("tenant_bits", "segment_bits", "endpoint_bits")


@dataclass(frozen=True, slots=True)
class Held:
    """What the store holds in one network."""

    addresses: Mapping[int, int] = field(default_factory=dict)
    """Host index → how many addresses are allocated in that host's prefix."""
    max_tenant_id: int = 0
    """The highest tenant id held in the network (0: none)."""
    top_segments: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    """Tenant pinned to the network → its segment with the highest id, as (name, id)."""

    @property
    def total(self) -> int:
        return sum(self.addresses.values())


@dataclass(frozen=True, slots=True)
class Change:
    """Where the per-network state goes when the new topology is applied."""

    renames: Mapping[NetworkName, NetworkName] = field(default_factory=dict)
    """Old name → new name of every renamed network."""
    dropped: frozenset[NetworkName] = frozenset()
    """Old networks whose name a renamed network takes over."""


def successors(old: model.Topology, new: model.Topology) -> dict[str, addressing.Layout | None]:
    """Old network name → the network of ``new`` carrying it on (rules in the docstring)."""
    by_cidr = {lay.cidr: lay for lay in new.layouts.values()}
    claimed = {by_cidr[lay.cidr].name for lay in old.layouts.values() if lay.cidr in by_cidr}
    found: dict[str, addressing.Layout | None] = {}
    for name, lay in old.layouts.items():
        same_name = new.layouts.get(name)
        if lay.cidr in by_cidr:
            found[name] = by_cidr[lay.cidr]
        elif same_name is not None and same_name.name not in claimed:
            found[name] = same_name
        else:
            found[name] = None
    return found


def plan(old: model.Topology, new: model.Topology, held: Mapping[str, Held]) -> Change:
    """What replacing ``old`` by ``new`` does to the per-network state.

    ``held`` maps an old network's name to what the store holds in it (absent: nothing).

    Raises:
        Conflict: naming every network, host and width the change would break.
    """
    renames: dict[NetworkName, NetworkName] = {}
    conflicts: list[str] = []
    for name, after in successors(old, new).items():
        lay = old.layouts[name]
        if after is not None and after.name != name:
            renames[lay.name] = after.name
        conflicts.extend(_network_conflicts(old, new, lay, after, held.get(name, Held())))
    if conflicts:
        shown = conflicts[:_LISTED]
        if len(conflicts) > _LISTED:
            shown.append(f"and {len(conflicts) - _LISTED} more")
        raise Conflict(f"the new topology {'; '.join(shown)}")
    dropped = frozenset(n for n in renames.values() if n in old.layouts and n not in renames)
    return Change(renames, dropped)


def _network_conflicts(
    old: model.Topology,
    new: model.Topology,
    lay: addressing.Layout,
    after: addressing.Layout | None,
    state: Held,
) -> list[str]:
    name = f"network {lay.name!r} ({lay.cidr})"
    count = state.total
    holds = f"which holds {count} allocated addresses; release them first"
    if count and after is None:
        return [f"removes {name}, {holds}"]
    if count and after is not None and after.cidr != lay.cidr:
        return [f"changes the CIDR of {name} to {after.cidr}, {holds}"]
    if after is None:
        return []
    changed = [
        f"{w} {getattr(lay, w)} -> {getattr(after, w)}"
        for w in _WIDTHS
        if getattr(lay, w) != getattr(after, w)
    ]
    if count and changed:
        return [
            f"changes the widths of {name}: {', '.join(changed)}; it holds {count} allocated "
            "addresses, whose host, tenant, segment and endpoint would then read differently; "
            "release them first"
        ]
    found: list[str] = []
    if state.max_tenant_id > after.max_tenant:
        found.append(
            f"gives {name} tenant_bits {after.tenant_bits} (ids up to {after.max_tenant}), "
            f"but tenant id {state.max_tenant_id} is held there; delete those tenants first"
        )
    for tenant, (segment, sid) in sorted(state.top_segments.items()):
        if sid > after.max_segment:
            found.append(
                f"gives {name} segment_bits {after.segment_bits} (segment ids up to "
                f"{after.max_segment}), but tenant {tenant!r}, pinned to it, has segment "
                f"{segment!r} with id {sid}; remove that segment first"
            )
    if count:
        found.extend(_host_conflicts(old, new, lay, after, state))
    return found


def _host_conflicts(
    old: model.Topology,
    new: model.Topology,
    lay: addressing.Layout,
    after: addressing.Layout,
    state: Held,
) -> list[str]:
    owners = {}
    for host in old.hosts:
        index = model.placement(old, host.name).indices.get(lay.name)
        if index is not None:
            owners[index] = host.name
    found = []
    for index in sorted(state.addresses.keys() & owners.keys()):
        owner = owners[index]
        where = f"{model.host_prefix(lay, index)} in network {lay.name!r}"
        holds = f"{state.addresses[index]} allocated addresses; release them first"
        try:
            moved_to = model.placement(new, owner).indices.get(after.name)
        except NotFound:
            found.append(f"removes host {owner!r}, whose prefix {where} holds {holds}")
            continue
        if moved_to is None:
            found.append(
                f"gives host {owner!r} no prefix in network {after.name!r}, but its prefix "
                f"{where} holds {holds}"
            )
        elif moved_to != index:
            found.append(
                f"moves host {owner!r} from index {index} to {moved_to}; its prefix {where} "
                f"holds {holds}"
            )
    return found
