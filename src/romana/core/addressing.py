"""The address plan: how a network's addresses carry host, tenant, segment and endpoint.

Each network is an IPv4 or IPv6 CIDR cut into fixed fields, most significant first::

    | network prefix | topology (host) bits | tenant bits | segment bits | endpoint bits |

Invariants:

* The widths are fixed per network, so the tenant of *any* address on *any* host is
  ``(addr & tenant_mask) == tenant_value`` — one masked match, no per-endpoint state.
* Tenant 0 is infrastructure. The gateway of host ``h`` is ``encode(h, 0, 0, 1)``.
* User endpoints use ordinals ``1 … 2**endpoint_bits - 2``; ordinal 0 and the all-ones
  ordinal are never handed out, so no endpoint address is a field boundary.
* ``decode(encode(h, t, s, o)) == (h, t, s, o)`` for every in-range tuple.

Example: ``10.0.0.0/8`` with topology 8, tenant 4, segment 4, endpoint 8 bits. The second
host (index 1; indices start at 0) owns ``10.1.0.0/16``, its gateway is ``10.1.0.1``, and
tenant 1 / segment 1 / ordinal 1 on it is ``10.1.17.1``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from romana.core import records
from romana.core.errors import InvalidInput, Issues
from romana.core.identifiers import NetworkName

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

INFRASTRUCTURE_TENANT = 0
GATEWAY_ORDINAL = 1
DEFAULT_SEGMENT = 0

# Defaults chosen so that a bare CIDR gives a useful plan: 15 user tenants, 16 segments each,
# 254 endpoints per (host, tenant, segment) on IPv4; IPv6 widens every field.
DEFAULT_WIDTHS: Mapping[int, tuple[int, int, int]] = {4: (4, 4, 8), 6: (16, 16, 16)}


def of_version(addresses: Iterable[IPAddress], version: int) -> IPAddress | None:
    """The first of ``addresses`` of IP ``version`` (4 or 6); None when there is none."""
    return next((a for a in addresses if a.version == version), None)


@dataclass(frozen=True, slots=True)
class Layout:
    """One network and the widths of its fields. Build with :func:`layout`, which validates."""

    name: NetworkName
    cidr: IPNetwork
    tenant_bits: int
    segment_bits: int
    endpoint_bits: int

    @property
    def version(self) -> int:
        return self.cidr.version

    @property
    def address_bits(self) -> int:
        return self.cidr.max_prefixlen

    @property
    def topology_bits(self) -> int:
        return (
            self.address_bits
            - self.cidr.prefixlen
            - self.tenant_bits
            - self.segment_bits
            - self.endpoint_bits
        )

    @property
    def host_prefixlen(self) -> int:
        """Prefix length of one host's block (network prefix + topology bits)."""
        return self.cidr.prefixlen + self.topology_bits

    @property
    def segment_shift(self) -> int:
        return self.endpoint_bits

    @property
    def tenant_shift(self) -> int:
        return self.endpoint_bits + self.segment_bits

    @property
    def host_shift(self) -> int:
        return self.endpoint_bits + self.segment_bits + self.tenant_bits

    @property
    def max_hosts(self) -> int:
        return 1 << self.topology_bits

    @property
    def max_tenant(self) -> int:
        """Highest user tenant id (0 is infrastructure)."""
        return (1 << self.tenant_bits) - 1

    @property
    def max_segment(self) -> int:
        return (1 << self.segment_bits) - 1

    @property
    def max_ordinal(self) -> int:
        """Highest endpoint ordinal handed out (the all-ones ordinal is reserved)."""
        return (1 << self.endpoint_bits) - 2

    @property
    def endpoints_per_segment(self) -> int:
        return max(0, self.max_ordinal)

    def to_dict(self) -> dict[str, Any]:
        return records.fields_dict(self, {"cidr": str})


