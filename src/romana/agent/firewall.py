"""The two firewall backends the agent can drive, behind one small interface.

Both take a whole :class:`romana.core.ruleset.Ruleset`, render it with the pure renderers
(``romana.core.render``) and hand the text to the dataplane adapter, which applies it
atomically: :class:`Nftables` replaces table ``inet romana`` in one ``nft -f`` transaction —
or, when told which ruleset the table holds now, changes only the chains and sets that
differ, still in one transaction (:func:`delta_script`; a policy change at scale then costs
milliseconds instead of reloading thousands of rules);
:class:`Iptables` loads the ``romana*`` ipsets (temporary twin + swap), rewrites the
``ROMANA-*`` chains with ``iptables-restore --noflush`` and ensures the jumps from the
built-in chains, then deletes our chains and sets the new ruleset no longer has (policies
removed meanwhile, or by an earlier agent). Nothing not ours is ever named.
"""

from __future__ import annotations

import dataclasses
import logging

from romana.core import ruleset
from romana.core.render import iptables as render_iptables
from romana.core.render import nftables as render_nftables
from romana.dataplane import iptables as iptables_adapter
from romana.dataplane import nftables as nftables_adapter
from romana.dataplane import proc

log = logging.getLogger(__name__)


_TABLE = "inet romana"
_HEADER = (f"table {_TABLE} {{}}", f"delete table {_TABLE}")


def _references(chains: list[ruleset.Chain]) -> tuple[set[str], set[str]]:
    """The chains and sets the rules of ``chains`` refer to."""
    targets: set[str] = set()
    sets: set[str] = set()
    for chain in chains:
        for rule in chain.rules:
            if isinstance(rule.verdict, ruleset.Dispatch):
                targets.update(name for _, name in rule.verdict.targets)
            elif rule.verdict.chain is not None:
                targets.add(rule.verdict.chain)
            sets.update(m.set_name for m in rule.matches if isinstance(m, ruleset.InSet))
    return targets, sets


def delta_script(old: ruleset.Ruleset, new: ruleset.Ruleset) -> str | None:
    """An ``nft -f`` script turning table ``inet romana`` holding ``old`` into ``new``.

    Changed chains and sets are flushed and filled again, new ones declared, vanished ones
    deleted. Unchanged chains and sets that the changed rules refer to appear as empty
    declarations (a no-op for an existing object), so every reference resolves; nothing else
    is named. None when the change cannot be expressed this way (a hook, priority or set
    family changed): replace the table. '' when nothing changed.
    """
    if old.sets == new.sets and old.chains == new.chains:
        return ""
    old_chains = {c.name: c for c in old.chains}
    old_sets = {s.name: s for s in old.sets}
    commands: list[str] = []
    changed: list[ruleset.Chain] = []
    for chain in new.chains:
        before = old_chains.get(chain.name)
        if before is not None and (before.hook, before.priority) != (chain.hook, chain.priority):
            return None
        if before != chain:
            if before is not None:
                commands.append(f"flush chain {_TABLE} {chain.name}")
            changed.append(chain)
    changed_sets: list[ruleset.AddressSet] = []
    for rset in new.sets:
        before_set = old_sets.get(rset.name)
        if before_set is not None and before_set.version != rset.version:
            return None
        if before_set != rset:
            if before_set is not None:
                commands.append(f"flush set {_TABLE} {rset.name}")
            changed_sets.append(rset)
    targets, set_names = _references(changed)
    names = {c.name for c in changed}
    chains = [
        c if c.name in names else dataclasses.replace(c, rules=())
        for c in new.chains
        if c.name in names or c.name in targets
    ]
    sets = [
        s if s in changed_sets else dataclasses.replace(s, elements=())
        for s in new.sets
        if s in changed_sets or s.name in set_names
    ]
    text = render_nftables.render(ruleset.Ruleset(tuple(sets), tuple(chains)))
    lines = text.splitlines()
    if tuple(lines[1:3]) != _HEADER:
        return None  # the renderer's layout changed: do not guess
    new_chains = {c.name for c in new.chains}
    gone_chains = [n for n in old_chains if n not in new_chains]
    gone_sets = [n for n in old_sets if n not in {x.name for x in new.sets}]
    for name in gone_chains:
        commands.append(f"flush chain {_TABLE} {name}")
    tail = [f"delete chain {_TABLE} {n}" for n in gone_chains]
    tail += [f"delete set {_TABLE} {n}" for n in gone_sets]
    return "\n".join([lines[0], *commands, *lines[3:], *tail]) + "\n"


