"""A real romana cluster on one machine: romanad, three hosts with agents, CNI workloads.

Everything lives in namespaces of one :class:`~romana.demo.lab.Lab`; nothing is added to the
machine's own network. romanad runs in a ``ctl`` namespace on the underlay and the agents
reach it over the underlay, as they would across real machines. This process talks to
romanad from one worker thread that stays inside ``ctl`` (network namespaces are per thread),
and to each agent only through the CNI plugin, exactly as a container runtime would.

Every daemon is started by this module and stopped by its PID.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from romana.client import Client, ClientSettings
from romana.dataplane import netns as netns_mod
from romana.demo.lab import Host, Lab, Workload

T = TypeVar("T")

CTL_IP = "198.18.0.200"
ROMANAD_PORT = 9600  # inside the ctl namespace, so no clash with anything on the machine
HOSTS = (("host-1", "1"), ("host-2", "2"), ("host-3", "2"))


def agent_user(host: str) -> str:
    """The agent-role user of ``host``'s agent: one per host, bound to it, so one node's
    credential cannot act for another (docs/security.md, Roles)."""
    return f"agent-{host}"


def read_credentials(path: Path) -> tuple[str, str]:
    """User name and password from romanad's admin credential file (``key = value`` lines)."""
    lines = path.read_text().splitlines()
    values = dict(line.split(" = ", 1) for line in lines if " = " in line)
    return values["username"], values["password"]


class Admin:
    """romanad's client, used from one thread that lives in the ``ctl`` namespace.

    Network namespaces are per thread, so one worker enters ``ctl`` for good and every call
    runs there; each call first checks the worker really is inside. Client methods can be
    called directly on this object (``admin.list_hosts()``).
    """

    def __init__(self, ctl_path: str, url: str, *, retries: int = 2, ca: str = "") -> None:
        self._ctl_path = ctl_path
        self._inside: list[contextlib.AbstractContextManager[None]] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(1, initializer=self._enter)
        self.url = url
        self.client: Client = self.call(
            lambda: Client(ClientSettings(url=(url,), retries=retries, timeout=10.0, ca=ca))
        )

    def _enter(self) -> None:
        inside = netns_mod.entered(self._ctl_path)
        inside.__enter__()  # the worker never leaves ctl; keep the manager referenced
        self._inside.append(inside)

    def call(self, work: Callable[[], T]) -> T:
        def checked() -> T:
            if not netns_mod.same(netns_mod.THREAD_NETNS, self._ctl_path):
                raise RuntimeError("the admin worker is not in the ctl namespace")
            return work()

        return self._pool.submit(checked).result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        return lambda *a, **kw: self.call(lambda: method(*a, **kw))

    def sign_in(self, credentials: Path) -> None:
        """Send the token of the admin in ``credentials`` with every later call."""
        self.call(lambda: self.client.login(*read_credentials(credentials)))

    def create_agent_user(self, host: str) -> str:
        """Create the agent-role user of ``host`` (:func:`agent_user`); its password."""
        password = secrets.token_urlsafe(18)
        self.call(lambda: self.client.create_user(agent_user(host), password, "agent", host=host))
        return password

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call(self.client.list_services)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.client.close)
        # Leave the namespace on the worker itself: if the garbage collector ran the exit
        # later, it would do so on whatever thread it happened to be on and move that one.
        with contextlib.suppress(Exception):
            self.call(self._leave)
        self._pool.shutdown(wait=True)

    def _leave(self) -> None:
        while self._inside:
            self._inside.pop().__exit__(None, None, None)


@dataclass
class Workload_:
    """A workload started through the CNI plugin."""

    name: str
    host: str
    tenant: str
    segment: str
    workload: Workload
    address: str
    container_id: str


