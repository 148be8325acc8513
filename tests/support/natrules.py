"""Rulesets with NAT chains, shared by the renderer tests and the kernel tests.

:func:`nat_ruleset` is a host's typical NAT: at postrouting, traffic to the pods' own
prefixes is left alone, one endpoint leaves by its external address (snat, one per family)
and everything else leaving by ``oif`` is masqueraded; at prerouting, a VIP's TCP port is
sent to one of several endpoints (dnat). A filter chain sits beside them, as in any real
ruleset. :func:`vip_ruleset` is how a VIP moves between hosts: only the host holding the
VIP's address dnats it, and flows dnatted to an endpoint elsewhere leave masqueraded, so
their answers come back through that host.
"""

from __future__ import annotations

import ipaddress

from romana.core import addressing, ruleset

NAT = ruleset.ChainKind.NAT
PODS4 = ipaddress.IPv4Network("10.1.0.0/16")
PODS6 = ipaddress.IPv6Network("fd00:1::/64")


def address(text: str) -> ruleset.IPAddress:
    return ipaddress.ip_address(text)


def host_match(text: str, side: ruleset.Side) -> ruleset.Address:
    """An exact match on one address."""
    net = ipaddress.ip_network(text)
    mask = (1 << net.max_prefixlen) - 1
    return ruleset.Address(side, addressing.Match(net.version, int(net.network_address), mask))


def tcp_port(port: int) -> tuple[ruleset.MatchExpr, ...]:
    return (
        ruleset.Protocol(ruleset.Proto.TCP),
        ruleset.Ports(ruleset.Side.DST, ((port, port),)),
    )


def filter_chain() -> ruleset.Chain:
    established = ruleset.Conntrack((ruleset.CtState.ESTABLISHED, ruleset.CtState.RELATED))
    return ruleset.Chain(
        "romana-forward",
        (ruleset.Rule((established,), ruleset.ACCEPT),),
        ruleset.Hook.FORWARD,
    )


def nat_ruleset(
    *,
    oif: str = "eth",
    snat: tuple[tuple[str, str], ...] = (
        ("10.1.0.5", "203.0.113.7"),
        ("fd00:1::5", "2001:db8::7"),
    ),
    vip: tuple[str, int] = ("198.51.100.10", 80),
    backends: tuple[str, ...] = ("10.1.0.1", "10.1.0.2", "10.1.0.3"),
) -> ruleset.Ruleset:
    """Sets of the pod prefixes, the filter chain, then postrouting and prerouting NAT."""
    pods4 = ruleset.address_set("romana-pods", 4, [PODS4])
    pods6 = ruleset.address_set("romana-pods6", 6, [PODS6])
    postrouting = ruleset.Chain(
        "romana-postrouting",
        (
            ruleset.Rule((ruleset.InSet(ruleset.Side.DST, "romana-pods", 4),), ruleset.RETURN),
            ruleset.Rule((ruleset.InSet(ruleset.Side.DST, "romana-pods6", 6),), ruleset.RETURN),
            *(
                ruleset.Rule(
                    (host_match(inside, ruleset.Side.SRC),),
                    ruleset.snat(address(outside)),
                    f"snat {inside}",
                )
                for inside, outside in snat
            ),
            ruleset.Rule(
                (ruleset.Interface(ruleset.Side.DST, oif),), ruleset.masquerade(), "egress"
            ),
        ),
        ruleset.Hook.POSTROUTING,
        kind=NAT,
    )
    prerouting = ruleset.Chain(
        "romana-prerouting",
        (
            ruleset.Rule(
                (host_match(vip[0], ruleset.Side.DST), *tcp_port(vip[1])),
                ruleset.jump("romana-vip-web"),
            ),
        ),
        ruleset.Hook.PREROUTING,
        kind=NAT,
    )
    vip_chain = ruleset.Chain(
        "romana-vip-web",
        (ruleset.Rule((), ruleset.dnat(*(address(b) for b in backends)), "vip web"),),
        kind=NAT,
    )
    return ruleset.Ruleset((pods4, pods6), (filter_chain(), postrouting, prerouting, vip_chain))


def filter_only() -> ruleset.Ruleset:
    """The same host with no NAT at all."""
    pods4 = ruleset.address_set("romana-pods", 4, [PODS4])
    pods6 = ruleset.address_set("romana-pods6", 6, [PODS6])
    chain = filter_chain()
    v6 = ruleset.Rule((ruleset.InSet(ruleset.Side.SRC, "romana-pods6", 6),), ruleset.RETURN)
    chain = ruleset.Chain(chain.name, (*chain.rules, v6), chain.hook)
    return ruleset.Ruleset((pods4, pods6), (chain,))


def vip_ruleset(
    vip: str, endpoints: tuple[str, ...], port: int | None = None, *, local: str = "romana"
) -> ruleset.Ruleset:
    """The filter chain; at prerouting, ``vip`` (on TCP ``port`` if given) dnatted to
    ``endpoints`` when it is an address of this host; at postrouting, flows leaving by an
    interface named ``local*`` (the host's own endpoints) left alone, and every other flow
    first sent to ``vip`` masqueraded."""
    ports = tcp_port(port) if port is not None else ()
    prerouting = ruleset.Chain(
        "romana-prerouting",
        (
            ruleset.Rule(
                (host_match(vip, ruleset.Side.DST), *ports, ruleset.LocalDestination()),
                ruleset.dnat(*(address(e) for e in endpoints)),
                "vip",
            ),
        ),
        ruleset.Hook.PREROUTING,
        kind=NAT,
    )
    postrouting = ruleset.Chain(
        "romana-postrouting",
        (
            ruleset.Rule((ruleset.Interface(ruleset.Side.DST, local),), ruleset.RETURN),
            ruleset.Rule(
                (ruleset.OriginalDestination(address(vip)),), ruleset.masquerade(), "vip back"
            ),
        ),
        ruleset.Hook.POSTROUTING,
        kind=NAT,
    )
    return ruleset.Ruleset((), (filter_chain(), prerouting, postrouting))
