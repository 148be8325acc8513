"""The kernel's counts of attributed drops, read from what the firewall tools list.

Both renderers put, right before each attributed drop rule, a rule with the same matches
that logs to the drop log group with prefix ``romana-drop:<id>``
(:mod:`romana.core.render.nftables`, :mod:`romana.core.render.iptables`). Here the listings
are read back: each log rule names the reason; the rule after it in the same chain is its
drop, whose counter is every packet dropped for the reason there; the log rule's own
counter is the packets logged.

The counts are keyed by :data:`Key` — (chain, reason id, occurrence of the reason in that
chain) — because a kernel counter starts again from zero when its chain is rewritten, and
only a key that names one rule lets the caller tell a reset (the value went down) from
growth. Nothing here runs a command: the adapters list, this module reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from romana.core import kernelnames

Key = tuple[str, int, int]
"""(chain, reason id, how many rules of that reason came before in the chain)."""
Counts = dict[Key, tuple[int, int]]
"""Key → (packets dropped, packets logged)."""

_PREFIX = re.compile(rf"{re.escape(kernelnames.DROP_LOG_PREFIX)}([0-9a-f]+)")
_SAVED = re.compile(r"^\[(\d+):(\d+)\] -A (\S+) (.*)$")
_DROPS = ("-j DROP", "-j REJECT", "--jump DROP", "--jump REJECT")


def reason_of(prefix: str) -> int | None:
    """The reason id a log prefix names, None for a prefix that is not ours."""
    found = _PREFIX.search(prefix)
    return int(found.group(1), 16) if found else None


def _pairs(rules: Iterable[tuple[str, int | None, int, bool]]) -> Counts:
    """From (chain, reason of a log rule or None, packets, is a drop) in listing order."""
    counts: Counts = {}
    seen: dict[tuple[str, int], int] = {}
    pending: tuple[str, int, int] | None = None  # (chain, reason, packets logged)
    for chain, reason, packets, is_drop in rules:
        if pending is not None and pending[0] == chain and is_drop:
            _, rid, logged = pending
            occurrence = seen.get((chain, rid), 0)
            seen[chain, rid] = occurrence + 1
            counts[chain, rid, occurrence] = (packets, logged)
        pending = (chain, reason, packets) if reason is not None else None
    return counts


def from_nft(listing: Mapping[str, Any] | None) -> Counts:
    """The counts in ``nft -j list table`` output (None: no table, no counts)."""
    if listing is None:
        return {}
    rows = []
    for item in listing.get("nftables", ()):
        rule = item.get("rule") if isinstance(item, dict) else None
        if not isinstance(rule, dict):
            continue
        reason = None
        packets = 0
        is_drop = False
        for expr in rule.get("expr", ()):
            if not isinstance(expr, dict):
                continue
            if "log" in expr and isinstance(expr["log"], dict):
                reason = reason_of(str(expr["log"].get("prefix", "")))
            elif "counter" in expr and isinstance(expr["counter"], dict):
                packets = int(expr["counter"].get("packets", 0))
            elif "drop" in expr or "reject" in expr:
                is_drop = True
        rows.append((str(rule.get("chain", "")), reason, packets, is_drop))
    return _pairs(rows)


def from_iptables_save(text: str, family: int = 4) -> Counts:
    """The counts in ``iptables-save -c`` output (of any table; only ours are read); the
    chains of ``ip6tables-save`` are keyed ``CHAIN/6``, as each family counts on its own."""
    rows = []
    for line in text.splitlines():
        found = _SAVED.match(line)
        if found is None or not found.group(3).startswith(kernelnames.IPTABLES_PREFIX):
            continue
        body = found.group(4)
        reason = reason_of(body) if "NFLOG" in body else None
        is_drop = any(body.endswith(d) or f"{d} " in body for d in _DROPS)
        chain = found.group(3) if family == 4 else f"{found.group(3)}/{family}"
        rows.append((chain, reason, int(found.group(1)), is_drop))
    return _pairs(rows)
