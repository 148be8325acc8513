"""Compile Romana policies and the tenancy into one host's backend-neutral :class:`Ruleset`.

The compiled ruleset, for packets crossing one of this host's endpoint interfaces (names
starting with ``interface_prefix``, and the devices named in ``endpoint_devices`` — a VM's
tap — matched by exact name through the interface set ``romana-devices``; everything else is
left alone)::

    hook forward ─┬ from an endpoint ─ romana-from-endpoint: established/related accept,
                  │      invalid drop, egress deny tree, egress allow tree ─ romana-egress-passed
                  │                                      (to a local endpoint? ─ romana-ingress)
                  └ to an endpoint ─── romana-to-endpoint: established/related accept,
                         invalid drop ─ romana-ingress: ingress deny tree, ingress allow tree
    hook input ── from an endpoint ─ romana-to-host: established/related accept, IPv6
                         neighbour discovery accept (or no endpoint could reach its
                         gateway), DHCP (v4 and v6) accept from ``endpoint_devices``
                         (the host serves their VMs), invalid drop, deny policies, allow policies,
                         default (``endpoint_to_host``, drop unless configured otherwise)

A host without ``endpoint_devices`` gets no interface set and no rule naming one: its ruleset
is the same as before VMs existed. With some, adding or removing a device changes the
elements of ``romana-devices`` only (in iptables, which has no set of names, the one rule per
name of the entry chains).

Each *tree* classifies by masked address — destination for ingress, source for egress —
with one :class:`ruleset.Dispatch` per network: first the tenant (``romana-<tree>-<tenant>``),
then inside it the segment (``romana-<tree>-<tenant>.<segment>``). Policies attach by a jump
to their policy chain (``romana-pi-<policy>`` / ``romana-pe-<policy>``) at the level of
their target; ``local`` and plain address-set targets attach at the root of the tree, an
address set narrowed to a tenant inside that tenant's chain.

Semantics, in order:

0. where tiered policies exist, the Admin tier decides first and the Baseline tier last
   (after every ordinary policy, before the defaults that allow): :mod:`tiers`; a ruleset
   without tiered policies is exactly what the steps below make;
1. established/related traffic is accepted first, invalid traffic dropped;
2. ``deny`` policies are evaluated before every ``allow``: a deny closes traffic that an
   allow or the default would open;
3. ingress default isolation, by the target's tenant's isolation mode: ``romana`` — an
   endpoint accepts its own tenant and segment (every segment of its tenant when the
   tenant's segments are ``open``) and infrastructure addresses (tenant 0: host gateways);
   ``kubernetes`` — an endpoint no ingress policy selects accepts everything. ``allow``
   policies open more; everything else is dropped.
   Traffic the host itself sends to its endpoints does not pass the forward hook: the host
   can always reach its workloads, so a ``deny`` from peer ``host`` is :class:`Unsupported`;
4. egress (enforced on the source host, forward hook only): endpoints may send anywhere
   until an ``allow`` egress policy applies to them; from then on only what the egress
   allow policies that apply to them (at any level: local, address set, tenant, segment)
   open may leave — the Kubernetes rule. Traffic to the host itself is governed by
   ``applied_to: [{"dest": "host"}]`` policies instead.

The number of rules depends on networks, tenants, segments and policies — and on
endpoints only through their external IPs: each external IP of an endpoint of this host is
one element of a full-address verdict map at the root of each tree and one in its tenant's
chain (in iptables, one rule each), where it reaches the chains of the endpoint's romana
address (:mod:`romana.core.policy.externals`); it also joins every address set its romana
address is in. A host without external IPs gets none of these. Otherwise endpoint
membership only ever appears as elements of address sets.

Compiling is memoised (:mod:`romana.core.memo`): a policy's chains, targets and notes are a
pure function of the policy and the :class:`romana.core.policy.scope.Scope` it reads (the
tenants it names, the networks, the address families), kept in a bounded memo keyed by both;
in front of it, per shared tenancy, a memo by policy object. The tenants' chains of each
tree are kept as last built for what they depend on (:func:`tenantchains.tenant_chains`),
and each chain keeps its own validation (:mod:`romana.core.ruleset`). So
a host that recompiles after one policy changed redoes that policy and its tenant's chains,
and looks everything else up; a tenant's chains also depend on the external IPs of its
endpoints here, so a change of one redoes that tenant's chains and the roots. A memo hit
gives the very value a fresh compilation would: results never depend on what was compiled
before.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from romana.core import addressing, errors, kernelnames, memo, ruleset
from romana.core.errors import Issues, Unsupported
from romana.core.policy import externals as externals_mod
from romana.core.policy import model, resolve
from romana.core.policy import scope as scope_mod
from romana.core.policy import tiers as tiers_mod
from romana.core.policy import trees as trees_mod

Tenant = resolve.Tenant
TenantLike = resolve.TenantLike
# Memo entries: one per (policy, scope); twice the 2,000 policies a host is sized for, so a
# host recompiling the same policies never evicts its own working set.
MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class CompileInput:
    """Everything one host's ruleset depends on.

    ``layouts``: the networks by name. ``tenants``: each with its id per network and its
    segments. ``host``: this host's name. ``host_prefixes``: the blocks this host owns (the
    ``local`` peer). ``gateways``: this host's gateway addresses (the ``host`` peer).
    ``address_sets``: named sets of prefixes whose membership others keep current (label
    selectors); a policy may name a set that is not given yet — it is then empty.
    ``interface_prefix``: how this host's endpoint-side veth names start.
    ``endpoint_devices``: the exact names of further endpoint interfaces that romana did not
    name (the taps of VMs wired on this host); treated exactly as the veths.
    ``endpoint_to_host``: what endpoints may do to the host when no policy says.
    ``externals``: (external address, romana address of the same family) of each endpoint
    of this host that holds an external IP, sorted (:func:`externals.ordered`); the trees
    judge traffic to and from the external address as that of the romana address.
    Each tenant's isolation mode decides its ingress default (:mod:`romana.core.policy.trees`).
    """

    layouts: Mapping[str, addressing.Layout]
    tenants: tuple[resolve.TenantLike, ...]
    host: str
    host_prefixes: tuple[addressing.IPNetwork, ...]
    gateways: tuple[addressing.IPAddress, ...]
    policies: tuple[model.Policy, ...] = ()
    address_sets: Mapping[str, tuple[addressing.IPNetwork, ...]] = field(default_factory=dict)
    interface_prefix: str = kernelnames.HOST_IFNAME_PREFIX
    endpoint_to_host: model.Action = model.Action.DENY
    endpoint_devices: tuple[str, ...] = ()
    externals: tuple[externals_mod.Pair, ...] = ()


def unsupported(policy: model.Policy) -> tuple[str, ...]:
    """Why this backend cannot express ``policy`` (empty when it can); pure of tenancy."""
    if policy.tier is not None:
        return tuple(f"policy {policy.name!r}: {r}" for r in tiers_mod.unsupported(policy))
    reasons = []
    kinds = {e.kind for e in policy.applied_to}
    bad_targets = kinds & {model.Kind.ANY, model.Kind.CIDR}
    if bad_targets:
        reasons.append(f"applied_to cannot be {', '.join(sorted(bad_targets))}")
    if model.Kind.HOST in kinds and policy.egress:
        reasons.append("applied_to dest host takes ingress clauses only")
    for direction in policy.directions:
        peers = {p.kind for c in policy.clauses(direction) for p in c.peers}
        if model.Kind.HOST not in peers:
            continue
        if direction is model.Direction.INGRESS and model.Kind.HOST in kinds:
            reasons.append("traffic from the host to itself never crosses an endpoint interface")
        if policy.action is model.Action.DENY and direction is model.Direction.INGRESS:
            reasons.append(
                "the host's own traffic to its endpoints is never filtered (it must reach "
                "its workloads), so a deny from peer host cannot be enforced"
            )
        if policy.action is model.Action.DENY and direction is model.Direction.EGRESS:
            reasons.append("deny traffic to the host with applied_to dest host, not egress")
    return tuple(f"policy {policy.name!r}: {r}" for r in reasons)


def compile_ruleset(inputs: CompileInput) -> ruleset.Ruleset:
    """The ruleset for one host; :class:`Unsupported` names every policy it cannot express."""
    versions = sorted(
        {lay.version for lay in inputs.layouts.values()} | {p.version for p in inputs.host_prefixes}
    )
    frame = scope_mod.Frame.of(inputs.layouts, versions)
    tenants = tuple(map(scope_mod.FrozenTenant.of, inputs.tenants))
    _validate(inputs, frame, tenants)
    policies = sorted(inputs.policies, key=lambda p: p.name)
    reasons = [reason for p in policies for reason in _unsupported(p)]
    if reasons:
        raise Unsupported("; ".join(reasons))
    resolver = resolve.Resolver(inputs.layouts, tenants, inputs.address_sets, versions)
    parts = _parts_in(resolver.tenancy)
    slots: dict[trees_mod.Slot, list[tuple[str, str]]] = defaultdict(list)
    policy_chains: list[ruleset.Chain] = []
    for policy in (p for p in policies if p.tier is None):
        part = parts(policy)
        resolver.notes.extend(part.notes)
        policy_chains += part.chains
        for slot, attached in part.slots:
            slots[slot].append(attached)
    devices = bool(inputs.endpoint_devices)
    externals = externals_mod.by_tenant(frame, tenants, inputs.externals)
    tiers = tiers_mod.build(resolver, policies)
    resolver.notes.extend(tiers.notes)
    builder = trees_mod.Builder(
        resolver, slots, inputs.interface_prefix, devices, externals, tiers.present
    )
    chains = (
        *builder.flow_chains(inputs.endpoint_to_host),
        *builder.tree(model.Direction.INGRESS, model.Action.DENY),
        *builder.tree(model.Direction.INGRESS, model.Action.ALLOW),
        *builder.tree(model.Direction.EGRESS, model.Action.DENY),
        *builder.tree(model.Direction.EGRESS, model.Action.ALLOW),
        *policy_chains,
        *tiers.chains,
    )
    return ruleset.Ruleset(
        sets=_sets(inputs, versions),
        chains=chains,
        notes=tuple(resolver.notes),
        interface_sets=devices_set(inputs.endpoint_devices),
    )


def devices_set(devices: tuple[str, ...]) -> tuple[ruleset.InterfaceSet, ...]:
    """The interface sets of a ruleset for ``devices``: none without devices."""
    return (ruleset.interface_set(trees_mod.DEVICES, devices),) if devices else ()


_unsupported = memo.ByIdentity(unsupported, MEMO_SIZE)


@dataclass(frozen=True, slots=True)
class _Part:
    """One policy's share of a ruleset: its chains, where they attach, what it noted."""

    chains: tuple[ruleset.Chain, ...]
    slots: tuple[tuple[trees_mod.Slot, tuple[str, str]], ...]
    notes: tuple[str, ...]


