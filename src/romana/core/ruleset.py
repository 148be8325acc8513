"""The backend-neutral firewall ruleset: what the policy compiler produces and renderers print.

A :class:`Ruleset` is a list of address sets and chains. A chain is a list of rules; a rule is
a conjunction of matches and one verdict. Chains with a ``hook`` are entry points (nftables
base chains; in iptables, chains jumped from the built-in chain of the same hook). The
semantics are the ones nftables and iptables share inside one table:

* ``accept``, ``drop`` and ``reject`` end the evaluation of the hook (for this table);
* ``jump`` evaluates another chain and comes back; ``return`` (or falling off the end) goes
  back to the chain that jumped; ``goto`` evaluates another chain *without* coming back, so
  its end returns to the caller of the current chain;
* falling off the end of a hooked chain leaves the packet to whatever else is hooked there:
  we never own a hook's default.

:class:`Dispatch` is an O(1) classification step: ``(address & mask)`` is looked up in a map
of values to chains, and the packet jumps to the chain found (or goes on to the next rule).
nftables renders it as a verdict map; iptables as one rule per entry.

Invariants, checked when a :class:`Ruleset` is built (:class:`InvalidInput` otherwise):

* every name we own starts with :data:`PREFIX` and uses ``[a-z0-9._-]`` only, so upper-casing
  it (the iptables convention) cannot merge two names; chain names fit iptables' 28
  characters and set names leave one character of ipset's 31 for a temporary twin;
* names are unique (address sets and interface sets share one namespace, as in nftables);
  every jump, goto, dispatch target and set reference exists; targets are never hooked
  chains; the jump graph has no cycle (kernels refuse loops);
* an interface set holds exact device names (1-15 of ``[A-Za-z0-9_.-]``, what the kernel and
  both backends take unquoted), sorted and without duplicates;
* a rule mixes no address families, port matches come with TCP, UDP or SCTP and ICMP
  matches with the ICMP protocol of their family; an :class:`OriginalDestination` is one
  address and makes the rule that address's family, a :class:`LocalDestination` is of both;
* a chain is of one :class:`ChainKind`. Filter chains hook forward, input or output and end
  in accept, drop or reject; NAT chains hook prerouting (``dstnat``) or postrouting
  (``srcnat``) and rewrite addresses: masquerade, snat to one address, dnat to one or more
  (a new flow picks one at random; conntrack keeps the flow on it). ``return``, ``jump``
  and ``goto`` are for both, but never lead from one kind to the other;
* the addresses of a snat or dnat are of one family, and make the rule that family's: it
  carries no match of the other. A chain a prerouting chain reaches holds no snat or
  masquerade and one a postrouting chain reaches no dnat (the kernels refuse them there); a
  NAT chain no hook reaches is inert and allowed, as a delta that leaves its caller alone
  names it on its own;
* only drop and reject rules carry a :class:`DropReason`, and no two different reasons of a
  ruleset share an id (:attr:`Ruleset.drop_reasons` names each id's reason).

:func:`refilled` (new elements for some sets) and :func:`joined` (two rulesets one after the
other) make a ruleset from valid ones and check only what their change can break: the result
is the one building it whole gives, or the same refusal.

The values themselves are defined in :mod:`romana.core.rulevalues` and the checks in
:mod:`romana.core.rulecheck`; callers import both from here, the one name of the ruleset.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from romana.core import rulecheck
from romana.core.dropreasons import DROP_LOG_BURST as DROP_LOG_BURST
from romana.core.dropreasons import DROP_LOG_RATE as DROP_LOG_RATE
from romana.core.dropreasons import DropReason as DropReason
from romana.core.dropreasons import default_drop as default_drop
from romana.core.dropreasons import policy_drop as policy_drop
from romana.core.errors import Issues
from romana.core.rulevalues import (
    ACCEPT,
    DROP,
    FILTER_ACTIONS,
    HOOKS,
    INTERFACE_NAME,
    INTERFACE_PREFIX,
    MAX_CHAIN_NAME,
    MAX_SET_NAME,
    NAT_ACTIONS,
    PORT_PROTOCOLS,
    PREFIX,
    REJECT,
    RETURN,
    Action,
    Address,
    AddressSet,
    Chain,
    ChainKind,
    Conntrack,
    CtState,
    Dispatch,
    Hook,
    Icmp,
    InInterfaces,
    InSet,
    Interface,
    InterfaceSet,
    IPAddress,
    IPNetwork,
    LocalDestination,
    MatchExpr,
    OriginalDestination,
    Ports,
    Proto,
    Protocol,
    Rule,
    Side,
    Verdict,
    address_set,
    dnat,
    goto,
    interface_set,
    jump,
    masquerade,
    snat,
)

__all__ = [
    "ACCEPT",
    "DROP",
    "DROP_LOG_BURST",
    "DROP_LOG_RATE",
    "FILTER_ACTIONS",
    "HOOKS",
    "INTERFACE_NAME",
    "INTERFACE_PREFIX",
    "MAX_CHAIN_NAME",
    "MAX_SET_NAME",
    "NAT_ACTIONS",
    "PORT_PROTOCOLS",
    "PREFIX",
    "REJECT",
    "RETURN",
    "Action",
    "Address",
    "AddressSet",
    "Chain",
    "ChainKind",
    "Conntrack",
    "CtState",
    "Dispatch",
    "DropReason",
    "Hook",
    "IPAddress",
    "IPNetwork",
    "Icmp",
    "InInterfaces",
    "InSet",
    "Interface",
    "InterfaceSet",
    "LocalDestination",
    "MatchExpr",
    "OriginalDestination",
    "Ports",
    "Proto",
    "Protocol",
    "Rule",
    "Ruleset",
    "Side",
    "Verdict",
    "address_set",
    "default_drop",
    "dnat",
    "goto",
    "interface_set",
    "joined",
    "jump",
    "masquerade",
    "policy_drop",
    "refilled",
    "snat",
]


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Sets and chains in render order; ``notes`` are decisions the compiler reports;
    ``interface_sets`` come after the address sets when rendered."""

    sets: tuple[AddressSet, ...]
    chains: tuple[Chain, ...]
    notes: tuple[str, ...] = ()
    interface_sets: tuple[InterfaceSet, ...] = ()
    _index: dict[str, Chain] = field(init=False, repr=False, compare=False)
    _drops: dict[int, DropReason] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c.name: c for c in self.chains})
        object.__setattr__(self, "_drops", rulecheck.validate(self, self._index))

    @property
    def drop_reasons(self) -> dict[int, DropReason]:
        """Every drop reason of the ruleset's rules by id: how a logged packet or a kernel
        counter is named."""
        return self._drops

    def chain(self, name: str) -> Chain:
        return self._index[name]

    def set_named(self, name: str) -> AddressSet:
        return next(s for s in self.sets if s.name == name)

    def interfaces_named(self, name: str) -> InterfaceSet:
        return next(s for s in self.interface_sets if s.name == name)

    @property
    def hooked(self) -> tuple[Chain, ...]:
        return tuple(c for c in self.chains if c.hook is not None)

    @property
    def rule_count(self) -> int:
        return sum(len(c.rules) for c in self.chains)


