"""Address allocation inside the fixed-field plan; pure functions, no I/O.

An allocation is named by a caller-chosen *key* (for a CNI endpoint: container id and
interface) and holds one address per network of its tenant in which its host has a prefix.
Inside (network, host, tenant, segment) the lowest free ordinal is handed out first,
skipping blacked-out addresses, unless the caller requests one address: that one must encode
exactly the allocation's host, tenant and segment (:func:`requested_ordinal`).

Invariants:

* An ordinal is never 0 nor all-ones; in the infrastructure tenant ordinal 1 is the host
  gateway and is never handed out.
* An address inside a blackout range is never handed out, not even when requested.
* Given the same used set, the choice is deterministic, so concurrent writers that read the
  same state pick the same address and exactly one of them wins the store transaction.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from romana.core import addressing, names
from romana.core.errors import AlreadyExists, Exhausted, InvalidInput, Issue, Issues, NotFound
from romana.core.identifiers import AllocationKey, HostName, NetworkName, SegmentName, TenantName

KEY_RULE = "must be 1-253 characters of letters, digits and _ . : @ = + -, starting alphanumeric"
KEY_PATTERN = names.register(r"^[A-Za-z0-9][A-Za-z0-9_.:@=+-]{0,252}$", KEY_RULE)
KEY_MAX = 253
KEY_RE = re.compile(KEY_PATTERN)

WORKLOAD_RULE = "must be 1-256 printable ASCII characters (space to '~')"
WORKLOAD_PATTERN = names.register(r"^[ -~]{1,256}$", WORKLOAD_RULE)
WORKLOAD_MAX = 256
WORKLOAD_RE = re.compile(WORKLOAD_PATTERN)


@dataclass(frozen=True, slots=True)
class Slot:
    """Where an address lives: (network, host index, tenant id, segment id)."""

    network: NetworkName
    host: int
    tenant: int
    segment: int


@dataclass(frozen=True, slots=True)
class Allocation:
    """``addresses`` for ``key``, living on ``host``.

    ``origin`` is the host the addresses encode when the allocation was moved to another
    (a migrated VM keeps its addresses); None while it lives on that host. Tenant and segment
    are encoded as ever, so isolation does not depend on where an allocation lives.

    ``workload`` says what holds the addresses, in words of the integration that knows (the
    Docker plugin writes ``docker:<container id>``); None until one says. It is set after the
    allocation (the Docker plugin learns the container only once it runs), moves with it and
    goes with its release.
    """

    key: AllocationKey
    host: HostName
    tenant: TenantName
    segment: SegmentName
    addresses: tuple[addressing.IPAddress, ...]
    origin: HostName | None = None
    workload: str | None = None

    @property
    def home(self) -> HostName:
        """The host the addresses encode."""
        return self.host if self.origin is None else self.origin

    def moved_to(self, host: HostName) -> Allocation:
        """This allocation living on ``host``; moved back home it carries no origin."""
        origin = None if host == self.home else self.home
        return dataclasses.replace(self, host=host, origin=origin)

    def to_dict(self) -> dict[str, object]:
        # Written out rather than read off the fields: every allocation and release turns
        # one into JSON. Keys in declaration order: the stored and answered shape.
        out: dict[str, object] = {
            "key": self.key,
            "host": self.host,
            "tenant": self.tenant,
            "segment": self.segment,
            "addresses": [str(a) for a in self.addresses],
        }
        if self.origin is not None:  # the shape of an allocation that never moved stays
            out["origin"] = self.origin
        if self.workload is not None:  # and so does the shape of one nothing has claimed
            out["workload"] = self.workload
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Allocation:
        addresses = raw.get("addresses", [])
        assert isinstance(addresses, list)
        origin, workload = raw.get("origin"), raw.get("workload")
        return cls(
            key=AllocationKey(str(raw["key"])),
            host=HostName(str(raw["host"])),
            tenant=TenantName(str(raw["tenant"])),
            segment=SegmentName(str(raw["segment"])),
            addresses=tuple([stored_address(str(a)) for a in addresses]),
            origin=None if origin is None else HostName(str(origin)),
            workload=None if workload is None else str(workload),
        )


@functools.lru_cache(maxsize=4096)
def stored_address(text: str) -> addressing.IPAddress:
    """The address a stored record holds as ``text``. Memoised: an address is mostly read
    back soon after it was written (a release follows its allocation), and the objects are
    immutable."""
    return ipaddress.ip_address(text)


class KeyInUse(AlreadyExists):
    """A key is allocated already, to another host, tenant or segment than asked for.

    The message names that allocation's owner, which only a caller allowed to see the
    allocation may read: the API answers any other caller :meth:`undisclosed` instead, so a
    key cannot be used to learn another tenant's or host's allocations.
    """

    def __init__(self, existing: Allocation) -> None:
        self.existing = existing
        super().__init__(
            f"key {existing.key!r} is already allocated to host {existing.host!r}, tenant "
            f"{existing.tenant!r}, segment {existing.segment!r}"
        )

    def undisclosed(self) -> AlreadyExists:
        """The same refusal, naming nothing but the key."""
        return AlreadyExists(f"key {self.existing.key!r} is already in use; choose another key")


class AddressInUse(AlreadyExists):
    """A requested address is allocated already, to ``existing``.

    As for :class:`KeyInUse`, the message names the holder's key, which the API shows only to
    a caller allowed to see that allocation (:meth:`undisclosed` to any other).
    """

    def __init__(self, address: addressing.IPAddress, existing: Allocation) -> None:
        self.address = address
        self.existing = existing
        super().__init__(f"address {address} is allocated to key {existing.key!r}")

    def undisclosed(self) -> AlreadyExists:
        """The same refusal, naming nothing but the address."""
        return AlreadyExists(f"address {self.address} is already allocated")


def check_key(key: str, field: str = "key") -> AllocationKey:
    """``key`` as an :data:`AllocationKey`; InvalidInput at ``field`` unless it is one."""
    issues = Issues()
    if not names.matches(KEY_RE, key):
        issues.add(field, KEY_RULE)
    issues.raise_if_any()
    return AllocationKey(key)


def check_workload(workload: str, field: str = "workload") -> str:
    """``workload`` if it is one (:data:`WORKLOAD_RULE`); InvalidInput at ``field`` unless."""
    issues = Issues()
    if not names.matches(WORKLOAD_RE, workload):
        issues.add(field, WORKLOAD_RULE)
    issues.raise_if_any()
    return workload


def first_ordinal(tenant_id: int) -> int:
    """The infrastructure tenant starts after the gateway."""
    return addressing.GATEWAY_ORDINAL + 1 if tenant_id == addressing.INFRASTRUCTURE_TENANT else 1


def parse_blackouts(
    layout: addressing.Layout, cidrs: Sequence[str], field: str = "blackouts"
) -> tuple[addressing.IPNetwork, ...]:
    """Validate blackout ranges: each inside the network and not the whole network."""
    issues = Issues()
    result: list[addressing.IPNetwork] = []
    for i, text in enumerate(cidrs):
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            issues.add(f"{field}[{i}]", f"not a network: {exc}")
            continue
        if net.version != layout.version or not net.subnet_of(layout.cidr):  # type: ignore[arg-type]
            issues.add(
                f"{field}[{i}]", f"{net} is not inside network {layout.name} ({layout.cidr})"
            )
        elif net == layout.cidr:
            issues.add(f"{field}[{i}]", "must not cover the whole network")
        else:
            result.append(net)
    issues.raise_if_any()
    return tuple(result)


def add_ranges(
    current: Sequence[addressing.IPNetwork], added: Sequence[addressing.IPNetwork]
) -> tuple[addressing.IPNetwork, ...]:
    """``current`` followed by each range of ``added`` it lacks; adding a range twice is a no-op."""
    return tuple(dict.fromkeys([*current, *added]))


def remove_ranges(
    network: NetworkName,
    current: Sequence[addressing.IPNetwork],
    removed: Sequence[addressing.IPNetwork],
) -> tuple[addressing.IPNetwork, ...]:
    """``current`` without ``removed``; NotFound naming every range that is not in it.

    A range is matched exactly: a part of a blacked-out range is not a blackout of its own.
    """
    absent = [str(n) for n in dict.fromkeys(removed) if n not in current]
    if absent:
        listed = ", ".join(str(n) for n in current) or "none"
        raise NotFound(
            f"{', '.join(absent)} {'is' if len(absent) == 1 else 'are'} not among the "
            f"blackouts of network {network!r} (they are: {listed})"
        )
    gone = set(removed)
    return tuple(n for n in current if n not in gone)


def choose_ordinal(
    layout: addressing.Layout,
    slot: Slot,
    used: Iterable[int],
    blackouts: Sequence[addressing.IPNetwork] = (),
) -> int:
    """The lowest free, non-blacked-out ordinal for ``slot``; Exhausted when none is left."""
    taken = set(used)
    first = first_ordinal(slot.tenant)
    last = layout.max_ordinal
    for ordinal in range(first, last + 1):
        if ordinal in taken:
            continue
        if blackouts:
            addr = addressing.encode(layout, slot.host, slot.tenant, slot.segment, ordinal)
            if any(addr in b for b in blackouts):
                continue
        return ordinal
    capacity = max(0, last - first + 1)
    raise Exhausted(
        f"no free address for host index {slot.host}, tenant id {slot.tenant}, segment id "
        f"{slot.segment} in network {layout.name!r}: capacity {capacity} addresses "
        f"({len(taken)} allocated)"
    )


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a requested address must encode, named as a refusal names it.

    ``hosts`` maps host indices of the network to host names, so that an address of another
    host says whose it is; an index no host holds is named by its index.
    """

    slot: Slot
    host: str
    tenant: str
    segments: Mapping[str, int]
    """The tenant's segment names → ids; ``segment`` is one of them."""
    segment: str
    hosts: Mapping[int, str] = dataclasses.field(default_factory=dict)


