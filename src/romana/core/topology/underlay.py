"""Which addresses may be a host's underlay address (``ip``, ``ip6``).

Every other host routes the host's prefixes to its underlay address, so a wrong one sends a
whole host prefix somewhere else: to the sender itself (loopback, unspecified), to nobody or
everybody (multicast, broadcast), to whatever answers on the local link (link-local), or back
into the romana address space (an address of a romana network, a gateway address above all).
:func:`check` refuses each of these with an issue naming the field and the rule.

Checked wherever an underlay address enters: a host placed (agent registration, ``romana
host add``) and every topology document applied. A topology stored by an earlier release is
read without these rules (``parse(stored=True)``), so it keeps working until a document that
follows them is applied.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from romana.core import addressing
from romana.core.errors import Issues

LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")

_WHY = "a host's underlay address is the next hop every other host routes its prefixes to"


def check(
    address: addressing.IPAddress | None,
    where: str,
    layouts: Iterable[addressing.Layout],
    issues: Issues,
) -> None:
    """Add an issue at ``where`` when ``address`` may not be an underlay address among the
    networks of ``layouts``; None (no address) adds nothing."""
    if address is None:
        return
    rule = _refusal(address, layouts)
    if rule is not None:
        issues.add(where, f"{address} {rule}; {_WHY}")


def _refusal(address: addressing.IPAddress, layouts: Iterable[addressing.Layout]) -> str | None:
    # An IPv4-mapped IPv6 address (::ffff:127.0.0.1) reaches the IPv4 address it maps.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    plain = mapped or address
    if plain.is_unspecified:
        return "is unspecified (0.0.0.0 or ::), not the address of a host"
    if plain.is_loopback:
        return "is a loopback address (127.0.0.0/8 or ::1): every host would route to itself"
    if plain.is_multicast:
        return "is a multicast address (224.0.0.0/4 or ff00::/8), not one host's"
    if plain == LIMITED_BROADCAST:
        return "is the limited broadcast address, not one host's"
    if plain.is_link_local:
        return (
            "is a link-local address (169.254.0.0/16 or fe80::/10), which has no meaning "
            "beyond one link"
        )
    for lay in layouts:
        if plain.version != lay.cidr.version or plain not in lay.cidr:
            continue
        decoded = addressing.decode(lay, plain)
        if decoded.is_gateway:
            return (
                f"is the gateway address of host index {decoded.host} in romana network "
                f"{lay.name!r} ({lay.cidr})"
            )
        return f"is inside romana network {lay.name!r} ({lay.cidr}), whose addresses are endpoints'"
    return None
