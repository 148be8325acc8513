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
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from romana.core import addressing, kernelnames
from romana.core.dropreasons import DROP_LOG_BURST as DROP_LOG_BURST
from romana.core.dropreasons import DROP_LOG_RATE as DROP_LOG_RATE
from romana.core.dropreasons import DropReason as DropReason
from romana.core.dropreasons import default_drop as default_drop
from romana.core.dropreasons import policy_drop as policy_drop
from romana.core.errors import Issues

PREFIX = kernelnames.RULESET_PREFIX
MAX_CHAIN_NAME = 28
MAX_SET_NAME = 30
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
INTERFACE_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,14}$")
INTERFACE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
# The "version" an interface set goes by when set references are resolved: no address family.
_INTERFACES = 0

IPNetwork = addressing.IPNetwork
IPAddress = addressing.IPAddress


class Side(StrEnum):
    """Which address or port of a packet a match looks at."""

    SRC = "src"
    DST = "dst"


class Hook(StrEnum):
    FORWARD = "forward"
    INPUT = "input"
    OUTPUT = "output"
    PREROUTING = "prerouting"
    POSTROUTING = "postrouting"


class ChainKind(StrEnum):
    """What a chain does: pass judgement on packets, or rewrite their addresses."""

    FILTER = "filter"
    NAT = "nat"


HOOKS = {
    ChainKind.FILTER: (Hook.FORWARD, Hook.INPUT, Hook.OUTPUT),
    ChainKind.NAT: (Hook.PREROUTING, Hook.POSTROUTING),
}


class CtState(StrEnum):
    NEW = "new"
    ESTABLISHED = "established"
    RELATED = "related"
    INVALID = "invalid"


