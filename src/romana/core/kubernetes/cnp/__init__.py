"""ClusterNetworkPolicy (``policy.networking.k8s.io``): the Admin and Baseline tiers.

Pure (standard library only), like the rest of :mod:`romana.core`:

* :mod:`~romana.core.kubernetes.cnp.model` — policies, rules, peers and port matches as
  frozen values; tier order and shared-priority warnings.
* :mod:`~romana.core.kubernetes.cnp.parse` — a document into a policy, or refused whole with
  every problem named.
* :mod:`~romana.core.kubernetes.cnp.flow` — a connection's endpoints and what a subject,
  peer and port match.
* :mod:`~romana.core.kubernetes.cnp.evaluate` — Admin tier → NetworkPolicy → Baseline tier
  → default, per direction, naming what decided.
* :mod:`~romana.core.kubernetes.cnp.netpol` — the NetworkPolicy tier judged from the
  objects.
"""
