"""Lay out the fixed entry chains and the four classification trees of a compiled ruleset.

A tree is one (direction, action) pair: ingress deny, ingress allow, egress deny, egress
allow. Its root holds the policies applied to every local endpoint and to plain address
sets, then one :class:`ruleset.Dispatch` per network on the tenant field of the destination
(ingress) or source (egress) address. A tenant chain holds the tenant's policies and one
dispatch per network on the segment field; a segment chain holds the segment's policies.
Each dispatch is preceded by one on the full address for the external IPs of this host's
endpoints, which reach the chains of their romana addresses
(:mod:`romana.core.policy.externals`).

A tenant appears in a tree only when something hangs off it there (in the ingress allow tree
every tenant does: its isolation default lives there), and a segment chain exists only for a
segment with policies — or, in the ingress allow tree, for every segment of a ``romana``-mode
tenant whose segments are isolated — so the layout grows with tenants, segments and
policies, never with endpoints but for one map element per external IP. An address set
narrowed to a tenant attaches inside that tenant's chain (matched there, so only its members
in the tenant); a plain set at the root.

Verdict discipline, which keeps every deny ahead of every allow:

* deny trees only ever drop or return;
* the ingress allow tree accepts, and its root ends in the isolation drop;
* in the egress allow tree a matching policy does ``goto romana-egress-passed`` (which always
  ends the evaluation), and each level whose target has allow policies ends in a drop: by
  then every allow that could apply (root, tenant, segment — evaluated in that order) has
  been tried.

The ingress allow default of a tenant is its :class:`romana.core.tenancy.Isolation`, never a
policy's name:

* ``romana`` with segments ``isolated`` (the default): each segment chain accepts sources of
  the same tenant and segment (in every network of the tenant); the tenant chain then drops
  the rest of its own tenant ("other segments"); other tenants fall back to the root, which
  accepts infrastructure (tenant 0) and drops everything else ("other tenants");
* ``romana`` with segments ``open``: the tenant chain accepts its whole tenant;
* ``kubernetes``: NetworkPolicy semantics. The chain first tries every ingress allow applied
  to the tenant, its segments and its narrowed sets, then drops what any of those targets
  still holds, then accepts: an endpoint no ingress policy selects is open to everyone.

Where the ruleset has tiered policies (:mod:`romana.core.policy.tiers`), the entry chains
jump to the Admin tier before the deny trees (``romana-from-endpoint``, ``romana-ingress``,
``romana-to-host``) and to the Baseline tier where the defaults would let traffic through:
before ``egress not restricted``, and in a ``kubernetes``-mode tenant's chain before ``not
isolated: no ingress policy``. An endpoint's traffic to its own host is governed by ``dest:
host`` policies and the host default, not by the endpoint's egress policies, so the Baseline
tier (which follows those) does not judge it either; the Admin tier does. A ``romana``-mode
tenant's isolation decides every ingress its policies did not open, so its endpoints'
ingress never reaches the Baseline tier: the isolation is that tenant's baseline.

A tenant's chains in one tree are a pure function of a
:class:`romana.core.policy.tenantchains.TenantLevel`, memoised: a recompilation rebuilds only
the tenants whose attached policies changed.

The entry chains recognise an endpoint's interface by romana's prefix and, on a host with
VMs, by exact name in the interface set :data:`DEVICES`: one rule for each, with the same
verdict, so a tap is an endpoint exactly as a veth is. Only the set's elements name taps, so
the chains do not change while taps come and go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from romana.core import addressing, kernelnames, memo, ruleset
from romana.core.policy import externals as externals_mod
from romana.core.policy import model, resolve, tenantchains

_P = kernelnames.RULESET_PREFIX
FORWARD = _P + "forward"
INPUT = _P + "input"
FROM_ENDPOINT = _P + "from-endpoint"
TO_ENDPOINT = _P + "to-endpoint"
EGRESS_PASSED = _P + "egress-passed"
INGRESS = _P + "ingress"
TO_HOST = _P + "to-host"
DEVICES = _P + "devices"
TIER_ROOTS = tenantchains.TIER_ROOTS
TiersPresent = frozenset[tuple[model.Tier, model.Direction]]
"""The (tier, direction) pairs a ruleset has policies for."""
"""The interface set of endpoint devices not named by romana (a VM's tap), by exact name."""
# After the conventional filter priority: the order of base chains never changes a verdict
# (an accept only ends one base chain, a drop anywhere is final), so we simply run last.
HOOK_PRIORITY = 10

_IN, _OUT = model.Direction.INGRESS, model.Direction.EGRESS
_ALLOW, _DENY = model.Action.ALLOW, model.Action.DENY
ROOTS = {
    (_IN, _DENY): _P + "ingress-deny",
    (_IN, _ALLOW): _P + "ingress-allow",
    (_OUT, _DENY): _P + "egress-deny",
    (_OUT, _ALLOW): _P + "egress-allow",
}


@dataclass(frozen=True, slots=True)
class Slot(memo.HashedOnce):
    """Where a policy chain attaches: its direction, its action and one of its targets."""

    direction: model.Direction
    action: model.Action
    target: resolve.Target
    _hash: int = field(init=False, repr=False, compare=False)
    __hash__ = memo.HashedOnce.__hash__

    def _fields(self) -> tuple[object, ...]:
        return (self.direction, self.action, self.target)


_ESTABLISHED = ruleset.Rule(
    (ruleset.Conntrack((ruleset.CtState.ESTABLISHED, ruleset.CtState.RELATED)),),
    ruleset.ACCEPT,
    "established or related",
)
# An endpoint must resolve its gateway's address: router solicitation, neighbour
# solicitation and advertisement reach the host on the input hook, untracked by conntrack.
_NEIGHBOUR_DISCOVERY = tuple(
    ruleset.Rule(
        (ruleset.Protocol(ruleset.Proto.ICMPV6), ruleset.Icmp(icmp_type)),
        ruleset.ACCEPT,
        f"IPv6 {name}",
    )
    for icmp_type, name in (
        (133, "router solicitation"),
        (135, "neighbour solicitation"),
        (136, "neighbour advertisement"),
    )
)
# The names of the isolation defaults that drop (:class:`ruleset.DropReason`): stable, as
# metrics and logged drops carry them.
INVALID = "invalid conntrack state"
OTHER_TENANTS = "isolation: other tenants"
OTHER_SEGMENTS = tenantchains.OTHER_SEGMENTS
EGRESS_RESTRICTED = tenantchains.EGRESS_RESTRICTED
INGRESS_ISOLATED = tenantchains.INGRESS_ISOLATED
ENDPOINT_TO_HOST = "endpoint to host"
_INVALID = ruleset.Rule(
    (ruleset.Conntrack((ruleset.CtState.INVALID,)),),
    ruleset.DROP,
    "invalid",
    ruleset.default_drop(INVALID),
)
# A VM behind a tap learns its addresses from the agent's DHCP servers on the host: its
# requests (DHCPv4 to port 67, from 0.0.0.0 at first; DHCPv6 to port 547, from its
# link-local address) must reach the host whatever the default for endpoints.
_DHCP = ruleset.Rule(
    (
        ruleset.InInterfaces(ruleset.Side.SRC, DEVICES),
        ruleset.Protocol(ruleset.Proto.UDP),
        ruleset.Ports(ruleset.Side.DST, ((67, 67), (547, 547))),
    ),
    ruleset.ACCEPT,
    "DHCP to the host's servers",
)

_OTHER_TENANTS = ruleset.default_drop(OTHER_TENANTS)
_EGRESS = ruleset.default_drop(EGRESS_RESTRICTED)


def _tag(verdict: ruleset.Verdict, default: str) -> ruleset.DropReason | None:
    """The drop reason of a default whose verdict is configured: none when it accepts."""
    return ruleset.default_drop(default) if verdict is ruleset.DROP else None


class Builder:
    def __init__(
        self,
        resolver: resolve.Resolver,
        slots: Mapping[Slot, Sequence[tuple[str, str]]],
        interface_prefix: str,
        devices: bool = False,
        externals: Mapping[str, tuple[externals_mod.External, ...]] | None = None,
        tiers: TiersPresent = frozenset(),
    ) -> None:
        self.resolver = resolver
        self.slots = slots
        self.devices = devices
        self.tiers = tiers
        # The external addresses of this host's endpoints, by tenant.
        self.externals = externals or {}
        self.from_endpoint = self._endpoint(ruleset.Side.SRC, interface_prefix)
        self.to_endpoint = self._endpoint(ruleset.Side.DST, interface_prefix)

    def _endpoint(self, side: ruleset.Side, prefix: str) -> tuple[ruleset.MatchExpr, ...]:
        """The ways an interface on ``side`` is an endpoint's: by our prefix, and (when the
        host has any) by exact name in :data:`DEVICES`; one rule per way."""
        by_prefix = ruleset.Interface(side, prefix)
        return (by_prefix, ruleset.InInterfaces(side, DEVICES)) if self.devices else (by_prefix,)

    def _jumps(self, slot: Slot, matches: tuple[ruleset.MatchExpr, ...] = ()) -> list[ruleset.Rule]:
        return tenantchains.jump_rules(self.slots.get(slot, ()), matches)

    def flow_chains(self, endpoint_to_host: model.Action) -> list[ruleset.Chain]:
        rule = ruleset.Rule
        host_default = ruleset.ACCEPT if endpoint_to_host is _ALLOW else ruleset.DROP
        host = resolve.Target(resolve.TargetKind.HOST)
        chains = [
            ruleset.Chain(
                FORWARD,
                (
                    *_each(self.from_endpoint, ruleset.goto(FROM_ENDPOINT), "from an endpoint"),
                    *_each(self.to_endpoint, ruleset.goto(TO_ENDPOINT), "to an endpoint"),
                ),
                hook=ruleset.Hook.FORWARD,
                priority=HOOK_PRIORITY,
            ),
            ruleset.Chain(
                INPUT,
                _each(self.from_endpoint, ruleset.goto(TO_HOST), "from an endpoint"),
                hook=ruleset.Hook.INPUT,
                priority=HOOK_PRIORITY,
            ),
            ruleset.Chain(
                FROM_ENDPOINT,
                (
                    _ESTABLISHED,
                    _INVALID,
                    *self._tier(model.Tier.ADMIN, _OUT),
                    rule((), ruleset.jump(ROOTS[_OUT, _DENY]), "egress deny policies"),
                    rule((), ruleset.jump(ROOTS[_OUT, _ALLOW]), "egress allow policies"),
                    *self._tier(model.Tier.BASELINE, _OUT),
                    rule((), ruleset.goto(EGRESS_PASSED), "egress not restricted"),
                ),
            ),
            ruleset.Chain(
                EGRESS_PASSED,
                (
                    *_each(self.to_endpoint, ruleset.goto(INGRESS), "to a local endpoint"),
                    rule((), ruleset.ACCEPT, "egress allowed"),
                ),
            ),
            ruleset.Chain(TO_ENDPOINT, (_ESTABLISHED, _INVALID, rule((), ruleset.goto(INGRESS)))),
            ruleset.Chain(
                INGRESS,
                (
                    *self._tier(model.Tier.ADMIN, _IN),
                    rule((), ruleset.jump(ROOTS[_IN, _DENY]), "ingress deny policies"),
                    rule((), ruleset.goto(ROOTS[_IN, _ALLOW]), "ingress allow policies"),
                ),
            ),
            ruleset.Chain(
                TO_HOST,
                (
                    _ESTABLISHED,
                    *_NEIGHBOUR_DISCOVERY,
                    *((_DHCP,) if self.devices else ()),
                    _INVALID,
                    *self._tier(model.Tier.ADMIN, _OUT),
                    *self._jumps(Slot(_IN, _DENY, host)),
                    *self._jumps(Slot(_IN, _ALLOW, host)),
                    rule(
                        (),
                        host_default,
                        f"default for endpoints to the host: {host_default}",
                        _tag(host_default, ENDPOINT_TO_HOST),
                    ),
                ),
            ),
        ]
        return [_same(chain) for chain in chains]

    def _tier(self, tier: model.Tier, direction: model.Direction) -> tuple[ruleset.Rule, ...]:
        """The jump into a tier's chains, where the ruleset has that tier at all."""
        if (tier, direction) not in self.tiers:
            return ()
        return (ruleset.Rule((), ruleset.jump(TIER_ROOTS[tier, direction]), f"{tier} tier"),)

    def tree(self, direction: model.Direction, action: model.Action) -> list[ruleset.Chain]:
        side = ruleset.Side.DST if direction is _IN else ruleset.Side.SRC
        own = [s for s in self.slots if s.direction is direction and s.action is action]
        kinds = resolve.TargetKind
        rules = self._jumps(Slot(direction, action, resolve.Target(kinds.LOCAL)))
        address_sets = sorted(
            {s.target for s in own if s.target.kind is kinds.SET and not s.target.tenant}
        )
        for target in address_sets:
            for m in self._set_matches(side, target):
                rules += self._jumps(Slot(direction, action, target), (m,))
        with_slots = {s.target.tenant for s in own if s.target.tenant}
        # One pass over the slots, not one per tenant: the tree has a chain per tenant.
        at_tenant: dict[str, tenantchains.Jumps] = {}
        at_segment: dict[str, dict[int, tenantchains.Jumps]] = {}
        at_set: dict[str, dict[str, tenantchains.Jumps]] = {}
        for s in own:
            jumps = tuple(self.slots[s])
            if s.target.kind is kinds.TENANT:
                at_tenant[s.target.tenant] = jumps
            elif s.target.kind is kinds.SEGMENT:
                at_segment.setdefault(s.target.tenant, {})[s.target.segment] = jumps
            elif s.target.kind is kinds.SET and s.target.tenant:
                at_set.setdefault(s.target.tenant, {})[s.target.address_set] = jumps
        tenants = [
            t
            for t in self.resolver.tenants
            if t.name in with_slots or (direction, action) == (_IN, _ALLOW)
        ]
        below: list[ruleset.Chain] = []
        entries: dict[str, list[tuple[int, str]]] = {}
        external_entries: list[tuple[int, int, str]] = []
        for tenant in tenants:
            segments = at_segment.get(tenant.name, {})
            sets = at_set.get(tenant.name, {})
            level = tenantchains.TenantLevel(
                direction,
                action,
                tenant,
                self.resolver.frame,
                at_tenant.get(tenant.name),
                tuple((s, segments[s]) for s in sorted(segments)),
                tuple((name, sets[name]) for name in sorted(sets)),
                self.externals.get(tenant.name, ()),
                (model.Tier.BASELINE, _IN) in self.tiers,
            )
            built = tenantchains.tenant_chains(level)
            below += built.chains
            for network, value, chain in built.dispatch:
                entries.setdefault(network, []).append((value, chain))
            external_entries += built.externals
        rules += externals_mod.dispatch(side, external_entries, "tenant")
        rules += self._dispatch(
            side,
            lambda lay, n: entries.get(n, []),
            lambda lay: addressing.tenant_match(lay, 0).mask,
            "tenant",
        )
        if (direction, action) == (_IN, _ALLOW):
            for network, lay in self.resolver.layouts.items():
                infra = ruleset.Address(ruleset.Side.SRC, addressing.tenant_match(lay, 0))
                rules.append(ruleset.Rule((infra,), ruleset.ACCEPT, f"infrastructure {network}"))
            rules.append(ruleset.Rule((), ruleset.DROP, OTHER_TENANTS, _OTHER_TENANTS))
        if (direction, action) == (_OUT, _ALLOW):
            for target in address_sets:
                for m in self._set_matches(side, target):
                    rules.append(
                        ruleset.Rule((m,), ruleset.DROP, "egress restricted: set", _EGRESS)
                    )
            if Slot(direction, action, resolve.Target(kinds.LOCAL)) in self.slots:
                rules.append(ruleset.Rule((), ruleset.DROP, "egress restricted: local", _EGRESS))
        return [_same(ruleset.Chain(ROOTS[direction, action], tuple(rules))), *below]

    def _set_matches(self, side: ruleset.Side, target: resolve.Target) -> list[ruleset.InSet]:
        return tenantchains.set_matches(side, target.address_set, self.resolver.versions)

    def _dispatch(
        self,
        side: ruleset.Side,
        entries: Callable[[addressing.Layout, str], list[tuple[int, str]]],
        mask: Callable[[addressing.Layout], int],
        what: str,
    ) -> list[ruleset.Rule]:
        return tenantchains.dispatch(self.resolver.frame, side, entries, mask, what)


_LAST_BUILT: dict[str, ruleset.Chain] = {}
"""The chain of each name :func:`_same` was last given (the roots and the entry chains: a
few names)."""


def _same(chain: ruleset.Chain) -> ruleset.Chain:
    """``chain``, or the equal chain of its name built last time: a chain rebuilt on every
    compilation (the roots, the entry chains) stays the very object it was while it does not
    change, so memos keyed by identity downstream recognise it, and only the last copy of
    each is kept (they are the largest chains: a root dispatches to every tenant)."""
    last = _LAST_BUILT.get(chain.name)
    if last is not None and last == chain:
        return last
    _LAST_BUILT[chain.name] = chain
    return chain


def _each(
    matches: tuple[ruleset.MatchExpr, ...], verdict: ruleset.Verdict, comment: str
) -> tuple[ruleset.Rule, ...]:
    """One rule per match: the alternatives of an OR."""
    return tuple(ruleset.Rule((m,), verdict, comment) for m in matches)