def _checked_already(
    sets: tuple[AddressSet, ...],
    chains: tuple[Chain, ...],
    notes: tuple[str, ...],
    interface_sets: tuple[InterfaceSet, ...],
    index: dict[str, Chain],
    drops: dict[int, DropReason],
) -> Ruleset:
    """A :class:`Ruleset` of parts its caller has shown to keep every invariant, built
    without going through them all again."""
    rs: Ruleset = object.__new__(Ruleset)
    for name, value in (
        ("sets", sets),
        ("chains", chains),
        ("notes", notes),
        ("interface_sets", interface_sets),
        ("_index", index),
        ("_drops", drops),
    ):
        object.__setattr__(rs, name, value)
    return rs


def refilled(
    rs: Ruleset, sets: Iterable[AddressSet] = (), interface_sets: Iterable[InterfaceSet] = ()
) -> Ruleset:
    """``rs`` with some of its sets' elements replaced: each of ``sets`` and
    ``interface_sets`` takes the place of ``rs``'s set of its name (and, for an address
    set, version). The same as building the ruleset again, at the cost of the new sets
    alone: rules name a set by name and version only, so only its elements are checked."""
    issues = Issues("invalid ruleset")
    fresh = {s.name: s for s in sets}
    known = {s.name: s.version for s in rs.sets}
    for s in fresh.values():
        if known.get(s.name) != s.version:
            issues.add(f"sets[{s.name}]", f"replaces no IPv{s.version} set of this name")
        rulecheck.check_elements(issues, s)
    fresh_interfaces = {i.name: i for i in interface_sets}
    known_interfaces = {i.name for i in rs.interface_sets}
    for i in fresh_interfaces.values():
        if i.name not in known_interfaces:
            issues.add(f"interface_sets[{i.name}]", "replaces no interface set of this name")
        rulecheck.check_interfaces(issues, i)
    issues.raise_if_any()
    return _checked_already(
        tuple(fresh.get(s.name, s) for s in rs.sets),
        rs.chains,
        rs.notes,
        tuple(fresh_interfaces.get(i.name, i) for i in rs.interface_sets),
        rs._index,
        rs._drops,
    )


def joined(first: Ruleset, second: Ruleset) -> Ruleset:
    """The sets, chains, notes and interface sets of ``first`` followed by those of
    ``second``: the same as building that ruleset, at the cost of comparing their names
    and drop reasons. Each holds every set and chain its rules refer to, so where no name
    is in both, every reference still finds what it found, and no jump leads from one to
    the other, which can make no loop and take no NAT rule to another hook."""
    issues = Issues("invalid ruleset")
    names = {s.name for s in first.sets} | {i.name for i in first.interface_sets}
    for kind, name in [("sets", s.name) for s in second.sets] + [
        ("interface_sets", i.name) for i in second.interface_sets
    ]:
        if name in names:
            issues.add(f"{kind}[{name}]", "duplicate set name")
    if not first._index.keys().isdisjoint(second._index):
        issues.add("chains", "duplicate chain names")
    drops = dict(first._drops)
    for rid, reason in second._drops.items():
        known = drops.setdefault(rid, reason)
        if known != reason:
            issues.add("chains", f"{reason.name} and {known.name} share an id")
    issues.raise_if_any()
    return _checked_already(
        first.sets + second.sets,
        first.chains + second.chains,
        first.notes + second.notes,
        first.interface_sets + second.interface_sets,
        {**first._index, **second._index},
        drops,
    )
