"""The pieces every romana manifest is built from: names, labels, security contexts.

Shared by :mod:`romana.deploy.kubernetes` and :mod:`romana.deploy.kubeagent`, so that a
name (a service account, the ConfigMap, a Secret) is spelled once and every pod follows the
same rules: host network, only the capabilities it needs, no privilege escalation.
"""

from __future__ import annotations

import json
from typing import Any

from romana.deploy import layout

Obj = dict[str, Any]

NAMESPACE = "romana"
ROMANAD = "romanad"
LISTENER = "romana-listener"
AGENT = "romana-agent"
CONFIG = "romana-config"
#: The ConfigMap's mount point in every container: the settings files romanad and the agent
#: read with --config (not under /etc/romana, where the agent sees the node's own files).
CONFIG_DIR = "/etc/romana-config"
TLS_SECRET = "romanad-tls"
CA_SECRET = "romana-ca"
STATE_CLAIM = "romanad-state"
_ACCOUNTS = {"romanad": ROMANAD, "listener": LISTENER, "agent": AGENT}


def exe(name: str) -> str:
    """The path of executable ``name`` in the image."""
    return f"{layout.IMAGE_PREFIX}/bin/{name}"


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "romana", "app.kubernetes.io/component": component}


def selector(component: str) -> dict[str, str]:
    return labels(component)


def meta(name: str, component: str = "") -> Obj:
    out: Obj = {"name": name, "namespace": NAMESPACE}
    if component:
        out["labels"] = labels(component)
    return out


def toml_line(key: str, value: str | list[str]) -> str:
    """``key = value`` in TOML (a JSON string or array of strings is valid TOML)."""
    return f"{key} = {json.dumps(value)}"


def requests(cpu: str, memory: str) -> Obj:
    return {"requests": {"cpu": cpu, "memory": memory}}


def restricted(add: tuple[str, ...] = ()) -> Obj:
    """A container security context: not privileged, every capability dropped but ``add``,
    and no privilege escalation unless SYS_ADMIN is added (the API server refuses the two
    together: SYS_ADMIN can gain any privilege anyway)."""
    capabilities: Obj = {"drop": ["ALL"]}
    if add:
        capabilities["add"] = list(add)
    context: Obj = {"privileged": False, "capabilities": capabilities}
    if "SYS_ADMIN" not in add:
        context["allowPrivilegeEscalation"] = False
    return context


def config_volume(*keys: str) -> Obj:
    """The settings ConfigMap as a volume, holding only ``keys``."""
    items = [{"key": key, "path": key} for key in keys]
    return {"name": "config", "configMap": {"name": CONFIG, "items": items}}


def control_pod(component: str, container: Obj, volumes: list[Obj]) -> Obj:
    """The pod spec of a control-plane component: the host's network and resolver (it must
    run before the cluster's pod network and DNS, which need it), its own service account."""
    spec: Obj = {
        "serviceAccountName": _ACCOUNTS[component],
        "hostNetwork": True,
        "dnsPolicy": "Default",
        "priorityClassName": "system-cluster-critical",
        "tolerations": [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"},
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"},
        ],
        "containers": [container],
    }
    if volumes:
        spec["volumes"] = volumes
    return spec


def deployment(component: str, pod: Obj, strategy: str) -> Obj:
    name = _ACCOUNTS[component]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, component),
        "spec": {
            "replicas": 1,
            "strategy": {"type": strategy},
            "selector": {"matchLabels": selector(component)},
            "template": {"metadata": {"labels": labels(component)}, "spec": pod},
        },
    }
