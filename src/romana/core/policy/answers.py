"""What ``romana explain`` answers: the probe asked about, and the answer's parts as values.

:class:`Probe` is what is sent (a protocol and port, or an ICMP type); an
:class:`Explanation` holds, for each direction, the :class:`Step` that judged it — its
verdict, the lines that say why, and the :class:`Rule` that decided when a policy rule did
(with the NetworkPolicy or ClusterNetworkPolicy it was translated from, and its tier and
priority for a tiered rule). ``to_dict`` is the JSON ``romana explain --json`` prints and
romanad's web view serves: one shape for both. Computing an answer is
:mod:`romana.core.policy.reach`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from romana.core import addressing, records, ruleset
from romana.core.errors import InvalidInput
from romana.core.policy import evaluate
from romana.core.policy.endpoints import Endpoint

_PORTS = {"tcp", "udp", "sctp"}
_ECHO_REQUEST = {4: 8, 6: 128}
PORT_RULE = (
    "must be tcp/PORT, udp/PORT or sctp/PORT (PORT 1-65535), or icmp or icmp/TYPE (TYPE 0-255)"
)


@dataclass(frozen=True, slots=True)
class Probe:
    """What is sent: ``protocol`` tcp, udp, sctp with a destination ``port``, or icmp with
    a ``port`` that is the ICMP type (None: echo request of the address family)."""

    protocol: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Probe:
        proto, slash, number = text.strip().lower().partition("/")
        if proto == "icmp" and not slash:
            return cls("icmp")
        if proto in _PORTS | {"icmp"} and number.isdigit():
            value = int(number)
            if (0 if proto == "icmp" else 1) <= value <= (255 if proto == "icmp" else 65535):
                return cls(proto, value)
        raise InvalidInput(f"port: {text!r} {PORT_RULE}")

    def __str__(self) -> str:
        return self.protocol if self.port is None else f"{self.protocol}/{self.port}"

    def packet(
        self, src: addressing.IPAddress, dst: addressing.IPAddress, path: evaluate.Path
    ) -> evaluate.Packet:
        if self.protocol != "icmp":
            return evaluate.Packet(src, dst, ruleset.Proto(self.protocol), path, dport=self.port)
        icmp_type = _ECHO_REQUEST[src.version] if self.port is None else self.port
        proto = ruleset.Proto.ICMP if src.version == 4 else ruleset.Proto.ICMPV6
        return evaluate.Packet(src, dst, proto, path, icmp_type=icmp_type)


@dataclass(frozen=True, slots=True)
class Rule:
    """The policy rule that decided: its policy, action and place, and the peer it names."""

    policy: str
    action: str
    path: str
    peer: str
    networkpolicy: str | None = None
    networkpolicy_rule: int | None = None
    tier: str | None = None
    """``admin`` or ``baseline`` for a tiered policy's rule (None: an ordinary policy)."""
    priority: int | None = None
    name: str = ""
    """The rule's name, where a tiered policy gives one."""
    clusternetworkpolicy: str | None = None
    """The ClusterNetworkPolicy a tiered rule was translated from, and its rule index."""
    clusternetworkpolicy_rule: int | None = None

    def __str__(self) -> str:
        return f"{self.action} policy {self.policy} {self.path}, peer {self.peer}"

    @property
    def tiered(self) -> str:
        """``admin tier policy P (priority N) ingress[0] 'name'`` for a tiered rule; for one
        translated from a ClusterNetworkPolicy, ``Admin tier ClusterNetworkPolicy C
        (priority N) ingress rule 0 'name'``."""
        label = f" {self.name!r}" if self.name else ""
        if self.clusternetworkpolicy is not None:
            tier = (self.tier or "").capitalize()
            where = f"{self.path.partition('[')[0]} rule {self.clusternetworkpolicy_rule}"
            return (
                f"{tier} tier ClusterNetworkPolicy {self.clusternetworkpolicy} "
                f"(priority {self.priority}) {where}{label}"
            )
        return (
            f"{self.tier} tier policy {self.policy} (priority {self.priority}) {self.path}{label}"
        )

    def to_dict(self) -> dict[str, Any]:
        return records.fields_dict(self)


@dataclass(frozen=True, slots=True)
class Step:
    """One direction: its verdict, what decided it, and the walk (``host`` None: no walk)."""

    allowed: bool
    decided_by: tuple[str, ...]
    host: str | None = None
    rule: Rule | None = None
    trace: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "host": self.host,
            "decided_by": list(self.decided_by),
            "rule": self.rule.to_dict() if self.rule is not None else None,
            "trace": list(self.trace),
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    source: Endpoint
    target: Endpoint
    probe: Probe
    egress: Step
    ingress: Step
    notes: tuple[str, ...] = ()
    """Policies the walked hosts leave out (unparsable, not expressible), and the like."""

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "protocol": self.probe.protocol,
            "port": self.probe.port,
            "source": self.source.to_dict(),
            "target": self.target.to_dict(),
            "egress": self.egress.to_dict(),
            "ingress": self.ingress.to_dict(),
            "notes": list(self.notes),
        }
