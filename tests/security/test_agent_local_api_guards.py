"""The agent's local API guards who calls it, which namespaces ADD may wire, and what GC frees.

One real ``romana-agent`` in a lab host namespace, with no romanad to talk to: none of these
guards may depend on the agent being synced (an unsynced agent refuses ADD with 503 anyway,
so a missing guard shows as 503, never as an endpoint wired into the host). Its registry is
seeded before it starts with two endpoints of network ``romana-sec``: one whose workload
namespace exists, one whose namespace is gone.

* A caller that is not root is refused with 403, even when the socket's file mode lets it
  connect (the mode is loosened here to show the second guard).
* ADD refuses the agent's own network namespace and the init one, by whatever path, with 422
  naming ``netns``.
* GC with an empty ``valid`` list releases only the endpoint whose namespace is gone.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from romana.agent import ledger
from romana.lab import Host, Lab, Workload, raw_call
from support import env, peers

pytestmark = pytest.mark.root

NETWORK = "romana-sec"


@dataclass
class Running:
    lab: Lab
    host: Host
    workdir: Path
    process: subprocess.Popen[str]
    alive: Workload
    gone_netns: str

    @property
    def socket(self) -> str:
        return str(self.workdir / "agent.sock")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return raw_call(self.socket, method, path, body)

    def log_tail(self) -> str:
        path = self.workdir / "agent.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def seed(state_dir: Path, alive: Workload, gone_netns: str) -> None:
    reg = ledger.Ledger(state_dir)
    reg.load()
    for name, netns in (("alive", alive.path), ("gone", gone_netns)):
        record = ledger.EndpointRecord(
            container_id=f"sec-{name}",
            ifname="eth0",
            netns=netns,
            tenant="t1",
            segment="default",
            network=NETWORK,
            created_at=0.0,  # far past any GC grace
        )
        reg.put(record.ready(()))


@pytest.fixture(scope="module")
def agent() -> Iterator[Running]:
    env.need_root()
    env.need_binary("ip")
    # Short, and reachable by the unprivileged caller of the credentials test.
    workdir = Path(tempfile.mkdtemp(prefix="rsec", dir="/tmp"))
    workdir.chmod(0o755)
    try:
        with Lab() as lab:
            host = lab.add_host("h1")
            alive = lab.add_workload(host, "alive")
            gone_netns = f"/run/netns/{lab.prefix}-h1-gone"
            seed(workdir / "state", alive, gone_netns)
            argv = [
                sys.executable,
                "-m",
                "romana.agent.main",
                "--host",
                host.name,
                "--interface",
                host.ifname,
                "--url",
                "http://127.0.0.1:9",  # nothing there: the agent never syncs
                "--token",
                "unused",
                "--socket",
                str(workdir / "agent.sock"),
                "--state-dir",
                str(workdir / "state"),
                "--pending-dir",
                str(workdir / "pending"),
                "--gc-grace",
                "0",
                "--metrics",
                "",
                "--log-level",
                "debug",
            ]
            with open(workdir / "agent.log", "a") as log:
                process = lab.popen_in(host, argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            running = Running(lab, host, workdir, process, alive, gone_netns)
            deadline = time.monotonic() + 20
            while not os.path.exists(running.socket):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"agent did not start:\n{running.log_tail()}")
                time.sleep(0.05)
            try:
                yield running
            except BaseException:
                print(running.log_tail())
                raise
            finally:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_non_root_peer_is_refused(agent: Running) -> None:
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody on this machine")
    assert stat.S_IMODE(os.stat(agent.socket).st_mode) == 0o600
    # The file mode keeps others out; the credentials check must hold without it.
    os.chmod(agent.socket, 0o666)
    try:
        answer = peers.call_as(nobody.pw_uid, nobody.pw_gid, agent.socket)
    finally:
        os.chmod(agent.socket, 0o600)
    assert answer.get("status") == 403, answer
    assert answer["body"]["type"].endswith("/forbidden")
    assert f"uid {nobody.pw_uid}" in answer["body"]["detail"]
    assert "root" in answer["body"]["detail"]
    # root still gets through.
    status, _ = agent.call("GET", "/v1/state")
    assert status == 200


def test_agent_own_and_init_netns_are_refused(agent: Running) -> None:
    body = {
        "container_id": "sec-host",
        "ifname": "sec0",
        "tenant": "t1",
        "segment": "default",
        "network": NETWORK,
    }
    for netns in (agent.host.path, f"/proc/{agent.process.pid}/ns/net", "/proc/1/ns/net"):
        status, answer = agent.call("POST", "/v1/endpoints", {**body, "netns": netns})
        assert status == 422, (netns, answer)
        assert answer["field"] == "netns", answer
        assert netns in answer["detail"] and "namespace" in answer["detail"]
    # A workload's own namespace passes this check (and meets the unsynced agent's 503).
    status, answer = agent.call("POST", "/v1/endpoints", {**body, "netns": agent.alive.path})
    assert status == 503, answer


def test_gc_with_empty_valid_list_releases_nothing_still_present(agent: Running) -> None:
    assert os.path.exists(agent.alive.path) and not os.path.exists(agent.gone_netns)
    status, answer = agent.call("POST", "/v1/gc", {"network": NETWORK, "valid": []})
    assert status == 200, answer
    assert answer["released"] == [{"container_id": "sec-gone", "ifname": "eth0"}], answer
    status, state = agent.call("GET", "/v1/state")
    assert status == 200
    assert "sec-alive:eth0" in state["endpoints"]
    assert "sec-gone:eth0" not in state["endpoints"]
