"""romanad's REST API, version 1: Kubernetes objects and applies (docs/api.md).

``/v1/kube/objects`` holds the namespaces, pods, NetworkPolicies and ClusterNetworkPolicies
the last Kubernetes sync stored; ``POST /v1/kube/apply`` (``romana policy apply -f``) hands
romanad Kubernetes documents as they are, and answers what the sync over them changed.
Objects are passed as JSON objects: their grammar belongs to :mod:`romana.core.kubernetes`,
which romanad applies.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from romana.core.kubernetes import SEGMENT_LABEL
from romana.wire.rest import In, LabelKey, Out

MAX_DOCUMENTS = 100_000
"""More objects than any cluster romanad serves; the body cap bounds a request first."""


class DerivedIn(In):
    policies: list[str] = Field(default_factory=list)
    sets: list[str] = Field(default_factory=list)
    segment_label: str = ""
    vips: list[str] = Field(default_factory=list)
    external_ips: dict[str, str] = Field(default_factory=dict)


class KubeObjectsIn(In):
    namespaces: list[dict[str, Any]] = Field(default_factory=list)
    pods: list[dict[str, Any]] = Field(default_factory=list)
    networkpolicies: list[dict[str, Any]] = Field(default_factory=list)
    clusternetworkpolicies: list[dict[str, Any]] = Field(default_factory=list)
    derived: DerivedIn | None = None


class Derived(Out):
    policies: list[str]
    sets: list[str]
    segment_label: str
    vips: list[str] = Field(default_factory=list)
    external_ips: dict[str, str] = Field(default_factory=dict)


class KubeObjects(Out):
    namespaces: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    networkpolicies: list[dict[str, Any]]
    clusternetworkpolicies: list[dict[str, Any]] = Field(default_factory=list)
    derived: Derived | None = None


class KubeApplyIn(In):
    documents: list[dict[str, Any]] = Field(
        max_length=MAX_DOCUMENTS,
        description="Kubernetes objects as the API server gives them (kind, metadata, ...): "
        "the whole desired state of what such applies derive.",
    )
    segment_label: LabelKey = Field(
        default=SEGMENT_LABEL, description="The pod label naming a pod's segment."
    )


class Refusal(Out):
    object: str
    reason: str


class KubeApplied(Out):
    # How many objects the documents held, the kube.* policies romanad holds afterwards, and
    # each object (as its URL below /v1/ names it) the sync created, updated, deleted or could
    # not write.
    objects: int = Field(description="How many objects the documents held.")
    policies: list[str] = Field(description="The ids of the kube.* policies romanad now holds.")
    created: list[str]
    updated: list[str]
    deleted: list[str]
    refused: list[Refusal]
    notes: list[str] = Field(
        default_factory=list,
        description="What the operator should know though nothing was refused (such as "
        "ClusterNetworkPolicies of one tier sharing a priority).",
    )
