"""A simulated cluster for the agent's acceptance tests: romanad, hosts, agents, workloads.

Layout (all inside one :class:`support.netns.Lab`, nothing in the root namespace):

    ctl   a namespace on the underlay bridge running romanad (SQLite store in a temp dir),
          listening on its underlay address 198.18.0.<n>:<random port>
    h1..  host namespaces, each running ``romana-agent`` (started by PID, stopped by PID)
          with its local API on a Unix socket in the temp dir

romanad listens on TCP in the ``ctl`` namespace rather than on the root namespace's loopback,
because the agents run inside their host namespaces and reach it over the underlay, as they
would in a real cluster. The test process talks to romanad through :class:`Admin`, whose one
worker thread entered the ``ctl`` namespace for good (the namespace is per thread), and to the
agents through ``agentapi.AgentClient`` — the CNI plugin's own client of the local API.
romanad authenticates as in production (``--insecure`` is for loopback only): :class:`Admin`
signs in with the admin credential file, and the agents log in as an agent-role user.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from romana.dataplane import netns as netns_mod
from romana.demo.cluster import Admin, agent_user
from romana.integrations.cni import agentapi
from support import topologies
from support.netns import Host, Lab, Workload

T = TypeVar("T")

TOPOLOGY: dict[str, Any] = topologies.pods()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the Unix socket at ``path`` (the agent's local API)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=20)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def raw_call(socket_path: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request to the local API at ``socket_path`` as it is on the wire: (status, body)."""
    conn = UnixHTTPConnection(socket_path)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


