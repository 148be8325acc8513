"""Lay out the fixed entry chains and the four classification trees of a compiled ruleset.

A tree is one (direction, action) pair: ingress deny, ingress allow, egress deny, egress
allow. Its root holds the policies applied to every local endpoint and to address sets,
then one :class:`ruleset.Dispatch` per network on the tenant field of the destination
(ingress) or source (egress) address. A tenant chain holds the tenant's policies and one
dispatch per network on the segment field; a segment chain holds the segment's policies.

A tenant appears in a tree only when something hangs off it there (in the ingress allow tree
every tenant does: its own-tenant default lives there), and a segment chain exists only for
a segment with policies, so the layout grows with tenants, segments with policies and
policies, never with endpoints.

Verdict discipline, which keeps every deny ahead of every allow:

* deny trees only ever drop or return;
* the ingress allow tree accepts, and its root ends in the isolation drop;
* in the egress allow tree a matching policy does ``goto romana-egress-passed`` (which always
  ends the evaluation), and each level whose target has allow policies ends in a drop: by
  then every allow that could apply (root, tenant, segment — evaluated in that order) has
  been tried.

Tenants isolated per endpoint (``scopes``: Kubernetes namespaces, each with the address sets
that name endpoints inside it) replace the own-tenant default of the ingress allow tree with
the Kubernetes rule: their chain first tries every ingress allow applied to the tenant, to
its segments and to its scoped sets (matched on the destination inside the tenant chain, not
at the root), then drops what any of those targets still holds, then accepts: an endpoint
no ingress policy selects is open to everyone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from romana.core import addressing, ruleset
from romana.core.policy import model, resolve

FORWARD = "romana-forward"
INPUT = "romana-input"
FROM_ENDPOINT = "romana-from-endpoint"
TO_ENDPOINT = "romana-to-endpoint"
EGRESS_PASSED = "romana-egress-passed"
INGRESS = "romana-ingress"
TO_HOST = "romana-to-host"
# After the conventional filter priority: the order of base chains never changes a verdict
# (an accept only ends one base chain, a drop anywhere is final), so we simply run last.
HOOK_PRIORITY = 10

_IN, _OUT = model.Direction.INGRESS, model.Direction.EGRESS
_ALLOW, _DENY = model.Action.ALLOW, model.Action.DENY
_STEM = {(_IN, _DENY): "id", (_IN, _ALLOW): "ia", (_OUT, _DENY): "ed", (_OUT, _ALLOW): "ea"}
ROOTS = {
    (_IN, _DENY): "romana-ingress-deny",
    (_IN, _ALLOW): "romana-ingress-allow",
    (_OUT, _DENY): "romana-egress-deny",
    (_OUT, _ALLOW): "romana-egress-allow",
}


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a policy chain attaches: its direction, its action and one of its targets."""

    direction: model.Direction
    action: model.Action
    target: resolve.Target


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
_INVALID = ruleset.Rule((ruleset.Conntrack((ruleset.CtState.INVALID,)),), ruleset.DROP, "invalid")


