"""The two firewall backends the agent can drive, behind one small interface.

Both take a whole :class:`romana.core.ruleset.Ruleset`, render it with the pure renderers
(``romana.core.render``) and hand the text to the dataplane adapters
(``romana.dataplane.nftables``, ``romana.dataplane.iptables``), which run every ``nft``,
``iptables`` and ``ipset`` command; this module only chooses what to apply and when.
:class:`Nftables` replaces table ``inet romana`` in one ``nft -f`` transaction — or, when
told which ruleset the table holds now, applies the delta script
(:func:`romana.core.render.nftables.render_delta`), still in one transaction, falling back
to replacing the table when the kernel refuses the delta;
:class:`Iptables` loads the ``romana*`` ipsets (temporary twin + swap), rewrites the
``ROMANA-*`` chains with ``iptables-restore --noflush`` (filter chains in table ``filter``,
NAT chains in table ``nat``) and ensures the jumps from the built-in chains, then deletes
our chains of either table, with the jumps into them, and our sets that the new ruleset no
longer has (policies removed meanwhile, or by an earlier agent). Nothing not ours is ever
named. ``remove`` takes everything of ours away (teardown). ``drop_counts`` reads the
kernel's counts of attributed drops (:mod:`romana.dataplane.dropcounters`).
"""

from __future__ import annotations

import logging

from romana.core import ruleset
from romana.core.render import iptables as render_iptables
from romana.core.render import nftables as render_nftables
from romana.dataplane import dropcounters, proc
from romana.dataplane import iptables as iptables_adapter
from romana.dataplane import nftables as nftables_adapter

log = logging.getLogger(__name__)


class Nftables:
    """Table ``inet romana``: replaced whole, or changed where it differs."""

    name = "nftables"

    def __init__(self, netns: str | None = None) -> None:
        self._nft = nftables_adapter.Nftables(netns=netns)

    def apply(self, rules: ruleset.Ruleset, current: ruleset.Ruleset | None = None) -> bool:
        """Make the table hold ``rules``; ``current`` is what it holds now, if known. True
        when the table was gone (deleted by hand) and was put back."""
        missing = False
        if current is not None:
            script = render_nftables.render_delta(current, rules)
            if script == "":
                return False
            if script is not None:
                try:
                    self._nft.apply(script)
                    return False
                except proc.CommandFailed as exc:
                    log.warning("incremental nft update failed, replacing the table: %s", exc)
                    missing = not self._nft.exists()
        whole = render_nftables.render(rules)
        # Asked as late as can be: the whole table is put back either way, and a table
        # deleted between an earlier look and this apply would be restored uncounted.
        missing = missing or (current is None and not self._nft.exists())
        self._nft.apply(whole)
        return missing

    def present(self) -> bool:
        return self._nft.exists()

    def drop_counts(self) -> dropcounters.Counts:
        """The kernel's counts of attributed drops in our table."""
        return dropcounters.from_nft(self._nft.read())

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

    def __init__(self, netns: str | None = None, *, legacy: bool = False) -> None:
        self._v4 = iptables_adapter.Iptables(netns=netns, legacy=legacy)
        self._v6 = iptables_adapter.Iptables(ip6=True, netns=netns, legacy=legacy)
        self._hooks: tuple[render_iptables.HookJump, ...] = ()
        self._v6_used = False

    def apply(self, rules: ruleset.Ruleset, current: ruleset.Ruleset | None = None) -> bool:
        """Make our chains and sets hold ``rules`` (``current`` is not needed: a restore
        rewrites exactly the chains it declares). True when a jump from a built-in chain
        into ours was missing and put back."""
        text = render_iptables.render(rules)
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
        return restored > 0

    def drop_counts(self) -> dropcounters.Counts:
        """The kernel's counts of attributed drops in our chains, of both families."""
        counts = dropcounters.from_iptables_save(self._v4.counted(), 4)
        if self._v6_used:
            counts |= dropcounters.from_iptables_save(self._v6.counted(), 6)
        return counts

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


def _jump(hook: render_iptables.HookJump) -> iptables_adapter.Jump:
    return iptables_adapter.Jump(hook.table, hook.builtin, hook.chain)


def backend(name: str, netns: str | None = None) -> Nftables | Iptables:
    """The firewall backend called ``name`` (``nftables`` or ``iptables``)."""
    if name == "iptables":
        return Iptables(netns)
    return Nftables(netns)
