"""One tenant's chains in one classification tree: a pure function of what they depend on.

:func:`tenant_chains` builds, for one (direction, action) tree, the chain of one tenant and
the chains of its segments (:mod:`romana.core.policy.trees` lays out the trees and says what
each tree's defaults mean); the result depends on a :class:`TenantLevel` alone and the last
one built for each tenant in each tree is kept, so a recompilation rebuilds only the tenants
whose attached policies, isolation or external IPs changed, and what a tenant's earlier
levels built is not kept beside it. The small builders of jumps, set matches, chain names
and dispatches are shared with :mod:`trees`.

Invariant: a tenant's chains never name an endpoint; they grow with its segments, the
policies attached to it and its endpoints' external IPs only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from romana.core import addressing, ruleset, tenancy
from romana.core.policy import externals as externals_mod
from romana.core.policy import model, resolve, scope

_P = ruleset.PREFIX
_IN, _OUT = model.Direction.INGRESS, model.Direction.EGRESS
_ALLOW, _DENY = model.Action.ALLOW, model.Action.DENY
_STEM = {(_IN, _DENY): "id", (_IN, _ALLOW): "ia", (_OUT, _DENY): "ed", (_OUT, _ALLOW): "ea"}
# Tenant levels kept at most: a tenant appears in up to four trees.
MEMO_SIZE = 8192
TIER_ROOTS = {
    (model.Tier.ADMIN, _IN): _P + "admin-ingress",
    (model.Tier.ADMIN, _OUT): _P + "admin-egress",
    (model.Tier.BASELINE, _IN): _P + "baseline-ingress",
    (model.Tier.BASELINE, _OUT): _P + "baseline-egress",
}
"""The roots of the cluster-admin tiers (:mod:`romana.core.policy.tiers`), entered by jump."""
# The names of the isolation defaults that drop (:class:`ruleset.DropReason`): stable, as
# metrics and logged drops carry them.
OTHER_SEGMENTS = "isolation: other segments"
EGRESS_RESTRICTED = "egress restricted"
INGRESS_ISOLATED = "ingress isolated"
_OTHER_SEGMENTS = ruleset.default_drop(OTHER_SEGMENTS)


Jumps = tuple[tuple[str, str], ...]
"""The (policy, policy chain) pairs attached at one place, in order."""


class TenantLevel(NamedTuple):
    """Everything one tenant's chains in one tree depend on.

    ``tenant_jumps``: the policies attached to the tenant (None: no slot). ``segments``: each
    segment with policies here and its jumps. ``sets``: each address set narrowed to this
    tenant with policies here, and its jumps. ``externals``: the external addresses of this
    host's endpoints in the tenant. The tenant carries its isolation. A named tuple: one is
    made, hashed and compared per tenant per tree."""

    direction: model.Direction
    action: model.Action
    tenant: scope.FrozenTenant
    frame: scope.Frame
    tenant_jumps: Jumps | None
    segments: tuple[tuple[int, Jumps], ...]
    sets: tuple[tuple[str, Jumps], ...]
    externals: tuple[externals_mod.External, ...] = ()
    baseline: bool = False
    """A Baseline tier judges ingress to this tenant's endpoints no ordinary policy selects."""


@dataclass(frozen=True, slots=True)
class TenantChains:
    """The tenant chain first, then its segment chains; ``dispatch``: the tree root's
    (network, tenant field value, tenant chain) entries for it, in network order;
    ``externals``: the root's (version, external address, tenant chain) entries."""

    chains: tuple[ruleset.Chain, ...]
    dispatch: tuple[tuple[str, int, str], ...]
    externals: tuple[tuple[int, int, str], ...] = ()


def jump_rules(
    jumps: Sequence[tuple[str, str]], matches: tuple[ruleset.MatchExpr, ...] = ()
) -> list[ruleset.Rule]:
    return [
        ruleset.Rule(matches, ruleset.jump(chain), f"policy {policy}") for policy, chain in jumps
    ]


def set_matches(side: ruleset.Side, name: str, versions: Sequence[int]) -> list[ruleset.InSet]:
    return [ruleset.InSet(side, resolve.set_name("set", v, name), v) for v in versions]


def chain_name(
    direction: model.Direction,
    action: model.Action,
    tenant: resolve.TenantLike,
    segment: int | None = None,
) -> str:
    stem = _STEM[direction, action]
    if segment is None:
        return resolve.chain_name(stem, tenant.name)
    return resolve.chain_name(stem, tenant.name, resolve.segment_label(tenant, segment))


def dispatch(
    frame: scope.Frame,
    side: ruleset.Side,
    entries: Callable[[addressing.Layout, str], list[tuple[int, str]]],
    mask: Callable[[addressing.Layout], int],
    what: str,
) -> list[ruleset.Rule]:
    out = []
    for network, lay in frame.layouts:
        targets = entries(lay, network)
        if targets:
            verdict = ruleset.Dispatch(side, lay.version, mask(lay), tuple(targets))
            out.append(ruleset.Rule((), verdict, f"{what} of {side} in {network}"))
    return out


