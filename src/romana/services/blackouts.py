"""Blackouts: the address ranges of a network that IPAM never hands out.

A network's blackouts are one record (``blackouts/<network>``) of CIDR texts, replaced,
extended or shrunk in one store transaction each (:func:`change_blackouts`).

Invariant: a blackout never covers an allocated address. A change reads the address keys its
new ranges could hold and guards that range unchanged (:meth:`txn.Writes.guard_range`); an
allocation guards the blackouts record it read (:mod:`romana.services.ipam`). Whichever
commits second sees the first, so an allocation racing a blackout either lands outside it or
makes the blackout refuse, naming every allocation it would cover. Only ranges new to the list
are checked: re-stating a range an older romanad let cover an address does not block every
later change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from romana.core import addressing, ipam
from romana.core.errors import Conflict, NotFound
from romana.core.identifiers import AllocationKey, NetworkName
from romana.core.store import Put, Store
from romana.services import keys, txn
from romana.services.topology import TopologyService

Blackouts = tuple[addressing.IPNetwork, ...]

MAX_RANGE_GUARDS = 16
"""More distinct key ranges than this are guarded as the whole network: one guard each would
swell the transaction (etcd refuses more than 128 compares by default)."""

MAX_NAMED = 10
"""How many held addresses a refusal names; the rest are counted."""


def _covering(lay: addressing.Layout, net: addressing.IPNetwork) -> str:
    """The narrowest address-key prefix under which every address of ``net`` is stored.

    Key parts follow the address fields most significant first, so a range within one slot
    (or one host) has all its keys under that slot's (or host's) prefix.
    """
    first = addressing.decode(lay, net.network_address)
    last = addressing.decode(lay, net.broadcast_address)
    if first.host != last.host:
        return keys.addr_network(lay.name)
    if (first.tenant, first.segment) != (last.tenant, last.segment):
        return keys.addr_host(lay.name, first.host)
    return keys.addr_slot(lay.name, first.host, first.tenant, first.segment)


def change_blackouts(
    store: Store,
    topology: TopologyService,
    network: NetworkName,
    cidrs: Sequence[str],
    change: Callable[[Blackouts, Blackouts], Blackouts],
    what: str,
) -> list[str]:
    """The network's blackouts after ``change(current, given)``, checked and committed."""

    def attempt(w: txn.Writes) -> list[str]:
        view = topology.view()
        if network not in view.layouts:
            raise NotFound(f"network {network!r} does not exist")
        lay = view.layouts[network]
        given = ipam.parse_blackouts(lay, cidrs)
        bkv = store.get(keys.blackouts(network))
        # Stored ranges were checked when written; a parse here must not reject them anew.
        current = tuple(ipaddress.ip_network(t) for t in (txn.loads(bkv) if bkv else ()))
        wanted = change(current, given)
        # Only ranges new to the list are checked: re-stating a range an older romanad let
        # cover an address must not block every later change to the list.
        added = [n for n in wanted if n not in current]
        if added:
            _refuse_held(store, w, lay, added)
        w.guard(keys.TOPOLOGY, view.kv)
        w.guard(keys.blackouts(network), bkv)
        texts = [str(n) for n in wanted]
        if bkv is None or texts != txn.loads(bkv):
            w.ops.append(Put(keys.blackouts(network), txn.dumps(texts)))
        return texts

    return txn.run(store, attempt, what=f"{what} blackouts of network {network!r}")


def _refuse_held(
    store: Store, w: txn.Writes, lay: addressing.Layout, ranges: Sequence[addressing.IPNetwork]
) -> None:
    """Conflict naming every allocation inside ``ranges``; else guard that none appears."""
    prefixes = {_covering(lay, net) for net in ranges}
    if len(prefixes) > MAX_RANGE_GUARDS:
        prefixes = {keys.addr_network(lay.name)}
    # Keyed by address: one range's prefix may lie inside another's, and be read twice.
    held: dict[addressing.IPAddress, tuple[addressing.IPNetwork, AllocationKey]] = {}
    for prefix in sorted(prefixes):
        found = store.range(prefix)
        w.guard_range(prefix, found.revision)
        for kv in found.items:
            _, host, tid, seg, ordinal = keys.parse_addr(kv.key)
            addr = addressing.encode(lay, host, tid, seg, ordinal)
            inside = next((net for net in ranges if addr in net), None)
            if inside is not None:
                held[addr] = (inside, AllocationKey(kv.value.decode()))
    if not held:
        return
    first = sorted(held, key=int)[:MAX_NAMED]
    named = [f"{a} in {held[a][0]} ({_describe(store, held[a][1])})" for a in first]
    more = f" and {len(held) - MAX_NAMED} more" if len(held) > MAX_NAMED else ""
    raise Conflict(
        f"cannot black out {', '.join(str(n) for n in ranges)} in network {lay.name!r}: "
        f"allocated {'address' if len(held) == 1 else 'addresses'} "
        f"{'; '.join(named)}{more}; release {'it' if len(held) == 1 else 'them'} first"
    )


def _describe(store: Store, key: AllocationKey) -> str:
    """``key 'k', host 'h1', tenant 't', segment 's'``: an allocation as the store has it."""
    kv = store.get(keys.alloc_key(key))
    if kv is None:  # released since the range was read; the retry will not see it either
        return f"key {key!r}"
    alloc = ipam.Allocation.from_dict(txn.loads(kv))
    return f"key {key!r}, host {alloc.host!r}, tenant {alloc.tenant!r}, segment {alloc.segment!r}"
