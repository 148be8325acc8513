"""May one endpoint reach another, and why: ``romana explain`` for every endpoint.

:class:`Explainer` answers from romanad's whole model (:class:`endpoints.Model`) for a source
and a target named by address, allocation key or ``NAMESPACE/POD`` — a Kubernetes pod, a
workload of the CNI plugin, an OpenStack or Docker port alike:

1. each name becomes one address (both of one family, IPv4 first) and is placed by the
   address plan (:func:`endpoints.locate`): network, host, tenant and segment — an
   endpoint's external IP as that endpoint, which its host's ruleset judges it as;
2. the hosts' rulesets come from :func:`hostrules.host_firewall`, the very function the
   agents enforce, and the packet is walked (:func:`evaluate.verdict`) as egress on the
   source's host and ingress on the target's host — one walk when both share a host. A side
   that no romana host filters (an address outside every network, a host's own gateway)
   gets no walk of its own;
3. each direction is named (:mod:`traces` reads the walk): the policy and rule that decided —
   and the NetworkPolicy and its rule when the policy was made from one — or the default
   that decided, with the tenant and its isolation mode.

Nothing is sent and nothing is stored: the answer is a pure function of the model, so the
demo can hold it against the packets it measured. This is the one explain engine: offline
Kubernetes YAML (``romana explain -f``) is first made into a model
(:func:`romana.core.kubernetes.explain.model`) and answered here too.

A stored policy is reported as a NetworkPolicy only when it equals what translating the
model's Kubernetes objects gives for its id (:func:`_origins`); its name alone never counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from romana.core import egress, tenancy
from romana.core.errors import InvalidInput
from romana.core.kubernetes import cnptranslate, translation
from romana.core.policy import answers, evaluate, externals, hostrules, ids, model, traces
from romana.core.policy.endpoints import Endpoint, Model, addresses, locate

PORT_RULE = answers.PORT_RULE
Probe = answers.Probe
Rule = answers.Rule
Step = answers.Step
Explanation = answers.Explanation


def explain(model_: Model, source: str, target: str, probe: Probe | str) -> Explanation:
    """One answer; for many on one model, keep an :class:`Explainer` (it compiles once)."""
    return Explainer(model_).explain(source, target, probe)


class Explainer:
    """Answers on one model; each host's ruleset is compiled once, when first walked."""

    def __init__(self, model_: Model) -> None:
        self.model = model_
        self._hosts = {h.name: h for h in model_.hosts}
        self._firewalls: dict[str, hostrules.Firewall] = {}
        self._policies = {p.name: p for p in hostrules.parsed(model_.policies)[0]}
        self._origins = _origins(model_, self._policies)

    def firewall(self, host: str) -> hostrules.Firewall:
        if host not in self._firewalls:
            h = self._hosts[host]
            self._firewalls[host] = hostrules.host_firewall(
                hostrules.HostInput(
                    host=h.name,
                    layouts=self.model.layouts,
                    tenants=self.model.tenants,
                    prefixes=h.prefixes,
                    policies=self.model.policies,
                    address_sets=self.model.address_sets,
                    externals=externals.ordered(
                        (e, a)
                        for e, a in self.model.externals
                        if any(a.version == p.version and a in p for p, _ in h.prefixes)
                    ),
                )
            )
        return self._firewalls[host]

    def endpoints(self, source: str, target: str) -> tuple[Endpoint, Endpoint]:
        """Both sides, at addresses of one family (IPv4 when both have one)."""
        ours, theirs = addresses(self.model, source), addresses(self.model, target)
        common = {a.version for a in ours} & {a.version for a in theirs}
        if not common:
            raise InvalidInput(f"{source!r} and {target!r} have no address family in common")
        v = min(common)
        a = next(x for x in ours if x.version == v)
        b = next(x for x in theirs if x.version == v)
        return locate(self.model, source, a), locate(self.model, target, b)

    def explain(self, source: str, target: str, probe: Probe | str) -> Explanation:
        """Whether ``source`` may open a connection to ``target`` with ``probe``, and why."""
        p = Probe.parse(probe) if isinstance(probe, str) else probe
        a, b = self.endpoints(source, target)
        if a.address == b.address:
            loopback = Step(True, ("loopback: traffic of an endpoint to itself never leaves it",))
            return Explanation(a, b, p, loopback, loopback)
        if a.host is None and b.host is None:
            raise InvalidInput(
                f"no romana host filters traffic from {a} to {b}: "
                "at least one side must be inside a network on a known host"
            )
        egress, ingress = self._walk(a, b, p)
        if not egress.allowed:
            ingress = Step(False, ("not evaluated: egress denied first",))
        hosts = sorted({h for h in (egress.host, ingress.host) if h is not None})
        notes = tuple(f"host {h} leaves out {r}" for h in hosts for r in self.firewall(h).refused)
        return Explanation(a, b, p, egress, ingress, notes + self._nat(a, b))

    def _nat(self, a: Endpoint, b: Endpoint) -> tuple[str, ...]:
        """What egress NAT does on the way out, for an endpoint talking to an address
        outside every network (:func:`romana.core.egress.decide`, the agents' own rules)."""
        if self.model.nat is None or a.host is None or a.gateway or b.network is not None:
            return ()
        tenants = {str(t.name): t for t in self.model.tenants}
        decision = egress.decide(
            self.model.layouts,
            tenants,
            self.model.nat,
            self.model.pools,
            self.model.externals,
            a.address,
            b.address,
        )
        return (f"egress NAT: {decision.why}",)

    def _walk(self, a: Endpoint, b: Endpoint, p: Probe) -> tuple[Step, Step]:
        path = evaluate.Path
        if a.host is None or a.gateway:
            egress = Step(True, (_unfiltered(a, "egress"),))
        elif b.host == a.host and not b.gateway:
            walk = self._verdict(a.host, a, b, p, path.BETWEEN_ENDPOINTS)
            out, into, passed = traces.split(walk.reasons)
            egress = self._step(a.host, out, passed or walk.allowed, "egress", a)
            return egress, self._step(a.host, into, walk.allowed, "ingress", b)
        elif b.host == a.host:
            lines = ("traffic of an endpoint to its own host is filtered on ingress only",)
            egress = Step(True, lines)
            walk = self._verdict(a.host, a, b, p, path.TO_HOST)
            return egress, self._step(a.host, walk.reasons, walk.allowed, "ingress", b)
        else:
            walk = self._verdict(a.host, a, b, p, path.FROM_ENDPOINT)
            egress = self._step(a.host, walk.reasons, walk.allowed, "egress", a)
        if b.host is None or b.gateway:
            return egress, Step(True, (_unfiltered(b, "ingress"),))
        hop = path.FROM_HOST if a.gateway and a.host == b.host else path.TO_ENDPOINT
        walk = self._verdict(b.host, a, b, p, hop)
        return egress, self._step(b.host, walk.reasons, walk.allowed, "ingress", b)

    def _verdict(
        self, host: str, a: Endpoint, b: Endpoint, p: Probe, path: evaluate.Path
    ) -> evaluate.Verdict:
        rules = self.firewall(host).rules
        return evaluate.verdict(rules, p.packet(a.address, b.address, path))

    def _step(
        self, host: str, trace: Sequence[str], allowed: bool, direction: str, ep: Endpoint
    ) -> Step:
        step = self._decided(host, trace, allowed, direction, ep)
        passed = tuple(
            f"after {rule.tiered}: pass"
            for line in trace
            if (found := traces.policy_rule(line)) is not None
            and (rule := self._rule(found)).action == model.Action.PASS.value
        )
        return replace(step, decided_by=(*step.decided_by, *passed)) if passed else step

    def _decided(
        self, host: str, trace: Sequence[str], allowed: bool, direction: str, ep: Endpoint
    ) -> Step:
        decision = traces.deciding(trace, egress=direction == "egress")
        if decision is None:
            return Step(allowed, ("no romana rule applies to this path",), host, None, tuple(trace))
        if decision.rule is not None:
            rule = self._rule(decision.rule)
            verb = "allowed" if allowed else "denied"
            if rule.tier is not None:
                line = f"{verb} by {rule.tiered}: {rule.action}"
            elif rule.networkpolicy is not None:
                line = f"{verb} by NetworkPolicy {rule.networkpolicy} {direction} rule "
                line += str(rule.networkpolicy_rule)
            else:
                line = f"{verb} by policy {rule.policy} {rule.path}"
            return Step(allowed, (line,), host, rule, tuple(trace))
        lines = self._default(decision, allowed, direction, ep)
        return Step(allowed, lines, host, None, tuple(trace))

    def _default(
        self, decision: traces.Decision, allowed: bool, direction: str, ep: Endpoint
    ) -> tuple[str, ...]:
        """The default that decided, in the words of the mode that applies.

        Egress everywhere, and ingress in ``kubernetes`` mode, follow the NetworkPolicy rule
        (open until a policy selects the endpoint); ingress in ``romana`` mode is the
        tenant's own default (own segment or tenant, the infrastructure)."""
        if ep.gateway:
            verb = "allowed" if allowed else "denied"
            return (f"{verb} by host {ep.host}'s rule for its own endpoints: {decision.comment}",)
        isolation = ep.isolation
        kube = isolation is not None and isolation.mode is tenancy.Mode.KUBERNETES
        selecting = self._selecting(ep, direction)
        if direction == "egress" or kube:
            noun = "NetworkPolicy" if kube else "policy"
            if allowed and not selecting:
                return (f"{ep.name} is not isolated for {direction}: no {noun} selects it",)
            if allowed:
                return (f"allowed by the host's defaults ({decision.line})",)
            if selecting:
                return (
                    f"{ep.name} is isolated for {direction} by {selecting}",
                    f"no {direction} rule of them allows this traffic",
                )
            return (f"denied by Romana rules: {decision.line}",)
        owner = f"tenant {ep.tenant.name} ({isolation})" if ep.tenant else ep.tenancy
        if allowed:
            return (f"allowed by the default of {owner}: {decision.comment}",)
        rest = f"no ingress rule of {selecting} allows it" if selecting else "no policy allows it"
        return (f"denied by the default of {owner}: {decision.comment}", rest)

    def _rule(self, found: traces.PolicyRule) -> Rule:
        policy = self._policies.get(found.policy)
        action, peer = model.Action.ALLOW.value, found.peer_path
        if policy is not None:
            action = policy.action.value
            clauses = policy.clauses(model.Direction(found.direction))
            if found.clause < len(clauses) and found.peer < len(clauses[found.clause].peers):
                clause = clauses[found.clause]
                peer = f"{found.peer_path} ({clause.peers[found.peer]})"
                if policy.tier is not None:
                    origin = self._origins.get(found.policy)
                    rules: tuple[int, ...] = ()
                    if origin is not None:
                        ingress = found.direction == "ingress"
                        rules = origin.ingress if ingress else origin.egress
                    return Rule(
                        found.policy,
                        (clause.action or model.Action.ALLOW).value,
                        found.path,
                        peer,
                        tier=policy.tier.value,
                        priority=policy.priority,
                        name=clause.name,
                        clusternetworkpolicy=origin.policy if origin is not None else None,
                        clusternetworkpolicy_rule=(
                            rules[found.clause]
                            if origin is not None and found.clause < len(rules)
                            else None
                        ),
                    )
        origin = self._origins.get(found.policy)
        if origin is None:
            return Rule(found.policy, action, found.path, peer)
        indexes = origin.ingress if found.direction == "ingress" else origin.egress
        index = indexes[found.clause] if found.clause < len(indexes) else found.clause
        return Rule(found.policy, action, found.path, peer, origin.policy, index)

    def _selecting(self, ep: Endpoint, direction: str) -> str:
        """The ordinary allow policies applied to ``ep`` with rules for ``direction`` (those
        that isolate it; tiered policies never do), named, or ""."""
        d = model.Direction(direction)
        kube: set[str] = set()
        plain: set[str] = set()
        for policy in self._policies.values():
            if policy.tier is not None or policy.action is not model.Action.ALLOW:
                continue
            if not policy.clauses(d):
                continue
            if any(self._covers(t, ep) for t in policy.applied_to):
                origin = self._origins.get(policy.name)
                if origin is not None:
                    kube.add(origin.policy)
                else:
                    plain.add(policy.name)
        names = [f"NetworkPolicy {', '.join(sorted(kube))}"] if kube else []
        names += [f"policy {', '.join(sorted(plain))}"] if plain else []
        return " and ".join(names)

    def _covers(self, target: model.Endpoint, ep: Endpoint) -> bool:
        kind = target.kind
        if kind is model.Kind.LOCAL:
            return ep.host is not None and not ep.gateway
        if kind is model.Kind.ADDRESS_SET:
            members = self.model.address_sets.get(target.address_set or "", ())
            address = next((a for e, a in self.model.externals if e == ep.address), ep.address)
            inside = any(address in m for m in members if m.version == address.version)
            return inside and (target.tenant is None or _tenant_is(target.tenant, ep))
        if kind is model.Kind.TENANT:
            return target.tenant is not None and _tenant_is(target.tenant, ep)
        if kind is model.Kind.SEGMENT:
            seg = target.segment
            return (
                target.tenant is not None
                and _tenant_is(target.tenant, ep)
                and seg is not None
                and (seg.name is None or seg.name == ep.segment)
                and (seg.number is None or seg.number == ep.segment_id)
            )
        return False