@dataclass(frozen=True, slots=True)
class Decoded:
    """The meaning of one address inside one network."""

    network: NetworkName
    host: int
    tenant: int
    segment: int
    ordinal: int
    host_prefix: IPNetwork

    @property
    def is_gateway(self) -> bool:
        return (
            self.tenant == INFRASTRUCTURE_TENANT
            and self.segment == DEFAULT_SEGMENT
            and self.ordinal == GATEWAY_ORDINAL
        )


@dataclass(frozen=True, slots=True)
class Match:
    """A (value, mask) pair: an address ``a`` matches when ``a & mask == value``.

    Masks may be non-contiguous (network bits plus the tenant field); nftables and iptables
    accept both forms.
    """

    version: int
    value: int
    mask: int

    def matches(self, address: IPAddress) -> bool:
        return address.version == self.version and (int(address) & self.mask) == self.value

    @property
    def value_address(self) -> IPAddress:
        return _address(self.version, self.value)

    @property
    def mask_address(self) -> IPAddress:
        return _address(self.version, self.mask)

    @property
    def is_prefix(self) -> bool:
        """True when the mask is contiguous, i.e. expressible as a CIDR."""
        bits = 32 if self.version == 4 else 128
        inverted = ~self.mask & ((1 << bits) - 1)
        return (inverted & (inverted + 1)) == 0

    def as_network(self) -> IPNetwork:
        """The CIDR equivalent; only valid when :attr:`is_prefix`."""
        if not self.is_prefix:
            raise ValueError("mask is not contiguous")
        prefixlen = bin(self.mask).count("1")
        return _network(self.version, self.value, prefixlen)


def _address(version: int, value: int) -> IPAddress:
    """An address of the given family; ``ip_address(int)`` alone would guess IPv4 for small ints."""
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def _network(version: int, base: int, prefixlen: int) -> IPNetwork:
    if version == 4:
        return ipaddress.IPv4Network((base, prefixlen))
    return ipaddress.IPv6Network((base, prefixlen))


def layout(
    name: str,
    cidr: str,
    tenant_bits: int | None = None,
    segment_bits: int | None = None,
    endpoint_bits: int | None = None,
    *,
    field: str = "network",
    tenants_configured: bool = False,
) -> Layout:
    """Validate a network definition and return its :class:`Layout`.

    Every problem is reported at once, each naming ``field`` plus the offending key.
    ``tenants_configured`` says that the network lists tenants, which needs tenant bits.
    """
    issues = Issues()
    network: IPNetwork | None = None
    if not name:
        issues.add(f"{field}.name", "must not be empty")
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except (ValueError, TypeError) as exc:
        issues.add(f"{field}.cidr", f"must be an IPv4 or IPv6 network with no host bits ({exc})")
    version = network.version if network is not None else 4
    defaults = DEFAULT_WIDTHS[version]
    widths = {
        "tenant_bits": defaults[0] if tenant_bits is None else tenant_bits,
        "segment_bits": defaults[1] if segment_bits is None else segment_bits,
        "endpoint_bits": defaults[2] if endpoint_bits is None else endpoint_bits,
    }
    valid: dict[str, int] = {}
    for key, value in widths.items():
        if not isinstance(value, int) or isinstance(value, bool):
            issues.add(f"{field}.{key}", "must be an integer")
        elif value < 0:
            issues.add(f"{field}.{key}", "must be >= 0")
        else:
            valid[key] = value
    if "endpoint_bits" in valid and valid["endpoint_bits"] < 2:
        issues.add(
            f"{field}.endpoint_bits",
            "must be >= 2 (ordinal 1 is the gateway; 0 and all-ones are never handed out)",
        )
    if tenants_configured and valid.get("tenant_bits") == 0:
        issues.add(f"{field}.tenant_bits", "must be > 0 when the network lists tenants")
    if network is not None and len(valid) == 3:
        free = network.max_prefixlen - network.prefixlen
        used = sum(valid.values())
        if used > free:
            issues.add(
                field,
                f"tenant_bits + segment_bits + endpoint_bits = {used} is wider than the "
                f"{free} bits the /{network.prefixlen} network leaves",
            )
    issues.raise_if_any()
    assert network is not None
    return Layout(
        NetworkName(name),
        network,
        widths["tenant_bits"],
        widths["segment_bits"],
        widths["endpoint_bits"],
    )


