"""Kubernetes without Kubernetes: its objects, their translation to Romana, the sync, explain.

Pure (standard library only), like the rest of :mod:`romana.core`:

* :mod:`~romana.core.kubernetes.objects` — Namespace, Node, Pod, NetworkPolicy
  (:mod:`~romana.core.kubernetes.networkpolicy`), Service
  (:mod:`~romana.core.kubernetes.service`) and ClusterNetworkPolicy as frozen values, parsed
  from the API's JSON shape; :mod:`~romana.core.kubernetes.dump` the inverse.
* :mod:`~romana.core.kubernetes.record` — documents as files give them read into objects, and
  the stored record of what a sync derived its state from.
* :mod:`~romana.core.kubernetes.translation` — NetworkPolicies → ``kube.*`` Romana policies and
  address sets.
* :mod:`~romana.core.kubernetes.cnp` — ClusterNetworkPolicy parsed and evaluated by tier;
  :mod:`~romana.core.kubernetes.cnptranslate` turns it into tiered ``kube.cnp:*`` policies.
* :mod:`~romana.core.kubernetes.sync` — the port to romanad and the one sync both the
  listener and romanad's ``POST /v1/kube/apply`` (``romana policy apply``) run.
* :mod:`~romana.core.kubernetes.exposure` — Services → VIPs and pod annotations → external
  IPs, as desired values; :mod:`~romana.core.kubernetes.exposesync` writes them in the sync.
* :mod:`~romana.core.kubernetes.explain` — objects on an address plan as the model ``romana
  explain`` answers from, offline (``romana explain -f``) or in the scenario tests.

The adapters live outside: the watch of the API server in :mod:`romana.integrations.kubernetes`,
the port over romanad's services in :mod:`romana.services.kubesync`, the stored record in
:mod:`romana.services.kubestore`.
"""

SEGMENT_LABEL = "romana.io/segment"
"""The pod label naming a pod's segment unless configured otherwise. Here rather than in
:mod:`~romana.core.kubernetes.translation` (which re-exports it) so that a default shown by
``romana policy apply --help`` does not load the translation."""
