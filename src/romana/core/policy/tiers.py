"""The cluster-admin tiers of a compiled ruleset: Admin before ordinary policies, Baseline after.

A *tiered* policy (``tier`` ``admin`` or ``baseline``, the compiled form of a Kubernetes
ClusterNetworkPolicy) is a priority and an ordered list of clauses, each with its own action:
``allow``, ``deny`` or ``pass``. Per tier and direction the policies that have clauses in
that direction form one chain of chains, in evaluation order (ascending priority, ties by
id)::

    romana-admin-ingress ─ goto S(p1)
    S(p1): subject match ─ goto R(p1) … ; goto S(p2)      (the subject of p1 does not hold)
    R(p1): clause rules in order: allow / deny / pass ; goto S(p2)   (no clause matched)
    …
    S(pn), R(pn): as above, falling off the end

The tier's root is entered by ``jump`` (from ``romana-from-endpoint`` and
``romana-to-host`` for egress, ``romana-ingress`` for Admin ingress, a kubernetes-mode
tenant's chain for Baseline ingress; :mod:`romana.core.policy.trees`), and every move inside
the tier is a ``goto``. So a ``return`` anywhere in the tier — what ``pass`` compiles to —
comes back to the chain that entered it, skipping the rest of the tier, and so does falling
off the last policy: the next tier decides. ``allow`` accepts (ingress) or goes to
``romana-egress-passed`` (egress: the receiver's ingress is still judged); ``deny`` drops,
naming the policy and rule.

Invariants:

* A ruleset without tiered policies has none of these chains and no rule entering them: it
  is the ruleset it was before tiers existed.
* The rules of a policy's clauses live in the chain ordinary policies use for their rules
  (``romana-pi-<id>`` / ``romana-pe-<id>``) with the same comments, so ``romana explain``
  reads a tier's rule as it reads any policy rule (:mod:`romana.core.policy.traces`).
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
        subjects = [_subject_name(direction, p) for p in members]
        chains.append(ruleset.Chain(root, (ruleset.Rule((), ruleset.goto(subjects[0])),)))
        for i, policy in enumerate(members):
            after = subjects[i + 1] if i + 1 < len(members) else None
            part = _policy_part(policy, resolver.scope(policy), direction, after)
            chains += part.chains
            notes += part.notes
    return Tiers(tuple(chains), frozenset(present), tuple(notes))


def _subject_name(direction: model.Direction, policy: model.Policy) -> str:
    return resolve.chain_name("si" if direction is _IN else "se", policy.name)


def rules_name(direction: model.Direction, policy: model.Policy) -> str:
    """The chain of a policy's rules: the one an ordinary policy of that id would have."""
    return resolve.chain_name("pi" if direction is _IN else "pe", policy.name)


@dataclass(frozen=True, slots=True)
class _Part:
    chains: tuple[ruleset.Chain, ...]
    notes: tuple[str, ...]


@functools.lru_cache(maxsize=1024)
def _policy_part(
    policy: model.Policy, scope: scope_mod.Scope, direction: model.Direction, after: str | None
) -> _Part:
    """One policy's subject and rule chains in one direction; ``after``: the next policy's
    subject chain (None: the policy is the tier's last)."""
    resolver = resolve.Resolver.of_scope(scope)
    own = ruleset.Side.DST if direction is _IN else ruleset.Side.SRC
    other = ruleset.Side.SRC if direction is _IN else ruleset.Side.DST
    label = f"{policy.name} ({policy.tier} tier, priority {policy.priority})"
    onward = (ruleset.Rule((), ruleset.goto(after), "next policy of the tier"),) if after else ()
    rules_chain = rules_name(direction, policy)
    subject = [
        ruleset.Rule(m, ruleset.goto(rules_chain), f"subject of {label}")
        for i, e in enumerate(policy.applied_to)
        for m in _own_matches(resolver, e, own, f"policy {policy.name!r} applied_to[{i}]")
    ]
    rules: list[ruleset.Rule] = []
    for i, clause in enumerate(policy.clauses(direction)):
        rules += _clause_rules(resolver, policy, direction, i, clause, own, other)
    return _Part(
        (
            ruleset.Chain(_subject_name(direction, policy), (*subject, *onward)),
            ruleset.Chain(rules_chain, (*rules, *onward)),
        ),
        tuple(resolver.notes),
    )


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