class Proto(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"
    ICMP = "icmp"
    ICMPV6 = "icmpv6"

    @property
    def version(self) -> int | None:
        """The address family a protocol implies, if any."""
        return {Proto.ICMP: 4, Proto.ICMPV6: 6}.get(self)


PORT_PROTOCOLS = frozenset({Proto.TCP, Proto.UDP, Proto.SCTP})


@dataclass(frozen=True, slots=True)
class Address:
    """``address & mask == value`` on one side; a contiguous mask is a plain CIDR match."""

    side: Side
    match: addressing.Match


@dataclass(frozen=True, slots=True)
class InSet:
    """The address on ``side`` is inside one of the prefixes of the named set."""

    side: Side
    set_name: str
    version: int


@dataclass(frozen=True, slots=True)
class Protocol:
    protocol: Proto


@dataclass(frozen=True, slots=True)
class Ports:
    """The port on ``side`` lies in one of the inclusive ranges (a single port is lo == hi)."""

    side: Side
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Icmp:
    type: int
    code: int | None = None


@dataclass(frozen=True, slots=True)
class Conntrack:
    states: tuple[CtState, ...]


@dataclass(frozen=True, slots=True)
class Interface:
    """The input (``side=SRC``) or output (``side=DST``) interface name starts with ``prefix``."""

    side: Side
    prefix: str


@dataclass(frozen=True, slots=True)
class InInterfaces:
    """The input (``side=SRC``) or output (``side=DST``) interface is exactly one of the
    names in the named :class:`InterfaceSet`: devices that are not ours to name (a VM's tap)
    are matched one by one, never by a prefix another owner's devices could share."""

    side: Side
    set_name: str


@dataclass(frozen=True, slots=True)
class LocalDestination:
    """The destination address is one of this host's, on any interface. Guarding a VIP's
    dnat with it lets the address alone decide which host forwards the VIP: the one that
    holds it at the moment."""


@dataclass(frozen=True, slots=True)
class OriginalDestination:
    """The flow was sent to ``address`` before any dnat (conntrack's original tuple), so a
    postrouting rule still knows a flow was for a VIP after its destination was rewritten.
    Makes the rule ``address``'s family."""

    address: IPAddress


MatchExpr = (
    Address
    | InSet
    | Protocol
    | Ports
    | Icmp
    | Conntrack
    | Interface
    | InInterfaces
    | LocalDestination
    | OriginalDestination
)


class Action(StrEnum):
    ACCEPT = "accept"
    DROP = "drop"
    REJECT = "reject"
    JUMP = "jump"
    GOTO = "goto"
    RETURN = "return"
    MASQUERADE = "masquerade"
    SNAT = "snat"
    DNAT = "dnat"


FILTER_ACTIONS = frozenset({Action.ACCEPT, Action.DROP, Action.REJECT})
NAT_ACTIONS = frozenset({Action.MASQUERADE, Action.SNAT, Action.DNAT})


@dataclass(frozen=True, slots=True)
class Verdict:
    """``chain``: the target of a jump or goto; ``to``: the address a snat rewrites the
    source to, or those a dnat picks the destination from (one at random per new flow)."""

    action: Action
    chain: str | None = None
    to: tuple[IPAddress, ...] = ()

    def __str__(self) -> str:
        if self.to:
            return f"{self.action} to {','.join(str(a) for a in self.to)}"
        return f"{self.action} {self.chain}" if self.chain else str(self.action)


ACCEPT = Verdict(Action.ACCEPT)
DROP = Verdict(Action.DROP)
REJECT = Verdict(Action.REJECT)
RETURN = Verdict(Action.RETURN)


def jump(chain: str) -> Verdict:
    return Verdict(Action.JUMP, chain)


def goto(chain: str) -> Verdict:
    return Verdict(Action.GOTO, chain)


def masquerade() -> Verdict:
    """Rewrite the source to the address of the interface the packet leaves by."""
    return Verdict(Action.MASQUERADE)


def snat(address: IPAddress) -> Verdict:
    return Verdict(Action.SNAT, to=(address,))


def dnat(*addresses: IPAddress) -> Verdict:
    """Rewrite the destination to one of ``addresses``, chosen at random for each new flow."""
    return Verdict(Action.DNAT, to=addresses)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Jump to ``targets[address & mask]``; no entry means: go on with the next rule."""

    side: Side
    version: int
    mask: int
    targets: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """``drop``: why the rule drops, for a drop or reject rule that is attributed. Renderers
    give such a rule a kernel counter and log its packets, rate-limited, to netlink group
    :data:`romana.core.kernelnames.DROP_LOG_GROUP` with the reason's id in the prefix."""

    matches: tuple[MatchExpr, ...]
    verdict: Verdict | Dispatch
    comment: str = ""
    drop: DropReason | None = None

    @property
    def version(self) -> int | None:
        """The one address family this rule applies to, or None when it applies to both."""
        versions = _versions(self)
        return next(iter(versions)) if len(versions) == 1 else None


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    rules: tuple[Rule, ...] = ()
    hook: Hook | None = None
    # Offset from the conventional priority of the hook (nftables ``priority filter + N``,
    # ``dstnat + N`` at prerouting, ``srcnat + N`` at postrouting).
    priority: int = 0
    kind: ChainKind = ChainKind.FILTER
    _checked: _Checked | None = field(default=None, init=False, repr=False, compare=False)
    """Validating this chain on its own, once it was (:func:`_checked`): kept with the
    chain, so it lives exactly as long as the chain."""


@dataclass(frozen=True, slots=True)
class AddressSet:
    """A named, typed set of prefixes; build with :func:`address_set` to normalise elements."""

    name: str
    version: int
    elements: tuple[IPNetwork, ...] = ()


def address_set(name: str, version: int, elements: Iterable[IPNetwork]) -> AddressSet:
    """An :class:`AddressSet` with its elements merged, de-duplicated and sorted."""
    items = list(elements)
    v4 = [e for e in items if isinstance(e, ipaddress.IPv4Network)]
    v6 = [e for e in items if isinstance(e, ipaddress.IPv6Network)]
    merged: list[IPNetwork] = list(
        ipaddress.collapse_addresses(v4) if version == 4 else ipaddress.collapse_addresses(v6)
    )
    return AddressSet(name, version, tuple(merged))


@dataclass(frozen=True, slots=True)
class InterfaceSet:
    """A named set of exact interface names; build with :func:`interface_set`."""

    name: str
    elements: tuple[str, ...] = ()


def interface_set(name: str, elements: Iterable[str]) -> InterfaceSet:
    """An :class:`InterfaceSet` with its names de-duplicated and sorted."""
    return InterfaceSet(name, tuple(sorted(set(elements))))


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
        object.__setattr__(self, "_drops", {})
        _validate(self)

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


def _versions(rule: Rule) -> set[int]:
    versions = _match_versions(rule)
    if isinstance(rule.verdict, Verdict):
        versions.update(a.version for a in rule.verdict.to if isinstance(a, _ADDRESS_TYPES))
    return versions


_ADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address)


