"""Keep romanad in step with the cluster: namespaces → tenants, nodes → hosts, pods → segments
and address-set members, NetworkPolicies → ``kube.*`` policies, ClusterNetworkPolicies →
tiered ``kube.cnp:*`` policies, LoadBalancer Services and Services with ``externalIPs`` →
VIPs, pods annotated ``romana.io/external-ip`` → external IPs.

The listener keeps the last known Namespaces, Nodes, Pods, NetworkPolicies, Services and
ClusterNetworkPolicies (none while the cluster does not serve them: their CRD is optional,
:class:`kubewatch.NotServed`) as parsed values (:mod:`romana.core.kubernetes.objects`).
Every change — one watch event, handled in its object's own queue, or a resync replacing a
whole kind after a list — updates that state and then reconciles romanad against the desired
state computed from all of it (:func:`romana.core.kubernetes.sync.sync`, the same code
romanad runs for ``romana policy apply``). Reconciling compares with what romanad holds and
writes only differences, so it is idempotent: a resync after a reconnect repairs whatever
was missed, and replays change nothing. Nothing is reconciled until every kind has been
listed once: a desired state computed from NetworkPolicies without the Pods they select
would empty their address sets (and cut traffic) for as long as the Pod list takes on a
listener restart.

Only what the listener owns is ever removed: tenants and hosts it created for namespaces and
nodes it saw go away with them; policies and address sets are the ``kube.*`` ones; VIPs and
external IPs those a sync recorded as made (:mod:`romana.core.kubernetes.exposesync`). An
object that cannot be parsed is skipped with a warning (its earlier value, if any, is
dropped).

After each reconcile, a LoadBalancer Service with a VIP is given the VIP's address in its
``status.loadBalancer.ingress`` (a PATCH of its status subresource), only when the status
seen differs, and once per status seen: the watch brings the written status back. A
LoadBalancer Service whose VIP went has the address the listener wrote taken away again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from romana.core.errors import InvalidInput, Unavailable
from romana.core.kubernetes import cnptranslate, networkpolicy, sync, translation
from romana.core.kubernetes import objects as ko
from romana.integrations.kubernetes import kubewatch

log = logging.getLogger(__name__)

Raw = dict[str, Any]


def key_of(kind: str, obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{kind}/{meta.get('namespace', '')}/{meta.get('name', '')}"


class Listener:
    def __init__(
        self,
        romanad: sync.Romanad,
        settings: translation.Settings | None = None,
    ) -> None:
        self.romanad = romanad
        self.settings = settings or translation.Settings()
        self.objects: dict[str, dict[str, ko.KubeObject]] = {
            r.kind: {} for r in kubewatch.RESOURCES
        }
        self.dispatcher = kubewatch.Dispatcher()
        self._lock = asyncio.Lock()
        self.owned = sync.Owned()
        self.reconciled = 0
        self._listed: set[str] = set()
        self._client: kubewatch.KubeClient | None = None
        self._outcome = sync.Outcome()
        self._reported: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        """Service key → (the ingress written, the ingress seen when it was written)."""

    # --- kubewatch.Handler --------------------------------------------------------------------

    async def resync(self, kind: str, items: list[Raw]) -> None:
        await self.dispatcher.drain()
        fresh: dict[str, ko.KubeObject] = {}
        for item in items:
            parsed = self._parse(item)
            if parsed is not None:
                fresh[key_of(kind, item)] = parsed
        async with self._lock:
            self.objects[kind] = fresh
            self._listed.add(kind)
            await asyncio.to_thread(self.reconcile)
            await self.write_status()

    async def event(self, kind: str, type_: str, obj: Raw) -> None:
        key = key_of(kind, obj)

        async def job() -> None:
            async with self._lock:
                parsed = None if type_ == "DELETED" else self._parse(obj)
                if parsed is None:
                    self.objects[kind].pop(key, None)
                else:
                    self.objects[kind][key] = parsed
                await asyncio.to_thread(self.reconcile)
                await self.write_status()

        self.dispatcher.submit(key, job)

    def _parse(self, raw: Raw) -> ko.KubeObject | None:
        try:
            return ko.parse(raw)
        except InvalidInput as exc:
            log.warning("skipping %s: %s", key_of(str(raw.get("kind")), raw), exc)
            return None

    # --- reconciling ----------------------------------------------------------------------

    def _of(self, kind: type[ko.KubeObject]) -> list[Any]:
        name = kind.__name__
        return sorted(
            self.objects[name].values(), key=lambda o: (getattr(o, "namespace", ""), o.name)
        )

    def reconcile(self) -> None:
        if len(self._listed) < len(self.objects):
            return
        outcome = sync.sync(
            self.romanad,
            self._of(ko.Namespace),
            self._of(ko.Node),
            self._of(ko.Pod),
            self._of(networkpolicy.NetworkPolicy),
            self.settings,
            self.owned,
            self._of(ko.Service),
            self._of(ko.ClusterNetworkPolicy),
        )
        _log_refusals(outcome.refused)
        for note in outcome.notes:
            log.warning("%s", note)
        self._outcome = outcome
        self.reconciled += 1

    async def write_status(self) -> None:
        """Give each LoadBalancer Service its VIP's address in its status (see the module)."""
        if self._client is None:
            return
        addresses = dict(self._outcome.load_balancers)
        services: dict[str, ko.Service] = {
            o.key: o for o in self.objects["Service"].values() if isinstance(o, ko.Service)
        }
        for key in sorted(set(addresses) | set(self._reported)):
            service = services.get(key)
            if service is None:
                self._reported.pop(key, None)
                continue
            wanted = (addresses[key],) if key in addresses else ()
            if service.ingress == wanted:
                if not wanted:
                    self._reported.pop(key, None)
                continue
            if self._reported.get(key) == (wanted, service.ingress):
                continue  # written; the watch has not brought the new status back yet
            try:
                await self._client.patch_service_status(
                    service.namespace, service.name, list(wanted)
                )
            except Unavailable as exc:
                log.warning("cannot write the status of Service %s yet: %s", key, exc)
                continue
            self._reported[key] = (wanted, service.ingress)

    async def run(self, client: kubewatch.KubeClient) -> None:
        """Reflect every resource until cancelled."""
        self._client = client
        try:
            await asyncio.gather(*(kubewatch.reflect(client, r, self) for r in kubewatch.RESOURCES))
        finally:
            await self.dispatcher.close()


def _log_refusals(refused: tuple[tuple[str, str], ...]) -> None:
    """Each object a sync could not write, in the words operators alert on: a namespace whose
    NetworkPolicies are not all enforced is an error, once per namespace, and so is each
    ClusterNetworkPolicy not enforced."""
    unenforced: set[str] = set()
    for what, why in refused:
        kind, _, name = what.partition("/")
        if kind == "policies" and name.rpartition("/")[2].startswith(cnptranslate.PREFIX):
            log.error("%s is not enforced: %s", name.rpartition("/")[2], why)
        elif kind == "policies":
            namespace = name.partition("/")[0]
            if namespace not in unenforced:
                unenforced.add(namespace)
                log.error(
                    "NetworkPolicies of namespace %s are not all enforced: %s", namespace, why
                )
        elif kind == "hosts" and why == "the node has no usable address":
            log.warning("node %s has no usable address yet", name)
        elif kind in ("vips", "external-ips"):
            log.warning("%s (tried again at the next sync)", why)
        else:
            log.warning("cannot write %s yet: %s", what, why)
