"""The identifiers that cross romana's boundaries, each its own type.

A host, a tenant, a segment, a network and an allocation are each named by a string that
travels: a REST path or body, a store key, the agent's local API, a CNI invocation. Here each
such string gets a :class:`typing.NewType` over ``str``, so a signature says which one it takes
and mypy refuses a tenant where a host was meant. At run time a value is its plain string:
no wrapping object, no cost, and the JSON and store forms are unchanged.

Where the types come from:

* :mod:`romana.core.names` holds the syntax of each name; its validating constructors
  (:func:`~romana.core.names.host_name`, :func:`~romana.core.names.tenant_name`,
  :func:`~romana.core.names.segment_name`, :func:`~romana.core.names.network_name`) check a
  user's string and return it as the type. :func:`romana.core.ipam.check_key` does the same
  for an :data:`AllocationKey`.
* A value read back from the store or from a parsed, validated document is wrapped where it
  is read (``TenantName(str(raw["name"]))``): it was checked when it was written.
* Policy ids (``<tenant>/<name>``) are not among these; :mod:`romana.core.policy.ids` owns
  them.

Invariant: this module imports nothing of romana's, so every layer may use it.
"""

from __future__ import annotations

from typing import NewType

HostName = NewType("HostName", str)
"""A host of the topology, unique across it (ignoring case for hosts placed since names
became so): 1-253 letters, digits, ``_``, ``.``, ``-``, starting and ending alphanumeric
(:data:`romana.core.names.HOST_PATTERN`). Crosses as the ``{name}`` of ``/v1/hosts/{name}``,
the ``host`` of an allocation request and record, an agent user's binding, the agent's own
name in its configuration, and the route plan's next hops."""

TenantName = NewType("TenantName", str)
"""A tenant's name, which is how the store and the API know it (``/romana/v1/tenants/<name>``,
``/v1/tenants/{name}``); its ``external_id`` is an attribute and its ``uid`` binds users, but
neither is a key. 1-63 letters, digits, ``_``, ``.``, ``-``, starting and ending alphanumeric
(:data:`romana.core.names.NAME_PATTERN`), unique ignoring case. Crosses in REST paths and
bodies, store keys (tenant record, quotas, usage counters, owned policies), allocation
records, the agent's local API and the CNI arguments that name an endpoint's tenant."""

SegmentName = NewType("SegmentName", str)
"""A segment of one tenant: the same syntax as a tenant name, unique ignoring case within its
tenant; ``default`` always exists. Crosses in ``/v1/tenants/{name}/segments/{segment}``, the
``segment`` of allocation requests and records, and the CNI arguments."""

NetworkName = NewType("NetworkName", str)
"""A network of the address plan: a DNS-1123 label of at most 63 characters
(:data:`romana.core.names.NETWORK_PATTERN`; a topology an earlier release stored is read as
it was). Crosses in the topology document, store keys (blackouts, tenant ids, address
slots), ``/v1/networks/{name}/blackouts`` and a tenant's requested networks."""

AllocationKey = NewType("AllocationKey", str)
"""The caller-chosen name of an allocation (a CNI endpoint's container id and interface):
1-253 letters, digits and ``_ . : @ = + -``, starting alphanumeric
(:data:`romana.core.ipam.KEY_PATTERN`). Crosses as ``/v1/allocations/{key}``, the store
key ``/romana/v1/ipam/keys/<key>``, the value of every address key it holds, and the agent's
endpoint records."""
