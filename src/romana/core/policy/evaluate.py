"""Walk a :class:`Ruleset` for one packet: the oracle for dataplane tests and ``romana explain``.

The walk follows the semantics shared by nftables and iptables (see :mod:`romana.core.ruleset`):
chains hooked where the packet passes run in priority order; ``accept`` ends one hooked chain,
``drop``/``reject`` end everything; ``jump`` comes back, ``goto`` does not; falling off a
hooked chain leaves the packet to others, which we take as allowed (we judge only our table).

A packet is described by where it goes relative to this host's endpoint interfaces — a
:class:`Path` — instead of interface names, so tests state intent (``TO_ENDPOINT``) and the
walk picks interface names that do or do not carry the ruleset's endpoint prefix.

The ``reasons`` of a :class:`Verdict` list, in order, each rule that fired (``chain: comment``)
and end with the decision, so a reader can see why a packet passes or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from romana.core import addressing, kernelnames, ruleset

# An interface name no endpoint prefix can match (names are never empty in the kernel).
_OTHER_INTERFACE = ""


class Path(StrEnum):
    TO_ENDPOINT = "to-endpoint"  # forwarded from elsewhere to a local endpoint (ingress)
    FROM_ENDPOINT = "from-endpoint"  # forwarded from a local endpoint to elsewhere (egress)
    BETWEEN_ENDPOINTS = "between-endpoints"  # from a local endpoint to another local one
    TO_HOST = "to-host"  # from a local endpoint to the host itself
    FROM_HOST = "from-host"  # sent by the host to a local endpoint
    TRANSIT = "transit"  # forwarded, neither side a local endpoint


_HOOKS = {
    Path.TO_ENDPOINT: ruleset.Hook.FORWARD,
    Path.FROM_ENDPOINT: ruleset.Hook.FORWARD,
    Path.BETWEEN_ENDPOINTS: ruleset.Hook.FORWARD,
    Path.TRANSIT: ruleset.Hook.FORWARD,
    Path.TO_HOST: ruleset.Hook.INPUT,
    Path.FROM_HOST: ruleset.Hook.OUTPUT,
}
_FROM_ENDPOINT = {Path.FROM_ENDPOINT, Path.BETWEEN_ENDPOINTS, Path.TO_HOST}
_TO_ENDPOINT = {Path.TO_ENDPOINT, Path.BETWEEN_ENDPOINTS, Path.FROM_HOST}


@dataclass(frozen=True, slots=True)
class Packet:
    src: addressing.IPAddress
    dst: addressing.IPAddress
    protocol: ruleset.Proto
    path: Path
    dport: int | None = None
    sport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    ct_state: ruleset.CtState = ruleset.CtState.NEW


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reasons: tuple[str, ...]


class _Walk:
    def __init__(self, rs: ruleset.Ruleset, packet: Packet, endpoint_interface: str) -> None:
        self.rs = rs
        self.packet = packet
        self.iifname = endpoint_interface if packet.path in _FROM_ENDPOINT else _OTHER_INTERFACE
        self.oifname = endpoint_interface if packet.path in _TO_ENDPOINT else _OTHER_INTERFACE
        self.reasons: list[str] = []

    def chain(self, chain: ruleset.Chain) -> ruleset.Action | None:
        """The final action, or None when the chain returns to its caller."""
        for rule in chain.rules:
            if not all(self.matches(m) for m in rule.matches):
                continue
            verdict = rule.verdict
            if isinstance(verdict, ruleset.Dispatch):
                target = self.dispatch(verdict)
                if target is None:
                    continue
                verdict = ruleset.jump(target)
            self.reasons.append(f"{chain.name}: {rule.comment or verdict}")
            if verdict.action is ruleset.Action.RETURN:
                return None
            if verdict.action in (ruleset.Action.JUMP, ruleset.Action.GOTO):
                assert verdict.chain is not None
                outcome = self.chain(self.rs.chain(verdict.chain))
                if outcome is not None or verdict.action is ruleset.Action.GOTO:
                    return outcome
                continue
            return verdict.action
        return None

    def address(self, side: ruleset.Side) -> addressing.IPAddress:
        return self.packet.src if side is ruleset.Side.SRC else self.packet.dst

    def dispatch(self, d: ruleset.Dispatch) -> str | None:
        addr = self.address(d.side)
        if addr.version != d.version:
            return None
        return dict(d.targets).get(int(addr) & d.mask)

    def matches(self, m: ruleset.MatchExpr) -> bool:
        p = self.packet
        if isinstance(m, ruleset.Address):
            return m.match.matches(self.address(m.side))
        if isinstance(m, ruleset.InSet):
            addr = self.address(m.side)
            return addr.version == m.version and any(
                addr in net for net in self.rs.set_named(m.set_name).elements
            )
        if isinstance(m, ruleset.Protocol):
            return p.protocol is m.protocol
        if isinstance(m, ruleset.Ports):
            port = p.dport if m.side is ruleset.Side.DST else p.sport
            return port is not None and any(lo <= port <= hi for lo, hi in m.ranges)
        if isinstance(m, ruleset.Icmp):
            return p.icmp_type == m.type and (m.code is None or p.icmp_code == m.code)
        if isinstance(m, ruleset.Conntrack):
            return p.ct_state in m.states
        if isinstance(m, ruleset.LocalDestination):
            return p.path is Path.TO_HOST  # the one path addressed to the host itself
        if isinstance(m, ruleset.OriginalDestination):
            return p.dst == m.address  # the walk rewrites no address: the original is it
        name = self.iifname if m.side is ruleset.Side.SRC else self.oifname
        if isinstance(m, ruleset.InInterfaces):
            return name in self.rs.interfaces_named(m.set_name).elements
        return bool(name) and name.startswith(m.prefix)


def verdict(rs: ruleset.Ruleset, packet: Packet, *, endpoint_interface: str = "") -> Verdict:
    """Whether ``rs`` lets ``packet`` through, and the rules that decided it.

    ``endpoint_interface`` is the name of the endpoint-side interface (a VM's tap: its exact
    name); by default the first interface prefix the ruleset matches on, with ``0`` appended.
    """
    if packet.src.version != packet.dst.version:
        raise ValueError("source and destination must be of one address family")
    walk = _Walk(rs, packet, endpoint_interface or _endpoint_interface(rs))
    hook = _HOOKS[packet.path]
    hooked = sorted((c for c in rs.hooked if c.hook is hook), key=lambda c: c.priority)
    for chain in hooked:
        outcome = walk.chain(chain)
        if outcome in (ruleset.Action.DROP, ruleset.Action.REJECT):
            return Verdict(False, (*walk.reasons, str(outcome)))
    if not hooked:
        walk.reasons.append(f"no romana chain on the {hook} hook")
    return Verdict(True, (*walk.reasons, "accept"))


def _endpoint_interface(rs: ruleset.Ruleset) -> str:
    for chain in rs.chains:
        for rule in chain.rules:
            for m in rule.matches:
                if isinstance(m, ruleset.Interface):
                    return m.prefix + "0"
    return kernelnames.HOST_IFNAME_PREFIX + "0"
