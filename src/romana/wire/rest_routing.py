"""romanad's REST API, version 1: the routing reports of agents (docs/api.md, "Routing reports").

An agent reports its host's routing with ``PUT /v1/hosts/{name}/routing``
(:class:`RoutingReportIn`): the agent itself, its BGP sessions as its BIRD reads them, the
routes it planned and those BIRD learned; romanad stores the latest report of each host and
answers with a :class:`RoutingReport`, stamped with when it was received and its age.

Invariants:

* What the agent reads from BIRD is bounded (:data:`Text`, the list lengths), so a
  report's size does not grow with what a peer sends, and is printable ASCII
  (:data:`romana.core.names.TEXT_RULE`): the CLI prints it to an admin's terminal, so a
  newline or an escape sequence from one host's agent could forge or hide other lines.
* A next hop or a peer is an IP address or empty, never another text
  (:data:`MaybeAddress`); the check leaves the JSON Schema as it is.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from romana.wire.rest import In, Out
from romana.wire.validate import CIDR, Address, Finite, Text, text

# -- routing reports ---------------------------------------------------------------------

ASN = Annotated[int, Field(ge=0, le=4294967295)]


def _address_or_empty(value: str) -> str:
    if value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address (nor empty)") from None
    return value


MaybeAddress = Annotated[str, Field(max_length=64), AfterValidator(_address_or_empty)]
"""An IP address, or '' for none."""


class BgpSessionIn(In):
    """One BGP session of the host's BIRD, as the agent read it."""

    name: Annotated[str, text(128)]
    """The BIRD protocol (``romana_<peer>``)."""
    peer: Address
    peer_as: ASN
    peer_name: Annotated[str, text(128)] = ""
    """The peer's name in the topology; empty for a peer it names by address only."""
    state: Annotated[str, text(32)]
    """The BGP state: ``Established`` when up."""
    info: Text = ""
    """Why a session that is not established is not (BIRD's last error)."""
    since: Annotated[str, text(64)] = ""
    """When the session last changed state, in BIRD's words (the host's local time)."""


class ReportedRouteIn(In):
    """One route of the host: planned and installed by its agent, or learned by BIRD."""

    dst: CIDR
    via: MaybeAddress = ""
    """The next hop; empty for none."""
    source: Literal["direct", "bgp"]
    protocol: Annotated[str, text(128)] = ""
    """The BIRD protocol a learned route came from (its session's ``name``)."""
    peer: MaybeAddress = ""
    """The address of the peer a learned route came from."""
    best: bool = True
    """False for a learned route BIRD holds as a backup, not in the kernel."""


class AgentStateIn(In):
    """What the agent itself is: its release and its last reconcile (the host's clock)."""

    version: Annotated[str, text(64)]
    reconciled_at: Finite | None = None
    """When the last reconcile ended (Unix time); null before the first."""
    revision: int | None = Field(default=None, ge=0)
    """The host-view revision that reconcile enforced."""
    errors: int = Field(default=0, ge=0)
    """How many errors that reconcile had (0: everything applied)."""


class AgentState(Out):
    version: str
    reconciled_at: float | None = None
    revision: int | None = None
    errors: int = 0


class RoutingReportIn(In):
    """What an agent reports about its host's routing (``PUT /v1/hosts/{name}/routing``)."""

    agent: AgentStateIn | None = None
    """The reporting agent (absent from agents before this field existed)."""
    mode: Literal["direct", "bgp"]
    """``bgp`` when its host view carries a BGP plan and its BIRD runs."""
    reported_at: Finite
    """When the agent read its state (Unix time, the host's clock)."""
    sessions: list[BgpSessionIn] = Field(default_factory=list, max_length=1024)
    routes: list[ReportedRouteIn] = Field(default_factory=list, max_length=65536)
    errors: list[Text] = Field(default_factory=list, max_length=16)
    """What the agent could not read (BIRD not answering)."""


class BgpSession(Out):
    name: str
    peer: Address
    peer_as: int
    peer_name: str = ""
    state: str
    info: str = ""
    since: str = ""


class ReportedRoute(Out):
    dst: CIDR
    via: str
    source: str
    protocol: str = ""
    peer: str = ""
    best: bool = True


class RoutingReport(Out):
    """A host's latest routing report, as romanad stored it."""

    host: str
    agent: AgentState | None = None
    mode: str
    reported_at: float
    received_at: float
    """When romanad stored it (Unix time, romanad's clock)."""
    age: float
    """Seconds since romanad stored it, at the time of the answer."""
    sessions: list[BgpSession]
    routes: list[ReportedRoute]
    errors: list[str] = Field(default_factory=list)
