"""Keep romanad in step with Kubernetes objects: the port, its implementation over the
services and a store, and :func:`sync`, used by the listener and ``romana policy apply``.

:class:`Romanad` is the port: tenants (with segments), hosts (with labels), the ``kube.*``
policies, the ``kube.*`` address sets, and the record of the namespaces, pods and
NetworkPolicies they were translated from (:mod:`romana.services.kubestore`, what
``romana explain`` answers from). Every method is idempotent, so the listener can
reconcile from a full desired state after a reconnect without replaying events.

:class:`ServicesRomanad` drives the romanad services in-process over a store (the same
services romanad's HTTP routes call). Address-set membership is kept at
``/romana/v1/address-sets/<name>`` (a JSON list of prefixes), read by agents together with
the policies that name the sets.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from romana.core.errors import AlreadyExists, Conflict, NotFound, QuotaExceeded, RomanaError
from romana.core.policy import ids, kubernetes
from romana.core.policy import kubeobjects as ko
from romana.core.store import Store
from romana.services import keys, kubestore
from romana.services.addresssets import AddressSetService
from romana.services.policy import PolicyService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService

log = logging.getLogger(__name__)
ADDRESS_SETS = keys.ADDRESS_SETS


@dataclass
class Owned:
    """The tenants and hosts a sync may remove: the tenants it created, or that carry the uid
    of their namespace as external id (made by a sync before a restart), and the hosts of
    the nodes it saw."""

    tenants: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    warned: set[str] = field(default_factory=set)
    """Namespaces whose tenant's isolation mode was already reported."""


Known = kubernetes.KnownTenant


class Romanad(Protocol):
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
        """The stored record (:func:`romana.services.kubestore.record` shape)."""

    def put_kube_objects(self, record: Mapping[str, Any]) -> None: ...