@functools.lru_cache(maxsize=scope_mod.TENANCIES)
def _parts_in(tenancy: scope_mod.Tenancy) -> memo.ByIdentity[model.Policy, _Part]:
    """Compiled policies in ``tenancy``, by policy object: the agent hands the compiler the
    policy objects of its last view again for every policy that did not change."""
    return memo.ByIdentity(lambda p: _policy_part(p, tenancy.scope(p)), MEMO_SIZE)


@functools.lru_cache(maxsize=MEMO_SIZE)
def _policy_part(policy: model.Policy, scope: scope_mod.Scope) -> _Part:
    resolver = resolve.Resolver.of_scope(scope)
    targets = sorted(
        {
            t
            for i, e in enumerate(policy.applied_to)
            for t in resolver.targets(e, f"policy {policy.name!r} applied_to[{i}]")
        }
    )
    chains = []
    slots = []
    for direction in policy.directions:
        chain = _policy_chain(resolver, policy, direction)
        chains.append(chain)
        for target in targets:
            slot = trees_mod.Slot(direction, policy.action, target)
            slots.append((slot, (policy.name, chain.name)))
    return _Part(tuple(chains), tuple(slots), tuple(resolver.notes))


def _sets(inputs: CompileInput, versions: list[int]) -> tuple[ruleset.AddressSet, ...]:
    out = []
    for v in versions:
        gateways = [ipaddress.ip_network(a) for a in inputs.gateways]
        out.append(ruleset.address_set(resolve.set_name("host", v), v, gateways))
        out.append(ruleset.address_set(resolve.set_name("local", v), v, inputs.host_prefixes))
    referenced = {name for p in inputs.policies for name in scope_mod.references(p).address_sets}
    members = externals_mod.with_externals(inputs.address_sets, inputs.externals)
    for name in sorted(set(inputs.address_sets) | referenced):
        for v in versions:
            out.append(
                ruleset.address_set(resolve.set_name("set", v, name), v, members.get(name, ()))
            )
    return tuple(out)


