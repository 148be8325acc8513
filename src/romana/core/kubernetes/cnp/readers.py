"""The field readers of a ClusterNetworkPolicy document: lists and numbers, peer addresses
(``networks`` CIDRs, ``domainNames``) and ``protocols`` entries.

Each reader takes the raw JSON value and its field path, and returns the value read, or None
with every problem added to ``issues`` at its path (:mod:`romana.core.kubernetes.cnp.parse`
says which rules the document's fields follow). A reader never raises on bad input.

A CIDR is read as the CRD's CEL ``isCIDR`` reads one (Go's ``netip.ParsePrefix``): an
address, ``/`` and a decimal prefix length, so never a netmask, an IPv6 zone or an
IPv4-mapped IPv6 address. Whether one with host bits set is refused or taken masked is the
document's :class:`Reading` (``v1beta1`` refuses, ``v1alpha2`` masks with a note).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from romana.core import addressing
from romana.core.errors import Issues
from romana.core.kubernetes.cnp import model
from romana.core.kubernetes.cnp.model import PortMatch
from romana.core.kubernetes.service import json_object

_DOMAIN_NAME = re.compile(
    r"^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$"
)
"""The CRD's pattern for a domain name."""
_CIDR = re.compile(r"^([0-9A-Fa-f:.]+)/(0|[1-9][0-9]{0,2})$")
"""An address, ``/`` and a decimal prefix length without leading zeros: what Go's
``netip.ParsePrefix`` (behind the CRD's ``isCIDR``) takes, so never a netmask or a zone."""
_PROTOCOL_KEYS = ("tcp", "udp", "sctp", "destinationNamedPort")


@dataclass(slots=True)
class Reading:
    """What one document's reading needs besides its problems: whether a CIDR with host bits
    set is taken masked (``v1alpha2``) or refused (``v1beta1``), and the notes so far."""

    mask: bool
    notes: list[str] = field(default_factory=list)


def field_at(prefix: str, key: str | int) -> str:
    """The path of ``key`` below ``prefix``: ``spec.egress[2]``, ``spec.subject.pods``."""
    return f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}.{key}"


def unknown(obj: Mapping[str, Any], known: tuple[str, ...], at: str, issues: Issues) -> None:
    """Name each key of ``obj`` that is not one of ``known``."""
    for key in sorted(set(obj) - set(known), key=str):
        issues.add(field_at(at, str(key)), f"unknown key (known: {', '.join(known)})")


def within(raw: Any, low: int, high: int) -> bool:
    """``raw`` is an integer (JSON number, not a boolean) in ``low``-``high``."""
    return isinstance(raw, int) and not isinstance(raw, bool) and low <= raw <= high


def listed(
    raw: Any, at: str, issues: Issues, *, least: int, most: int, what: str
) -> list[Any] | None:
    """``raw`` when it is a list of ``least``-``most`` items, else None with the problem."""
    if not isinstance(raw, list):
        issues.add(at, f"must be a list of {what}")
        return None
    if not least <= len(raw) <= most:
        bound = f"{least}-{most}" if least else f"at most {most}"
        issues.add(at, f"must hold {bound} {what} (has {len(raw)})")
    return raw


def one_of(obj: Mapping[str, Any], kinds: tuple[str, ...], at: str, issues: Issues) -> str | None:
    """The one key of ``kinds`` that ``obj`` gives, else None with the problem."""
    given = [k for k in kinds if k in obj]
    if len(given) != 1:
        found = f" (gives {', '.join(given)})" if given else ""
        issues.add(at, f"must give exactly one of {', '.join(kinds)}{found}")
        return None
    return given[0]


def domain_names(raw: Any, at: str, issues: Issues) -> tuple[str, ...] | None:
    items = listed(raw, at, issues, least=1, most=model.MAX_NETWORKS, what="domain names")
    if items is None:
        return None
    before = sum(1 for _ in issues)
    for k, text in enumerate(items):
        if not isinstance(text, str) or not _DOMAIN_NAME.match(text):
            issues.add(field_at(at, k), f"{text!r} is not a domain name such as *.kubernetes.io")
        elif text in items[:k]:
            issues.add(field_at(at, k), f"{text!r} is given twice (domainNames is a set)")
    return tuple(items) if sum(1 for _ in issues) == before else None


