"""``POST /v1/kube/apply``: Kubernetes objects in, the listener's sync run over them.

``romana policy apply -f`` sends the documents of its files (parsed YAML, one object each:
Namespaces, Nodes, Pods, NetworkPolicies) and nothing else; romanad parses and validates them
here and runs :func:`romana.core.kubernetes.sync.apply` over its services
(:class:`romana.services.kubesync.ServicesRomanad`), the very sync the listener runs. So a
policy is parsed once, here, and the answer names every object the sync created, updated,
deleted or could not write.

The route belongs to the ``policy`` service, beside ``/v1/kube/objects``. It needs the
``sync-kubernetes`` action (admin and service users); the audit line names every object the
request changed, or ``kube/apply`` when it changed none.

The request and answer shapes are :mod:`romana.wire.rest_kube`'s, with the rest of API v1.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from romana.api import audit
from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.core.kubernetes import sync, translation
from romana.services import auth, kubesync
from romana.wire import rest_kube

SERVICE = "policy"
router = APIRouter(tags=["policy"], responses=ERRORS)


def answer(applied: sync.Applied) -> dict[str, Any]:
    """The :class:`romana.wire.rest_kube.KubeApplied` body of a sync's result."""
    outcome = applied.outcome
    return {
        "objects": applied.objects,
        "policies": list(applied.policies),
        "created": list(outcome.created),
        "updated": list(outcome.updated),
        "deleted": list(outcome.deleted),
        "refused": [{"object": o, "reason": r} for o, r in outcome.refused],
        "notes": list(outcome.notes),
    }


@router.post("/v1/kube/apply", response_model=rest_kube.KubeApplied)
def apply_kube(
    body: rest_kube.KubeApplyIn, ctx: Ctx, caller: Caller, request: Request
) -> dict[str, Any]:
    """Make romanad hold what the documents imply, as the listener does for a cluster.

    The documents are the whole desired state: ``kube.*`` policies and address sets derived
    from NetworkPolicies they no longer hold are removed (never one stored otherwise).
    Namespaces become tenants in ``kubernetes`` isolation mode. One bad document changes
    nothing: a 422 names each (``document 3: ...``, counted from 1)."""
    auth.authorize(caller, auth.Action.SYNC_KUBERNETES)
    settings = translation.Settings(segment_label=body.segment_label)
    applied = sync.apply(kubesync.ServicesRomanad(ctx.store), body.documents, settings)
    changed = applied.outcome.changed() or ("kube/apply",)
    audit.name_object(request, changed[0], *changed[1:])
    return answer(applied)
