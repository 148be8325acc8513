"""The two firewall backends the agent can drive, behind one small interface.

Both take a whole :class:`romana.core.ruleset.Ruleset`, render it with the pure renderers
(``romana.core.render``) and hand the text to the dataplane adapters
(``romana.dataplane.nftables``, ``romana.dataplane.iptables``), which run every ``nft``,
``iptables`` and ``ipset`` command; this module only chooses what to apply and when.
:class:`Nftables` applies, when told which ruleset the table holds now, the delta script
(:func:`romana.core.render.nftables.render_delta`), one transaction; otherwise (a full
resync, or the kernel refused the delta) it rewrites every chain and set of the table in
place (:func:`romana.core.render.nftables.render_rebuild`), one transaction that keeps the
table and so the named drop counters in it; it replaces the table whole
(:func:`romana.core.render.nftables.render`) only on its first apply, whose ruleset left
by an earlier agent it does not know, or when the kernel refuses the rebuild;
:class:`Iptables` loads the ``romana*`` ipsets (temporary twin + swap), rewrites the
``ROMANA-*`` chains with ``iptables-restore --noflush`` (filter chains in table ``filter``,
NAT chains in table ``nat``) and ensures the jumps from the built-in chains, then deletes
our chains of either table, with the jumps into them, and our sets that the new ruleset no
longer has (policies removed meanwhile, or by an earlier agent). Nothing not ours is ever
named. ``remove`` takes everything of ours away (teardown).

``drop_counts`` reads the kernel's counts of attributed drops
(:mod:`romana.dataplane.dropcounters`), keyed so that a key only ever grows and a counter
started again from zero comes under a new key; an apply never reads them. The counts live
in named objects that a rewrite of the rules leaves alone: ``counter`` objects of the
nftables table, kernel accounting objects (:mod:`romana.dataplane.nfacct`) for iptables,
which :class:`Iptables` makes before the rules that use them and deletes once no rule
does. ``drop_log=False`` renders the rules without their drop log statements (the drops
are still counted).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from romana.core import dropreasons, ruleset
from romana.core.render import iptables as render_iptables
from romana.core.render import nftables as render_nftables
from romana.dataplane import dropcounters, nfacct, proc
from romana.dataplane import iptables as iptables_adapter
from romana.dataplane import nftables as nftables_adapter

log = logging.getLogger(__name__)


class Nftables:
    """Table ``inet romana``: replaced whole, or changed where it differs."""

    name = "nftables"

    def __init__(self, netns: str | None = None, *, drop_log: bool = True) -> None:
        self._nft = nftables_adapter.Nftables(netns=netns)
        self._drop_log = drop_log
        self._applied: ruleset.Ruleset | None = None

    def apply(self, rules: ruleset.Ruleset, current: ruleset.Ruleset | None = None) -> bool:
        """Make the table hold ``rules``; ``current`` is what it holds now, if known. True
        when the table was gone (deleted by hand) and was put back."""
        missing = False
        if current is not None:
            script = render_nftables.render_delta(current, rules, drop_log=self._drop_log)
            if script == "":
                return False
            if script is not None:
                try:
                    self._nft.apply(script)
                    self._applied = rules
                    return False
                except proc.CommandFailed as exc:
                    log.warning("incremental nft update failed, rewriting the table: %s", exc)
                    missing = not self._nft.exists()
        # Asked as late as can be: the whole table is put back either way, and a table
        # deleted between an earlier look and this apply would be restored uncounted.
        missing = missing or (current is None and not self._nft.exists())
        previous = current if current is not None else self._applied
        # A table that is gone holds no counters to keep: it is simply made again.
        if previous is not None and not missing:
            try:
                self._nft.apply(
                    render_nftables.render_rebuild(rules, previous, drop_log=self._drop_log)
                )
                self._applied = rules
                return missing
            except proc.CommandFailed as exc:
                log.warning("rewriting the nft table in place failed, replacing it: %s", exc)
        self._nft.apply(render_nftables.render(rules, drop_log=self._drop_log))
        self._applied = rules
        return missing

    def present(self) -> bool:
        return self._nft.exists()

    def drop_counts(self) -> dropcounters.Counts:
        """The kernel's counts of attributed drops in our table (its counter objects only)."""
        return dropcounters.from_nft(self._nft.read_counters())

    def remove(self) -> None:
        """Delete our table, filter and NAT chains alike."""
        self._nft.delete()


def _uses_ipv6(rules: ruleset.Ruleset) -> bool:
    if any(s.version == 6 for s in rules.sets):
        return True
    return any(rule.version == 6 for chain in rules.chains for rule in chain.rules)