def _policy_chain(
    resolver: resolve.Resolver, policy: model.Policy, direction: model.Direction
) -> ruleset.Chain:
    ingress = direction is model.Direction.INGRESS
    side = ruleset.Side.SRC if ingress else ruleset.Side.DST
    if policy.action is model.Action.DENY:
        verdict = ruleset.DROP
    else:
        verdict = ruleset.ACCEPT if ingress else ruleset.goto(trees_mod.EGRESS_PASSED)
    rules = []
    for i, clause in enumerate(policy.clauses(direction)):
        for j, peer in enumerate(clause.peers):
            where = f"{direction}[{i}].peers[{j}]"
            peer_alts = resolver.peer(peer, side, f"policy {policy.name!r} {where}")
            for k, rule in enumerate(clause.rules):
                for pm in peer_alts:
                    for rm in resolve.rule_alternatives(rule):
                        comment = f"{policy.name} {where}.rules[{k}]"
                        drop = (
                            ruleset.policy_drop(policy.name, f"{where}.rules[{k}]")
                            if verdict is ruleset.DROP
                            else None
                        )
                        candidate = ruleset.Rule((*pm, *rm), verdict, comment, drop)
                        if resolve.one_family(candidate.matches):
                            rules.append(candidate)
    stem = "pi" if ingress else "pe"
    return ruleset.Chain(resolve.chain_name(stem, policy.name), tuple(rules))


