"""Which tenant and segment a workload belongs to, from what the runtime passes.

In Kubernetes the tenant is the pod's namespace, ``K8S_POD_NAMESPACE`` in CNI_ARGS. Elsewhere
it is the label ``romana.io/tenant`` or the config's ``tenant`` key. The segment is the value of
the label named by ``segment_label``, else the config's ``segment``, else ``default``.

The plugin reads no API server, so labels come from what the runtime passes:
``runtimeConfig.labels`` (a runtime that declares the ``labels`` capability) over
``args.cni.labels`` (the CONVENTIONS.md ``[{"key", "value"}]`` list) over ``args.labels``; each
may be such a list or a plain object. A Kubernetes runtime that passes pod labels in one of
these places thus gets per-pod segments. The label that names the segment is set per network
with ``segment_label`` (default ``romana.io/segment``), e.g. ``"segment_label":
"example.com/zone"``.

Every value keeps the name of what supplied it (``CNI_ARGS K8S_POD_NAMESPACE``, ``tenant``,
``args.cni.labels[romana.io/segment]``…), so an error about the value can point there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from romana.core import endpoint, errors

DEFAULT_SEGMENT = endpoint.DEFAULT_SEGMENT
TENANT_LABEL = "romana.io/tenant"
DEFAULT_SEGMENT_LABEL = "romana.io/segment"
K8S_NAMESPACE_SOURCE = "CNI_ARGS K8S_POD_NAMESPACE"
LABEL_SOURCES = ("args.labels", "args.cni.labels", "runtimeConfig.labels")  # low → high


@dataclasses.dataclass(frozen=True, slots=True)
class Placement:
    """Tenant and segment of a workload, each with the variable or key that supplied it."""

    tenant: str
    tenant_source: str
    segment: str
    segment_source: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    label_sources: Mapping[str, str] = dataclasses.field(default_factory=dict)


def resolve(
    conf: Mapping[str, Any], cni_args: Mapping[str, str], issues: errors.Issues, *, required: bool
) -> Placement | None:
    """Tenant and segment of the workload; None (or, when ``required``, an issue) without tenant."""
    labels, label_sources = _labels(conf, issues)
    segment_label = conf.get("segment_label", DEFAULT_SEGMENT_LABEL)
    if not isinstance(segment_label, str) or not segment_label:
        issues.add("segment_label", f"{segment_label!r} must be a non-empty string")
        segment_label = DEFAULT_SEGMENT_LABEL
    for key in ("tenant", "segment"):
        if key in conf and (not isinstance(conf[key], str) or not conf[key]):
            issues.add(key, f"{conf[key]!r} must be a non-empty string")
    tenant = cni_args.get("K8S_POD_NAMESPACE", "")
    tenant_source = K8S_NAMESPACE_SOURCE
    if not tenant and labels.get(TENANT_LABEL):
        tenant, tenant_source = labels[TENANT_LABEL], label_sources[TENANT_LABEL]
    if not tenant and isinstance(conf.get("tenant"), str) and conf["tenant"]:
        tenant, tenant_source = conf["tenant"], "tenant"
    segment, segment_source = DEFAULT_SEGMENT, "segment"
    if labels.get(segment_label):
        segment, segment_source = labels[segment_label], label_sources[segment_label]
    elif isinstance(conf.get("segment"), str) and conf["segment"]:
        segment = conf["segment"]
    if not tenant:
        if required:
            issues.add(
                "tenant",
                f"no tenant: set K8S_POD_NAMESPACE in CNI_ARGS, the label {TENANT_LABEL} in "
                "args.cni.labels or runtimeConfig.labels, or the tenant key of the network "
                "configuration",
            )
        return None
    return Placement(tenant, tenant_source, segment, segment_source, labels, label_sources)


def _labels(
    conf: Mapping[str, Any], issues: errors.Issues
) -> tuple[dict[str, str], dict[str, str]]:
    args = conf.get("args")
    runtime = conf.get("runtimeConfig")
    for key, value in (("args", args), ("runtimeConfig", runtime)):
        if value is not None and not isinstance(value, dict):
            issues.add(key, "must be an object")
    args = args if isinstance(args, dict) else {}
    runtime = runtime if isinstance(runtime, dict) else {}
    cni = args.get("cni")
    raw = {
        "args.labels": args.get("labels"),
        "args.cni.labels": cni.get("labels") if isinstance(cni, dict) else None,
        "runtimeConfig.labels": runtime.get("labels"),
    }
    labels: dict[str, str] = {}
    sources: dict[str, str] = {}
    for source in LABEL_SOURCES:
        for key, value in _label_pairs(raw[source], source, issues):
            labels[key] = value
            sources[key] = f"{source}[{key}]"
    return labels, sources


def _label_pairs(value: object, source: str, issues: errors.Issues) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, dict):
        items = [{"key": k, "value": v} for k, v in value.items()]
    elif isinstance(value, list):
        items = value
    else:
        issues.add(source, 'must be an object or a list of {"key", "value"} objects')
        return []
    pairs = []
    for index, item in enumerate(items):
        key = item.get("key") if isinstance(item, dict) else None
        val = item.get("value") if isinstance(item, dict) else None
        if isinstance(key, str) and key and isinstance(val, str):
            pairs.append((key, val))
        else:
            issues.add(f"{source}[{index}]", "must have a non-empty string key and a string value")
    return pairs
