"""The cluster-admin tiers of a compiled ruleset: Admin before ordinary policies, Baseline after.

A *tiered* policy (``tier`` ``admin`` or ``baseline``, the compiled form of a Kubernetes
ClusterNetworkPolicy) is a priority and an ordered list of clauses, each with its own action:
``allow``, ``deny`` or ``pass``. Per tier and direction one root chain holds the policies
that have clauses in that direction, in evaluation order (ascending priority, ties by id)::

    romana-admin-ingress:
        subject of p1 ─ jump R(p1)           allow / deny clauses of p1 before its first pass
        subject of p1 + pass clause ─ return
        subject of p1 ─ jump R(p1).1         the clauses after that pass
        subject of p2 ─ jump R(p2)
        …

The root is entered by ``jump`` (from ``romana-from-endpoint`` for egress, and for the Admin
tier from ``romana-to-host`` too; ``romana-ingress`` for Admin ingress, a kubernetes-mode
tenant's chain for Baseline ingress; :mod:`romana.core.policy.trees`). ``allow`` accepts
(ingress) or goes to ``romana-egress-passed`` (egress: the receiver's ingress is still
judged); ``deny`` drops, naming the policy and rule; a chain of clauses that matches nothing
returns to the root, which goes on with the next rule. ``pass`` is a ``return`` *in the
root*, so it leaves the tier, and so does the end of the root: the next tier decides. The
kernel allows only so many links in a row (16 in nftables), so the depth must not grow with
the policies: inside a tier a packet follows at most two links, whatever the number of
policies.

Invariants:

* A ruleset without tiered policies has none of these chains and no rule entering them: it
  is the ruleset it was before tiers existed.
* A rule of a clause is commented as an ordinary policy's rule, and lives in a chain named as
  an ordinary policy's (``romana-pi-<id>``, ``romana-pi-<id>.1`` after a pass …) or, for a
  pass, in the tier's root, so ``romana explain`` reads a tier's rule as it reads any policy
  rule (:mod:`romana.core.policy.traces`).
* Subjects and peers compile as everywhere else (:class:`resolve.Resolver`): a whole tenant
  or segment is one masked match per network, a pod selection an address set; nothing is
  per endpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from romana.core import ruleset
from romana.core.policy import model, resolve, trees
from romana.core.policy import scope as scope_mod

_IN = model.Direction.INGRESS
ROOTS = trees.TIER_ROOTS
EGRESS_PASSED = trees.EGRESS_PASSED


@dataclass(frozen=True, slots=True)
class Tiers:
    """The tier chains of one ruleset and which roots exist among them."""

    chains: tuple[ruleset.Chain, ...] = ()
    present: trees.TiersPresent = frozenset()
    notes: tuple[str, ...] = ()


def ordered(policies: Sequence[model.Policy], tier: model.Tier) -> list[model.Policy]:
    """The policies of ``tier`` in evaluation order: ascending priority, then id."""
    return sorted((p for p in policies if p.tier is tier), key=lambda p: (p.priority, p.name))


def unsupported(policy: model.Policy) -> tuple[str, ...]:
    """What a tiered policy asks that the tiers cannot do (empty when nothing)."""
    kinds = {e.kind for e in policy.applied_to}
    bad = kinds & {model.Kind.HOST, model.Kind.ANY, model.Kind.CIDR}
    if bad:
        return (
            f"a tiered policy applies to endpoints; applied_to cannot be {', '.join(sorted(bad))}",
        )
    return ()


def build(resolver: resolve.Resolver, policies: Sequence[model.Policy]) -> Tiers:
    """The tier chains for the tiered ones among ``policies``."""
    chains: list[ruleset.Chain] = []
    present: set[tuple[model.Tier, model.Direction]] = set()
    notes: list[str] = []
    for (tier, direction), root in ROOTS.items():
        members = [p for p in ordered(policies, tier) if p.clauses(direction)]
        if not members:
            continue
        present.add((tier, direction))
        entries: list[ruleset.Rule] = []
        for policy in members:
            part = _policy_part(policy, resolver.scope(policy), direction)
            entries += part.entries
            chains += part.chains
            notes += part.notes
        chains.append(ruleset.Chain(root, tuple(entries)))
    return Tiers(tuple(chains), frozenset(present), tuple(notes))


def rules_name(direction: model.Direction, policy: model.Policy, run: int = 0) -> str:
    """The chain of a policy's ``run``-th run of rules between passes; the first is the one an
    ordinary policy of that id would have."""
    stem = "pi" if direction is _IN else "pe"
    return resolve.chain_name(stem, policy.name, *((str(run),) if run else ()))


@dataclass(frozen=True, slots=True)
class _Part:
    entries: tuple[ruleset.Rule, ...]
    """The policy's rules in the tier's root: jumps to its runs, and its pass rules."""
    chains: tuple[ruleset.Chain, ...]
    notes: tuple[str, ...]


@functools.lru_cache(maxsize=1024)
def _policy_part(policy: model.Policy, scope: scope_mod.Scope, direction: model.Direction) -> _Part:
    """One policy in one direction: its entries in the tier's root and its rule chains.

    The clauses are cut at each ``pass``: every run of allow and deny clauses between passes
    is a chain of its own, entered by a jump per subject alternative; a pass clause stays in
    the root, once per subject alternative, as a ``return``. So the kernel follows at most
    two links inside a tier, however many policies it holds, and a pass leaves the root."""
    resolver = resolve.Resolver.of_scope(scope)
    own = ruleset.Side.DST if direction is _IN else ruleset.Side.SRC
    other = ruleset.Side.SRC if direction is _IN else ruleset.Side.DST
    label = f"{policy.name} ({policy.tier} tier, priority {policy.priority})"
    subject = [
        m
        for i, e in enumerate(policy.applied_to)
        for m in _own_matches(resolver, e, own, f"policy {policy.name!r} applied_to[{i}]")
    ]
    entries: list[ruleset.Rule] = []
    chains: list[ruleset.Chain] = []
    run: list[ruleset.Rule] = []

    def close_run() -> None:
        if not run:
            return
        name = rules_name(direction, policy, len(chains))
        chains.append(ruleset.Chain(name, tuple(run)))
        entries.extend(ruleset.Rule(m, ruleset.jump(name), f"subject of {label}") for m in subject)
        run.clear()

    for i, clause in enumerate(policy.clauses(direction)):
        rules = _clause_rules(resolver, policy, direction, i, clause, own, other)
        if clause.action is not model.Action.PASS:
            run.extend(rules)
            continue
        close_run()
        entries.extend(
            ruleset.Rule((*m, *r.matches), r.verdict, r.comment)
            for m in subject
            for r in rules
            if resolve.one_family((*m, *r.matches))
        )
    close_run()
    return _Part(tuple(entries), tuple(chains), tuple(resolver.notes))


def _own_matches(
    resolver: resolve.Resolver, endpoint: model.Endpoint, side: ruleset.Side, where: str
) -> resolve.Alternatives:
    """The alternatives that put an address on ``side`` among the endpoints ``endpoint``
    (a target) names."""
    if endpoint.kind is model.Kind.LOCAL:
        return resolver.peer(model.Endpoint(peer=model.Peer.LOCAL), side, where)
    if endpoint.kind is model.Kind.ADDRESS_SET and endpoint.tenant is not None:
        in_set = resolver.peer(model.Endpoint(address_set=endpoint.address_set), side, where)
        in_tenant = resolver.peer(model.Endpoint(tenant=endpoint.tenant), side, where)
        return [(*s, *t) for s in in_set for t in in_tenant if resolve.one_family((*s, *t))]
    return resolver.peer(endpoint, side, where)


def _clause_rules(
    resolver: resolve.Resolver,
    policy: model.Policy,
    direction: model.Direction,
    i: int,
    clause: model.Clause,
    own: ruleset.Side,
    other: ruleset.Side,
) -> list[ruleset.Rule]:
    action = clause.action or model.Action.ALLOW
    if action is model.Action.DENY:
        verdict: ruleset.Verdict = ruleset.DROP
    elif action is model.Action.PASS:
        verdict = ruleset.RETURN
    else:
        verdict = ruleset.ACCEPT if direction is _IN else ruleset.goto(EGRESS_PASSED)
    narrowing: resolve.Alternatives = [()]
    if clause.targets:
        narrowing = [
            m
            for t, e in enumerate(clause.targets)
            for m in resolver.peer(e, own, f"policy {policy.name!r} {direction}[{i}].targets[{t}]")
        ]
    out = []
    for j, peer in enumerate(clause.peers):
        where = f"{direction}[{i}].peers[{j}]"
        peers = resolver.peer(peer, other, f"policy {policy.name!r} {where}")
        for k, rule in enumerate(clause.rules):
            comment = f"{policy.name} {where}.rules[{k}]"
            drop = (
                ruleset.policy_drop(policy.name, f"{where}.rules[{k}]")
                if verdict is ruleset.DROP
                else None
            )
            for pm in peers:
                for rm in resolve.rule_alternatives(rule):
                    for tm in narrowing:
                        matches = (*tm, *pm, *rm)
                        if resolve.one_family(matches):
                            out.append(ruleset.Rule(matches, verdict, comment, drop))
    return out