def _validate(
    inputs: CompileInput, frame: scope_mod.Frame, tenants: tuple[scope_mod.FrozenTenant, ...]
) -> None:
    issues = Issues("invalid compile input")
    if not ruleset.INTERFACE_PREFIX.match(inputs.interface_prefix):
        issues.add("interface_prefix", "must be 1-14 of [A-Za-z0-9_.-]")
    for i, device in enumerate(inputs.endpoint_devices):
        if not ruleset.INTERFACE_NAME.match(device):
            issues.add(f"endpoint_devices[{i}]", "must be 1-15 of [A-Za-z0-9_.-]")
    issues.extend(_tenant_issues(frame, tenants))
    issues.extend(externals_mod.issues(inputs.layouts, inputs.host_prefixes, inputs.externals))
    uses = collections.Counter(p.name for p in inputs.policies)
    for name in sorted(n for n, count in uses.items() if count > 1):
        issues.add("policies", f"policy name {name!r} is used twice")
    issues.raise_if_any()


@functools.lru_cache(maxsize=scope_mod.TENANCIES)
def _tenant_issues(
    frame: scope_mod.Frame, tenants: tuple[scope_mod.FrozenTenant, ...]
) -> tuple[errors.Issue, ...]:
    """What is wrong with ``tenants`` (in input order) in the networks of ``frame``."""
    layouts = dict(frame.layouts)
    issues = Issues()
    names: set[str] = set()
    owners: dict[tuple[str, int], str] = {}
    for i, tenant in enumerate(tenants):
        at = f"tenants[{i}]"
        if not tenant.name or tenant.name in names:
            issues.add(f"{at}.name", "must be a non-empty name used by no other tenant")
        names.add(tenant.name)
        for network, tid in tenant.id_items:
            lay = layouts.get(network)
            if lay is None:
                issues.add(f"{at}.ids.{network}", "names no configured network")
            elif not 1 <= tid <= lay.max_tenant:
                issues.add(f"{at}.ids.{network}", f"must be in 1..{lay.max_tenant}")
            elif (network, tid) in owners:
                issues.add(
                    f"{at}.ids.{network}", f"id {tid} is also tenant {owners[network, tid]!r}'s"
                )
            owners.setdefault((network, tid), tenant.name)
        seen: dict[int, str] = {}
        for segment, sid in tenant.segment_items:
            if sid in seen:
                issues.add(f"{at}.segments.{segment}", f"id {sid} is also segment {seen[sid]!r}")
            seen[sid] = segment
            limits = [layouts[n].max_segment for n, _ in tenant.id_items if n in layouts]
            if not 0 <= sid <= min(limits, default=0):
                issues.add(f"{at}.segments.{segment}", f"must be in 0..{min(limits, default=0)}")
    return tuple(issues)
