"""The checks every :class:`~romana.core.ruleset.Ruleset` passes when it is built.

:func:`validate` checks a whole ruleset against the invariants :mod:`romana.core.ruleset`
states (names, references, families, chain kinds, NAT hooks, drop reasons, no loops) and
collects every problem into one :class:`InvalidInput`; it returns the ruleset's drop reasons
by id. Each chain's own checks are kept with the chain (:func:`_checked`), so a chain shared
by many rulesets (the compiler reuses unchanged ones) is checked once.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from romana.core.dropreasons import DropReason
from romana.core.errors import Issues
from romana.core.rulevalues import (
    ADDRESS_TYPES,
    FILTER_ACTIONS,
    HOOKS,
    INTERFACE_NAME,
    INTERFACE_PREFIX,
    MAX_CHAIN_NAME,
    MAX_SET_NAME,
    NAT_ACTIONS,
    PORT_PROTOCOLS,
    PREFIX,
    Action,
    AddressSet,
    Chain,
    ChainKind,
    Conntrack,
    Dispatch,
    Hook,
    Icmp,
    InInterfaces,
    InSet,
    Interface,
    InterfaceSet,
    OriginalDestination,
    Ports,
    Protocol,
    Rule,
    Verdict,
    match_versions,
)


class Parts(typing.Protocol):
    """What the checks read of a ruleset (a :class:`~romana.core.ruleset.Ruleset`)."""

    @property
    def sets(self) -> tuple[AddressSet, ...]: ...

    @property
    def chains(self) -> tuple[Chain, ...]: ...

    @property
    def interface_sets(self) -> tuple[InterfaceSet, ...]: ...

    def chain(self, name: str) -> Chain: ...


_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# The "version" an interface set goes by when set references are resolved: no address family.
_INTERFACES = 0


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


def validate(rs: Parts, index: Mapping[str, Chain]) -> dict[int, DropReason]:
    """Every problem of ``rs`` (whose chains by name are ``index``) as one InvalidInput;
    else its drop reasons by id."""
    issues = Issues("invalid ruleset")
    set_versions: dict[str, int] = {}
    for s in rs.sets:
        where = f"sets[{s.name}]"
        _check_name(issues, where, s.name, MAX_SET_NAME)
        if s.name in set_versions:
            issues.add(where, "duplicate set name")
        set_versions[s.name] = s.version
        check_elements(issues, s)
    for i in rs.interface_sets:
        where = f"interface_sets[{i.name}]"
        _check_name(issues, where, i.name, MAX_SET_NAME)
        if i.name in set_versions:
            issues.add(where, "duplicate set name")
        set_versions[i.name] = _INTERFACES
        check_interfaces(issues, i)
    if len(index) != len(rs.chains):
        issues.add("chains", "duplicate chain names")
    sets = frozenset(set_versions.items())
    names = frozenset(index)
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
    drops = _collect_drops(issues, rs)
    if nat:
        _check_nat_hooks(issues, rs, edges, names)
    if not issues:
        _check_acyclic(issues, rs, edges)
    issues.raise_if_any()
    return drops


def check_elements(issues: Issues, s: AddressSet) -> None:
    if any(e.version != s.version for e in s.elements):
        issues.add(f"sets[{s.name}]", f"elements must all be IPv{s.version}")


def check_interfaces(issues: Issues, i: InterfaceSet) -> None:
    where = f"interface_sets[{i.name}]"
    bad = [e for e in i.elements if not INTERFACE_NAME.match(e)]
    if bad:
        issues.add(where, f"{bad!r} are not interface names (1-15 of [A-Za-z0-9_.-])")
    if list(i.elements) != sorted(set(i.elements)):
        issues.add(where, "names must be sorted and unique")


def _collect_drops(issues: Issues, rs: Parts) -> dict[int, DropReason]:
    """``rs``'s drop reasons by id; two reasons under one id would make counts and logs lie."""
    drops: dict[int, DropReason] = {}
    for chain in rs.chains:
        for rule in chain.rules:
            reason = rule.drop
            if reason is None:
                continue
            known = drops.setdefault(reason.id, reason)
            if known != reason:
                issues.add(f"chains[{chain.name}]", f"{reason.name} and {known.name} share an id")
    return drops


# Which hook's NAT chains may hold each address-rewriting action (the kernels refuse it
# anywhere else: the source is rewritten on the way out, the destination on the way in).
_NAT_HOOK = {
    Action.MASQUERADE: Hook.POSTROUTING,
    Action.SNAT: Hook.POSTROUTING,
    Action.DNAT: Hook.PREROUTING,
}


def _check_nat_hooks(
    issues: Issues, rs: Parts, edges: dict[str, tuple[str, ...]], names: frozenset[str]
) -> None:
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
        if name not in names:
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
class ChainCheck:
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


def _check_chain(chain: Chain) -> ChainCheck:
    steps = _steps(chain)
    return ChainCheck(
        not any(kind == "issue" for kind, *_ in steps),
        tuple(dict.fromkeys((name, version) for kind, _, name, version in steps if kind == "set")),
        tuple(dict.fromkeys(name for kind, _, name, _ in steps if kind == "chain")),
    )


def _checked(chain: Chain) -> ChainCheck:
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

    matched = match_versions(rule)
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
        elif isinstance(m, OriginalDestination) and not isinstance(m.address, ADDRESS_TYPES):
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
    bad = [a for a in verdict.to if not isinstance(a, ADDRESS_TYPES)]
    if bad:
        problem(f"{action} addresses must be IPv4Address or IPv6Address: {bad!r}")
    families = {a.version for a in verdict.to if isinstance(a, ADDRESS_TYPES)}
    if len(families) > 1:
        problem(f"{action} addresses mix IPv4 and IPv6")
    elif families and matched - families:
        (family,) = families
        other = 6 if family == 4 else 4
        problem(f"{action} to IPv{family} cannot carry IPv{other} matches")


def _check_acyclic(issues: Issues, rs: Parts, edges: dict[str, tuple[str, ...]]) -> None:
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
