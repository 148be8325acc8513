"""Who decides a flow: Admin tier, NetworkPolicy, Baseline tier, or the default.

Each direction is decided on its own side, as the API describes: egress on the source pod,
ingress on the destination pod; a flow passes only when both allow it (an egress Accept
"does not skip the ingress rules at the destination"). A side that is not a pod a subject
can select (a host-network pod, a node, an address outside the cluster) is not filtered
by these policies (:attr:`Decider.UNFILTERED`).

For one direction, in order (API ``spec.tier``):

1. Admin tier: the policies selecting the side, by ascending priority (ties by name,
   :func:`model.ordered`), each policy's rules in the order written; the first rule
   matching decides. Accept and Deny are final. Pass skips the rest of the Admin tier.
2. NetworkPolicy: the judge given (``network_policy``) answers for the side. When some
   NetworkPolicy selects the pod in that direction, it decides ("v1.NetworkPolicy always
   makes a final decision for selected pods"), allow or deny.
3. Baseline tier, as the Admin tier; Pass skips the rest of the Baseline tier.
4. The default: allowed ("all pods can communicate with each other").

The judge is a callable, so the same order holds whatever answers for NetworkPolicy: the
object-level :func:`romana.core.kubernetes.cnp.netpol.judge`, or an adapter over the
compiled rulesets ``romana explain`` walks. A :class:`Decision` names what decided — tier,
policy, priority, rule index and name, action — and the Pass rules the flow went through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from romana.core.kubernetes.cnp import model
from romana.core.kubernetes.cnp.flow import Flow, rule_matches, selects
from romana.core.kubernetes.cnp.model import Action, ClusterNetworkPolicy, Direction, Tier


class Decider(StrEnum):
    ADMIN = "Admin"
    NETWORK_POLICY = "NetworkPolicy"
    BASELINE = "Baseline"
    DEFAULT = "default"
    UNFILTERED = "unfiltered"


@dataclass(frozen=True, slots=True)
class RuleRef:
    """One rule of one ClusterNetworkPolicy, as a decision names it."""

    tier: Tier
    policy: model.PolicyName
    priority: int
    direction: Direction
    index: int
    action: Action
    name: str = ""

    def __str__(self) -> str:
        label = f"[{self.index}] {self.name!r}" if self.name else f"[{self.index}]"
        return (
            f"{self.tier} ClusterNetworkPolicy {self.policy} (priority {self.priority}) "
            f"{self.direction} rule {label}: {self.action}"
        )


@dataclass(frozen=True, slots=True)
class NetworkPolicyAnswer:
    """What NetworkPolicy says of one side: ``policies`` select the pod in that direction
    (``namespace/name``); ``rule`` is the (policy, rule index) that allowed, if any did."""

    allowed: bool
    policies: tuple[str, ...]
    rule: tuple[str, int] | None = None

    def __str__(self) -> str:
        if self.rule is not None:
            return f"NetworkPolicy {self.rule[0]} rule [{self.rule[1]}] allows"
        return f"NetworkPolicy {', '.join(self.policies)} selects the pod; no rule allows"


NetworkPolicyJudge = Callable[[Flow, Direction], NetworkPolicyAnswer | None]
"""Answers for one side of a flow; None when no NetworkPolicy selects that pod in that
direction (so evaluation goes on to the Baseline tier)."""


@dataclass(frozen=True, slots=True)
class Decision:
    direction: Direction
    allowed: bool
    decider: Decider
    rule: RuleRef | None = None
    """The Admin or Baseline rule that decided."""
    network_policy: NetworkPolicyAnswer | None = None
    passed: tuple[RuleRef, ...] = ()
    """The Pass rules that handed the flow on, in evaluation order."""

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        if self.rule is not None:
            why = str(self.rule)
        elif self.network_policy is not None:
            why = str(self.network_policy)
        elif self.decider is Decider.UNFILTERED:
            why = "not a pod that ClusterNetworkPolicy or NetworkPolicy selects"
        else:
            why = "no tier decided: the default allows"
        via = "".join(f" (after {p})" for p in self.passed)
        return f"{self.direction} {verdict} by {why}{via}"


@dataclass(frozen=True, slots=True)
class Verdict:
    flow: Flow
    egress: Decision
    ingress: Decision

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    @property
    def deciding(self) -> Decision:
        """The side that denied (egress first), else the ingress side, which let it in."""
        return self.egress if not self.egress.allowed else self.ingress


def _check_tier(policies: Sequence[ClusterNetworkPolicy], tier: Tier) -> None:
    wrong = [p.name for p in policies if p.tier is not tier]
    if wrong:
        raise ValueError(f"not {tier}-tier policies: {', '.join(wrong)}")


def _first_match(
    policies: Iterable[ClusterNetworkPolicy], flow: Flow, direction: Direction
) -> RuleRef | None:
    own = flow.own(direction)
    for policy in policies:
        if not selects(policy, own):
            continue
        for rule in policy.rules(direction):
            if rule_matches(rule, flow, direction):
                return RuleRef(
                    policy.tier,
                    policy.name,
                    policy.priority,
                    direction,
                    rule.index,
                    rule.action,
                    rule.name,
                )
    return None


def decide(
    admin: Sequence[ClusterNetworkPolicy],
    network_policy: NetworkPolicyJudge,
    baseline: Sequence[ClusterNetworkPolicy],
    flow: Flow,
    direction: Direction,
) -> Decision:
    """The decision for one side of ``flow`` (see the module for the order)."""
    _check_tier(admin, Tier.ADMIN)
    _check_tier(baseline, Tier.BASELINE)
    if not flow.own(direction).is_pod:
        return Decision(direction, True, Decider.UNFILTERED)
    passed: list[RuleRef] = []
    found = _first_match(model.ordered(admin, Tier.ADMIN), flow, direction)
    if found is not None and found.action is not Action.PASS:
        return Decision(direction, found.action is Action.ACCEPT, Decider.ADMIN, found)
    if found is not None:
        passed.append(found)
    answer = network_policy(flow, direction)
    if answer is not None:
        return Decision(
            direction,
            answer.allowed,
            Decider.NETWORK_POLICY,
            network_policy=answer,
            passed=tuple(passed),
        )
    found = _first_match(model.ordered(baseline, Tier.BASELINE), flow, direction)
    if found is not None and found.action is not Action.PASS:
        return Decision(
            direction, found.action is Action.ACCEPT, Decider.BASELINE, found, passed=tuple(passed)
        )
    if found is not None:
        passed.append(found)
    return Decision(direction, True, Decider.DEFAULT, passed=tuple(passed))


def evaluate(
    admin: Sequence[ClusterNetworkPolicy],
    network_policy: NetworkPolicyJudge,
    baseline: Sequence[ClusterNetworkPolicy],
    flow: Flow,
) -> Verdict:
    """Both sides of ``flow``: the source's egress and the destination's ingress."""
    return Verdict(
        flow,
        decide(admin, network_policy, baseline, flow, Direction.EGRESS),
        decide(admin, network_policy, baseline, flow, Direction.INGRESS),
    )


def by_tier(
    policies: Iterable[ClusterNetworkPolicy],
) -> tuple[tuple[ClusterNetworkPolicy, ...], tuple[ClusterNetworkPolicy, ...]]:
    """``policies`` split into (Admin, Baseline), each in evaluation order."""
    every = list(policies)
    return (
        tuple(model.ordered(every, Tier.ADMIN)),
        tuple(model.ordered(every, Tier.BASELINE)),
    )