def _match_versions(rule: Rule) -> set[int]:
    versions: set[int] = set()
    for m in rule.matches:
        if isinstance(m, Address):
            versions.add(m.match.version)
        elif isinstance(m, InSet):
            versions.add(m.version)
        elif isinstance(m, Protocol) and m.protocol.version is not None:
            versions.add(m.protocol.version)
        elif isinstance(m, OriginalDestination) and isinstance(m.address, _ADDRESS_TYPES):
            versions.add(m.address.version)
    if isinstance(rule.verdict, Dispatch):
        versions.add(rule.verdict.version)
    return versions


def _targets(rule: Rule) -> Iterator[str]:
    if isinstance(rule.verdict, Dispatch):
        yield from (chain for _, chain in rule.verdict.targets)
    elif rule.verdict.chain is not None:
        yield rule.verdict.chain


def _check_name(issues: Issues, where: str, name: str, limit: int) -> None:
    if not name.startswith(PREFIX) or not _NAME.match(name):
        issues.add(where, f"{name!r} must start with {PREFIX!r} and use only [a-z0-9._-]")
    if len(name) > limit:
        issues.add(where, f"{name!r} is longer than {limit} characters")


def _validate(rs: Ruleset) -> None:
    issues = Issues("invalid ruleset")
    set_versions: dict[str, int] = {}
    for s in rs.sets:
        where = f"sets[{s.name}]"
        _check_name(issues, where, s.name, MAX_SET_NAME)
        if s.name in set_versions:
            issues.add(where, "duplicate set name")
        set_versions[s.name] = s.version
        _check_elements(issues, s)
    for i in rs.interface_sets:
        where = f"interface_sets[{i.name}]"
        _check_name(issues, where, i.name, MAX_SET_NAME)
        if i.name in set_versions:
            issues.add(where, "duplicate set name")
        set_versions[i.name] = _INTERFACES
        _check_interfaces(issues, i)
    if len(rs._index) != len(rs.chains):
        issues.add("chains", "duplicate chain names")
    sets = frozenset(set_versions.items())
    names = frozenset(rs._index)
    hooked = frozenset(c.name for c in rs.chains if c.hook is not None)
    nat = frozenset(c.name for c in rs.chains if c.kind is ChainKind.NAT)
    edges: dict[str, tuple[str, ...]] = {}
    for chain in rs.chains:
        checked = _checked(chain)
        if checked.clean and not checked.jumps and not checked.sets:
            continue  # most chains: nothing to look up
        if checked.jumps:
            edges[chain.name] = checked.jumps
        refs_ok = sets.issuperset(checked.sets) and names.issuperset(checked.jumps)
        # Without NAT chains every chain is a filter chain, and no jump can cross kinds.
        own_kind = (
            nat.isdisjoint(checked.jumps)
            if chain.name not in nat
            else nat.issuperset(checked.jumps)
        )
        if checked.clean and refs_ok and hooked.isdisjoint(checked.jumps) and own_kind:
            continue  # the usual case; only a chain with a problem is gone through step by step
        for kind, where, name, version in _steps(chain):
            if kind == "issue":
                issues.add(where, name)
            elif kind == "set":
                if set_versions.get(name) != version:
                    what = "interface" if version == _INTERFACES else f"IPv{version}"
                    issues.add(where, f"refers to no {what} set named {name!r}")
            elif name not in names:
                issues.add(where, f"targets unknown chain {name!r}")
            elif name in hooked:
                issues.add(where, f"targets hooked chain {name!r}")
            elif (name in nat) != (chain.name in nat):
                target = rs.chain(name).kind
                issues.add(where, f"a {chain.kind} chain cannot lead to {target} chain {name!r}")
    _collect_drops(issues, rs)
    if nat:
        _check_nat_hooks(issues, rs, edges)
    if not issues:
        _check_acyclic(issues, rs, edges)
    issues.raise_if_any()


def _check_elements(issues: Issues, s: AddressSet) -> None:
    if any(e.version != s.version for e in s.elements):
        issues.add(f"sets[{s.name}]", f"elements must all be IPv{s.version}")


def _check_interfaces(issues: Issues, i: InterfaceSet) -> None:
    where = f"interface_sets[{i.name}]"
    bad = [e for e in i.elements if not INTERFACE_NAME.match(e)]
    if bad:
        issues.add(where, f"{bad!r} are not interface names (1-15 of [A-Za-z0-9_.-])")
    if list(i.elements) != sorted(set(i.elements)):
        issues.add(where, "names must be sorted and unique")


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
        _check_elements(issues, s)
    fresh_interfaces = {i.name: i for i in interface_sets}
    known_interfaces = {i.name for i in rs.interface_sets}
    for i in fresh_interfaces.values():
        if i.name not in known_interfaces:
            issues.add(f"interface_sets[{i.name}]", "replaces no interface set of this name")
        _check_interfaces(issues, i)
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