class Builder:
    def __init__(
        self,
        resolver: resolve.Resolver,
        slots: Mapping[Slot, Sequence[tuple[str, str]]],
        interface_prefix: str,
        scopes: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.resolver = resolver
        self.slots = slots
        self.scopes = dict(scopes or {})
        self.from_endpoint = ruleset.Interface(ruleset.Side.SRC, interface_prefix)
        self.to_endpoint = ruleset.Interface(ruleset.Side.DST, interface_prefix)

    def _jumps(self, slot: Slot, matches: tuple[ruleset.MatchExpr, ...] = ()) -> list[ruleset.Rule]:
        return [
            ruleset.Rule(matches, ruleset.jump(chain), f"policy {policy}")
            for policy, chain in self.slots.get(slot, ())
        ]

    def flow_chains(self, endpoint_to_host: model.Action) -> list[ruleset.Chain]:
        rule = ruleset.Rule
        host_default = ruleset.ACCEPT if endpoint_to_host is _ALLOW else ruleset.DROP
        host = resolve.Target(resolve.TargetKind.HOST)
        return [
            ruleset.Chain(
                FORWARD,
                (
                    rule((self.from_endpoint,), ruleset.goto(FROM_ENDPOINT), "from an endpoint"),
                    rule((self.to_endpoint,), ruleset.goto(TO_ENDPOINT), "to an endpoint"),
                ),
                hook=ruleset.Hook.FORWARD,
                priority=HOOK_PRIORITY,
            ),
            ruleset.Chain(
                INPUT,
                (rule((self.from_endpoint,), ruleset.goto(TO_HOST), "from an endpoint"),),
                hook=ruleset.Hook.INPUT,
                priority=HOOK_PRIORITY,
            ),
            ruleset.Chain(
                FROM_ENDPOINT,
                (
                    _ESTABLISHED,
                    _INVALID,
                    rule((), ruleset.jump(ROOTS[_OUT, _DENY]), "egress deny policies"),
                    rule((), ruleset.jump(ROOTS[_OUT, _ALLOW]), "egress allow policies"),
                    rule((), ruleset.goto(EGRESS_PASSED), "egress not restricted"),
                ),
            ),
            ruleset.Chain(
                EGRESS_PASSED,
                (
                    rule((self.to_endpoint,), ruleset.goto(INGRESS), "to a local endpoint"),
                    rule((), ruleset.ACCEPT, "egress allowed"),
                ),
            ),
            ruleset.Chain(TO_ENDPOINT, (_ESTABLISHED, _INVALID, rule((), ruleset.goto(INGRESS)))),
            ruleset.Chain(
                INGRESS,
                (
                    rule((), ruleset.jump(ROOTS[_IN, _DENY]), "ingress deny policies"),
                    rule((), ruleset.goto(ROOTS[_IN, _ALLOW]), "ingress allow policies"),
                ),
            ),
            ruleset.Chain(
                TO_HOST,
                (
                    _ESTABLISHED,
                    *_NEIGHBOUR_DISCOVERY,
                    _INVALID,
                    *self._jumps(Slot(_IN, _DENY, host)),
                    *self._jumps(Slot(_IN, _ALLOW, host)),
                    rule((), host_default, f"default for endpoints to the host: {host_default}"),
                ),
            ),
        ]

    def tree(self, direction: model.Direction, action: model.Action) -> list[ruleset.Chain]:
        side = ruleset.Side.DST if direction is _IN else ruleset.Side.SRC
        own = [s for s in self.slots if s.direction is direction and s.action is action]
        kinds = resolve.TargetKind
        rules = self._jumps(Slot(direction, action, resolve.Target(kinds.LOCAL)))
        scoped = (
            {name for names in self.scopes.values() for name in names}
            if (direction, action) == (_IN, _ALLOW)
            else set()
        )
        address_sets = sorted(
            {
                s.target
                for s in own
                if s.target.kind is kinds.SET and s.target.address_set not in scoped
            }
        )
        for target in address_sets:
            for m in self._set_matches(side, target):
                rules += self._jumps(Slot(direction, action, target), (m,))
        with_slots = {s.target.tenant for s in own if s.target.tenant}
        # One pass over the slots, not one per tenant: the tree has a chain per tenant.
        segments_of: dict[str, set[int]] = {}
        for s in own:
            if s.target.kind is kinds.SEGMENT:
                segments_of.setdefault(s.target.tenant, set()).add(s.target.segment)
        tenants = [
            t
            for t in self.resolver.tenants
            if t.name in with_slots or (direction, action) == (_IN, _ALLOW)
        ]
        below: list[ruleset.Chain] = []
        for tenant in tenants:
            segments = sorted(segments_of.get(tenant.name, ()))
            below += self._tenant_chains(direction, action, tenant, segments)
        rules += self._dispatch(
            side,
            lambda lay, n: [
                (addressing.tenant_match(lay, t.ids[n]).value, self._name(direction, action, t))
                for t in tenants
                if n in t.ids
            ],
            lambda lay: addressing.tenant_match(lay, 0).mask,
            "tenant",
        )
        if (direction, action) == (_IN, _ALLOW):
            for network, lay in self.resolver.layouts.items():
                infra = ruleset.Address(ruleset.Side.SRC, addressing.tenant_match(lay, 0))
                rules.append(ruleset.Rule((infra,), ruleset.ACCEPT, f"infrastructure {network}"))
            rules.append(ruleset.Rule((), ruleset.DROP, "isolation: other tenants"))
        if (direction, action) == (_OUT, _ALLOW):
            for target in address_sets:
                for m in self._set_matches(side, target):
                    rules.append(ruleset.Rule((m,), ruleset.DROP, "egress restricted: set"))
            if Slot(direction, action, resolve.Target(kinds.LOCAL)) in self.slots:
                rules.append(ruleset.Rule((), ruleset.DROP, "egress restricted: local"))
        return [ruleset.Chain(ROOTS[direction, action], tuple(rules)), *below]

    def _set_matches(self, side: ruleset.Side, target: resolve.Target) -> list[ruleset.InSet]:
        return [
            ruleset.InSet(side, resolve.set_name("set", v, target.address_set), v)
            for v in self.resolver.versions
        ]

    def _name(
        self,
        direction: model.Direction,
        action: model.Action,
        tenant: resolve.TenantLike,
        segment: int | None = None,
    ) -> str:
        stem = _STEM[direction, action]
        if segment is None:
            return resolve.chain_name(stem, tenant.name)
        return resolve.chain_name(stem, tenant.name, resolve.segment_label(tenant, segment))

    def _dispatch(
        self,
        side: ruleset.Side,
        entries: Callable[[addressing.Layout, str], list[tuple[int, str]]],
        mask: Callable[[addressing.Layout], int],
        what: str,
    ) -> list[ruleset.Rule]:
        out = []
        for network, lay in self.resolver.layouts.items():
            targets = entries(lay, network)
            if targets:
                dispatch = ruleset.Dispatch(side, lay.version, mask(lay), tuple(targets))
                out.append(ruleset.Rule((), dispatch, f"{what} of {side} in {network}"))
        return out

    def _tenant_chains(
        self,
        direction: model.Direction,
        action: model.Action,
        tenant: resolve.TenantLike,
        segments: list[int],
    ) -> list[ruleset.Chain]:
        """The tenant's chain and the chains of its ``segments`` (those with policies here)."""
        kinds = resolve.TargetKind
        per_endpoint = (direction, action) == (_IN, _ALLOW) and tenant.name in self.scopes
        restricting = (direction, action) == (_OUT, _ALLOW) or per_endpoint
        rules: list[ruleset.Rule] = []
        scoped_sets = [
            resolve.Target(kinds.SET, address_set=name)
            for name in sorted(self.scopes.get(tenant.name, ()))
            if per_endpoint
        ]
        for target in scoped_sets:
            for m in self._set_matches(ruleset.Side.DST, target):
                rules += self._jumps(Slot(direction, action, target), (m,))
        if (direction, action) == (_IN, _ALLOW) and not per_endpoint:
            for network, lay in self.resolver.layouts.items():
                if network in tenant.ids:
                    own_tenant = addressing.tenant_match(lay, tenant.ids[network])
                    src = ruleset.Address(ruleset.Side.SRC, own_tenant)
                    rules.append(ruleset.Rule((src,), ruleset.ACCEPT, f"own tenant {network}"))
        tenant_slot = Slot(direction, action, resolve.Target(kinds.TENANT, tenant.name))
        rules += self._jumps(tenant_slot)
        below = []
        for segment in segments:
            slot = Slot(direction, action, resolve.Target(kinds.SEGMENT, tenant.name, segment))
            seg_rules = self._jumps(slot)
            if restricting:
                what = "ingress isolated" if per_endpoint else "egress restricted"
                seg_rules.append(ruleset.Rule((), ruleset.DROP, f"{what}: segment"))
            name = self._name(direction, action, tenant, segment)
            below.append(ruleset.Chain(name, tuple(seg_rules)))
        side = ruleset.Side.DST if direction is _IN else ruleset.Side.SRC
        rules += self._dispatch(
            side,
            lambda lay, n: [
                (
                    addressing.segment_match(lay, tenant.ids[n], s).value,
                    self._name(direction, action, tenant, s),
                )
                for s in segments
                if n in tenant.ids and s <= lay.max_segment
            ],
            lambda lay: addressing.segment_match(lay, 0, 0).mask,
            "segment",
        )
        for target in scoped_sets:
            if Slot(direction, action, target) in self.slots:
                for m in self._set_matches(ruleset.Side.DST, target):
                    rules.append(ruleset.Rule((m,), ruleset.DROP, "ingress isolated: set"))
        if restricting and tenant_slot in self.slots:
            what = "ingress isolated" if per_endpoint else "egress restricted"
            rules.append(ruleset.Rule((), ruleset.DROP, f"{what}: tenant"))
        if per_endpoint:
            rules.append(ruleset.Rule((), ruleset.ACCEPT, "not isolated: no ingress policy"))
        return [ruleset.Chain(self._name(direction, action, tenant), tuple(rules)), *below]
