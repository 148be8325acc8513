"""The nftables spelling of attributed drops: their log statements and their counters.

An attributed drop (:attr:`romana.core.ruleset.Rule.drop`) becomes two rules with the
same matches (:mod:`romana.core.render.nftables` writes them)::

    ... limit rate 10/second burst 20 packets limit name "romana-drop-log"
        counter name "logged-<id>" log group 7 prefix "romana-drop:<id>"
    ... counter name "dropped-<id>" drop

The first logs what it matches to netlink log group 7, at most at the rule's own rate
(:data:`dropreasons.DROP_LOG_RATE`) and, through the named ``limit`` object
``romana-drop-log`` that every log rule of the table takes from, at most at the host's
(:data:`dropreasons.DROP_LOG_HOST_RATE`, both families together): a flood across many
rules logs no more than one across a single rule would. The per-rule limit comes first, so
one flooded rule uses at most its own share of the host's bucket; limits are matches in
nftables, so neither sits on the drop, which drops everything it matches. Without the drop
log (``drop_log=False``) the log rules and the limit object are left out and the drops are
counted all the same.

The counts are named ``counter`` objects, two per reason (``dropped-<id>``, ``logged-<id>``),
declared in the table and referenced by every rule of the reason: a reason's counts live as
long as the table and the reason do, not as long as a rule. A declaration of an object that
exists leaves it (and its count) alone; a counter is deleted only once no rule refers to
it. Whoever reads them tells a new object from an old one by its handle
(:mod:`romana.dataplane.dropcounters`).
"""

from __future__ import annotations

from collections.abc import Iterable

from romana.core import dropreasons, kernelnames, ruleset


def reasons(chains: Iterable[ruleset.Chain]) -> list[ruleset.DropReason]:
    """The drop reasons of the rules of ``chains``, each once, in order of their labels."""
    found = {r.drop.label: r.drop for c in chains for r in c.rules if r.drop is not None}
    return [found[label] for label in sorted(found)]


def objects(of: list[ruleset.DropReason], drop_log: bool) -> list[str]:
    """Declarations of the host's log bucket and of the two counters of each reason
    (``logged-`` only when drops are logged), one a line, for the body of the table."""
    lines = []
    if drop_log:
        rate = f"rate {dropreasons.DROP_LOG_HOST_RATE}/second"
        burst = f"burst {dropreasons.DROP_LOG_HOST_BURST} packets"
        lines.append(f"\tlimit {dropreasons.DROP_LOG_LIMIT} {{ {rate} {burst} }}")
    for reason in of:
        lines.append(f"\tcounter {dropreasons.DROPPED_COUNTER}{reason.label} {{}}")
        if drop_log:
            lines.append(f"\tcounter {dropreasons.LOGGED_COUNTER}{reason.label} {{}}")
    return lines


def deletions(gone: Iterable[ruleset.DropReason], ref: str) -> list[str]:
    """Commands deleting the counters of reasons no rule of table ``ref`` has any more."""
    return [
        f"delete counter {ref} {prefix}{reason.label}"
        for reason in gone
        for prefix in (dropreasons.DROPPED_COUNTER, dropreasons.LOGGED_COUNTER)
    ]


def log(reason: ruleset.DropReason) -> list[str]:
    """What follows the matches in the rule before an attributed drop: the rule's limit,
    the host's, the counter of the packets logged and the log statement; no verdict, so
    every packet goes on to the drop."""
    limit = f"limit rate {ruleset.DROP_LOG_RATE}/second burst {ruleset.DROP_LOG_BURST} packets"
    prefix = f"{kernelnames.DROP_LOG_PREFIX}{reason.label}"
    return [
        limit,
        f'limit name "{dropreasons.DROP_LOG_LIMIT}"',
        f'counter name "{dropreasons.LOGGED_COUNTER}{reason.label}"',
        f'log group {kernelnames.DROP_LOG_GROUP} prefix "{prefix}"',
    ]


def drop_counter(reason: ruleset.DropReason) -> str:
    """The statement counting, on the drop itself, every packet dropped for ``reason``."""
    return f'counter name "{dropreasons.DROPPED_COUNTER}{reason.label}"'
