"""``POST /v1/kube/apply`` from the client side: Kubernetes documents to romanad, as they are.

``romana policy apply -f`` loads its YAML files and hands the documents here; romanad parses
them, runs the listener's sync over its services and answers what changed
(:mod:`romana.api.routes.kubernetes`). Nothing here reads or translates a Kubernetes object:
the client sends what the files hold.

The call is idempotent (the sync writes only differences), so it is retried like a ``PUT``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from romana.client.http import Client
from romana.wire import rest_kube
from romana.wire.rest import PREFIX, answer
from romana.wire.validate import JSON


def apply(client: Client, documents: Sequence[Mapping[str, Any]], segment_label: str) -> JSON:
    """Have romanad hold what ``documents`` imply (the whole desired state of such applies);
    its answer, a :class:`romana.wire.rest_kube.KubeApplied`."""
    body = {"documents": [dict(d) for d in documents], "segment_label": segment_label}
    # The package's own plumbing: the call goes wherever the policy service is served.
    raw = client._post("policy", f"{PREFIX}/kube/apply", body, idempotent=True)
    return answer(rest_kube.KubeApplied, raw)
