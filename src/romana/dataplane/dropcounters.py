"""The kernel's counts of attributed drops, read from the backends' named counters.

Both backends count each drop reason in two named objects that outlive any rewrite of the
rules using them: the drops and the logged drops. nftables (:mod:`romana.core.render.nftables`)
declares ``counter`` objects ``dropped-<id>`` and ``logged-<id>`` in our table;
:func:`from_nft` reads them from ``nft -j list counters`` (or a listing of the whole
table). iptables (:mod:`romana.core.render.iptables`) counts in kernel accounting objects
``romana-dropped-<id>`` and ``romana-logged-<id>`` (:mod:`romana.dataplane.nfacct`);
:func:`from_accounts` reads those.

The counts are keyed by :data:`Key`, whose last member, the generation, changes whenever
the objects under it may have been made anew, and so started again from zero: the handle
of the ``dropped-`` counter for nftables (a replaced table makes new objects with new
handles); for iptables a number the caller keeps per reason and moves on each time it
deletes the reason's objects (:class:`romana.agent.firewall.Iptables`). A key seen before
therefore only ever grows, and a new key is a new counter: whoever accumulates the counts
adds the growth of a key it saw and the whole value of one it did not, and never has to
read the counters before an apply. Nothing here runs a command: the adapters list, this
module reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from romana.core import dropreasons, kernelnames

Key = tuple[str, int, int, int]
"""(where, reason id, occurrence, generation): ("", reason id, 0, generation) from both
backends, whose objects count a reason wherever its rules are."""
Counts = dict[Key, tuple[int, int]]
"""Key → (packets dropped, packets logged)."""

_PREFIX = re.compile(rf"{re.escape(kernelnames.DROP_LOG_PREFIX)}([0-9a-f]+)")
_COUNTER = re.compile(
    rf"^({re.escape(dropreasons.DROPPED_COUNTER)}|{re.escape(dropreasons.LOGGED_COUNTER)})"
    r"([0-9a-f]{12})$"
)


def reason_of(prefix: str) -> int | None:
    """The reason id a log prefix names, None for a prefix that is not ours."""
    found = _PREFIX.search(prefix)
    return int(found.group(1), 16) if found else None


def _split(name: str) -> tuple[bool, int] | None:
    """(is the drops' counter, reason id) of a counter name of ours; None for others."""
    found = _COUNTER.match(name)
    if found is None:
        return None
    return found.group(1) == dropreasons.DROPPED_COUNTER, int(found.group(2), 16)


def from_nft(listing: Mapping[str, Any] | None) -> Counts:
    """The counts in ``nft -j list counters table ...`` (or ``list table``) output, from our
    ``dropped-``/``logged-`` counter objects (None: no table, no counts)."""
    if listing is None:
        return {}
    dropped: dict[int, tuple[int, int]] = {}  # reason → (handle, packets)
    logged: dict[int, int] = {}
    for item in listing.get("nftables", ()):
        counter = item.get("counter") if isinstance(item, dict) else None
        found = _split(str(counter.get("name", ""))) if isinstance(counter, dict) else None
        if counter is None or found is None:
            continue
        is_dropped, rid = found
        packets = int(counter.get("packets", 0))
        if is_dropped:
            dropped[rid] = (int(counter.get("handle", 0)), packets)
        else:
            logged[rid] = packets
    return {("", rid, 0, handle): (n, logged.get(rid, 0)) for rid, (handle, n) in dropped.items()}


def reason_of_account(name: str) -> int | None:
    """The reason id an accounting object of ours counts for, None for other names."""
    found = _split(name.removeprefix(dropreasons.ACCOUNT_PREFIX))
    return found[1] if found is not None else None


def from_accounts(packets: Mapping[str, int], generations: Mapping[int, int]) -> Counts:
    """The counts in the accounting objects read (name → packets), each reason under its
    generation in ``generations`` (0 when absent)."""
    dropped: dict[int, int] = {}
    logged: dict[int, int] = {}
    for name, count in packets.items():
        found = _split(name.removeprefix(dropreasons.ACCOUNT_PREFIX))
        if found is not None:
            (dropped if found[0] else logged)[found[1]] = count
    return {
        ("", rid, 0, generations.get(rid, 0)): (n, logged.get(rid, 0)) for rid, n in dropped.items()
    }
