"""A port's external IP, as its ``binding:profile`` asks for it (no Neutron needed).

The key :data:`PROFILE_KEY` of a port's ``binding:profile`` names an external pool of
romanad, ``"POOL"`` or ``"POOL/ADDRESS"``: the port's allocation should hold an external IP of
that pool (that address, when named; otherwise the pool's lowest free one, IPv4 first, docs/
external.md). :func:`parse` reads the key; :func:`sync` makes romanad hold what it asks for,
through the calls of :class:`ExternalIps` (the client's, as the drivers' ``openstack`` user).

Invariants:

* A profile value is checked before anything is asked of romanad: a bad one is InvalidInput
  at ``binding:profile.romana_external_ip`` naming the rule, and changes nothing.
* :func:`sync` touches only external IPs of the pools the port's profile names or named
  (before the update), so an external IP an admin assigned to the port's allocation from
  another pool is left alone. It unassigns those that no longer fit before it assigns (an
  endpoint holds one external IP per family); when romanad then refuses the assignment, it
  assigns the unassigned ones back and raises the refusal, so a refused change leaves the
  port's external IPs as they were.
* Assigning is idempotent in romanad: asking again for what the allocation holds writes
  nothing, so repeating :func:`sync` (a retried request, a rebinding) converges.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from romana.core import errors, external, names

PROFILE_KEY = "romana_external_ip"
FIELD = f"binding:profile.{PROFILE_KEY}"


@dataclass(frozen=True, slots=True)
class Wanted:
    """The external IP a profile asks for: of ``pool``, ``address`` when it names one."""

    pool: str
    address: str | None = None

    def fits(self, held: Mapping[str, Any]) -> bool:
        """Whether the assigned external IP ``held`` (``{"address", "pool", ...}``) is one
        this asks for."""
        if held.get("pool") != self.pool:
            return False
        return self.address is None or _same_address(str(held.get("address")), self.address)


def _same_address(a: str, b: str) -> bool:
    return ipaddress.ip_address(a) == ipaddress.ip_address(b)


def parse(profile: Mapping[str, Any] | None) -> Wanted | None:
    """What ``profile`` (a port's ``binding:profile``) asks for; None without the key."""
    if not profile or profile.get(PROFILE_KEY) is None:
        return None
    value = profile[PROFILE_KEY]
    if not isinstance(value, str) or not value:
        raise _invalid(f'must be a text "POOL" or "POOL/ADDRESS", not {value!r}')
    pool, slash, address = value.partition("/")
    if not names.matches(external.POOL_RE, pool):
        raise _invalid(f"the pool {pool!r} {external.POOL_RULE}")
    if not slash:
        return Wanted(pool)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise _invalid(
            f'{address!r} after the pool is not an IP address ("POOL/ADDRESS", e.g. '
            "internet/203.0.113.5)"
        ) from None
    return Wanted(pool, str(parsed))


def _invalid(rule: str) -> errors.InvalidInput:
    return errors.InvalidInput([errors.Issue(FIELD, rule)])


class ExternalIps(Protocol):
    """The client calls :func:`sync` makes (:class:`romana.client.Client`'s)."""

    def list_external_ips(self, pool: str | None = None, key: str | None = None) -> Any: ...

    def assign_external_ip(self, pool: str, endpoint: str, address: str | None = None) -> Any: ...

    def unassign_external_ip(self, address: str) -> Any: ...


def stale(
    held: Sequence[Mapping[str, Any]], wanted: Wanted | None, previous: Wanted | None
) -> list[Mapping[str, Any]]:
    """The external IPs of ``held`` (the allocation's) to unassign: those of a pool the
    profile names or named that ``wanted`` does not ask for."""
    pools = {w.pool for w in (wanted, previous) if w is not None}
    return [
        ip
        for ip in held
        if ip.get("pool") in pools and not (wanted is not None and wanted.fits(ip))
    ]


def sync(client: ExternalIps, key: str, wanted: Wanted | None, previous: Wanted | None) -> None:
    """Make the allocation ``key`` hold the external IP ``wanted`` asks for, and none that the
    profile's earlier value ``previous`` asked for and ``wanted`` does not. romanad's refusal
    of the assignment is raised (see the module's invariants); an external IP unassigned
    meanwhile by someone else is no error."""
    if wanted is None and previous is None:
        return
    gone = stale(client.list_external_ips(key=key), wanted, previous)
    for ip in gone:
        with contextlib.suppress(errors.NotFound):
            client.unassign_external_ip(str(ip["address"]))
    if wanted is None:
        return
    try:
        client.assign_external_ip(wanted.pool, key, wanted.address)
    except errors.RomanaError:
        for ip in gone:
            with contextlib.suppress(errors.RomanaError):
                client.assign_external_ip(str(ip["pool"]), key, str(ip["address"]))
        raise