@dataclass
class Cluster:
    lab: Lab
    workdir: Path
    firewall: str
    ctl: Host | None = None
    url: str = ""
    admin: Admin | None = None
    hosts: dict[str, Host] = field(default_factory=dict)
    agents: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    workloads: list[Workload_] = field(default_factory=list)

    def api(self, work: Callable[[Client], T]) -> T:
        assert self.admin is not None
        admin = self.admin
        return admin.call(lambda: work(admin.client))

    def socket(self, host: str) -> Path:
        return self.workdir / host / "agent.sock"

    # --- bring-up ------------------------------------------------------------------------

    def start_romanad(self, topology: Path) -> None:
        self.ctl = self.lab.add_host("ctl", underlay_ip=CTL_IP)
        self.url = f"http://{CTL_IP}:{ROMANAD_PORT}"
        argv = [
            sys.executable, "-m", "romana.api.main",
            "--store", f"sqlite:///{self.workdir / 'romanad.db'}",
            "--listen", f"{CTL_IP}:{ROMANAD_PORT}",
            # The lab's underlay is a bridge between namespaces of this machine only.
            "--allow-plaintext",
            "--advertise", self.url,
            "--initial-topology", str(topology),
            "--credentials-file", str(self.credentials),
            "--log-level", "warning",
        ]  # fmt: skip
        self._daemon(self.ctl, argv, self.workdir / "romanad.log")
        self.admin = Admin(self.ctl.path, self.url)
        self.admin.wait_ready()
        self.admin.sign_in(self.credentials)

    @property
    def credentials(self) -> Path:
        """romanad's admin credential file (mode 0600)."""
        return self.workdir / "admin.credentials"

    def start_agents(self) -> None:
        assert self.admin is not None
        for name, rack in HOSTS:
            host = self.lab.add_host(name)
            self.hosts[name] = host
            state = self.workdir / name
            state.mkdir(parents=True, exist_ok=True)
            argv = [
                sys.executable, "-m", "romana.agent.main",
                "--host", name,
                "--interface", host.ifname,
                "--labels", f"rack={rack}",
                "--url", self.url,
                "--username", agent_user(name),
                "--socket", str(self.socket(name)),
                "--state-dir", str(state / "state"),
                "--pending-dir", str(state / "pending"),
                "--firewall", self.firewall,
                "--reconcile-interval", "5",
                "--metrics", "127.0.0.1:9607",
                "--log-level", "warning",
            ]  # fmt: skip
            # The password travels in the environment, not in argv (which `ps` shows).
            password = {"ROMANA_AGENT_PASSWORD": self.admin.create_agent_user(name)}
            self.agents[name] = self._daemon(host, argv, state / "agent.log", password)
        for name in self.agents:
            self._wait_agent(name)

    def _daemon(
        self, node: Host, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        environ = {**os.environ, **(env or {})}
        with open(log, "a") as out:
            return self.lab.popen_in(
                node, argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=environ
            )

    def _wait_agent(self, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            proc = self.agents[name]
            if proc.poll() is not None:
                raise RuntimeError(f"romana-agent on {name} exited: {self.tail(name)}")
            done = self.cni(name, "STATUS", {}, check=False)
            if done.returncode == 0:
                return
            last = done.stdout.strip()
            time.sleep(0.1)
        raise RuntimeError(f"romana-agent on {name} not ready: {last}\n{self.tail(name)}")

    def tail(self, host: str, lines: int = 20) -> str:
        path = self.workdir / host / "agent.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --- workloads through the CNI plugin ------------------------------------------------

    def cni(
        self, host: str, command: str, conf: dict[str, Any], *, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``romana-cni`` in the host's namespace the way a runtime does."""
        network = {
            "cniVersion": "1.1.0",
            "name": "demo",
            "type": "romana",
            "agent_socket": str(self.socket(host)),
            "pending_dir": str(self.workdir / host / "pending"),
            **conf,
        }
        environ = {
            **os.environ,
            "CNI_COMMAND": command,
            "CNI_PATH": str(Path(sys.executable).parent),
            **env,
        }
        argv = ["ip", "netns", "exec", self.hosts[host].ns, sys.executable, "-m",
                "romana.integrations.cni.main"]  # fmt: skip
        done = subprocess.run(
            argv, input=json.dumps(network), env=environ, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"romana-cni {command} on {host} failed: {done.stdout}{done.stderr}")
        return done

    def start_workload(self, host: str, name: str, tenant: str, segment: str) -> Workload_:
        workload = self.lab.add_workload(self.hosts[host], name)
        container_id = f"demo-{host}-{name}"
        done = self.cni(
            host, "ADD", {"tenant": tenant, "segment": segment},
            CNI_CONTAINERID=container_id, CNI_NETNS=workload.path, CNI_IFNAME="eth0",
        )  # fmt: skip
        result = json.loads(done.stdout)
        address = result["ips"][0]["address"].split("/")[0]
        made = Workload_(name, host, tenant, segment, workload, address, container_id)
        self.workloads.append(made)
        return made

    def stop_workload(self, w: Workload_) -> None:
        self.cni(w.host, "DEL", {}, CNI_CONTAINERID=w.container_id, CNI_IFNAME="eth0",
                 CNI_NETNS=w.workload.path)  # fmt: skip

    # --- teardown ------------------------------------------------------------------------

    def close(self) -> None:
        if self.admin is not None:
            self.admin.close()


@contextlib.contextmanager
def cluster(workdir: Path, firewall: str = "nftables", *, keep: bool = False) -> Iterator[Cluster]:
    """A running cluster, torn down on exit — unless ``keep`` and the body succeeded."""
    lab = Lab(prefix="rdemo" + os.urandom(2).hex())
    made = Cluster(lab, workdir, firewall)
    ok = False
    try:
        yield made
        ok = True
    finally:
        made.close()
        if not (keep and ok):
            lab.close()
