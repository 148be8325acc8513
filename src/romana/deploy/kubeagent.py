"""The agent's DaemonSet and settings file: romana-agent on every node, as a host install runs it.

Invariants:

* the agent container is not privileged: it holds exactly :data:`layout.AGENT_CAPABILITIES`
  and mounts only the node paths it uses: its runtime directory (the local API socket the CNI
  front calls), its state directory (endpoint registry, releases the front left), the
  workloads' network namespaces (``/run/netns``, mounts made after the agent started reach it),
  the node's ``/proc/sys/net`` (writable, unlike the container's own ``/proc/sys``; setting
  ``proc_sys``) and the node's credential directory, read-only;
* every node logs in with its own host-bound credential, never a shared Secret: a node's
  credential acts for that node only, so one node that is taken over cannot act for others;
* the init container installs the CNI front and the network configuration onto the node with
  ``romana install cni``, which is idempotent, before the agent starts.
"""

from __future__ import annotations

from romana.deploy import kubeparts, layout
from romana.deploy.kubeparts import Obj

METRICS_PORT = 9604
CA_DIR = "/etc/romana-ca"
#: Where the init container sees the node's root (only the CNI directories are mounted).
HOST_ROOT = "/host"
NODE_NAME = "$(NODE_NAME)"
#: Where the agent sees the node's /proc/sys/net: the runtime mounts the container's own
#: /proc/sys read-only, and the agent writes network sysctls (forwarding, rp_filter, proxy_ndp).
PROC_SYS = "/host/proc/sys"

CREDENTIAL_NOTE = f"""\
# Settings of romana-agent on every node (romana-agent --config FILE, section [agent]).
# The DaemonSet gives each agent its node (--host), user (--username agent-NODE) and
# password file (--password-file {layout.AGENT_PASSWORD_FILE}) on the command line.
# Each node holds its own credential, bound to that node; before the agent can start there,
# run on the node, as a romana admin:
#   romana agent-credential create NODE --password-file {layout.AGENT_PASSWORD_FILE}
# (the file is mode 0600 and stays on the node). Never put agent passwords in a Secret that
# every node reads: any one node could then act for every node.
"""


def agent_toml(url: str) -> str:
    """The agent's settings file (section ``[agent]``) for romanad at ``url``."""
    lines = [
        CREDENTIAL_NOTE.rstrip("\n"),
        "[agent]",
        kubeparts.toml_line("url", [url]),
        kubeparts.toml_line("ca", f"{CA_DIR}/ca.crt"),
        kubeparts.toml_line("metrics", f"127.0.0.1:{METRICS_PORT}"),
        kubeparts.toml_line("proc_sys", PROC_SYS),
    ]
    return "\n".join(lines) + "\n"


def agent_command() -> list[str]:
    return [
        kubeparts.exe("romana-agent"),
        "--config",
        f"{kubeparts.CONFIG_DIR}/agent.toml",
        "--host",
        NODE_NAME,
        "--username",
        f"agent-{NODE_NAME}",
        "--password-file",
        layout.AGENT_PASSWORD_FILE,
    ]


def install_cni_command() -> list[str]:
    return [kubeparts.exe("romana"), "install", "cni", "--root", HOST_ROOT, "--copy"]


def _host_path(name: str, path: str, kind: str = "DirectoryOrCreate") -> Obj:
    return {"name": name, "hostPath": {"path": path, "type": kind}}


def daemon_set(image: str) -> Obj:
    """The agent's DaemonSet: on every node (whatever its taints), before other pods."""
    probe = {"host": "127.0.0.1", "port": METRICS_PORT}
    install = {
        "name": "install-cni",
        "image": image,
        "command": install_cni_command(),
        "resources": kubeparts.requests("10m", "32Mi"),
        "securityContext": kubeparts.restricted(),
        "volumeMounts": [
            {"name": "cni-bin", "mountPath": HOST_ROOT + layout.CNI_BIN_DIR},
            {"name": "cni-conf", "mountPath": HOST_ROOT + layout.CNI_CONF_DIR},
        ],
    }
    agent = {
        "name": "agent",
        "image": image,
        "command": agent_command(),
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "livenessProbe": {
            "httpGet": {**probe, "path": "/healthz"},
            "periodSeconds": 10,
            "failureThreshold": 6,
        },
        "readinessProbe": {"httpGet": {**probe, "path": "/readyz"}, "periodSeconds": 5},
        "resources": kubeparts.requests("100m", "128Mi"),
        "securityContext": kubeparts.restricted(layout.AGENT_CAPABILITIES),
        "volumeMounts": [
            {"name": "run", "mountPath": layout.RUN_DIR},
            {"name": "state", "mountPath": layout.STATE_DIR},
            {"name": "netns", "mountPath": "/run/netns", "mountPropagation": "HostToContainer"},
            {"name": "sysctl-net", "mountPath": f"{PROC_SYS}/net"},
            {"name": "credential", "mountPath": layout.CONFIG_DIR, "readOnly": True},
            {"name": "config", "mountPath": kubeparts.CONFIG_DIR, "readOnly": True},
            {"name": "ca", "mountPath": CA_DIR, "readOnly": True},
        ],
    }
    pod: Obj = {
        "serviceAccountName": kubeparts.AGENT,
        "automountServiceAccountToken": False,
        "hostNetwork": True,
        # The node's resolver: cluster DNS answers only once pods have addresses, and the
        # agent gives them theirs.
        "dnsPolicy": "Default",
        "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}],
        "initContainers": [install],
        "containers": [agent],
        "volumes": [
            _host_path("run", layout.RUN_DIR),
            _host_path("state", layout.STATE_DIR),
            _host_path("netns", "/run/netns"),
            _host_path("sysctl-net", "/proc/sys/net", "Directory"),
            _host_path("credential", layout.CONFIG_DIR, "Directory"),
            kubeparts.config_volume("agent.toml"),
            {"name": "ca", "secret": {"secretName": kubeparts.CA_SECRET}},
            _host_path("cni-bin", layout.CNI_BIN_DIR),
            _host_path("cni-conf", layout.CNI_CONF_DIR),
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": kubeparts.meta(kubeparts.AGENT, "agent"),
        "spec": {
            "selector": {"matchLabels": kubeparts.selector("agent")},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {"metadata": {"labels": kubeparts.labels("agent")}, "spec": pod},
        },
    }
