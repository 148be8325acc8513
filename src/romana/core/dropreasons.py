"""Why a firewall rule drops: the reason an attributed drop is counted and logged under.

A :class:`DropReason` is a policy's rule (the policy's id and the rule's place in it) or one
of the isolation defaults (``isolation: other tenants``, ...; the policy compiler names
them, :mod:`romana.core.policy.trees`). Its ``id`` is derived from those names alone, so a
reason keeps its id across recompilations, agent restarts and hosts: the id is what the
kernel carries (the log prefix ``romana-drop:<id>``,
:data:`romana.core.kernelnames.DROP_LOG_PREFIX`), and a ruleset's table of reasons
(:attr:`romana.core.ruleset.Ruleset.drop_reasons`) names it again.

Invariants: a reason is exactly one of the two kinds; ids are 48 bits of a BLAKE2b hash,
printed as 12 hex digits (:attr:`DropReason.label`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from romana.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class DropReason:
    """Why a drop rule drops: a policy's rule (``policy``: the policy's id; ``rule``: the
    rule's place in it, ``ingress[0].peers[1].rules[0]``) or an isolation default
    (``default``: its name, ``isolation: other tenants``). ``id`` is a function of those
    alone (48 bits of a hash), so a reason keeps its id across recompilations, restarts and
    hosts, and a logged packet or a kernel counter that carries it names the reason."""

    policy: str = ""
    rule: str = ""
    default: str = ""
    id: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if bool(self.policy) == bool(self.default) or bool(self.policy) != bool(self.rule):
            raise InvalidInput(
                "a drop reason is a policy and a rule, or a default, not "
                f"policy={self.policy!r} rule={self.rule!r} default={self.default!r}"
            )
        digest = hashlib.blake2b(self.name.encode(), digest_size=6).digest()
        object.__setattr__(self, "id", int.from_bytes(digest, "big"))

    @property
    def name(self) -> str:
        """``policy <id> <rule>`` or ``default <name>``: what the id is derived from."""
        return f"policy {self.policy} {self.rule}" if self.policy else f"default {self.default}"

    @property
    def label(self) -> str:
        """The id as logged and as metric labels carry it: 12 hex digits."""
        return f"{self.id:012x}"

    def to_dict(self) -> dict[str, str]:
        if self.policy:
            return {"id": self.label, "policy": self.policy, "rule": self.rule}
        return {"id": self.label, "default": self.default}


def policy_drop(policy: str, rule: str) -> DropReason:
    return DropReason(policy=policy, rule=rule)


def default_drop(name: str) -> DropReason:
    return DropReason(default=name)


# Logging of attributed drops: at most this many packets a second per drop rule, after a
# burst of this many; the rest are still dropped and counted, only not logged.
DROP_LOG_RATE = 10
DROP_LOG_BURST = 20
# ... and at most this many a second, after a burst of this many, for all drop rules of the
# host together (one token bucket every log rule takes from), so that a flood across many
# rules costs the host no more than this in log messages either.
DROP_LOG_HOST_RATE = 100
DROP_LOG_HOST_BURST = 200
DROP_LOG_LIMIT = "romana-drop-log"
"""The name of that shared bucket: the nftables ``limit`` object in our table, the iptables
``hashlimit`` table (at most 15 characters)."""
DROPPED_COUNTER = "dropped-"
LOGGED_COUNTER = "logged-"
"""Prefixes of the nftables ``counter`` objects, one of each per reason (``dropped-<label>``,
``logged-<label>``): what the drops and the logged drops of a reason are counted in."""
ACCOUNT_PREFIX = "romana-"
"""The iptables backend counts in kernel accounting objects (nfacct), which live outside
any table: theirs are named ``romana-dropped-<label>`` and ``romana-logged-<label>``."""


def account_names(reason: DropReason) -> tuple[str, str]:
    """The accounting objects of ``reason``: (its drops, its logged drops)."""
    return (
        f"{ACCOUNT_PREFIX}{DROPPED_COUNTER}{reason.label}",
        f"{ACCOUNT_PREFIX}{LOGGED_COUNTER}{reason.label}",
    )
