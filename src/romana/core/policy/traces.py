"""Read the trace of one :func:`romana.core.policy.evaluate.verdict` walk: what decided.

The compiler comments every rule it makes and the walk lists each rule that fired as
``chain: comment``, ending with the verdict word (``accept``, ``drop``). One of two kinds
of rule decides a direction:

* a *policy rule*, in the policy's own chain (``romana-pi-…`` / ``romana-pe-…``), commented
  ``<policy> <direction>[i].peers[j].rules[k]`` (:func:`romana.core.policy.compile`): the
  place of the peer and the rule in the policy, which :func:`policy_rule` reads back;
* a *default* of the host's trees and entry chains (``own tenant and segment v4``,
  ``isolation: other tenants``, ``not isolated: no ingress policy``, ``egress not
  restricted`` …), named by its comment.

A walk between two endpoints of one host passes egress and ingress in one go; :func:`split`
cuts it where egress ends (at ``romana-egress-passed``) so each direction is read alone.

This is the one reader of rule comments, used by the one explain engine
(:mod:`romana.core.policy.reach`), so a change of the comment grammar in the compiler has
one place to follow.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from romana.core.policy import trees

POLICY_RULE = re.compile(
    r"^romana-(?:p[ie]-\S+|(?:admin|baseline)-(?:ingress|egress)): "
    r"(?P<policy>.+) (?P<dir>ingress|egress)"
    r"\[(?P<i>\d+)\]\.peers\[(?P<peer>\d+)\]\.rules\[(?P<rule>\d+)\]$"
)
"""A reason line of a rule in a policy's own chain, or a tier's pass rule in the tier's root
(:mod:`romana.core.policy.tiers`)."""

EGRESS_PASSED = trees.EGRESS_PASSED


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One rule of one policy, as its comment in the compiled ruleset names it."""

    policy: str
    direction: str
    clause: int
    peer: int
    rule: int

    @property
    def path(self) -> str:
        """Where the rule is in the policy document, e.g. ``ingress[0].rules[1]``."""
        return f"{self.direction}[{self.clause}].rules[{self.rule}]"

    @property
    def peer_path(self) -> str:
        """Where the peer is in the policy document, e.g. ``ingress[0].peers[2]``."""
        return f"{self.direction}[{self.clause}].peers[{self.peer}]"


def policy_rule(line: str) -> PolicyRule | None:
    """The policy rule a reason line names, or None for any other line."""
    m = POLICY_RULE.match(line)
    if m is None:
        return None
    return PolicyRule(m["policy"], m["dir"], int(m["i"]), int(m["peer"]), int(m["rule"]))


@dataclass(frozen=True, slots=True)
class Decision:
    """The reason line that decided one direction, and the policy rule when it is one."""

    line: str
    rule: PolicyRule | None

    @property
    def chain(self) -> str:
        return self.line.partition(": ")[0]

    @property
    def comment(self) -> str:
        """What the rule says (``isolation: other tenants``), without its chain."""
        return self.line.partition(": ")[2]


def split(reasons: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """A walk between two endpoints of one host as (egress part, ingress part, egress passed).

    Egress ends at the first ``romana-egress-passed`` line, which belongs to it; without one
    egress did not pass and everything is egress (the ingress part is empty)."""
    passed = [i for i, r in enumerate(reasons) if r.startswith(EGRESS_PASSED + ":")]
    if not passed:
        return tuple(reasons), (), False
    cut = passed[0] + 1
    return tuple(reasons[:cut]), tuple(reasons[cut:]), True


def deciding(reasons: Sequence[str], *, egress: bool) -> Decision | None:
    """The reason line that decided a direction, or None when no rule of ours fired.

    Ingress, and egress that was denied: the last rule that fired (the verdict word after it
    is not a rule). Egress that passed: the rule that sent the packet on to
    ``romana-egress-passed`` — the policy rule that allowed it, or ``egress not restricted``;
    the lines after it only forward the packet."""
    lines = [r for r in reasons if ": " in r]
    if egress:
        passed = [i for i, r in enumerate(lines) if r.startswith(EGRESS_PASSED + ":")]
        if passed and passed[0] > 0:
            line = lines[passed[0] - 1]
            return Decision(line, policy_rule(line))
    if not lines:
        return None
    return Decision(lines[-1], policy_rule(lines[-1]))
