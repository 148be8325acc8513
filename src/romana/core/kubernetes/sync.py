"""Keep romanad in step with Kubernetes objects: the port, :func:`sync` and :func:`apply`.

:class:`Romanad` is the port: tenants (with segments), hosts (with labels), the ``kube.*``
policies (NetworkPolicies' ``kube.<ns>.<name>``, ClusterNetworkPolicies' tiered
``kube.cnp:<name>``), the ``kube.*`` address sets, and the record of the namespaces, pods,
NetworkPolicies and ClusterNetworkPolicies they were translated from
(:mod:`romana.core.kubernetes.record`, what ``romana explain`` answers from). Every method is
idempotent, so a sync can reconcile from a full desired state after a reconnect without
replaying events. romanad implements it over
its services (:class:`romana.services.kubesync.ServicesRomanad`); the listener and romanad's
``POST /v1/kube/apply`` (``romana policy apply``) both run :func:`sync` over it.

Invariants:

* A sync writes only differences, and removes only what syncs derived (the ids the stored
  record lists) or made (the tenants and hosts in :class:`Owned`).
* :class:`Outcome` names every object a sync created, updated, deleted or could not write,
  as its URL below ``/v1/`` names it (``tenants/shop``, ``policies/shop/kube.shop.web``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from romana.core.errors import QuotaExceeded, RomanaError
from romana.core.kubernetes import (
    cnptranslate,
    exposesync,
    exposure,
    networkpolicy,
    record,
    translation,
)
from romana.core.kubernetes import objects as ko
from romana.core.policy import ids

Known = translation.KnownTenant
RECORD = "kube/objects"
"""How an :class:`Outcome` names the stored record of the objects."""


@dataclass
class Owned:
    """The tenants and hosts a sync may remove: the tenants it created, or that carry the uid
    of their namespace as external id (made by a sync before a restart), and the hosts of
    the nodes it saw."""

    tenants: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    warned: set[str] = field(default_factory=set)
    """Namespaces whose tenant's isolation mode was already reported."""
    noted: set[str] = field(default_factory=set)
    """Notes already given, each given once."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one sync changed, each object named as its URL below ``/v1/`` names it."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    """(object, why) for each object the sync could not write; the rest was written."""
    notes: tuple[str, ...] = ()
    """What the operator should know although nothing was refused (the caller logs them:
    the core has no logger)."""
    load_balancers: tuple[tuple[str, str], ...] = ()
    """(Service ``namespace/name``, its VIP's address) of each LoadBalancer Service with a
    VIP: what its ``status.loadBalancer.ingress`` should say."""

    def changed(self) -> tuple[str, ...]:
        return (*self.created, *self.updated, *self.deleted)


@dataclass
class Changes:
    """What a sync collects as it goes (:class:`exposesync.Changes`), then answers as an
    :class:`Outcome`."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load_balancers: list[tuple[str, str]] = field(default_factory=list)

    def outcome(self) -> Outcome:
        return Outcome(
            tuple(self.created),
            tuple(self.updated),
            tuple(self.deleted),
            tuple(self.refused),
            tuple(self.notes),
            tuple(self.load_balancers),
        )


@dataclass(frozen=True, slots=True)
class Applied:
    """The answer to :func:`apply`: how many objects were given, the ``kube.*`` policies
    romanad holds afterwards, and what changed."""

    objects: int
    policies: tuple[str, ...]
    outcome: Outcome


class Romanad(exposesync.Port, Protocol):
    def tenants(self) -> dict[str, Known]:
        """Tenant name → its segment names, external id and isolation mode."""

    def ensure_tenant(self, name: str, external_id: str) -> bool:
        """Create the namespace's tenant in ``kubernetes`` mode; False when it existed."""

    def remove_tenant(self, name: str) -> None: ...
    def ensure_segment(self, tenant: str, segment: str) -> None: ...
    def hosts(self) -> dict[str, dict[str, str]]:
        """Host name → its labels."""

    def ensure_host(self, name: str, ip: str, labels: Mapping[str, str]) -> None: ...
    def remove_host(self, name: str) -> None: ...
    def policies(self) -> dict[str, dict[str, Any]]:
        """The policies named ``kube.*``, by id (``<namespace>/kube.<namespace>.<name>``)."""

    def put_policy(self, pid: str, document: Mapping[str, Any]) -> None:
        """Store ``document`` (a translation's canonical JSON) as policy ``pid``."""

    def remove_policy(self, pid: str) -> None: ...
    def address_sets(self) -> dict[str, list[str]]: ...
    def put_address_set(self, name: str, members: Sequence[str]) -> None: ...
    def remove_address_set(self, name: str) -> None: ...
    def kube_objects(self) -> dict[str, Any]:
        """The stored record (:func:`romana.core.kubernetes.record.record` shape)."""

    def put_kube_objects(self, record: Mapping[str, Any]) -> None: ...


def apply(r: Romanad, documents: Sequence[Any], settings: translation.Settings) -> Applied:
    """Make romanad hold what ``documents`` (the whole desired state, as files give it) imply.

    Every document is parsed first: one bad document changes nothing (InvalidInput naming
    each). The sync owns no tenant or host from an earlier call beyond what the stored record
    and the namespaces' uids tell, as the listener after a restart."""
    parsed = record.of_documents(documents)

    def of(kind: type[ko.KubeObject]) -> list[Any]:
        return [o for o in parsed if isinstance(o, kind)]

    outcome = sync(
        r,
        of(ko.Namespace),
        of(ko.Node),
        of(ko.Pod),
        of(networkpolicy.NetworkPolicy),
        settings,
        Owned(),
        of(ko.Service),
        of(ko.ClusterNetworkPolicy),
    )
    return Applied(len(parsed), tuple(sorted(r.policies())), outcome)


def sync(
    r: Romanad,
    namespaces: Sequence[ko.Namespace],
    nodes: Sequence[ko.Node],
    pods: Sequence[ko.Pod],
    policies: Sequence[networkpolicy.NetworkPolicy],
    settings: translation.Settings,
    owned: Owned,
    services: Sequence[ko.Service] = (),
    cluster_policies: Sequence[ko.ClusterNetworkPolicy] = (),
) -> Outcome:
    """Make romanad hold what the objects imply; write only differences (idempotent)."""
    changes = Changes()
    tenants = r.tenants()
    for ns in namespaces:
        known = tenants.get(ns.name)
        if known is None and r.ensure_tenant(ns.name, ns.uid):
            tenants[ns.name] = Known(
                {translation.DEFAULT_SEGMENT}, ns.uid, translation.ISOLATION.mode
            )
            owned.tenants.add(ns.name)
            changes.created.append(f"tenants/{ns.name}")
            continue
        if known is None:  # made by someone else since the list above
            tenants = r.tenants()
            known = tenants.get(ns.name)
            if known is None:
                continue
        # A tenant is the sync's to remove only when it made it for this very namespace (its
        # external id is the namespace's uid): never one an operator made under that name.
        if ns.uid and known.external_id == ns.uid:
            owned.tenants.add(ns.name)
        if known.mode != translation.ISOLATION.mode and ns.name not in owned.warned:
            changes.notes.append(
                f"namespace {ns.name}: its tenant is in {known.mode} isolation mode: its "
                "NetworkPolicies still open what they allow, but pods no policy selects stay "
                f"isolated; an admin may change that with `romana tenant isolation {ns.name} "
                "--isolation kubernetes`"
            )
            owned.warned.add(ns.name)
    for pod in pods:
        segment = translation.segment_of(pod, settings)
        if pod.namespace in tenants and segment not in tenants[pod.namespace].segments:
            r.ensure_segment(pod.namespace, segment)
            tenants[pod.namespace].segments.add(segment)
            changes.created.append(f"tenants/{pod.namespace}/segments/{segment}")
    hosts = r.hosts()
    for node in nodes:
        labels = dict(node.labels)
        if node.name not in hosts or hosts[node.name] != labels:
            try:
                ipaddress.ip_address(node.ip)
            except ValueError:
                changes.refused.append((f"hosts/{node.name}", "the node has no usable address"))
                continue
            r.ensure_host(node.name, node.ip, labels)
            (changes.updated if node.name in hosts else changes.created).append(
                f"hosts/{node.name}"
            )
        owned.hosts.add(node.name)
    wanted = exposure.desired(services, pods, settings)
    objects = record.Objects(list(namespaces), list(pods), list(policies), list(cluster_policies))
    _policies_and_sets(r, objects, nodes, settings, tenants, changes, wanted, owned)
    for name in sorted(owned.tenants - {n.name for n in namespaces}):
        _forget(r.remove_tenant, f"tenants/{name}", name, owned.tenants, changes)
    for name in sorted(owned.hosts - {n.name for n in nodes}):
        _forget(r.remove_host, f"hosts/{name}", name, owned.hosts, changes)
    return changes.outcome()


def _forget(
    remove: Callable[[str], None], what: str, name: str, owned: set[str], changes: Changes
) -> None:
    try:
        remove(name)
    except RomanaError as exc:
        changes.refused.append((what, str(exc)))
        return
    owned.discard(name)
    changes.deleted.append(what)


def _policies_and_sets(
    r: Romanad,
    objects: record.Objects,
    nodes: Sequence[ko.Node],
    settings: translation.Settings,
    tenants: Mapping[str, Known],
    changes: Changes,
    wanted: exposure.Exposure,
    owned: Owned,
) -> None:
    """The ``kube.*`` policies and sets of these objects, and their record (what ``romana
    explain`` answers from).

    Only what syncs derived — the ids the stored record lists (:class:`record.Derived`)
    — is ever removed: a policy or set someone else stored under a ``kube.`` name is left
    alone (a name proves nothing about who owns it). The names are written ahead: before any
    policy or set is written, the record lists what was derived before and what is about to
    be; only once all is written does it list just the latter. So a sync cut short at any
    point leaves nothing derived that a later sync does not know to be its own (but for an
    external IP assigned just before: its address is known only once assigned, so it stays
    with its pod until the pod's allocation is released)."""
    stored = r.kube_objects()
    earlier = _earlier(stored, settings, changes)
    namespaces, pods, policies = objects.namespaces, objects.pods, objects.policies
    translated = translation.translate(policies, namespaces, pods, settings)
    tiered = cnptranslate.translate(objects.cluster_policies, namespaces, pods, settings)
    for note in tiered.notes:
        if note not in owned.noted:
            owned.noted.add(note)
            changes.notes.append(note)
    desired = {ids.policy_id(p): p.to_dict() for p in (*translated.policies, *tiered.policies)}
    sets = {**translated.sets, **tiered.sets}
    members = {
        name: [str(n) for n in nets]
        for name, nets in cnptranslate.address_sets(sets, pods, nodes).items()
    }
    derived = record.Derived(frozenset(desired), frozenset(members), settings.segment_label)
    names = record.Derived(vips=frozenset(v.name for v in wanted.vips))
    cnps = objects.cluster_policies
    ahead = record.record(namespaces, pods, policies, earlier | derived | names, cnps)
    if stored != ahead:
        r.put_kube_objects(ahead)
    current = r.policies()
    over: set[str] = set()
    for pid, doc in desired.items():
        if {k: v for k, v in current.get(pid, {}).items() if k != "id"} != doc:
            owner = ids.owner_of_id(pid)
            if owner in over:
                changes.refused.append((f"policies/{pid}", f"namespace {owner} is over quota"))
                continue
            try:
                r.put_policy(pid, doc)
            except QuotaExceeded as exc:
                # One namespace over its quota must not stop every other namespace's
                # policies from being enforced: its own wait until the quota is raised.
                over.add(str(owner))
                changes.refused.append((f"policies/{pid}", str(exc)))
                continue
            (changes.updated if pid in current else changes.created).append(f"policies/{pid}")
    for pid in sorted(set(current) - set(desired)):
        if pid in earlier.policies or _marker_of_kubernetes_tenant(tenants, current[pid]):
            r.remove_policy(pid)
            changes.deleted.append(f"policies/{pid}")
    held = r.address_sets()
    for name, nets in members.items():
        if held.get(name) != nets:
            r.put_address_set(name, nets)
            (changes.updated if name in held else changes.created).append(f"address-sets/{name}")
    for name in sorted(set(held) - set(members)):
        if name in earlier.sets:
            r.remove_address_set(name)
            changes.deleted.append(f"address-sets/{name}")
    made = exposesync.reconcile(r, wanted, earlier, changes, owned.noted)
    final = record.record(namespaces, pods, policies, made | derived, cnps)
    if final != ahead:
        r.put_kube_objects(final)
    if stored != final:
        changes.updated.append(RECORD)


def _marker_of_kubernetes_tenant(tenants: Mapping[str, Known], document: Mapping[str, Any]) -> bool:
    """Whether ``document`` is an earlier release's namespace marker whose tenant already
    records ``kubernetes`` isolation (so removing it loses nothing the upgrade needs)."""
    namespace = translation.legacy_marker(document)
    if namespace is None:
        return False
    known = tenants.get(namespace)
    return known is not None and known.mode == translation.ISOLATION.mode


def _earlier(
    stored: Mapping[str, Any], settings: translation.Settings, changes: Changes
) -> record.Derived:
    """What earlier syncs derived: the stored record's list, else (a record an earlier release
    stored) what its objects translate to."""
    try:
        listed = record.Derived.of(stored)
        if listed is not None:
            return listed
        got = record.read(stored)
    except RomanaError as exc:
        changes.notes.append(f"the stored Kubernetes objects cannot be read ({exc}): removing none")
        return record.Derived()
    done = translation.translate(got.policies, got.namespaces, got.pods, settings)
    tiered = cnptranslate.translate(got.cluster_policies, got.namespaces, got.pods, settings)
    return record.Derived(
        frozenset(ids.policy_id(p) for p in (*done.policies, *tiered.policies)),
        frozenset(done.sets) | frozenset(tiered.sets) | {translation.NOTHING},
        settings.segment_label,
    )
