"""Drive ``romana-cni`` as a container runtime does, against real agents, and see what it left.

A runtime executes the plugin binary inside the host's network namespace with the CNI
variables in its environment and the network configuration on stdin; :func:`invoke` and
:func:`spawn` do exactly that (``nsenter --net=<host>``, the real ``romana-cni`` executable of
this virtualenv, no variable of the test process but ``PATH``), with ``ROMANA_AGENT_SOCKET``
naming the agent of that host: each lab host has its own agent socket, and that variable is
how the plugin (front and Python alike) is told where it is. :func:`netconf` builds the
configuration a runtime hands to one plugin of a conflist (``name`` and ``cniVersion``
injected) for a given agent.

:func:`snapshot` captures everything an endpoint leaves on a host (host veths, endpoint
routes, romanad allocations, the agent's records, pending releases), so a test can demand that
the host is back where it started; :func:`mentions` finds an address anywhere in the host's
routes, rules, firewall and conntrack table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

from romana.core import hostplan
from romana.lab import Agent, Cluster, Host

EXECUTABLE = os.path.join(os.path.dirname(sys.executable), "romana-cni")
CNI_PATH = "/opt/cni/bin:/usr/lib/cni"
ROUTE_PROTOCOL = "82"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One plugin run as the runtime sees it."""

    rc: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def code(self) -> int:
        """The CNI error code of a failed run."""
        assert self.rc != 0, f"the plugin succeeded: {self.stdout}"
        return int(self.json["code"])

    @property
    def address(self) -> str:
        """The first address of a successful ADD, without its prefix length."""
        assert self.rc == 0, f"ADD failed: {self.stdout} {self.stderr}"
        return str(self.json["ips"][0]["address"]).split("/")[0]

    def __str__(self) -> str:
        return f"rc={self.rc} stdout={self.stdout.strip()} stderr={self.stderr.strip()}"


def netconf(
    agent: Agent,
    *,
    name: str = "romana-cni-test",
    version: str = "1.1.0",
    tenant: str | None = "t1",
    labels: Mapping[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The configuration a runtime passes on stdin for a romana network on ``agent``'s host.

    ``labels`` go where CONVENTIONS.md puts them, ``args.cni.labels``.
    """
    conf: dict[str, Any] = {
        "cniVersion": version,
        "name": name,
        "type": "romana-cni",
        "pending_dir": str(agent.pending_dir),
    }
    if tenant is not None:
        conf["tenant"] = tenant
    if labels:
        conf["args"] = {"cni": {"labels": [{"key": k, "value": v} for k, v in labels.items()]}}
    conf.update(extra)
    return conf


def conflist(plugin: Mapping[str, Any], plugin_type: str = "romana-cni") -> dict[str, Any]:
    """The network configuration list holding ``plugin`` (as a runtime reads it from disk)."""
    inner = {k: v for k, v in plugin.items() if k not in ("cniVersion", "name")}
    inner["type"] = plugin_type
    return {"cniVersion": plugin["cniVersion"], "name": plugin["name"], "plugins": [inner]}


def environ(
    command: str,
    container_id: str = "",
    netns: str = "",
    ifname: str = "eth0",
    **extra: str,
) -> dict[str, str]:
    """The environment a runtime gives the plugin; empty values are left out."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_PATH": CNI_PATH,
        **extra,
    }
    return {k: v for k, v in env.items() if v}


def spawn(agent: Agent, env: Mapping[str, str], conf: Mapping[str, Any]) -> subprocess.Popen[bytes]:
    """Start ``romana-cni`` in ``agent``'s host namespace, pointed at ``agent`` by
    ``ROMANA_AGENT_SOCKET`` unless ``env`` sets it; finish it with :func:`finish`."""
    # The configuration is written whole into a pipe before the start (it fits the pipe's
    # buffer), so that many plugins can be started at once without a writer for each.
    read, write = os.pipe()
    try:
        with open(write, "wb", closefd=True) as pipe:
            pipe.write(json.dumps(conf).encode())
        return subprocess.Popen(
            ["nsenter", f"--net={agent.host.path}", "--", EXECUTABLE],
            env={"ROMANA_AGENT_SOCKET": agent.socket, **env},
            stdin=read,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(read)


def finish(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> Outcome:
    out, err = proc.communicate(timeout=timeout)
    return Outcome(proc.returncode, out.decode(), err.decode())


def invoke(agent: Agent, env: Mapping[str, str], conf: Mapping[str, Any]) -> Outcome:
    """One plugin run against ``agent``, start to exit."""
    return finish(spawn(agent, env, conf))


@dataclasses.dataclass(frozen=True)
class HostState:
    """Everything of romana's that endpoints leave on one host."""

    veths: frozenset[str]
    routes: frozenset[str]
    allocations: frozenset[str]
    records: frozenset[str]
    pending: frozenset[str]


def host_veths(cluster: Cluster, host: Host) -> set[str]:
    out = cluster.lab.run(host, ["ip", "-o", "link", "show"]).stdout
    names = {line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line}
    return {name for name in names if hostplan.is_host_ifname(name)}


def endpoint_routes(cluster: Cluster, host: Host) -> set[str]:
    """Host routes of romana's protocol that lead into an endpoint veth."""
    out = cluster.lab.run(host, ["ip", "-o", "route", "show", "proto", ROUTE_PROTOCOL]).stdout
    routes = set()
    for line in out.splitlines():
        words = line.split()
        if "dev" in words and hostplan.is_host_ifname(words[words.index("dev") + 1]):
            routes.add(" ".join(words))
    return routes


def snapshot(cluster: Cluster, host: Host) -> HostState:
    agent = cluster.agent(host)
    pending_dir = agent.pending_dir
    pending = os.listdir(pending_dir) if pending_dir.exists() else []
    records = agent.state()["endpoints"] if agent.process and agent.process.poll() is None else []
    return HostState(
        veths=frozenset(host_veths(cluster, host)),
        routes=frozenset(endpoint_routes(cluster, host)),
        allocations=frozenset(a["key"] for a in cluster.api.list_allocations(host=host.name)),
        records=frozenset(records),
        pending=frozenset(pending),
    )


def mentions(cluster: Cluster, host: Host, address: str) -> list[str]:
    """Lines of the host's routes, rules, firewall and conntrack table naming ``address``."""
    commands = [
        ["ip", "-4", "route", "show", "table", "all"],
        ["ip", "-4", "rule", "show"],
        ["nft", "list", "ruleset"],
        ["conntrack", "-L"],
    ]
    found = []
    for argv in commands:
        out = cluster.lab.run(host, argv, check=False).stdout
        words_of = (line.replace("/", " ").replace("=", " ").split() for line in out.splitlines())
        found += [f"{argv[0]}: {' '.join(w)}" for w in words_of if address in w]
    return found


def allocation(cluster: Cluster, container_id: str, ifname: str = "eth0") -> dict[str, Any]:
    """romanad's allocation for one attachment (NotFound when it holds none)."""
    return dict(cluster.api.get_allocation(f"{container_id}:{ifname}"))


def settle(cluster: Cluster, host: Host, state: HostState, within: float = 10.0) -> bool:
    """Wait until ``host`` is back at ``state``; False if it is not within ``within`` seconds.

    DEL answers once the endpoint is off the host; its release in romanad follows within
    milliseconds (after its flows are forgotten), so "nothing left" is waited for here. Also
    used in teardown, so that one test's leftovers do not become the next test's baseline.
    """
    deadline = time.monotonic() + within
    while snapshot(cluster, host) != state:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