@dataclass
class Agent:
    """One ``romana-agent`` process in one host namespace."""

    lab: Lab
    host: Host
    url: str
    workdir: Path
    firewall: str
    labels: str
    interval: float = 2.0
    process: subprocess.Popen[str] | None = None
    metrics_port: int = field(default_factory=free_port)
    log_level: str = "debug"
    password: str = ""
    """Of the agent-role user; handed over in the environment, never in argv."""

    @property
    def socket(self) -> str:
        return str(self.workdir / "agent.sock")

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    @property
    def pending_dir(self) -> Path:
        return self.workdir / "pending"

    @property
    def log_path(self) -> Path:
        return self.workdir / "agent.log"

    @property
    def api(self) -> agentapi.AgentClient:
        return agentapi.AgentClient(self.socket, timeout=20.0)

    def raw(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request to the local API as it is on the wire: (status, decoded body)."""
        return raw_call(self.socket, method, path, body)

    def state(self) -> dict[str, Any]:
        status, body = self.raw("GET", "/v1/state")
        assert status == 200, body
        return dict(body)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "romana.agent.main",
            "--host",
            self.host.name,
            "--interface",
            self.host.ifname,
            "--labels",
            self.labels,
            "--url",
            self.url,
            "--username",
            agent_user(self.host.name),
            "--socket",
            self.socket,
            "--state-dir",
            str(self.state_dir),
            "--pending-dir",
            str(self.pending_dir),
            "--firewall",
            self.firewall,
            "--reconcile-interval",
            str(self.interval),
            "--gc-grace",
            "1",
            "--metrics",
            f"127.0.0.1:{self.metrics_port}",
            "--log-level",
            self.log_level,
        ]

    def start(self, *, ready: bool = True) -> Agent:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            self.process = self.lab.popen_in(
                self.host,
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "ROMANA_AGENT_PASSWORD": self.password},
            )
        if ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        problem = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"agent on {self.host.name} exited:\n{self.log_tail()}")
            if os.path.exists(self.socket):
                try:
                    readiness = self.api.status()
                    if readiness.ready:
                        return
                    problem = readiness.detail
                except Exception as exc:
                    problem = str(exc)
            time.sleep(0.05)
        raise RuntimeError(f"agent on {self.host.name} not ready: {problem}\n{self.log_tail()}")

    def signal(self, signum: int) -> int:
        """Send ``signum`` by PID and wait for the exit; the exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=15)

    def stop(self) -> int:
        return self.signal(signal.SIGTERM)

    def kill(self) -> int:
        return self.signal(signal.SIGKILL)

    def metrics(self) -> str:
        """The metrics text, fetched from inside the host namespace."""
        with netns_mod.entered(self.host.path):
            sock = socket.create_connection(("127.0.0.1", self.metrics_port), timeout=5)
        with sock:
            sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
        return b"".join(chunks).decode().partition("\r\n\r\n")[2]

    def metric(self, name: str) -> float:
        """The sum of every sample of ``name`` (all label sets)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


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
class AgentCluster:
    lab: Lab
    workdir: Path
    firewall: str
    ctl: Host
    url: str
    romanad_argv: list[str]
    hosts: list[Host] = field(default_factory=list)
    agents: dict[str, Agent] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    romanad: subprocess.Popen[str] | None = None
    admin: Admin | None = None
    agent_passwords: dict[str, str] = field(default_factory=dict)
    """Host name → the password of its agent user (one per host, bound to it)."""

    @property
    def api(self) -> Admin:
        assert self.admin is not None
        return self.admin

    def start_romanad(self) -> None:
        with open(self.workdir / "romanad.log", "a") as log:
            self.romanad = self.lab.popen_in(
                self.ctl, self.romanad_argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        if self.admin is None:
            self.admin = Admin(self.ctl.path, self.url, retries=1)
        self.admin.wait_ready()
        if not self.agent_passwords:  # the first start; a restart keeps the store's users
            self.admin.sign_in(self.workdir / "romanad.credentials")

    def agent_password(self, host: str) -> str:
        """The password of ``host``'s agent user, created on first use."""
        if host not in self.agent_passwords:
            self.agent_passwords[host] = self.api.create_agent_user(host)
        return self.agent_passwords[host]

    def kill_romanad(self) -> None:
        """SIGKILL by PID (a graceful stop would wait out the agents' long polls)."""
        if self.romanad is not None and self.romanad.poll() is None:
            self.romanad.kill()
            self.romanad.wait()

    def agent(self, host: Host) -> Agent:
        return self.agents[host.name]

    def add_endpoint(
        self, host: Host, name: str, tenant: str, segment: str, *, listen: bool = True
    ) -> Endpoint:
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
    hosts: int = 3,
    *,
    topology: dict[str, Any] | None = None,
    interval: float = 2.0,
    log_level: str = "debug",
) -> Iterator[AgentCluster]:
    """romanad in ``ctl`` plus ``hosts`` hosts with running agents; torn down on exit.

    Hosts h1 and h2 carry label rack=1, the others rack=2 (the groups of :data:`TOPOLOGY`).
    """
    with Lab() as lab:
        ctl = lab.add_host("ctl", underlay_ip="198.18.0.200", underlay_ip6="2001:db8:ff::200")
        port = free_port()
        url = f"http://{ctl.underlay_ip}:{port}"
        document = workdir / "topology.json"
        document.write_text(json.dumps(topology or TOPOLOGY))
        argv = [
            sys.executable,
            "-m",
            "romana.api.main",
            "--store",
            f"sqlite:///{workdir / 'romanad.db'}",
            "--listen",
            f"{ctl.underlay_ip}:{port}",
            "--allow-plaintext",  # the underlay exists only inside the lab's namespaces
            "--advertise",
            url,
            "--initial-topology",
            str(document),
            "--credentials-file",
            str(workdir / "romanad.credentials"),
            "--log-level",
            "warning",
        ]
        made = AgentCluster(lab, workdir, firewall, ctl, url, argv)
        try:
            made.start_romanad()
            for i in range(hosts):
                host = lab.add_host(f"h{i + 1}")
                made.hosts.append(host)
                rack = "1" if i < 2 else "2"
                agent = Agent(
                    lab,
                    host,
                    url,
                    workdir / host.name,
                    firewall,
                    f"rack={rack}",
                    interval,
                    log_level=log_level,
                    password=made.agent_password(host.name),
                )
                made.agents[host.name] = agent.start(ready=False)
            for agent in made.agents.values():
                agent.wait_ready()
            yield made
        finally:
            if made.admin is not None:
                made.admin.close()
            for agent in made.agents.values():
                if agent.process is not None and agent.process.poll() is None:
                    agent.stop()
            made.kill_romanad()