class Nftables:
    """Table ``inet romana``: replaced whole, or changed where it differs."""

    name = "nftables"

    def __init__(self, netns: str | None = None) -> None:
        self._nft = nftables_adapter.Nftables(netns=netns)

    def apply(self, rules: ruleset.Ruleset, current: ruleset.Ruleset | None = None) -> None:
        """Make the table hold ``rules``; ``current`` is what it holds now, if known."""
        if current is not None:
            script = delta_script(current, rules)
            if script == "":
                return
            if script is not None:
                try:
                    self._nft.apply(script)
                    return
                except proc.CommandFailed as exc:
                    log.warning("incremental nft update failed, replacing the table: %s", exc)
        self._nft.apply(render_nftables.render(rules))

    def present(self) -> bool:
        return self._nft.exists()


def _uses_ipv6(rules: ruleset.Ruleset) -> bool:
    if any(s.version == 6 for s in rules.sets):
        return True
    return any(rule.version == 6 for chain in rules.chains for rule in chain.rules)


class Iptables:
    """Chains ``ROMANA-*`` in the filter table, sets ``ROMANA-*`` in ipset."""

    name = "iptables"

    def __init__(self, netns: str | None = None, *, legacy: bool = False) -> None:
        self._netns = netns
        self._v4 = iptables_adapter.Iptables(netns=netns, legacy=legacy)
        self._v6 = iptables_adapter.Iptables(ip6=True, netns=netns, legacy=legacy)
        self._hooks: tuple[render_iptables.HookJump, ...] = ()

    def apply(self, rules: ruleset.Ruleset, current: ruleset.Ruleset | None = None) -> None:
        """Make our chains and sets hold ``rules`` (``current`` is not needed: a restore
        rewrites exactly the chains it declares)."""
        text = render_iptables.render(rules)
        jumps = [iptables_adapter.Jump("filter", h.builtin, h.chain) for h in text.hooks]
        families = [(self._v4, text.filter_v4)]
        if _uses_ipv6(rules):
            families.append((self._v6, text.filter_v6))
        self._v4.apply("", text.ipsets, jumps=())
        for tables, filter_text in families:
            tables.apply(filter_text, "", jumps=jumps)
        for tables, _ in families:
            stale = sorted(set(tables.owned_chains()) - set(text.chains))
            if stale:
                removal = render_iptables.render_removal(stale, ())
                tables.apply(removal.filter_v4, "", jumps=())
        stale_sets = sorted(set(self._our_sets()) - set(text.sets))
        if stale_sets:
            self._v4.apply("", render_iptables.render_removal((), stale_sets).ipsets, jumps=())
        self._hooks = text.hooks

    def _our_sets(self) -> list[str]:
        done = proc.run(["ipset", "list", "-n"], netns=self._netns)
        return [
            n
            for n in done.stdout.split()
            if n.startswith(render_iptables.OWNED_PREFIX)
            and not n.endswith(render_iptables.TEMPORARY_SUFFIX)
        ]

    def present(self) -> bool:
        """Our chains exist and every built-in chain still jumps into them."""
        if not self._v4.owned_chains():
            return False
        for hook in self._hooks:
            argv = [self._v4.iptables, "--wait", "5", *hook.check_args()]
            if proc.run(argv, netns=self._netns, check=False).rc != 0:
                return False
        return True


def backend(name: str, netns: str | None = None) -> Nftables | Iptables:
    """The firewall backend called ``name`` (``nftables`` or ``iptables``)."""
    if name == "iptables":
        return Iptables(netns)
    return Nftables(netns)
