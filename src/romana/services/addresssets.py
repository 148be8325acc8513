"""Address sets: named sets of prefixes whose members change without the policies changing.

A policy names a set (``{"address_set": "kube.1a2b3c4d5e6f"}``); who is in it is kept here, at
``/romana/v1/address-sets/<name>`` as a JSON list of prefixes. The Kubernetes listener and
``romana policy apply`` keep the ``kube.*`` sets equal to the addresses of the pods their
selectors pick; agents read every set in their host view and compile the members into the
firewall's sets, so a pod coming, going or being relabelled changes set elements only.

Invariants:

* Members are stored canonical: each a network without host bits (``10.1.17.1/32``), sorted
  by family and address, without duplicates; a bare address means its ``/32`` or ``/128``.
* A put whose members equal the stored ones writes nothing, so a replayed sync does not
  wake every agent.
* Validation reports every problem of a request at once and stores nothing then.
* A set an ``openstack`` user creates records that user as its owner
  (``address-set-owners/<name>``), in the transaction that creates it; a write on behalf
  of such a user (``owner`` given) changes or removes only a set recorded as its own, checked
  in the transaction that writes. Removing a set removes its owner record.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from romana.core import addressing
from romana.core.errors import Forbidden, Issues, NotFound
from romana.core.store import Delete, Put, Store
from romana.services import keys, txn
from romana.services.policy import ID_RE

NAME_RULE = "must be 1-253 characters of letters, digits and _ . : -, starting alphanumeric"
MAX_MEMBERS = 65536


def check_name(name: str, issues: Issues, field: str = "name") -> None:
    if not isinstance(name, str) or not ID_RE.match(name):
        issues.add(field, f"{name!r} {NAME_RULE}")


def canonical(members: object, issues: Issues, field: str = "members") -> list[str]:
    """``members`` as the stored list; problems go to ``issues`` (``members[i]`` paths)."""
    if not isinstance(members, list | tuple):
        issues.add(field, "must be a list of CIDRs")
        return []
    if len(members) > MAX_MEMBERS:
        issues.add(field, f"must hold at most {MAX_MEMBERS} members")
        return []
    nets: set[addressing.IPNetwork] = set()
    for i, member in enumerate(members):
        rule = f"{member!r} must be a CIDR without host bits or an IP address"
        if not isinstance(member, str):
            issues.add(f"{field}[{i}]", rule)
            continue
        try:
            nets.add(ipaddress.ip_network(member))
        except ValueError:
            issues.add(f"{field}[{i}]", rule)
    ordered = sorted(nets, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    return [str(n) for n in ordered]


class AddressSetService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list_all(self, owner: str | None = None) -> dict[str, list[str]]:
        """Every set (with ``owner``: every set recorded as that user's): name → members."""
        prefix = keys.ADDRESS_SETS
        found = {kv.key[len(prefix) :]: txn.loads(kv) for kv in self._store.range(prefix).items}
        if owner is None:
            return found
        owned = self._owned(owner)
        return {name: members for name, members in found.items() if name in owned}

    def get(self, name: str, owner: str | None = None) -> list[str]:
        """The set's members; NotFound when it does not exist, or with ``owner`` when it is
        not recorded as that user's (as if missing)."""
        kv = self._store.get(keys.address_set(name))
        if kv is None or (owner is not None and name not in self._owned(owner)):
            raise NotFound(f"address set {name!r} does not exist")
        members: list[str] = txn.loads(kv)
        return members

    def _owned(self, owner: str) -> set[str]:
        prefix = keys.ADDRESS_SET_OWNERS
        return {
            kv.key[len(prefix) :]
            for kv in self._store.range(prefix).items
            if txn.loads(kv) == owner
        }

    def put(self, name: str, members: Sequence[str], owner: str | None = None) -> list[str]:
        """Make set ``name`` hold exactly ``members`` (created when absent); the stored list.

        With ``owner`` (an ``openstack`` user's write): a new set is recorded as ``owner``'s,
        and an existing one must be; Forbidden otherwise."""
        issues = Issues("invalid address set")
        check_name(name, issues)
        stored = canonical(members, issues)
        issues.raise_if_any()
        key = keys.address_set(name)
        if owner is None:
            current = self._store.get(key)
            if current is None or txn.loads(current) != stored:
                self._store.txn((), (Put(key, txn.dumps(stored)),))
            return stored

        def attempt(w: txn.Writes) -> list[str]:
            current = self._store.get(key)
            self._check_owner(w, name, current is not None, owner)
            if current is None:
                w.ops.append(Put(keys.address_set_owner(name), txn.dumps(owner)))
            if current is None or txn.loads(current) != stored:
                w.guard(key, current)
                w.ops.append(Put(key, txn.dumps(stored)))
            return stored

        return txn.run(self._store, attempt, what=f"put address set {name!r}")

    def remove(self, name: str, owner: str | None = None) -> list[str]:
        """Delete set ``name``; its last members. NotFound when it does not exist; with
        ``owner``, Forbidden unless it is recorded as ``owner``'s."""

        def attempt(w: txn.Writes) -> list[str]:
            kv = self._store.get(keys.address_set(name))
            if kv is None:
                raise NotFound(f"address set {name!r} does not exist")
            if owner is not None:
                self._check_owner(w, name, True, owner)
            w.guard(kv.key, kv)
            w.ops += [Delete(kv.key), Delete(keys.address_set_owner(name))]
            members: list[str] = txn.loads(kv)
            return members

        return txn.run(self._store, attempt, what=f"remove address set {name!r}")

    def _check_owner(self, w: txn.Writes, name: str, exists: bool, owner: str) -> None:
        """Forbidden unless set ``name`` is absent (``exists`` false) or recorded as
        ``owner``'s; the owner record is guarded, so a concurrent change retries."""
        recorded = self._store.get(keys.address_set_owner(name))
        w.guard(keys.address_set_owner(name), recorded)
        if exists and (recorded is None or txn.loads(recorded) != owner):
            raise Forbidden(f"address set {name!r} is not one that user {owner!r} created")
