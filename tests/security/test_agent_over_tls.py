"""An agent on another host reaches romanad over TLS only, verifying it with ``--ca``.

Inside one lab (``romana.lab``: namespaces with a unique prefix, deleted on exit, nothing
in the machine's own namespace), romanad runs in ``ctl`` on the underlay address
198.18.0.200 with ``--tls-cert``/``--tls-key`` — an address other hosts reach, so plain HTTP
would be refused — and a certificate of a throwaway CA naming that address. ``romana-agent``
in ``h1`` is given ``--url https://198.18.0.200:PORT --ca CA``: it logs in, registers its host
and follows its host view until it is ready for workloads. The same agent without ``--ca``
stops at once (exit 1), its log naming the URL and ``--ca``, having sent no password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from romana.integrations.cni import agentapi
from romana.lab import Admin, Host, Lab, agent_user, topologies
from support import env, tls

pytestmark = pytest.mark.root

CTL_IP = "198.18.0.200"
PORT = 9600  # inside the ctl namespace: nothing of the machine's can collide


@dataclass
class Cluster:
    lab: Lab
    workdir: Path
    ca: tls.CA
    url: str
    admin: Admin

    def agent(self, host: Host, *, ca: bool = True) -> tuple[subprocess.Popen[str], Path, Path]:
        """Start ``romana-agent`` in ``host`` against romanad; (process, socket, log)."""
        state = self.workdir / f"{host.name}-{'ca' if ca else 'noca'}"
        state.mkdir(parents=True)
        sock, log = state / "agent.sock", state / "agent.log"
        argv = [
            sys.executable, "-m", "romana.agent.main",
            "--host", host.name, "--interface", host.ifname, "--labels", "rack=1",
            "--url", self.url, "--username", agent_user(host.name),
            "--socket", str(sock), "--state-dir", str(state / "state"),
            "--pending-dir", str(state / "pending"), "--metrics", "",
            "--reconcile-interval", "2", "--log-level", "info",
        ]  # fmt: skip
        if ca:
            argv += ["--ca", str(self.ca.cert)]
        password = self.admin.create_agent_user(host.name)
        with open(log, "w") as out:
            proc = self.lab.popen_in(
                host,
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env={**os.environ, "ROMANA_AGENT_PASSWORD": password},
            )
        return proc, sock, log


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    env.need_root()
    for binary in ("ip", "nft"):
        env.need_binary(binary)
    ca = tls.make_ca(tmp_path / "pki")
    pair = ca.issue("ctl", ips=(CTL_IP,))
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps(topologies.pods()))
    url = f"https://{CTL_IP}:{PORT}"
    with Lab() as lab:
        ctl = lab.add_host("ctl", underlay_ip=CTL_IP)
        argv = [
            sys.executable, "-m", "romana.api.main",
            "--store", f"sqlite:///{tmp_path / 'romanad.db'}",
            "--listen", f"{CTL_IP}:{PORT}",
            "--tls-cert", str(pair.cert), "--tls-key", str(pair.key),
            "--initial-topology", str(topology),
            "--credentials-file", str(tmp_path / "admin.credentials"),
            "--log-level", "warning",
        ]  # fmt: skip
        log = tmp_path / "romanad.log"
        with open(log, "w") as out:
            romanad = lab.popen_in(ctl, argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        admin = Admin(ctl.path, url, retries=1, ca=str(ca.cert))
        try:
            admin.wait_ready()
            admin.sign_in(tmp_path / "admin.credentials")
            yield Cluster(lab, tmp_path, ca, url, admin)
        except BaseException:
            print(log.read_text())
            raise
        finally:
            admin.close()
            romanad.kill()  # a graceful stop would wait out the agent's long poll
            romanad.wait()


def wait_ready(proc: subprocess.Popen[str], sock: Path, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    problem = "no socket yet"
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        if sock.exists():
            try:
                readiness = agentapi.AgentClient(str(sock), timeout=5.0).status()
            except Exception as exc:
                problem = str(exc)
            else:
                if readiness.ready:
                    return
                problem = readiness.detail
        time.sleep(0.1)
    raise AssertionError(f"agent not ready: {problem}\n{log.read_text()}")


def test_an_agent_registers_and_follows_its_view_over_tls(cluster: Cluster) -> None:
    host = cluster.lab.add_host("h1")
    proc, sock, log = cluster.agent(host)
    try:
        wait_ready(proc, sock, log)
        registered = cluster.admin.get_host("h1")
        assert registered["ip"] == str(host.underlay_ip)
        # The view it follows reached the dataplane: the host's gateway holds its prefix.
        shown = cluster.lab.run(host, ["ip", "-br", "addr", "show", "dev", "romana-gw"])
        assert registered["gateways"]["pods"] in shown.stdout
    finally:
        proc.terminate()
        proc.wait(15)


def test_an_agent_without_the_ca_stops_with_a_clear_error(cluster: Cluster) -> None:
    host = cluster.lab.add_host("h2")
    proc, _, log = cluster.agent(host, ca=False)
    try:
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert code == 1, text
    assert f"{cluster.url}: the server's TLS certificate was not accepted" in text
    assert "--ca" in text and "Traceback" not in text
    hosts = {h["name"] for h in cluster.admin.list_hosts()}
    assert "h2" not in hosts