class ServicesRomanad:
    """The port over romanad's services sharing one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.topology = TopologyService(store)
        self.tenant_service = TenantService(store, self.topology)
        self.policy_service = PolicyService(store)
        self.set_service = AddressSetService(store)
        self.kube_service = kubestore.KubeObjectService(store)

    def tenants(self) -> dict[str, Known]:
        return {
            t.name: Known(set(t.segments), t.external_id, t.isolation.mode.value)
            for t in self.tenant_service.list_all()
        }

    def ensure_tenant(self, name: str, external_id: str) -> bool:
        try:
            self.tenant_service.create(name, external_id, isolation=kubernetes.ISOLATION)
        except AlreadyExists:
            return False
        return True

    def remove_tenant(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.tenant_service.delete(name)

    def ensure_segment(self, tenant: str, segment: str) -> None:
        self.tenant_service.ensure_segment(tenant, segment)

    def hosts(self) -> dict[str, dict[str, str]]:
        return {h["name"]: dict(h.get("labels") or {}) for h in self.topology.list_hosts()}

    def ensure_host(self, name: str, ip: str, labels: Mapping[str, str]) -> None:
        try:
            self.topology.add_host(name, ip, labels)
        except (AlreadyExists, Conflict):
            self.topology.update_labels(name, labels)

    def remove_host(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.topology.remove_host(name)

    def policies(self) -> dict[str, dict[str, Any]]:
        return {
            p["id"]: p
            for p in self.policy_service.list_all()
            if str(p.get("name", "")).startswith(kubernetes.PREFIX)
        }

    def put_policy(self, pid: str, document: Mapping[str, Any]) -> None:
        self.policy_service.put(pid, dict(document))

    def remove_policy(self, pid: str) -> None:
        with contextlib.suppress(NotFound):
            self.policy_service.remove(pid)

    def address_sets(self) -> dict[str, list[str]]:
        return {
            name: members
            for name, members in self.set_service.list_all().items()
            if name.startswith(kubernetes.PREFIX)
        }

    def put_address_set(self, name: str, members: Sequence[str]) -> None:
        self.set_service.put(name, members)

    def remove_address_set(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.set_service.remove(name)

    def kube_objects(self) -> dict[str, Any]:
        return self.kube_service.get()

    def put_kube_objects(self, record: Mapping[str, Any]) -> None:
        self.kube_service.put(record)


def sync(
    r: Romanad,
    namespaces: Sequence[ko.Namespace],
    nodes: Sequence[ko.Node],
    pods: Sequence[ko.Pod],
    policies: Sequence[ko.NetworkPolicy],
    settings: kubernetes.Settings,
    owned: Owned,
) -> None:
    """Make romanad hold what the objects imply; write only differences (idempotent)."""
    tenants = r.tenants()
    for ns in namespaces:
        known = tenants.get(ns.name)
        if known is None and r.ensure_tenant(ns.name, ns.uid):
            tenants[ns.name] = Known(
                {kubernetes.DEFAULT_SEGMENT}, ns.uid, kubernetes.ISOLATION.mode
            )
            owned.tenants.add(ns.name)
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
        if known.mode != kubernetes.ISOLATION.mode and ns.name not in owned.warned:
            log.warning(
                "namespace %s: its tenant is in %s isolation mode: its NetworkPolicies still "
                "open what they allow, but pods no policy selects stay isolated; an admin may "
                "change that with `romana tenant isolation %s --isolation kubernetes`",
                ns.name,
                known.mode,
                ns.name,
            )
            owned.warned.add(ns.name)
    for pod in pods:
        segment = kubernetes.segment_of(pod, settings)
        if pod.namespace in tenants and segment not in tenants[pod.namespace].segments:
            r.ensure_segment(pod.namespace, segment)
            tenants[pod.namespace].segments.add(segment)
    hosts = r.hosts()
    for node in nodes:
        labels = dict(node.labels)
        if node.name not in hosts or hosts[node.name] != labels:
            try:
                ipaddress.ip_address(node.ip)
            except ValueError:
                log.warning("node %s has no usable address yet", node.name)
                continue
            r.ensure_host(node.name, node.ip, labels)
        owned.hosts.add(node.name)
    _policies_and_sets(r, namespaces, pods, policies, settings, tenants)
    for name in sorted(owned.tenants - {n.name for n in namespaces}):
        _forget(r.remove_tenant, name, owned.tenants)
    for name in sorted(owned.hosts - {n.name for n in nodes}):
        _forget(r.remove_host, name, owned.hosts)


def _forget(remove: Any, name: str, owned: set[str]) -> None:
    try:
        remove(name)
    except RomanaError as exc:
        log.warning("cannot remove %s yet: %s", name, exc)
        return
    owned.discard(name)


def _policies_and_sets(
    r: Romanad,
    namespaces: Sequence[ko.Namespace],
    pods: Sequence[ko.Pod],
    policies: Sequence[ko.NetworkPolicy],
    settings: kubernetes.Settings,
    tenants: Mapping[str, Known],
) -> None:
    """The ``kube.*`` policies and sets of these objects, and their record (what ``romana
    explain`` answers from).

    Only what syncs derived — the ids the stored record lists (:class:`kubestore.Derived`)
    — is ever removed: a policy or set someone else stored under a ``kube.`` name is left
    alone (a name proves nothing about who owns it). The names are written ahead: before any
    policy or set is written, the record lists what was derived before and what is about to
    be; only once all is written does it list just the latter. So a sync cut short at any
    point leaves nothing derived that a later sync does not know to be its own."""
    stored = r.kube_objects()
    earlier = _earlier(stored, settings)
    translation = kubernetes.translate(policies, namespaces, pods, settings)
    desired = {ids.policy_id(p): p.to_dict() for p in translation.policies}
    members = {
        name: [str(n) for n in nets]
        for name, nets in kubernetes.address_sets(translation.sets, pods).items()
    }
    derived = kubestore.Derived(frozenset(desired), frozenset(members), settings.segment_label)
    ahead = kubestore.record(namespaces, pods, policies, earlier | derived)
    if stored != ahead:
        r.put_kube_objects(ahead)
    current = r.policies()
    over: set[str] = set()
    for pid, doc in desired.items():
        if {k: v for k, v in current.get(pid, {}).items() if k != "id"} != doc:
            owner = ids.owner_of_id(pid)
            if owner in over:
                continue
            try:
                r.put_policy(pid, doc)
            except QuotaExceeded as exc:
                # One namespace over its quota must not stop every other namespace's
                # policies from being enforced: its own wait until the quota is raised.
                log.error("NetworkPolicies of namespace %s are not all enforced: %s", owner, exc)
                over.add(str(owner))
    for pid in sorted(set(current) - set(desired)):
        if pid in earlier.policies or _marker_of_kubernetes_tenant(tenants, current[pid]):
            r.remove_policy(pid)
    sets = r.address_sets()
    for name, nets in members.items():
        if sets.get(name) != nets:
            r.put_address_set(name, nets)
    for name in sorted(set(sets) - set(members)):
        if name in earlier.sets:
            r.remove_address_set(name)
    final = kubestore.record(namespaces, pods, policies, derived)
    if final != ahead:
        r.put_kube_objects(final)


def _marker_of_kubernetes_tenant(tenants: Mapping[str, Known], document: Mapping[str, Any]) -> bool:
    """Whether ``document`` is an earlier release's namespace marker whose tenant already
    records ``kubernetes`` isolation (so removing it loses nothing the upgrade needs)."""
    namespace = kubernetes.legacy_marker(document)
    if namespace is None:
        return False
    known = tenants.get(namespace)
    return known is not None and known.mode == kubernetes.ISOLATION.mode


def _earlier(stored: Mapping[str, Any], settings: kubernetes.Settings) -> kubestore.Derived:
    """What earlier syncs derived: the stored record's list, else (a record an earlier release
    stored) what its objects translate to."""
    try:
        listed = kubestore.Derived.of(stored)
        if listed is not None:
            return listed
        namespaces, pods, policies = kubestore.parse(stored)
    except RomanaError as exc:
        log.warning("the stored Kubernetes objects cannot be read (%s): removing none", exc)
        return kubestore.Derived()
    done = kubernetes.translate(policies, namespaces, pods, settings)
    return kubestore.Derived(
        frozenset(ids.policy_id(p) for p in done.policies),
        frozenset(done.sets) | {kubernetes.NOTHING},
        settings.segment_label,
    )
