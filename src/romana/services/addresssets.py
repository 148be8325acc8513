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
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from romana.core import addressing
from romana.core.errors import Issues, NotFound
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

    def list_all(self) -> dict[str, list[str]]:
        """Every set: name → members."""
        prefix = keys.ADDRESS_SETS
        return {kv.key[len(prefix) :]: txn.loads(kv) for kv in self._store.range(prefix).items}

    def get(self, name: str) -> list[str]:
        kv = self._store.get(keys.address_set(name))
        if kv is None:
            raise NotFound(f"address set {name!r} does not exist")
        members: list[str] = txn.loads(kv)
        return members

    def put(self, name: str, members: Sequence[str]) -> list[str]:
        """Make set ``name`` hold exactly ``members`` (created when absent); the stored list."""
        issues = Issues("invalid address set")
        check_name(name, issues)
        stored = canonical(members, issues)
        issues.raise_if_any()
        key = keys.address_set(name)
        current = self._store.get(key)
        if current is None or txn.loads(current) != stored:
            self._store.txn((), (Put(key, txn.dumps(stored)),))
        return stored

    def remove(self, name: str) -> list[str]:
        """Delete set ``name``; its last members. NotFound when it does not exist."""

        def attempt(w: txn.Writes) -> list[str]:
            kv = self._store.get(keys.address_set(name))
            if kv is None:
                raise NotFound(f"address set {name!r} does not exist")
            w.guard(kv.key, kv)
            w.ops.append(Delete(kv.key))
            members: list[str] = txn.loads(kv)
            return members

        return txn.run(self._store, attempt, what=f"remove address set {name!r}")