def requested_ordinal(
    layout: addressing.Layout,
    wanted: Wanted,
    address: addressing.IPAddress,
    blackouts: Sequence[addressing.IPNetwork] = (),
    field: str = "address",
) -> int:
    """The ordinal of a requested ``address`` (inside ``layout``) in ``wanted.slot``.

    InvalidInput naming ``field`` and the rule unless the address encodes exactly that host,
    tenant and segment, with an ordinal :func:`choose_ordinal` could hand out: not a gateway,
    not ordinal 0 nor all-ones, not inside a blackout. Whether it is free is the store's to say.
    """
    slot = wanted.slot
    d = addressing.decode(layout, address)
    if d.host != slot.host:
        other = wanted.hosts.get(d.host)
        who = (
            f"host {other!r} ({d.host_prefix})"
            if other
            else f"host index {d.host} ({d.host_prefix}, no host's)"
        )
        raise _refused(
            field,
            f"{address} encodes {who}, not host {wanted.host!r} "
            f"({addressing.host_prefix(layout, slot.host)})",
        )
    if d.is_gateway:
        raise _refused(
            field, f"{address} is the gateway of host {wanted.host!r}; a gateway is never allocated"
        )
    if d.tenant != slot.tenant:
        raise _refused(
            field,
            f"{address} encodes tenant id {d.tenant}, not tenant {wanted.tenant!r} "
            f"(id {slot.tenant} in network {layout.name!r})",
        )
    if d.segment != slot.segment:
        named = next((s for s, sid in wanted.segments.items() if sid == d.segment), None)
        which = f"segment {named!r} (id {d.segment})" if named else f"segment id {d.segment}"
        raise _refused(
            field,
            f"{address} encodes {which}, not segment {wanted.segment!r} "
            f"(id {slot.segment}) of tenant {wanted.tenant!r}",
        )
    first, last = first_ordinal(slot.tenant), layout.max_ordinal
    if not first <= d.ordinal <= last:
        raise _refused(
            field,
            f"{address} is reserved: endpoint ordinal {d.ordinal} is never handed "
            f"out (only {first}..{last} are)",
        )
    inside = next((b for b in blackouts if address in b), None)
    if inside is not None:
        raise _refused(field, f"{address} is inside blackout {inside} of network {layout.name!r}")
    return d.ordinal


def _refused(field: str, rule: str) -> InvalidInput:
    return InvalidInput([Issue(field, rule)])


def slot_of(
    layouts: Mapping[str, addressing.Layout], address: addressing.IPAddress
) -> tuple[Slot, int]:
    """Decode an address into its slot and ordinal."""
    lay = addressing.find_layout(layouts, address)
    d = addressing.decode(lay, address)
    return Slot(lay.name, d.host, d.tenant, d.segment), d.ordinal


def parse_address(text: str, field: str = "address") -> addressing.IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise _refused(field, f"{text!r} is not an IP address") from None