def _collect_drops(issues: Issues, rs: Ruleset) -> None:
    """Fill ``rs.drop_reasons``; two reasons under one id would make counts and logs lie."""
    drops = rs._drops
    for chain in rs.chains:
        for rule in chain.rules:
            reason = rule.drop
            if reason is None:
                continue
            known = drops.setdefault(reason.id, reason)
            if known != reason:
                issues.add(f"chains[{chain.name}]", f"{reason.name} and {known.name} share an id")


# Which hook's NAT chains may hold each address-rewriting action (the kernels refuse it
# anywhere else: the source is rewritten on the way out, the destination on the way in).
_NAT_HOOK = {
    Action.MASQUERADE: Hook.POSTROUTING,
    Action.SNAT: Hook.POSTROUTING,
    Action.DNAT: Hook.PREROUTING,
}


def _check_nat_hooks(issues: Issues, rs: Ruleset, edges: dict[str, tuple[str, ...]]) -> None:
    """Every NAT verdict sits in a chain only the hook its action works at reaches."""
    reached: dict[str, set[Hook]] = {}
    for start in rs.chains:
        if start.kind is not ChainKind.NAT or start.hook is None:
            continue
        todo = [start.name]
        while todo:
            name = todo.pop()
            hooks = reached.setdefault(name, set())
            if start.hook not in hooks:
                hooks.add(start.hook)
                todo.extend(edges.get(name, ()))
    for name, hooks in reached.items():
        if name not in rs._index:
            continue  # an unknown target, reported already
        for i, rule in enumerate(rs.chain(name).rules):
            action = rule.verdict.action if isinstance(rule.verdict, Verdict) else None
            wanted = _NAT_HOOK.get(action) if action is not None else None
            if wanted is not None and hooks - {wanted}:
                others = ", ".join(sorted(h.value for h in hooks - {wanted}))
                issues.add(
                    f"chains[{name}].rules[{i}]",
                    f"{action} works only in chains {wanted} reaches; {others} reaches this one",
                )


_Step = tuple[str, str, str, int]
"""One step of validating a chain: ``("issue", where, problem, 0)``, or a reference the rest
of the ruleset must resolve: ``("set", where, name, version)`` (version :data:`_INTERFACES`
for an interface set), ``("chain", where, name, 0)``."""


@dataclass(frozen=True, slots=True)
class _Checked:
    """Validating one chain on its own, as the chain keeps it: whether it found no problem,
    the (set, version) pairs (each once) and the chains (each once, in order) it refers to.
    The steps themselves are made again, by :func:`_steps`, only for a chain with a
    problem: kept, they would cost more than the chain itself."""

    clean: bool
    sets: tuple[tuple[str, int], ...]
    jumps: tuple[str, ...]


def _steps(chain: Chain) -> list[_Step]:
    """Every step of validating ``chain`` on its own, in order."""
    found = Issues()
    _check_name(found, f"chains[{chain.name}]", chain.name, MAX_CHAIN_NAME)
    if chain.hook is not None and chain.hook not in HOOKS[chain.kind]:
        hooks = ", ".join(HOOKS[chain.kind])
        found.add(f"chains[{chain.name}]", f"a {chain.kind} chain hooks {hooks}, not {chain.hook}")
    steps: list[_Step] = [("issue", i.field, i.rule, 0) for i in found]
    for i, rule in enumerate(chain.rules):
        _check_rule(steps, f"chains[{chain.name}].rules[{i}]", rule, chain.kind)
    return steps


def _check_chain(chain: Chain) -> _Checked:
    steps = _steps(chain)
    return _Checked(
        not any(kind == "issue" for kind, *_ in steps),
        tuple(dict.fromkeys((name, version) for kind, _, name, version in steps if kind == "set")),
        tuple(dict.fromkeys(name for kind, _, name, _ in steps if kind == "chain")),
    )


def _checked(chain: Chain) -> _Checked:
    """Validating ``chain`` on its own, done once per chain object and kept on it.

    A recompilation hands back the chain objects of the last one for everything that did
    not change, so a ruleset built again checks only its new chains; and a chain's result
    goes with the chain, where a memo beside it would keep the chains of rulesets long
    replaced alive (the worst interleaving of two threads checks a chain twice)."""
    found = chain._checked
    if found is None:
        found = _check_chain(chain)
        object.__setattr__(chain, "_checked", found)
    return found


