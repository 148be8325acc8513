"""The Kubernetes objects romanad's ``kube.*`` state was translated from, kept for explaining.

The listener and ``romana policy apply`` store, next to the policies and address sets they
derive, the namespaces, pods, NetworkPolicies and ClusterNetworkPolicies they derived them
from, so ``romana explain`` answers from romanad's model without the cluster or the files
at hand. Objects are stored as :mod:`romana.core.kubernetes.dump` documents (only what
policy reads), one JSON list per kind and namespace:

``/romana/v1/kube/namespaces``, ``/romana/v1/kube/pods/<ns>``,
``/romana/v1/kube/networkpolicies/<ns>``, ``/romana/v1/kube/clusternetworkpolicies`` (they
are cluster-scoped). Beside them, ``/romana/v1/kube/derived`` holds the
record's ``derived`` field: the ids of the policies and the names of the sets syncs derived
and may therefore remove, and the segment label they translated with. The record's shape
and its parsing are :mod:`romana.core.kubernetes.record`'s.

Invariants:

* A put replaces the whole record: what it does not hold is removed. It writes only the keys
  whose lists changed, all in one transaction, and nothing when nothing changed.
* Every object of a put is parsed as :func:`romana.core.kubernetes.objects.parse` parses a
  watch event; every problem is reported at once (``pods[3]: ...``) and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from romana.core.kubernetes.record import KINDS, Derived, Record, read, record
from romana.core.store import Delete, Op, Put, Store
from romana.services import keys, txn


def _split(rec: Record) -> dict[str, list[dict[str, Any]]]:
    """Store key → its list."""
    out: dict[str, list[dict[str, Any]]] = {
        keys.KUBE_NAMESPACES: rec["namespaces"],
        keys.KUBE_CLUSTER_POLICIES: rec["clusternetworkpolicies"],
    }
    for field, prefix in (("pods", keys.KUBE_PODS), ("networkpolicies", keys.KUBE_POLICIES)):
        for item in rec[field]:
            out.setdefault(prefix + item["metadata"]["namespace"], []).append(item)
    return out


class KubeObjectService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self) -> Record:
        """Every stored object; empty lists when no sync has stored any."""
        rec: Record = {field: [] for field in KINDS}
        rec["derived"] = None
        for kv in self._store.range(keys.KUBE).items:
            if kv.key == keys.KUBE_DERIVED:
                rec["derived"] = txn.loads(kv)
            elif kv.key == keys.KUBE_NAMESPACES:
                rec["namespaces"] = txn.loads(kv)
            elif kv.key == keys.KUBE_CLUSTER_POLICIES:
                rec["clusternetworkpolicies"] = txn.loads(kv)
            elif kv.key.startswith(keys.KUBE_PODS):
                rec["pods"] += txn.loads(kv)
            elif kv.key.startswith(keys.KUBE_POLICIES):
                rec["networkpolicies"] += txn.loads(kv)
        return rec

    def put(self, body: Mapping[str, Any]) -> Record:
        """Make the stored record hold exactly ``body``'s objects; the canonical record."""
        got = read(body)
        rec = record(got.namespaces, got.pods, got.policies, Derived.of(body), got.cluster_policies)
        wanted = {key: txn.dumps(items) for key, items in _split(rec).items() if items}
        if rec["derived"] is not None:
            wanted[keys.KUBE_DERIVED] = txn.dumps(rec["derived"])

        def attempt(w: txn.Writes) -> Record:
            current = {kv.key: kv for kv in self._store.range(keys.KUBE).items}
            ops: list[Op] = []
            for key, value in sorted(wanted.items()):
                kv = current.get(key)
                if kv is None or kv.value != value:
                    w.guard(key, kv)
                    ops.append(Put(key, value))
            for key in sorted(set(current) - set(wanted)):
                w.guard(key, current[key])
                ops.append(Delete(key))
            w.ops += ops
            return rec

        return txn.run(self._store, attempt, what="store Kubernetes objects")
