"""Egress NAT of one host: which of its endpoints' packets leave with another source address.

Computed from values (the networks, the tenants, each network's
:class:`romana.core.external.EgressNat`, the external pools and the external addresses of
this host's endpoints) into NAT chains of a :class:`romana.core.ruleset.Ruleset`, which the
agent adds to its firewall. Pure: no I/O. ``docs/external.md`` describes the behaviour::

    hook postrouting (nat) ─ romana-postrouting: to a romana network or an external pool?
                             return (never NAT inside the cluster); from network N?
                             goto romana-nat-<N>
    romana-nat-<N>: to one of N's no-NAT CIDRs? return; from an endpoint with an external
                    address? snat to it; mode on: masquerade; mode tenants: masquerade the
                    listed tenants' sources (tenant field masked), nothing else

    hook prerouting (nat) ─ romana-prerouting: to a VIP that is an address of this host?
                            dnat to one of its endpoints (random per flow)
    (romana-postrouting first: to an endpoint of this host? return; a flow first sent to a
     VIP? masquerade, so its answers come back through this host)

Invariants:

* Nothing addressed to a romana network or an external pool is ever rewritten: traffic
  inside the cluster keeps its addresses, so tenant isolation and policies see them.
* An endpoint holding an external address leaves with it towards the outside whatever the
  network's mode (it is the endpoint's own address); a no-NAT CIDR is reached with the
  romana address by every endpoint of that network.
* The chains depend on networks, tenants, settings, pools and this host's external
  addresses; a network with mode ``off`` and no external address gets no chain at all, and
  a host with nothing to rewrite gets no NAT chain (its ruleset is the filter alone).
* :func:`decide` answers for one packet what the chains do to it, for ``romana explain``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from romana.core import addressing, kernelnames, ruleset, tenancy
from romana.core.external import EgressNat, NatMode

_P = kernelnames.RULESET_PREFIX
POSTROUTING = _P + "postrouting"
PREROUTING = _P + "prerouting"
INSIDE = _P + "nat-inside"
"""Address sets (one per family, ``-4``/``-6``) of every romana network and external pool."""

Pair = tuple[addressing.IPAddress, addressing.IPAddress]
"""(external address, the romana address of the same family of the endpoint holding it)."""


@dataclass(frozen=True, slots=True)
class Nat:
    """The NAT part of a host's ruleset: add these sets and chains to the filter's."""

    sets: tuple[ruleset.AddressSet, ...] = ()
    chains: tuple[ruleset.Chain, ...] = ()


def _name(kind: str, network: str, limit: int) -> str:
    name = f"{_P}{kind}-{network}"
    if len(name) <= limit and name == name.lower():
        return name
    return f"{_P}{kind}-{hashlib.sha256(network.encode()).hexdigest()[:10]}"


def chain_name(network: str) -> str:
    """The NAT chain of ``network``: its name when it fits, else a digest of it."""
    return _name("nat", network, ruleset.MAX_CHAIN_NAME)


def _no_nat_set(network: str) -> str:
    return _name("nonat", network, ruleset.MAX_SET_NAME)


def _inside_set(version: int) -> str:
    return f"{INSIDE}-{version}"


def _cidr_match(side: ruleset.Side, cidr: addressing.IPNetwork) -> ruleset.Address:
    mask = int(cidr.netmask)
    return ruleset.Address(side, addressing.Match(cidr.version, int(cidr.network_address), mask))


def _host_match(side: ruleset.Side, address: addressing.IPAddress) -> ruleset.Address:
    full = (1 << address.max_prefixlen) - 1
    return ruleset.Address(side, addressing.Match(address.version, int(address), full))


def _network_chain(
    lay: addressing.Layout,
    setting: EgressNat,
    tenants: Mapping[str, tenancy.Tenant],
    pairs: Sequence[Pair],
) -> tuple[ruleset.Chain, ruleset.AddressSet | None]:
    rules: list[ruleset.Rule] = []
    no_nat = [c for c in setting.no_nat if c.version == lay.version]
    nonat_set = None
    if no_nat:
        nonat_set = ruleset.address_set(_no_nat_set(lay.name), lay.version, no_nat)
        rules.append(
            ruleset.Rule(
                (ruleset.InSet(ruleset.Side.DST, nonat_set.name, lay.version),),
                ruleset.RETURN,
                "no-NAT destinations",
            )
        )
    for ext, romana in pairs:
        rules.append(
            ruleset.Rule(
                (_host_match(ruleset.Side.SRC, romana),),
                ruleset.snat(ext),
                f"external address {ext}",
            )
        )
    if setting.mode is NatMode.ON:
        rules.append(ruleset.Rule((), ruleset.masquerade(), "egress NAT"))
    elif setting.mode is NatMode.TENANTS:
        for name in sorted(setting.tenants):
            tenant = tenants.get(name)
            tid = None if tenant is None else tenant.ids.get(lay.name)
            if tid is None:
                continue  # no address of this tenant can be in this network
            match = addressing.tenant_match(lay, tid)
            rules.append(
                ruleset.Rule(
                    (ruleset.Address(ruleset.Side.SRC, match),),
                    ruleset.masquerade(),
                    f"egress NAT of tenant {name}",
                )
            )
    chain = ruleset.Chain(chain_name(lay.name), tuple(rules), kind=ruleset.ChainKind.NAT)
    return chain, nonat_set


@dataclass(frozen=True, slots=True)
class VipTarget:
    """VIP ``name`` at ``address``, forwarded to ``endpoints`` (romana addresses)."""

    name: str
    address: addressing.IPAddress
    endpoints: tuple[addressing.IPAddress, ...]


def _vip_rules(
    vips: Sequence[VipTarget], interface_prefix: str
) -> tuple[ruleset.Chain | None, list[ruleset.Rule]]:
    """The prerouting chain that forwards each VIP held here, and the postrouting rules that
    bring the flows sent to another host's endpoint back through this host."""
    dnat: list[ruleset.Rule] = []
    back: list[ruleset.Rule] = []
    for vip in sorted(vips, key=lambda v: v.name):
        targets = tuple(sorted({a for a in vip.endpoints if a.version == vip.address.version}))
        if not targets:
            continue
        dnat.append(
            ruleset.Rule(
                (_host_match(ruleset.Side.DST, vip.address), ruleset.LocalDestination()),
                ruleset.dnat(*targets),
                f"VIP {vip.name}",
            )
        )
        back.append(
            ruleset.Rule(
                (ruleset.OriginalDestination(vip.address),),
                ruleset.masquerade(),
                f"VIP {vip.name} to another host",
            )
        )
    if not dnat:
        return None, []
    chain = ruleset.Chain(
        PREROUTING, tuple(dnat), hook=ruleset.Hook.PREROUTING, kind=ruleset.ChainKind.NAT
    )
    local = ruleset.Rule(
        (ruleset.Interface(ruleset.Side.DST, interface_prefix),),
        ruleset.RETURN,
        "to an endpoint of this host",
    )
    return chain, [local, *back]


