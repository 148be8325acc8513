"""A romana cluster on one machine: romanad, hosts with agents, workloads.

The one cluster builder of the project, used by the demo (``python -m romana.demo``), the
root tests and the benchmarks. Everything lives in one :class:`~romana.lab.namespaces.Lab`;
nothing is added to the machine's own network:

    ctl   a namespace on the underlay running romanad (SQLite store in the work directory),
          listening on its underlay address 198.18.0.200, port :data:`ROMANAD_PORT`
    h1..  host namespaces, each running ``romana-agent`` (:class:`~romana.lab.agents.Agent`)
          with its local API on a Unix socket in the work directory

With a ``fabric`` (:class:`~romana.lab.fabricconf.FabricSpec`), the hosts its racks name sit on
their rack's segment behind a ToR instead of on the flat underlay, the others and ``ctl``
on the flat underlay behind the spine (:mod:`romana.lab.fabric`); every host's default
route then leads to romanad through the fabric.

romanad listens on the underlay rather than on the machine's loopback, because the agents run
inside their host namespaces and reach it over the underlay, as they would across real
machines; the port is fixed because the ``ctl`` namespace is the lab's own. The driving
process talks to romanad through :class:`~romana.lab.admin.Admin`, and to an agent either
through its local API (:meth:`Cluster.add_endpoint`, as the CNI plugin hosted in the agent
does) or through the CNI plugin, exactly as a container runtime would
(:meth:`Cluster.start_workload`). romanad authenticates as in production: the admin signs in
with the credential file, and each agent logs in as an agent-role user bound to its host.

Every daemon is started here and stopped by its PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from romana.client import Client
from romana.lab import fabric as fabric_mod
from romana.lab import topologies
from romana.lab.admin import Admin
from romana.lab.agents import Agent
from romana.lab.docker import api_socket, plugin_socket
from romana.lab.fabricconf import FabricSpec
from romana.lab.namespaces import Host, Lab, Workload

CTL_IP = "198.18.0.200"
CTL_IP6 = "2001:db8:ff::200"
ROMANAD_PORT = 9600

T = TypeVar("T")


def hosts_in_racks(count: int) -> list[tuple[str, str]]:
    """``count`` hosts ``h1``, ``h2``, …: h1 and h2 labelled rack=1, the others rack=2."""
    return [(f"h{i + 1}", f"rack={1 if i < 2 else 2}") for i in range(count)]


@dataclass
class Endpoint:
    """A workload wired through an agent: its namespace, address and TCP listener port."""

    name: str
    workload: Workload
    host: Host
    tenant: str
    segment: str
    address: str
    port: int
    container_id: str


@dataclass
class Cluster:
    """romanad in ``ctl`` and the agents of the hosts; built by :func:`cluster`."""

    lab: Lab
    workdir: Path
    firewall: str
    ctl: Host
    topology: Path
    interval: float = 2.0
    log_level: str = "debug"
    docker: bool = False
    """Each agent serves Docker's plugin where the host's dockerd looks for it, and asks
    that dockerd's API which container holds each endpoint (:mod:`~romana.lab.docker`)."""
    hosts: list[Host] = field(default_factory=list)
    agents: dict[str, Agent] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    romanad: subprocess.Popen[str] | None = None
    admin: Admin | None = None
    agent_passwords: dict[str, str] = field(default_factory=dict)
    """Host name → the password of its agent user (one per host, bound to it)."""
    fabric: fabric_mod.Fabric | None = None
    """The racks, ToRs and spine the hosts sit in; None: one flat underlay."""

    @property
    def url(self) -> str:
        return f"http://{self.ctl.underlay_ip}:{ROMANAD_PORT}"

    @property
    def credentials(self) -> Path:
        """romanad's admin credential file (mode 0600)."""
        return self.workdir / "admin.credentials"

    @property
    def api(self) -> Admin:
        """romanad's admin client; its methods are the client's (``api.list_hosts()``)."""
        assert self.admin is not None, "romanad is not started"
        return self.admin

    def call(self, work: Callable[[Client], T]) -> T:
        """``work`` with romanad's admin client, run on the admin's thread inside ``ctl``."""
        admin = self.api
        return admin.call(lambda: work(admin.client))

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def agent(self, host: Host) -> Agent:
        return self.agents[host.name]

    def docker_dir(self, host: str) -> Path:
        """The directory of ``host``'s dockerd (:class:`~romana.lab.docker.Dockerd`)."""
        return self.workdir / host / "docker"

    # --- romanad ---------------------------------------------------------------------------

    def romanad_argv(self) -> list[str]:
        return [
            sys.executable, "-m", "romana.api.main",
            "--store", f"sqlite:///{self.workdir / 'romanad.db'}",
            "--listen", f"{self.ctl.underlay_ip}:{ROMANAD_PORT}",
            # The lab's underlay is a bridge between namespaces of this machine only.
            "--allow-plaintext",
            "--advertise", self.url,
            "--initial-topology", str(self.topology),
            "--credentials-file", str(self.credentials),
            "--log-level", "warning",
        ]  # fmt: skip

    def start_romanad(self) -> None:
        """Start romanad (again, after :meth:`kill_romanad`) and wait until it answers."""
        with open(self.workdir / "romanad.log", "a") as log:
            self.romanad = self.lab.popen_in(
                self.ctl, self.romanad_argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        if self.admin is None:
            self.admin = Admin(self.ctl.path, self.url, retries=1)
        self.admin.wait_ready()
        if not self.agent_passwords:  # the first start; a restart keeps the store's users
            self.admin.sign_in(self.credentials)

    def kill_romanad(self) -> None:
        """SIGKILL by PID (a graceful stop would wait out the agents' long polls)."""
        if self.romanad is not None and self.romanad.poll() is None:
            self.romanad.kill()
            self.romanad.wait()

    # --- agents ----------------------------------------------------------------------------

    def agent_password(self, host: str) -> str:
        """The password of ``host``'s agent user, created on first use."""
        if host not in self.agent_passwords:
            self.agent_passwords[host] = self.api.create_agent_user(host)
        return self.agent_passwords[host]

    def start_agents(self, hosts: Sequence[tuple[str, str]]) -> None:
        """One host namespace and one running agent per (name, labels); waits for all."""
        started = []
        for name, labels in hosts:
            host = self.add_host(name)
            self.hosts.append(host)
            socket = plugin_socket(self.docker_dir(name)) if self.docker else None
            if socket is not None:
                socket.parent.mkdir(parents=True, exist_ok=True)
            agent = Agent(
                self.lab,
                host,
                self.url,
                self.workdir / name,
                self.firewall,
                labels,
                self.interval,
                log_level=self.log_level,
                password=self.agent_password(name),
                docker_socket=str(socket or ""),
                docker_api=str(api_socket(self.docker_dir(name))) if self.docker else "",
            )
            self.agents[name] = agent.start(ready=False)
            started.append(agent)
        for agent in started:
            agent.wait_ready()

    def add_host(self, name: str) -> Host:
        """A host namespace: in its rack of the fabric, if any names it; else on the flat
        underlay."""
        if self.fabric is None:
            return self.lab.add_host(name)
        rack = self.fabric.spec.rack_of(name)
        if rack is None:
            return self.fabric.add_service_host(name)
        return self.fabric.add_host(rack.name, name)

    def stop(self) -> None:
        """Stop every agent (and the BIRD it ran) and romanad by PID; the namespaces stay."""
        if self.admin is not None:
            self.admin.close()
        for agent in self.agents.values():
            if agent.process is not None and agent.process.poll() is None:
                agent.stop()
            agent.stop_bird()
        self.kill_romanad()

    # --- workloads -------------------------------------------------------------------------

    def add_endpoint(
        self, host: Host, name: str, tenant: str, segment: str, *, listen: bool = True
    ) -> Endpoint:
        """A workload namespace wired through the agent's local API, serving TCP."""
        workload = self.lab.add_workload(host, name)
        container_id = f"c-{self.lab.prefix}-{host.name}-{name}"
        answer = self.agent(host).api.add_endpoint(
            {
                "container_id": container_id,
                "ifname": "eth0",
                "netns": workload.path,
                "network": "romana-test",
                "tenant": tenant,
                "segment": segment,
                "labels": {},
            }
        )
        address = answer["addresses"][0]["address"].split("/")[0]
        port = self.lab.listen(workload).port if listen else 0
        ep = Endpoint(name, workload, host, tenant, segment, address, port, container_id)
        if listen:
            self.endpoints.append(ep)
        return ep

    def cni(
        self, host: Host, command: str, conf: Mapping[str, Any], *, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the CNI plugin in ``host``'s namespace the way a runtime does."""
        agent = self.agent(host)
        network = {
            "cniVersion": "1.1.0",
            "name": "lab",
            "type": "romana",
            "pending_dir": str(agent.pending_dir),
            **conf,
        }
        environ = {
            **os.environ,
            "ROMANA_AGENT_SOCKET": agent.socket,  # each lab host has its own agent socket
            "CNI_COMMAND": command,
            "CNI_PATH": str(Path(sys.executable).parent),
            **env,
        }
        argv = ["ip", "netns", "exec", host.ns, sys.executable, "-m",
                "romana.integrations.cni.main"]  # fmt: skip
        done = subprocess.run(
            argv, input=json.dumps(network), env=environ, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"CNI {command} on {host.name} failed: {done.stdout}{done.stderr}")
        return done

    def start_workload(
        self,
        host: Host,
        name: str,
        tenant: str,
        segment: str,
        *,
        port: int = 0,
        container_id: str = "",
    ) -> Endpoint:
        """A workload namespace wired by CNI ADD, serving TCP on ``port`` (0: any)."""
        workload = self.lab.add_workload(host, name)
        container_id = container_id or f"c-{self.lab.prefix}-{host.name}-{name}"
        done = self.cni(
            host, "ADD", {"tenant": tenant, "segment": segment},
            CNI_CONTAINERID=container_id, CNI_NETNS=workload.path, CNI_IFNAME="eth0",
        )  # fmt: skip
        address = json.loads(done.stdout)["ips"][0]["address"].split("/")[0]
        listening = self.lab.listen(workload, "tcp", port).port
        ep = Endpoint(name, workload, host, tenant, segment, address, listening, container_id)
        self.endpoints.append(ep)
        return ep

    def stop_workload(self, ep: Endpoint) -> None:
        """CNI DEL of a workload started by :meth:`start_workload`."""
        self.cni(ep.host, "DEL", {}, CNI_CONTAINERID=ep.container_id, CNI_IFNAME="eth0",
                 CNI_NETNS=ep.workload.path)  # fmt: skip

    # --- logs ------------------------------------------------------------------------------

    def log_tails(self) -> str:
        parts = [f"--- romanad\n{tail(self.workdir / 'romanad.log')}"]
        parts += [f"--- agent {n}\n{a.log_tail()}" for n, a in self.agents.items()]
        return "\n".join(parts)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def cluster(
    workdir: Path,
    firewall: str,
    hosts: int | Sequence[tuple[str, str]] = 3,
    *,
    topology: Mapping[str, Any] | None = None,
    interval: float = 2.0,
    log_level: str = "debug",
    start: bool = True,
    keep: bool = False,
    prefix: str | None = None,
    docker: bool = False,
    fabric: FabricSpec | None = None,
) -> Iterator[Cluster]:
    """romanad in ``ctl`` with ``topology`` (:func:`~romana.lab.topologies.pods` unless given),
    then the hosts with running agents.

    ``hosts`` is a count (:func:`hosts_in_racks`) or (name, labels) pairs. With ``start``
    false, nothing runs yet: the caller calls :meth:`Cluster.start_romanad` and
    :meth:`Cluster.start_agents` itself. With ``docker``, every agent serves Docker's plugin
    for its host's dockerd (:func:`romana.lab.docker.running` starts those). With
    ``fabric``, the fabric is built and its sessions up before romanad starts, and the hosts
    its racks name join those racks (:meth:`Cluster.add_host`). Torn down on
    exit (daemons stopped by PID, namespaces deleted), unless ``keep`` and the body
    succeeded: then everything stays running.
    """
    lab = Lab(prefix) if prefix else Lab()
    ok = False
    made: Cluster | None = None
    try:
        routed = None if fabric is None else fabric_mod.build(lab, fabric, workdir / "fabric")
        ctl = (
            lab.add_host("ctl", underlay_ip=CTL_IP, underlay_ip6=CTL_IP6)
            if routed is None
            else routed.add_service_host("ctl", CTL_IP, CTL_IP6)
        )
        document = workdir / "topology.json"
        document.write_text(json.dumps(topologies.pods() if topology is None else topology))
        made = Cluster(lab, workdir, firewall, ctl, document, interval, log_level, docker)
        made.fabric = routed
        if start:
            made.start_romanad()
            made.start_agents(hosts_in_racks(hosts) if isinstance(hosts, int) else hosts)
        yield made
        ok = True
    finally:
        if keep and ok:
            if made is not None and made.admin is not None:
                made.admin.close()
        else:
            try:
                if made is not None:
                    made.stop()
            finally:
                lab.close()