class Iptables:
    """Chains ``ROMANA-*`` in the filter table, sets ``ROMANA-*`` in ipset."""

    name = "iptables"

    def __init__(
        self, netns: str | None = None, *, legacy: bool = False, drop_log: bool = True
    ) -> None:
        self._v4 = iptables_adapter.Iptables(netns=netns, legacy=legacy)
        self._v6 = iptables_adapter.Iptables(ip6=True, netns=netns, legacy=legacy)
        self._hooks: tuple[render_iptables.HookJump, ...] = ()
        self._v6_used = False
        self._drop_log = drop_log
        self._accounting = nfacct.Accounting(dropreasons.ACCOUNT_PREFIX, netns)
        self._accounts: frozenset[str] | None = None  # those the applied rules use
        # A reason's objects deleted (its rules gone) and made again count from zero: each
        # deletion moves the reason to a new generation, which its counts are keyed by. The
        # lock keeps a read of the counts from falling between the two.
        self._lock = threading.Lock()
        self._generation: dict[int, int] = {}

    def apply(self, rules: ruleset.Ruleset, current: ruleset.Ruleset | None = None) -> bool:
        """Make our chains and sets hold ``rules`` (``current`` is not needed: a restore
        rewrites exactly the chains it declares). True when a jump from a built-in chain
        into ours was missing and put back."""
        with self._lock:
            return self._apply(rules)

    def _apply(self, rules: ruleset.Ruleset) -> bool:
        text = render_iptables.render(rules, drop_log=self._drop_log)
        self._accounting.ensure(text.accounts)
        families = [(self._v4, text.filter_v4, text.nat_v4)]
        self._v6_used = _uses_ipv6(rules)
        if self._v6_used:
            families.append((self._v6, text.filter_v6, text.nat_v6))
        self._v4.apply("", text.ipsets, jumps=())
        # A missing jump counts as repaired only if an earlier apply had made it; one into
        # a chain new to this ruleset is simply made.
        known = [_jump(h) for h in text.hooks if h in self._hooks]
        new = [_jump(h) for h in text.hooks if h not in self._hooks]
        restored = 0
        for tables, filter_text, nat_text in families:
            for table, restore in (("filter", filter_text), ("nat", nat_text)):
                if restore:
                    ours = [j for j in known if j.table == table]
                    restored += tables.apply(restore, "", jumps=ours)
                    tables.ensure_jumps([j for j in new if j.table == table])
        for tables, *_ in families:
            for table, wanted in (("filter", text.chains), ("nat", text.nat_chains)):
                stale = sorted(set(tables.owned_chains(table)) - set(wanted))
                tables.remove_chains(table, stale)
        stale_sets = sorted(set(self._v4.owned_sets()) - set(text.sets))
        if stale_sets:
            self._v4.apply("", render_iptables.render_removal((), stale_sets).ipsets, jumps=())
        self._hooks = text.hooks
        if self._accounts is not None:
            self._delete_accounts(self._accounts - set(text.accounts))
        self._accounts = frozenset(text.accounts)
        return restored > 0

    def _delete_accounts(self, names: Iterable[str]) -> None:
        """Delete accounting objects no rule uses any more; their reasons' counts move to a
        new generation, as the objects, if made again, count from zero."""
        names = sorted(names)
        self._accounting.delete(names)
        for name in names:
            rid = dropcounters.reason_of_account(name)
            if rid is not None:
                self._generation[rid] = self._generation.get(rid, 0) + 1

    def drop_counts(self) -> dropcounters.Counts:
        """The kernel's counts of attributed drops, both families together, from our
        accounting objects. Objects no applied rule uses (left by an earlier agent, whose
        rules are gone) are deleted here rather than on the apply path, which reads no
        counts."""
        with self._lock:
            packets = self._accounting.read()
            if self._accounts is not None:
                left = set(packets) - self._accounts
                if left:
                    self._delete_accounts(left)
                    packets = {n: c for n, c in packets.items() if n not in left}
            return dropcounters.from_accounts(packets, self._generation)

    def present(self) -> bool:
        """Our chains exist and every built-in chain still jumps into them."""
        if not self._v4.owned_chains():
            return False
        return self._v4.jumps_present([_jump(h) for h in self._hooks])

    def remove(self) -> None:
        """Delete our chains of both tables and both families with the jumps into them,
        then our sets (the last, once no rule refers to them)."""
        for tables in (self._v6, self._v4):
            tables.remove("nat", sets=False)
            tables.remove("filter", sets=False)
        self._v4.remove("filter")
        self._hooks = ()
        with self._lock:
            self._delete_accounts(self._accounting.read())
            self._accounts = None


def _jump(hook: render_iptables.HookJump) -> iptables_adapter.Jump:
    return iptables_adapter.Jump(hook.table, hook.builtin, hook.chain)


def backend(name: str, netns: str | None = None, *, drop_log: bool = True) -> Nftables | Iptables:
    """The firewall backend called ``name`` (``nftables`` or ``iptables``); ``drop_log``:
    whether attributed drops are logged as well as counted."""
    if name == "iptables":
        return Iptables(netns, drop_log=drop_log)
    return Nftables(netns, drop_log=drop_log)