def _origins(model_: Model, stored: Mapping[str, model.Policy]) -> dict[str, translation.Origin]:
    """The NetworkPolicy (and rule indexes) each stored policy was translated from.

    A stored policy is attributed only when it *is* what translating the stored Kubernetes
    objects gives for its id: a ``kube.`` id alone proves nothing (policy names carry no
    meaning), so a Romana-native policy that happens to be called so stays a plain policy.
    The translation uses the default segment label: policies a listener made with another
    one are reported as plain policies, never misattributed."""
    found: dict[str, translation.Origin] = {}
    for policies, origins in _translations(model_):
        # Stored policies are named by their ids (a namespace's translations are its tenant's).
        translated = {p.name: ids.by_id(p) for p in policies}
        found |= {
            translated[name].name: origin
            for name, origin in origins.items()
            if name in translated and stored.get(translated[name].name) == translated[name]
        }
    return found


def _translations(
    model_: Model,
) -> list[tuple[Sequence[model.Policy], Mapping[str, translation.Origin]]]:
    """What the model's NetworkPolicies and ClusterNetworkPolicies translate to, with origins."""
    out: list[tuple[Sequence[model.Policy], Mapping[str, translation.Origin]]] = []
    if model_.networkpolicies:
        tr = translation.translate(model_.networkpolicies, model_.namespaces, model_.pods)
        out.append((tr.policies, tr.origins))
    if model_.clusternetworkpolicies:
        tiered = cnptranslate.translate(
            model_.clusternetworkpolicies, model_.namespaces, model_.pods
        )
        out.append((tiered.policies, tiered.origins))
    return out


def _tenant_is(ref: model.TenantRef, ep: Endpoint) -> bool:
    t = ep.tenant
    return (
        t is not None
        and (ref.name is None or ref.name == t.name)
        and (ref.external_id is None or ref.external_id == t.external_id)
        and (ref.number is None or ref.number == ep.tenant_id)
    )


def _unfiltered(ep: Endpoint, direction: str) -> str:
    if ep.gateway and direction == "egress":
        return f"{ep.name} is host {ep.host}'s gateway: the host's own traffic is not filtered"
    if ep.gateway:
        return f"{ep.name} is host {ep.host}'s gateway: a host filters only its own endpoints"
    if ep.network is None:
        return f"{ep.name} is outside every romana network: no romana host filters its {direction}"
    return f"{ep.name} is on no known host: no romana host filters its {direction}"