def egress_nat(
    layouts: Mapping[str, addressing.Layout],
    tenants: Mapping[str, tenancy.Tenant],
    settings: Sequence[EgressNat],
    pools: Sequence[addressing.IPNetwork],
    externals: Sequence[Pair],
    vips: Sequence[VipTarget] = (),
    interface_prefix: str = kernelnames.HOST_IFNAME_PREFIX,
) -> Nat:
    """The NAT sets and chains of a host (see the module docstring); empty when nothing is
    rewritten. A network without a setting has the default: on, no no-NAT CIDRs. ``vips``:
    those this host may hold, forwarded only while it does (their address is local)."""
    vip_chain, vip_back = _vip_rules(vips, interface_prefix)
    by_network = {s.network: s for s in settings}
    chains: list[ruleset.Chain] = []
    sets: list[ruleset.AddressSet] = []
    entry: list[ruleset.Rule] = []
    for name in sorted(layouts):
        lay = layouts[name]
        setting = by_network.get(lay.name) or EgressNat(lay.name)
        pairs = sorted(
            (p for p in externals if p[1] in lay.cidr), key=lambda p: (int(p[1]), int(p[0]))
        )
        if setting.mode is NatMode.OFF and not pairs:
            continue
        chain, nonat = _network_chain(lay, setting, tenants, pairs)
        if not chain.rules or all(r.verdict == ruleset.RETURN for r in chain.rules):
            continue
        chains.append(chain)
        if nonat is not None:
            sets.append(nonat)
        entry.append(
            ruleset.Rule(
                (_cidr_match(ruleset.Side.SRC, lay.cidr),),
                ruleset.goto(chain.name),
                f"from network {lay.name}",
            )
        )
    if not entry and vip_chain is None:
        return Nat()
    inside: list[ruleset.Rule] = []
    for version in sorted({lay.version for lay in layouts.values()}):
        members = [lay.cidr for lay in layouts.values() if lay.version == version]
        members += [p for p in pools if p.version == version]
        sets.append(ruleset.address_set(_inside_set(version), version, members))
        inside.append(
            ruleset.Rule(
                (ruleset.InSet(ruleset.Side.DST, _inside_set(version), version),),
                ruleset.RETURN,
                "inside the cluster",
            )
        )
    hooked = ruleset.Chain(
        POSTROUTING,
        tuple(vip_back + (inside + entry if entry else [])),
        hook=ruleset.Hook.POSTROUTING,
        kind=ruleset.ChainKind.NAT,
    )
    if not entry:
        sets = []
    pre = () if vip_chain is None else (vip_chain,)
    return Nat(tuple(sorted(sets, key=lambda s: s.name)), (*pre, hooked, *chains))


