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
  matches with the ICMP protocol of their family.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from romana.core import addressing, kernelnames, memo
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


class Side(StrEnum):
    """Which address or port of a packet a match looks at."""

    SRC = "src"
    DST = "dst"


class Hook(StrEnum):
    FORWARD = "forward"
    INPUT = "input"
    OUTPUT = "output"


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


MatchExpr = Address | InSet | Protocol | Ports | Icmp | Conntrack | Interface | InInterfaces


class Action(StrEnum):
    ACCEPT = "accept"
    DROP = "drop"
    REJECT = "reject"
    JUMP = "jump"
    GOTO = "goto"
    RETURN = "return"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    chain: str | None = None

    def __str__(self) -> str:
        return f"{self.action} {self.chain}" if self.chain else str(self.action)


ACCEPT = Verdict(Action.ACCEPT)
DROP = Verdict(Action.DROP)
REJECT = Verdict(Action.REJECT)
RETURN = Verdict(Action.RETURN)


def jump(chain: str) -> Verdict:
    return Verdict(Action.JUMP, chain)


def goto(chain: str) -> Verdict:
    return Verdict(Action.GOTO, chain)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Jump to ``targets[address & mask]``; no entry means: go on with the next rule."""

    side: Side
    version: int
    mask: int
    targets: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True)
class Rule:
    matches: tuple[MatchExpr, ...]
    verdict: Verdict | Dispatch
    comment: str = ""

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
    # Offset from the conventional filter priority (nftables ``priority filter + N``).
    priority: int = 0


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c.name: c for c in self.chains})
        _validate(self)

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
    versions: set[int] = set()
    for m in rule.matches:
        if isinstance(m, Address):
            versions.add(m.match.version)
        elif isinstance(m, InSet):
            versions.add(m.version)
        elif isinstance(m, Protocol) and m.protocol.version is not None:
            versions.add(m.protocol.version)
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
        if any(e.version != s.version for e in s.elements):
            issues.add(where, f"elements must all be IPv{s.version}")
    for i in rs.interface_sets:
        where = f"interface_sets[{i.name}]"
        _check_name(issues, where, i.name, MAX_SET_NAME)
        if i.name in set_versions:
            issues.add(where, "duplicate set name")
        set_versions[i.name] = _INTERFACES
        bad = [e for e in i.elements if not INTERFACE_NAME.match(e)]
        if bad:
            issues.add(where, f"{bad!r} are not interface names (1-15 of [A-Za-z0-9_.-])")
        if list(i.elements) != sorted(set(i.elements)):
            issues.add(where, "names must be sorted and unique")
    if len(rs._index) != len(rs.chains):
        issues.add("chains", "duplicate chain names")
    sets = frozenset(set_versions.items())
    names = frozenset(rs._index)
    hooked = frozenset(c.name for c in rs.chains if c.hook is not None)
    edges: dict[str, tuple[str, ...]] = {}
    for chain in rs.chains:
        checked = _checked(chain)
        if checked.jumps:
            edges[chain.name] = checked.jumps
        refs_ok = sets.issuperset(checked.sets) and names.issuperset(checked.jumps)
        if checked.clean and refs_ok and hooked.isdisjoint(checked.jumps):
            continue  # the usual case; only a chain with a problem is gone through step by step
        for kind, where, name, version in checked.steps:
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
    if not issues:
        _check_acyclic(issues, rs, edges)
    issues.raise_if_any()


_Step = tuple[str, str, str, int]
"""One step of validating a chain: ``("issue", where, problem, 0)``, or a reference the rest
of the ruleset must resolve: ``("set", where, name, version)`` (version :data:`_INTERFACES`
for an interface set), ``("chain", where, name, 0)``."""


@dataclass(frozen=True, slots=True)
class _Checked:
    """Validating one chain on its own: every step in order; for the usual case, whether it
    found no problem, and the (set, version) pairs and the chains (in order) it refers to."""

    steps: tuple[_Step, ...]
    clean: bool
    sets: tuple[tuple[str, int], ...]
    jumps: tuple[str, ...]


def _check_chain(chain: Chain) -> _Checked:
    found = Issues()
    _check_name(found, f"chains[{chain.name}]", chain.name, MAX_CHAIN_NAME)
    steps: list[_Step] = [("issue", i.field, i.rule, 0) for i in found]
    for i, rule in enumerate(chain.rules):
        _check_rule(steps, f"chains[{chain.name}].rules[{i}]", rule)
    return _Checked(
        tuple(steps),
        not any(kind == "issue" for kind, *_ in steps),
        tuple((name, version) for kind, _, name, version in steps if kind == "set"),
        tuple(name for kind, _, name, _ in steps if kind == "chain"),
    )


# Chains are compared by identity: a recompilation hands back the chain objects of the last
# one for everything that did not change, and hashing a chain costs as much as checking it.
# Weighed in steps: a few times those of a host's ruleset at 2,000 policies (about 10,000).
_checked = memo.ByIdentity(_check_chain, 50_000, lambda c: len(c.steps) + 1)


def _check_rule(out: list[_Step], where: str, rule: Rule) -> None:
    def problem(text: str) -> None:
        out.append(("issue", where, text, 0))

    if len(_versions(rule)) > 1:
        problem("mixes IPv4 and IPv6 matches")
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
    if isinstance(rule.verdict, Dispatch) and not rule.verdict.targets:
        problem("a dispatch needs at least one target")
    out.extend(("chain", where, target, 0) for target in _targets(rule))


def _check_acyclic(issues: Issues, rs: Ruleset, edges: dict[str, tuple[str, ...]]) -> None:
    """``edges``: the chains each chain jumps to, for those that jump at all."""
    done: set[str] = set()
    active: set[str] = set()

    def visit(name: str) -> bool:
        if name in done or name not in edges:
            return True
        if name in active:
            issues.add(f"chains[{name}]", "is part of a jump loop")
            return False
        active.add(name)
        ok = all(visit(t) for t in edges[name])
        active.discard(name)
        done.add(name)
        return ok

    for chain in rs.chains:
        if chain.name in edges and not visit(chain.name):
            return