def _check(value: int, limit: int, what: str, lay: Layout) -> None:
    if not 0 <= value <= limit:
        raise InvalidInput(f"{what} {value} is outside 0..{limit} in network {lay.name!r}")


def host_prefix(lay: Layout, host: int) -> IPNetwork:
    """The block owned by host index ``host``."""
    _check(host, lay.max_hosts - 1, "host index", lay)
    base = int(lay.cidr.network_address) | (host << lay.host_shift)
    return _network(lay.version, base, lay.host_prefixlen)


def encode(lay: Layout, host: int, tenant: int, segment: int, ordinal: int) -> IPAddress:
    """The address of (host, tenant, segment, ordinal) in this network."""
    _check(host, lay.max_hosts - 1, "host index", lay)
    _check(tenant, lay.max_tenant, "tenant id", lay)
    _check(segment, lay.max_segment, "segment id", lay)
    _check(ordinal, (1 << lay.endpoint_bits) - 1, "endpoint ordinal", lay)
    value = (
        int(lay.cidr.network_address)
        | (host << lay.host_shift)
        | (tenant << lay.tenant_shift)
        | (segment << lay.segment_shift)
        | ordinal
    )
    return _address(lay.version, value)


def gateway(lay: Layout, host: int) -> IPAddress:
    """The gateway address of a host: host prefix | tenant 0 | segment 0 | 1."""
    return encode(lay, host, INFRASTRUCTURE_TENANT, DEFAULT_SEGMENT, GATEWAY_ORDINAL)


def decode(lay: Layout, address: IPAddress | str) -> Decoded:
    """Split an address of this network into its fields."""
    addr = ipaddress.ip_address(address) if isinstance(address, str) else address
    if addr not in lay.cidr:
        raise InvalidInput(f"address {addr} is not in network {lay.name!r} ({lay.cidr})")
    offset = int(addr) - int(lay.cidr.network_address)
    ordinal = offset & ((1 << lay.endpoint_bits) - 1)
    segment = (offset >> lay.segment_shift) & lay.max_segment
    tenant = (offset >> lay.tenant_shift) & lay.max_tenant
    host = offset >> lay.host_shift
    return Decoded(lay.name, host, tenant, segment, ordinal, host_prefix(lay, host))


def find_layout(layouts: Mapping[str, Layout], address: IPAddress | str) -> Layout:
    """The network that contains ``address``."""
    addr = ipaddress.ip_address(address) if isinstance(address, str) else address
    for lay in layouts.values():
        if addr.version == lay.version and addr in lay.cidr:
            return lay
    raise InvalidInput(f"address {addr} is in no configured network")


def _network_mask(lay: Layout) -> int:
    return int(lay.cidr.netmask)


def tenant_match(lay: Layout, tenant: int) -> Match:
    """Matches every address of ``tenant`` on every host of the network."""
    _check(tenant, lay.max_tenant, "tenant id", lay)
    field_mask = lay.max_tenant << lay.tenant_shift
    value = int(lay.cidr.network_address) | (tenant << lay.tenant_shift)
    return Match(lay.version, value, _network_mask(lay) | field_mask)


def segment_match(lay: Layout, tenant: int, segment: int) -> Match:
    """Matches every address of (tenant, segment) on every host of the network."""
    _check(tenant, lay.max_tenant, "tenant id", lay)
    _check(segment, lay.max_segment, "segment id", lay)
    field_mask = (lay.max_tenant << lay.tenant_shift) | (lay.max_segment << lay.segment_shift)
    value = (
        int(lay.cidr.network_address)
        | (tenant << lay.tenant_shift)
        | (segment << lay.segment_shift)
    )
    return Match(lay.version, value, _network_mask(lay) | field_mask)


def network_match(lay: Layout) -> Match:
    """Matches every address of the network."""
    return Match(lay.version, int(lay.cidr.network_address), _network_mask(lay))
