"""The values a firewall ruleset is made of: matches, verdicts, rules, chains and sets.

Frozen values only; what they mean together, and the invariants a whole ruleset keeps, are
stated in :mod:`romana.core.ruleset`, which builds and checks them
(:mod:`romana.core.rulecheck`) and is the module callers import them from.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from romana.core import addressing, kernelnames
from romana.core.dropreasons import DROP_LOG_BURST as DROP_LOG_BURST
from romana.core.dropreasons import DROP_LOG_RATE as DROP_LOG_RATE
from romana.core.dropreasons import DropReason as DropReason
from romana.core.dropreasons import default_drop as default_drop
from romana.core.dropreasons import policy_drop as policy_drop

if TYPE_CHECKING:
    from romana.core.rulecheck import ChainCheck

PREFIX = kernelnames.RULESET_PREFIX
MAX_CHAIN_NAME = 28
MAX_SET_NAME = 30
INTERFACE_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,14}$")
INTERFACE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")

IPNetwork = addressing.IPNetwork
IPAddress = addressing.IPAddress


class Side(StrEnum):
    """Which address or port of a packet a match looks at."""

    SRC = "src"
    DST = "dst"


class Hook(StrEnum):
    FORWARD = "forward"
    INPUT = "input"
    OUTPUT = "output"
    PREROUTING = "prerouting"
    POSTROUTING = "postrouting"


class ChainKind(StrEnum):
    """What a chain does: pass judgement on packets, or rewrite their addresses."""

    FILTER = "filter"
    NAT = "nat"


HOOKS = {
    ChainKind.FILTER: (Hook.FORWARD, Hook.INPUT, Hook.OUTPUT),
    ChainKind.NAT: (Hook.PREROUTING, Hook.POSTROUTING),
}


class CtState(StrEnum):
    NEW = "new"
    ESTABLISHED = "established"
    RELATED = "related"
    INVALID = "invalid"


class Proto(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"
    ICMP = "icmp"
    ICMPV6 = "icmpv6"

    @property
    def version(self) -> int | None:
        """The address family a protocol implies, if any."""
        return {Proto.ICMP: 4, Proto.ICMPV6: 6}.get(self)


PORT_PROTOCOLS = frozenset({Proto.TCP, Proto.UDP, Proto.SCTP})


@dataclass(frozen=True, slots=True)
class Address:
    """``address & mask == value`` on one side; a contiguous mask is a plain CIDR match."""

    side: Side
    match: addressing.Match


@dataclass(frozen=True, slots=True)
class InSet:
    """The address on ``side`` is inside one of the prefixes of the named set."""

    side: Side
    set_name: str
    version: int


@dataclass(frozen=True, slots=True)
class Protocol:
    protocol: Proto


@dataclass(frozen=True, slots=True)
class Ports:
    """The port on ``side`` lies in one of the inclusive ranges (a single port is lo == hi)."""

    side: Side
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Icmp:
    type: int
    code: int | None = None


@dataclass(frozen=True, slots=True)
class Conntrack:
    states: tuple[CtState, ...]


@dataclass(frozen=True, slots=True)
class Interface:
    """The input (``side=SRC``) or output (``side=DST``) interface name starts with ``prefix``."""

    side: Side
    prefix: str


@dataclass(frozen=True, slots=True)
class InInterfaces:
    """The input (``side=SRC``) or output (``side=DST``) interface is exactly one of the
    names in the named :class:`InterfaceSet`: devices that are not ours to name (a VM's tap)
    are matched one by one, never by a prefix another owner's devices could share."""

    side: Side
    set_name: str


@dataclass(frozen=True, slots=True)
class LocalDestination:
    """The destination address is one of this host's, on any interface. Guarding a VIP's
    dnat with it lets the address alone decide which host forwards the VIP: the one that
    holds it at the moment."""


@dataclass(frozen=True, slots=True)
class OriginalDestination:
    """The flow was sent to ``address`` before any dnat (conntrack's original tuple), so a
    postrouting rule still knows a flow was for a VIP after its destination was rewritten.
    Makes the rule ``address``'s family."""

    address: IPAddress


MatchExpr = (
    Address
    | InSet
    | Protocol
    | Ports
    | Icmp
    | Conntrack
    | Interface
    | InInterfaces
    | LocalDestination
    | OriginalDestination
)


class Action(StrEnum):
    ACCEPT = "accept"
    DROP = "drop"
    REJECT = "reject"
    JUMP = "jump"
    GOTO = "goto"
    RETURN = "return"
    MASQUERADE = "masquerade"
    SNAT = "snat"
    DNAT = "dnat"


FILTER_ACTIONS = frozenset({Action.ACCEPT, Action.DROP, Action.REJECT})
NAT_ACTIONS = frozenset({Action.MASQUERADE, Action.SNAT, Action.DNAT})


@dataclass(frozen=True, slots=True)
class Verdict:
    """``chain``: the target of a jump or goto; ``to``: the address a snat rewrites the
    source to, or those a dnat picks the destination from (one at random per new flow)."""

    action: Action
    chain: str | None = None
    to: tuple[IPAddress, ...] = ()

    def __str__(self) -> str:
        if self.to:
            return f"{self.action} to {','.join(str(a) for a in self.to)}"
        return f"{self.action} {self.chain}" if self.chain else str(self.action)


ACCEPT = Verdict(Action.ACCEPT)
DROP = Verdict(Action.DROP)
REJECT = Verdict(Action.REJECT)
RETURN = Verdict(Action.RETURN)


def jump(chain: str) -> Verdict:
    return Verdict(Action.JUMP, chain)


def goto(chain: str) -> Verdict:
    return Verdict(Action.GOTO, chain)


def masquerade() -> Verdict:
    """Rewrite the source to the address of the interface the packet leaves by."""
    return Verdict(Action.MASQUERADE)


def snat(address: IPAddress) -> Verdict:
    return Verdict(Action.SNAT, to=(address,))


def dnat(*addresses: IPAddress) -> Verdict:
    """Rewrite the destination to one of ``addresses``, chosen at random for each new flow."""
    return Verdict(Action.DNAT, to=addresses)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Jump to ``targets[address & mask]``; no entry means: go on with the next rule."""

    side: Side
    version: int
    mask: int
    targets: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """``drop``: why the rule drops, for a drop or reject rule that is attributed. Renderers
    give such a rule a kernel counter and log its packets, rate-limited, to netlink group
    :data:`romana.core.kernelnames.DROP_LOG_GROUP` with the reason's id in the prefix."""

    matches: tuple[MatchExpr, ...]
    verdict: Verdict | Dispatch
    comment: str = ""
    drop: DropReason | None = None

    @property
    def version(self) -> int | None:
        """The one address family this rule applies to, or None when it applies to both."""
        versions = versions_of(self)
        return next(iter(versions)) if len(versions) == 1 else None


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    rules: tuple[Rule, ...] = ()
    hook: Hook | None = None
    # Offset from the conventional priority of the hook (nftables ``priority filter + N``,
    # ``dstnat + N`` at prerouting, ``srcnat + N`` at postrouting).
    priority: int = 0
    kind: ChainKind = ChainKind.FILTER
    _checked: ChainCheck | None = field(default=None, init=False, repr=False, compare=False)
    """Validating this chain on its own, once it was (:func:`_checked`): kept with the
    chain, so it lives exactly as long as the chain."""


@dataclass(frozen=True, slots=True)
class AddressSet:
    """A named, typed set of prefixes; build with :func:`address_set` to normalise elements."""

    name: str
    version: int
    elements: tuple[IPNetwork, ...] = ()


def address_set(name: str, version: int, elements: Iterable[IPNetwork]) -> AddressSet:
    """An :class:`AddressSet` with its elements merged, de-duplicated and sorted."""
    items = list(elements)
    v4 = [e for e in items if isinstance(e, ipaddress.IPv4Network)]
    v6 = [e for e in items if isinstance(e, ipaddress.IPv6Network)]
    merged: list[IPNetwork] = list(
        ipaddress.collapse_addresses(v4) if version == 4 else ipaddress.collapse_addresses(v6)
    )
    return AddressSet(name, version, tuple(merged))


@dataclass(frozen=True, slots=True)
class InterfaceSet:
    """A named set of exact interface names; build with :func:`interface_set`."""

    name: str
    elements: tuple[str, ...] = ()


def interface_set(name: str, elements: Iterable[str]) -> InterfaceSet:
    """An :class:`InterfaceSet` with its names de-duplicated and sorted."""
    return InterfaceSet(name, tuple(sorted(set(elements))))


def versions_of(rule: Rule) -> set[int]:
    versions = match_versions(rule)
    if isinstance(rule.verdict, Verdict):
        versions.update(a.version for a in rule.verdict.to if isinstance(a, ADDRESS_TYPES))
    return versions


ADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address)


def match_versions(rule: Rule) -> set[int]:
    versions: set[int] = set()
    for m in rule.matches:
        if isinstance(m, Address):
            versions.add(m.match.version)
        elif isinstance(m, InSet):
            versions.add(m.version)
        elif isinstance(m, Protocol) and m.protocol.version is not None:
            versions.add(m.protocol.version)
        elif isinstance(m, OriginalDestination) and isinstance(m.address, ADDRESS_TYPES):
            versions.add(m.address.version)
    if isinstance(rule.verdict, Dispatch):
        versions.add(rule.verdict.version)
    return versions
