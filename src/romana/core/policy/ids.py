"""Policy ids: which tenant owns a policy, and the id it is stored and enforced under.

A policy whose every target (``applied_to`` endpoint) lies inside one tenant ``T``, named by
its name, is *owned* by ``T``; its id is ``T/<name>``. Any other policy (applied to hosts,
to address sets of no tenant, to several tenants, to a tenant given only by number or
external id) is *global*; its id is its name. Names and tenant names never hold ``/``, so
an id says by itself whether it is owned, and by whom.

Invariants:

* Names are unique per owner: tenant ``a``'s ``allow-web`` and tenant ``b``'s are two
  policies, ``a/allow-web`` and ``b/allow-web``.
* The owner is exactly the tenant a tenant user must be to write the policy
  (``romana.services.policy.applies_only_to``): one rule decides both.
* Enforcing and explaining name a policy by its id (:func:`parse_stored`), so chains, rule
  comments and explanations of two tenants' same-named policies never collide.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from romana.core.errors import InvalidInput, Issue
from romana.core.policy import model, parse

SEPARATOR = "/"


def owner(policy: model.Policy) -> str | None:
    """The tenant owning ``policy`` (every target inside it, by name), else None: global.

    A tiered policy is always global: it is the cluster admin's, whatever it applies to."""
    if policy.tier is not None:
        return None
    names = {e.tenant.name if e.tenant is not None else None for e in policy.applied_to}
    if len(names) != 1:
        return None
    (name,) = names
    return name or None


def make(tenant: str | None, name: str) -> str:
    """The id of the policy ``name`` owned by ``tenant`` (None: global)."""
    return f"{tenant}{SEPARATOR}{name}" if tenant else name


def policy_id(policy: model.Policy) -> str:
    """``<owner>/<name>`` for a tenant-owned policy, ``<name>`` for a global one."""
    return make(owner(policy), policy.name)


def split(pid: str) -> tuple[str | None, str]:
    """(owning tenant or None, name) of an id; a bare name is global or still to resolve."""
    tenant, sep, name = pid.rpartition(SEPARATOR)
    return (tenant, name) if sep else (None, pid)


def by_id(policy: model.Policy) -> model.Policy:
    """``policy`` named by its id: how agents and ``romana explain`` tell policies apart."""
    pid = policy_id(policy)
    return policy if pid == policy.name else dataclasses.replace(policy, name=pid)


def parse_stored(raw: Mapping[str, Any]) -> model.Policy:
    """One stored policy document (its canonical JSON plus ``id``) → the model, named by id.

    Also takes what an earlier release stored (``id`` equal to ``name``, even for a policy one
    tenant owns) and a document without ``id``; a namespaced ``id`` must be the one the
    document's targets give.
    """
    pid = raw.get("id") if isinstance(raw, Mapping) else None
    namespaced = isinstance(pid, str) and SEPARATOR in pid
    parsed = parse.policy({k: v for k, v in raw.items() if k != "id"} if namespaced else raw)
    if namespaced and policy_id(parsed) != pid:
        rule = f"{pid!r} is not this policy's id: its targets make it {policy_id(parsed)!r}"
        raise InvalidInput([Issue("id", rule)], context="invalid policy")
    return by_id(parsed)


def owner_of_id(pid: str) -> str | None:
    """The tenant owning the stored policy ``pid``; None for a global one (in every view)."""
    return split(pid)[0]


def named_sets(document: Any) -> Iterator[str]:
    """Every address set a policy document names, wherever in it the name stands."""
    if isinstance(document, Mapping):
        for key, item in document.items():
            if key == "address_set" and isinstance(item, str):
                yield item
            else:
                yield from named_sets(item)
    elif isinstance(document, list):
        for item in document:
            yield from named_sets(item)