@dataclass(frozen=True, slots=True)
class Decision:
    """What egress NAT does to a packet from ``src`` to ``dst``: ``source`` is the address it
    leaves with (None: the host's own address, masquerade), ``why`` says which rule."""

    rewritten: bool
    source: addressing.IPAddress | None
    why: str


def decide(
    layouts: Mapping[str, addressing.Layout],
    tenants: Mapping[str, tenancy.Tenant],
    settings: Sequence[EgressNat],
    pools: Sequence[addressing.IPNetwork],
    externals: Sequence[Pair],
    src: addressing.IPAddress,
    dst: addressing.IPAddress,
) -> Decision:
    """What :func:`egress_nat`'s chains do to one packet, in words (``romana explain``)."""
    inside = [lay.cidr for lay in layouts.values()] + list(pools)
    if any(dst.version == c.version and dst in c for c in inside):
        return Decision(False, src, f"{dst} is inside the cluster: no NAT")
    lay = next((x for x in layouts.values() if src.version == x.version and src in x.cidr), None)
    if lay is None:
        return Decision(False, src, f"{src} is in no romana network: no NAT")
    setting = next((s for s in settings if s.network == lay.name), None) or EgressNat(lay.name)
    for cidr in setting.no_nat:
        if dst.version == cidr.version and dst in cidr:
            return Decision(False, src, f"{dst} is in no-NAT CIDR {cidr} of network {lay.name}")
    for ext, romana in externals:
        if romana == src:
            return Decision(True, ext, f"leaves as its external address {ext}")
    if setting.mode is NatMode.ON:
        return Decision(True, None, f"masqueraded to the host's address (network {lay.name})")
    if setting.mode is NatMode.TENANTS:
        for name in setting.tenants:
            tenant = tenants.get(name)
            tid = None if tenant is None else tenant.ids.get(lay.name)
            if tid is not None and addressing.tenant_match(lay, tid).matches(src):
                return Decision(
                    True,
                    None,
                    f"masqueraded to the host's address (network {lay.name}, tenant {name})",
                )
    return Decision(False, src, f"egress NAT of network {lay.name} is off for it")
