"""romanad's REST API, version 1: attributed drop events (docs/api.md, "Drops").

An agent sends the drops its host logged (:mod:`romana.agent.dropforward`) in batches,
``POST /v1/hosts/{name}/drops`` with a :class:`DropReportIn`; romanad keeps the last ones in
memory (:mod:`romana.services.drops`) and answers ``GET /v1/drops`` with a
:class:`DropEvents`: each event a :class:`DropEvent`, its two sides decoded by romanad from
its own address plan and named where romanad knows the endpoint, its reason the policy and
rule or the isolation default that dropped it.

The agent sends addresses, protocol, ports and reason only: what tenant an address is in
is romanad's to say, never the reporting agent's.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from romana.wire.rest import In, IPAddress, Out
from romana.wire.validate import Address, Finite, Text, text

MAX_BATCH = 1024
"""Events one report may carry: the agent's whole ring of recent drops."""

Port = Annotated[int, Field(ge=0, le=65535)]
IcmpField = Annotated[int, Field(ge=0, le=255)]


class DropReasonIn(In):
    """Why a packet was dropped: a policy's rule, or an isolation default."""

    id: str = text(64)
    """The reason's id as the kernel logged it (12 hex digits; the log prefix when the
    agent could not read an id from it)."""
    policy: Text = ""
    """The id of the policy (``<tenant>/<name>``, or a global policy's name)."""
    rule: Text = ""
    """The rule's place in it (``ingress[0].peers[1].rules[0]``)."""
    default: Text = ""
    """The isolation default (``isolation: other tenants``) when no policy decided."""


class DropEventIn(In):
    """One dropped packet as the host logged it."""

    time: Finite
    """When the agent read it (Unix seconds, the host's clock)."""
    src: IPAddress
    dst: IPAddress
    proto: str = text(16)
    """``tcp``, ``udp``, ``icmp``, ``icmpv6``, ``sctp``, or the protocol number."""
    sport: Port | None = None
    dport: Port | None = None
    icmp_type: IcmpField | None = None
    icmp_code: IcmpField | None = None
    reason: DropReasonIn


class DropReportIn(In):
    """A batch of drops of one host (``POST /v1/hosts/{name}/drops``)."""

    events: list[DropEventIn] = Field(max_length=MAX_BATCH)


class DropReport(Out):
    accepted: int
    """Events romanad keeps from this report."""


class DropReason(Out):
    id: str
    policy: str = ""
    rule: str = ""
    default: str = ""
    """The isolation default, or ``policy of another tenant`` for a policy the reader may
    not read (its name is not shown)."""


class DropSide(Out):
    """One side of a dropped packet: its address, and what romanad knows of it. A reader
    scoped to one tenant sees the address alone for an address of any other tenant."""

    address: Address
    network: str | None = None
    tenant: str | None = None
    """The tenant the address encodes; None for the infrastructure tenant (a host's
    gateway), an unknown tenant id, or an address outside every network."""
    segment: str | None = None
    endpoint: str | None = None
    """The endpoint holding the address: the Kubernetes pod (``<namespace>/<pod>``), else the
    workload an integration named, else the allocation's key; None when not allocated."""


class DropEvent(Out):
    seq: int
    """The event's number at this romanad, from 1, in arrival order."""
    host: str
    """The host whose firewall dropped the packet."""
    time: float
    """When its agent read the packet (Unix seconds, the host's clock)."""
    src: DropSide
    dst: DropSide
    proto: str
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    reason: DropReason


class DropEvents(Out):
    """``GET /v1/drops``: the events after ``after`` the reader may see, oldest first."""

    events: list[DropEvent]
    last: int
    """The number of the last event romanad looked at: the next call's ``after``."""
