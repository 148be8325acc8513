"""The names and paths an installation of romana uses, in one place.

The host installer (``romana install host``), the CNI installer of the agent's init container
(``romana install cni``), the Kubernetes manifests (``deploy/kubernetes``) and the container
image (``deploy/image/Containerfile``) all take these values from here, so that they cannot
drift apart. Paths are absolute paths on the target machine; an installer given ``--root DIR``
writes them under DIR but still names them as here inside the files it writes.
"""

from __future__ import annotations

from typing import Final

from romana import __version__

#: The container image of every romana process, as the Kubernetes manifests name it. No
#: registry is assumed: build it (docs/install.md), push it to yours, and render the
#: manifests with ``romana install kubernetes --image REGISTRY/romana:TAG``.
IMAGE: Final = f"localhost/romana:{__version__}"

#: Where the image installs romana's virtual environment; its bin/ holds every executable.
IMAGE_PREFIX: Final = "/opt/romana"

CONFIG_DIR: Final = "/etc/romana"
AGENT_CONFIG: Final = f"{CONFIG_DIR}/agent.toml"
#: The agent user's password, mode 0600 (``romana agent-credential create HOST``).
AGENT_PASSWORD_FILE: Final = f"{CONFIG_DIR}/agent.password"
SYSTEMD_DIR: Final = "/etc/systemd/system"
CNI_BIN_DIR: Final = "/opt/cni/bin"
CNI_CONF_DIR: Final = "/etc/cni/net.d"
CNI_CONFLIST: Final = "10-romana.conflist"
CNI_FRONT: Final = "romana-cni"
#: The agent's runtime and state directories on a node (the agent's own defaults).
RUN_DIR: Final = "/run/romana"
STATE_DIR: Final = "/var/lib/romana"

#: Linux capabilities the agent's container needs, and no more (the DaemonSet grants exactly
#: these, the host unit these and more; tests/packaging/test_image.py runs the image's agent
#: with them): NET_ADMIN for links, addresses, routes, neighbours, network sysctls and the
#: firewall; NET_RAW for the gratuitous ARP and unsolicited neighbour advertisements of VIPs;
#: SYS_ADMIN to enter a workload's network namespace (setns); NET_BIND_SERVICE for the BGP port
#: (179) of the BIRD it runs in the bgp route mode (without it BIRD cannot listen and its
#: sessions stay down). Not SYS_PTRACE: a container without the node's PID namespace cannot
#: name another process's /proc/PID/ns/net at all, and Kubernetes' runtimes (containerd's CRI,
#: CRI-O) pass namespaces pinned under /run/netns, which the DaemonSet mounts.
AGENT_CAPABILITIES: Final = ("NET_ADMIN", "NET_RAW", "SYS_ADMIN", "NET_BIND_SERVICE")