def _check_rule(out: list[_Step], where: str, rule: Rule, kind: ChainKind) -> None:
    def problem(text: str) -> None:
        out.append(("issue", where, text, 0))

    matched = _match_versions(rule)
    if len(matched) > 1:
        problem("mixes IPv4 and IPv6 matches")
    if isinstance(rule.verdict, Verdict):
        _check_verdict(problem, rule.verdict, kind, matched)
    protocols = [m.protocol for m in rule.matches if isinstance(m, Protocol)]
    if len(protocols) > 1:
        problem("has more than one protocol match")
    for m in rule.matches:
        if isinstance(m, InSet):
            out.append(("set", where, m.set_name, m.version))
        elif isinstance(m, InInterfaces):
            out.append(("set", where, m.set_name, _INTERFACES))
        elif isinstance(m, Ports):
            if not protocols or protocols[0] not in PORT_PROTOCOLS:
                problem("a port match needs protocol tcp, udp or sctp")
            if not m.ranges or any(not 0 <= lo <= hi <= 65535 for lo, hi in m.ranges):
                problem("port ranges must be non-empty with 0 <= lo <= hi <= 65535")
        elif isinstance(m, Icmp):
            if not protocols or protocols[0].version is None:
                problem("an ICMP match needs protocol icmp or icmpv6")
        elif isinstance(m, Interface) and not INTERFACE_PREFIX.match(m.prefix):
            problem(f"interface prefix {m.prefix!r} must be 1-14 of [A-Za-z0-9_.-]")
        elif isinstance(m, Conntrack) and not m.states:
            problem("a conntrack match needs at least one state")
        elif isinstance(m, OriginalDestination) and not isinstance(m.address, _ADDRESS_TYPES):
            problem(
                f"an original destination must be an IPv4Address or IPv6Address, not {m.address!r}"
            )
    if isinstance(rule.verdict, Dispatch) and not rule.verdict.targets:
        problem("a dispatch needs at least one target")
    if rule.drop is not None and (
        not isinstance(rule.verdict, Verdict)
        or rule.verdict.action not in (Action.DROP, Action.REJECT)
    ):
        problem(f"only a drop or reject rule has a drop reason ({rule.drop.name})")
    out.extend(("chain", where, target, 0) for target in _targets(rule))


def _check_verdict(
    problem: Callable[[str], None], verdict: Verdict, kind: ChainKind, matched: set[int]
) -> None:
    action = verdict.action
    if action in NAT_ACTIONS and kind is not ChainKind.NAT:
        problem(f"{action} belongs in a nat chain, not a {kind} chain")
    if action in FILTER_ACTIONS and kind is not ChainKind.FILTER:
        problem(f"{action} belongs in a filter chain, not a {kind} chain")
    if action in NAT_ACTIONS and verdict.chain is not None:
        problem(f"{action} takes no chain")
    count = len(verdict.to)
    if action is Action.SNAT and count != 1:
        problem(f"snat takes exactly one address, not {count}")
    elif action is Action.DNAT and count == 0:
        problem("dnat takes one address or more")
    elif action not in (Action.SNAT, Action.DNAT) and count:
        problem(f"{action} takes no address")
    bad = [a for a in verdict.to if not isinstance(a, _ADDRESS_TYPES)]
    if bad:
        problem(f"{action} addresses must be IPv4Address or IPv6Address: {bad!r}")
    families = {a.version for a in verdict.to if isinstance(a, _ADDRESS_TYPES)}
    if len(families) > 1:
        problem(f"{action} addresses mix IPv4 and IPv6")
    elif families and matched - families:
        (family,) = families
        other = 6 if family == 4 else 4
        problem(f"{action} to IPv{family} cannot carry IPv{other} matches")


def _check_acyclic(issues: Issues, rs: Ruleset, edges: dict[str, tuple[str, ...]]) -> None:
    """``edges``: the chains each chain jumps to, for those that jump at all."""
    done: set[str] = set()
    active: set[str] = set()

    def visit(name: str) -> bool:
        active.add(name)
        for target in edges[name]:
            if target in done or target not in edges:
                continue  # a chain that jumps nowhere (most) is not even visited
            if target in active:
                issues.add(f"chains[{target}]", "is part of a jump loop")
                return False
            if not visit(target):
                return False
        active.discard(name)
        done.add(name)
        return True

    for chain in rs.chains:
        if chain.name in edges and chain.name not in done and not visit(chain.name):
            return