def networks(
    raw: Any, at: str, issues: Issues, reading: Reading
) -> tuple[addressing.IPNetwork, ...] | None:
    items = listed(raw, at, issues, least=1, most=model.MAX_NETWORKS, what="CIDRs")
    if items is None:
        return None
    before = sum(1 for _ in issues)
    networks: list[addressing.IPNetwork] = []
    for k, text in enumerate(items):
        where = field_at(at, k)
        if not isinstance(text, str) or len(text) > model.MAX_CIDR_TEXT or "/" not in text:
            issues.add(where, "must be a CIDR of at most 43 characters, such as 10.0.0.0/8")
            continue
        network = cidr(text, where, issues)
        if network is None:
            continue
        if network.network_address != ipaddress.ip_address(text.partition("/")[0]):
            if not reading.mask:
                issues.add(where, f"{text!r} has host bits set: the network is not masked")
                continue
            reading.notes.append(f"{where}: {text!r} has host bits set: taken as {network}")
        if text in items[:k]:
            issues.add(where, f"{text!r} is given twice (networks is a set)")
            continue
        if network not in networks:
            networks.append(network)
    return tuple(networks) if sum(1 for _ in issues) == before else None


def cidr(text: str, at: str, issues: Issues) -> addressing.IPNetwork | None:
    """The network ``text`` names (host bits cleared), read as the CRD's ``isCIDR`` reads it;
    None with the problem otherwise."""
    form = _CIDR.match(text)
    try:
        address = ipaddress.ip_address(form[1]) if form else None
    except ValueError:
        address = None
    if form is None or address is None or int(form[2]) > address.max_prefixlen:
        issues.add(
            at,
            f"{text!r} is not a CIDR such as 10.0.0.0/8 or fd00::/8 (an address, '/' and a "
            "prefix length in decimal)",
        )
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        issues.add(at, f"{text!r} is an IPv4-mapped IPv6 address, which is not allowed")
        return None
    return ipaddress.ip_network((address, int(form[2])), strict=False)


def protocol(raw: Any, at: str, issues: Issues) -> PortMatch | None:
    obj = json_object(raw, at, issues)
    strange = sorted((k for k in obj if k not in _PROTOCOL_KEYS), key=str)
    for key in strange:
        issues.add(
            field_at(at, str(key)),
            f"{key!r} is not a protocol: give one of {', '.join(_PROTOCOL_KEYS)}",
        )
    if strange:
        return None
    kind = one_of(obj, _PROTOCOL_KEYS, at, issues)
    if kind is None:
        return None
    where = field_at(at, kind)
    if kind == "destinationNamedPort":
        name = obj[kind]
        if not isinstance(name, str) or not name:
            issues.add(where, "must be a non-empty container port name")
            return None
        return PortMatch(name=name)
    proto = json_object(obj[kind], where, issues)
    unknown(proto, ("destinationPort",), where, issues)
    if "destinationPort" not in proto:
        issues.add(field_at(where, "destinationPort"), "is required (number or range)")
        return None
    where = field_at(where, "destinationPort")
    port = json_object(proto["destinationPort"], where, issues)
    unknown(port, ("number", "range"), where, issues)
    which = one_of(port, ("number", "range"), where, issues)
    if which == "number":
        number = port["number"]
        if not within(number, 1, 65535):
            issues.add(field_at(where, "number"), "must be a port number 1-65535")
            return None
        return PortMatch(kind.upper(), number, number)
    if which == "range":
        return port_range(port["range"], kind.upper(), field_at(where, "range"), issues)
    return None


def port_range(raw: Any, protocol: str, at: str, issues: Issues) -> PortMatch | None:
    span = json_object(raw, at, issues)
    unknown(span, ("start", "end"), at, issues)
    start, end = span.get("start"), span.get("end")
    bad = False
    for key, value in (("start", start), ("end", end)):
        if not within(value, 1, 65535):
            issues.add(field_at(at, key), "must be a port number 1-65535")
            bad = True
    if bad:
        return None
    assert isinstance(start, int) and isinstance(end, int)
    if not start < end:
        issues.add(at, f"start ({start}) must be less than end ({end})")
        return None
    return PortMatch(protocol, start, end)
