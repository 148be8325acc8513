"""One host's firewall from stored values: the single path from romanad's model to a ruleset.

The agent (for the host it runs on) and ``romana explain`` (for any host of the model) both
call :func:`host_firewall`, so what explain reports is what the agents enforce.

Invariants:

* A policy that cannot be parsed, that reuses a name, or that the compiler cannot express is
  left out *whole* and named in :attr:`Firewall.refused`; the others are enforced. One bad
  policy can neither half-apply nor block every later change.
* Isolation comes from each tenant's :class:`romana.core.tenancy.Isolation` alone; a
  policy's name or id is free text and never changes what it means.
* Policies are compiled named by their ids (:func:`romana.core.policy.ids.parse_stored`), so
  two tenants' policies of one name are two policies with chains and comments of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from romana.core import addressing, kernelnames, ruleset, tenancy
from romana.core.errors import InvalidInput, RomanaError
from romana.core.policy import compile as policy_compile
from romana.core.policy import ids, model

PolicyParser = Callable[[Mapping[str, Any]], model.Policy]
"""Parses one stored policy document; must behave as
:func:`romana.core.policy.ids.parse_stored`."""

DEFAULT_INTERFACE_PREFIX = kernelnames.HOST_IFNAME_PREFIX


@dataclass(frozen=True, slots=True)
class HostInput:
    """What one host's ruleset depends on, as romanad stores it.

    ``prefixes``: the host's (host prefix, gateway) per network. ``policies``: the stored
    policy documents, unparsed. ``address_sets``: every set's member prefixes.
    ``endpoint_devices``: the VM taps wired on the host, filtered as its veths are.
    ``externals``: (external address, romana address of the same family) of each endpoint
    of the host that holds an external IP, sorted; judged as the romana address
    (:mod:`romana.core.policy.externals`)."""

    host: str
    layouts: Mapping[str, addressing.Layout]
    tenants: Sequence[tenancy.Tenant]
    prefixes: Sequence[tuple[addressing.IPNetwork, addressing.IPAddress]]
    policies: Sequence[Mapping[str, Any]]
    address_sets: Mapping[str, tuple[addressing.IPNetwork, ...]]
    interface_prefix: str = DEFAULT_INTERFACE_PREFIX
    endpoint_devices: tuple[str, ...] = ()
    externals: tuple[tuple[addressing.IPAddress, addressing.IPAddress], ...] = ()


@dataclass(frozen=True, slots=True)
class Firewall:
    rules: ruleset.Ruleset
    refused: tuple[str, ...]
    """Policies left out, each with the reason (unparsable, not expressible, …)."""
    policy_names: tuple[str, ...]


def parsed(
    raws: Sequence[Mapping[str, Any]], parse_policy: PolicyParser = ids.parse_stored
) -> tuple[list[model.Policy], list[str]]:
    """The policies that parse, each name once, and why each other one was refused."""
    policies: list[model.Policy] = []
    refused: list[str] = []
    names: set[str] = set()
    for i, raw in enumerate(raws):
        label = str(raw.get("id") or raw.get("name") or f"policies[{i}]")
        try:
            policy = parse_policy(raw)
        except InvalidInput as exc:
            refused.append(f"policy {label!r}: {exc}")
            continue
        if policy.name in names:
            refused.append(f"policy {label!r}: name {policy.name!r} is used by another policy")
            continue
        names.add(policy.name)
        policies.append(policy)
    return policies, refused


def host_firewall(inputs: HostInput, parse_policy: PolicyParser = ids.parse_stored) -> Firewall:
    """The ruleset of ``inputs.host``; policies that cannot be enforced are left out whole."""
    policies, refused = parsed(inputs.policies, parse_policy)
    tenants = tuple(sorted(inputs.tenants, key=lambda t: t.name))

    def compile_with(chosen: Sequence[model.Policy]) -> ruleset.Ruleset:
        return policy_compile.compile_ruleset(
            policy_compile.CompileInput(
                layouts=inputs.layouts,
                tenants=tenants,
                host=inputs.host,
                host_prefixes=tuple(prefix for prefix, _ in inputs.prefixes),
                gateways=tuple(gateway for _, gateway in inputs.prefixes),
                policies=tuple(chosen),
                address_sets=inputs.address_sets,
                interface_prefix=inputs.interface_prefix,
                endpoint_devices=inputs.endpoint_devices,
                externals=inputs.externals,
            )
        )

    dropped: set[str] = set()
    try:
        rules = compile_with(policies)
    except RomanaError:
        # Find the culprits one by one (only on this failure path), keep the rest.
        for policy in policies:
            try:
                compile_with([policy])
            except RomanaError as exc:
                refused.append(f"policy {policy.name!r}: {exc}")
                dropped.add(policy.name)
        rules = compile_with([p for p in policies if p.name not in dropped])
    names = tuple(sorted(p.name for p in policies if p.name not in dropped))
    return Firewall(rules, tuple(refused), names)