_BUILT: dict[tuple[model.Direction, model.Action, str], tuple[TenantLevel, TenantChains]] = {}
"""The chains last built for each tenant in each tree, with the level they were built for."""


def tenant_chains(level: TenantLevel) -> TenantChains:
    """The chains of one tenant in one tree, from what they depend on alone: those built
    last time for this tenant in this tree while ``level`` is the same, else new ones, which
    replace them (no lock: the worst interleaving of two threads builds them twice)."""
    tree = (level.direction, level.action, level.tenant.name)
    last = _BUILT.get(tree)
    if last is not None and last[0] == level:
        return last[1]
    built = _tenant_chains(level)
    if len(_BUILT) >= MEMO_SIZE and tree not in _BUILT:
        _BUILT.clear()  # bounded: tenants gone long ago are forgotten with the others
    _BUILT[tree] = (level, built)
    return built


def _tenant_chains(level: TenantLevel) -> TenantChains:
    direction, action, tenant = level.direction, level.action, level.tenant
    ids = tenant.ids
    layouts = level.frame.layouts
    ingress_allow = (direction, action) == (_IN, _ALLOW)
    kube = ingress_allow and tenant.isolation.mode is tenancy.Mode.KUBERNETES
    romana = ingress_allow and not kube
    own_segment_only = romana and tenant.isolation.segments is tenancy.Segments.ISOLATED
    restricting = (direction, action) == (_OUT, _ALLOW) or kube
    what = INGRESS_ISOLATED if kube else EGRESS_RESTRICTED
    restricted = ruleset.default_drop(what)
    side = ruleset.Side.DST if direction is _IN else ruleset.Side.SRC
    rules: list[ruleset.Rule] = []
    for name, jumps in level.sets:
        for m in set_matches(side, name, level.frame.versions):
            rules += jump_rules(jumps, (m,))
    if romana and not own_segment_only:
        for network, lay in layouts:
            if network in ids:
                src = ruleset.Address(ruleset.Side.SRC, addressing.tenant_match(lay, ids[network]))
                rules.append(ruleset.Rule((src,), ruleset.ACCEPT, f"own tenant {network}"))
    rules += jump_rules(level.tenant_jumps or ())
    with_policies = dict(level.segments)
    chained = set(with_policies)
    if own_segment_only:
        chained |= {addressing.DEFAULT_SEGMENT, *tenant.segments.values()}
    below = []
    for segment in sorted(chained):
        seg_rules = jump_rules(with_policies.get(segment, ()))
        if own_segment_only:
            for network, lay in layouts:
                if network in ids and segment <= lay.max_segment:
                    own = addressing.segment_match(lay, ids[network], segment)
                    seg_rules.append(
                        ruleset.Rule(
                            (ruleset.Address(ruleset.Side.SRC, own),),
                            ruleset.ACCEPT,
                            f"own tenant and segment {network}",
                        )
                    )
        if restricting and segment in with_policies:
            seg_rules.append(ruleset.Rule((), ruleset.DROP, f"{what}: segment", restricted))
        below.append(
            ruleset.Chain(chain_name(direction, action, tenant, segment), tuple(seg_rules))
        )
    rules += externals_mod.dispatch(
        side,
        (
            (e.version, e.address, chain_name(direction, action, tenant, e.segment))
            for e in level.externals
            if e.segment in chained
        ),
        "segment",
    )
    rules += dispatch(
        level.frame,
        side,
        lambda lay, n: [
            (
                addressing.segment_match(lay, ids[n], s).value,
                chain_name(direction, action, tenant, s),
            )
            for s in sorted(chained)
            if n in ids and s <= lay.max_segment
        ],
        lambda lay: addressing.segment_match(lay, 0, 0).mask,
        "segment",
    )
    if restricting:
        for name, _ in level.sets:
            for m in set_matches(side, name, level.frame.versions):
                rules.append(ruleset.Rule((m,), ruleset.DROP, f"{what}: set", restricted))
    if restricting and level.tenant_jumps is not None:
        rules.append(ruleset.Rule((), ruleset.DROP, f"{what}: tenant", restricted))
    if kube and level.baseline:
        baseline = ruleset.jump(TIER_ROOTS[model.Tier.BASELINE, _IN])
        rules.append(ruleset.Rule((), baseline, f"{model.Tier.BASELINE} tier"))
    if kube:
        rules.append(ruleset.Rule((), ruleset.ACCEPT, "not isolated: no ingress policy"))
    if own_segment_only:
        for network, lay in layouts:
            if network in ids:
                src = ruleset.Address(ruleset.Side.SRC, addressing.tenant_match(lay, ids[network]))
                rules.append(
                    ruleset.Rule(
                        (src,), ruleset.DROP, f"{OTHER_SEGMENTS} {network}", _OTHER_SEGMENTS
                    )
                )
    chain = chain_name(direction, action, tenant)
    root_entries = tuple(
        (network, addressing.tenant_match(lay, ids[network]).value, chain)
        for network, lay in layouts
        if network in ids
    )
    externals = tuple((e.version, e.address, chain) for e in level.externals)
    return TenantChains((ruleset.Chain(chain, tuple(rules)), *below), root_entries, externals)
