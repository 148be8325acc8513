"""The agent's unit, as ``romana install host`` writes it, runs an agent that joins a cluster.

``romana install host --root DIR`` writes the files for a lab host; the test takes the unit's
ExecStart (and nothing else from the unit) and runs it as written: in a mount namespace of its
own where DIR/etc/romana is /etc/romana and fresh directories are /run/romana and
/var/lib/romana, inside the lab host's network namespace. The namespace is a slave of the
machine's: its bind mounts stay in it, while the network namespaces mounted on /run/netns after
the agent started (the workload's) reach it, as they reach an agent that systemd runs. The
agent must find its configuration and its 0600 password file at the target paths, register
the host with its labels, and wire a workload for a CNI ADD sent by the front installed in
DIR/opt/cni/bin through the agent's socket at /run/romana/agent.sock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.lab import Cluster, cluster
from romana.lab.agents import not_ready
from romana.lab.namespaces import Host
from support import env

pytestmark = pytest.mark.root

SCRIPTS = Path(sysconfig.get_path("scripts"))
MOUNT_POINTS = ("/etc/romana", "/run/romana", "/var/lib/romana")
RUN_AS_WRITTEN = """
mount --bind "$1" /etc/romana
mount --bind "$2" /run/romana
mount --bind "$3" /var/lib/romana
netns=$4
shift 4
exec nsenter --net="$netns" -- "$@"
"""
"""Bind-mount the written configuration and the fresh directories onto the target paths,
then run the command line in the host's network namespace; every step execs, so the PID
started is the agent's."""


@contextlib.contextmanager
def mount_points() -> Iterator[None]:
    """The mount-point directories in the root file system; those made here go afterwards."""
    made = []
    try:
        for path in MOUNT_POINTS:
            if not os.path.exists(path):
                os.makedirs(path)
                made.append(path)
        yield
    finally:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(path)


def exec_start(unit: Path) -> list[str]:
    [line] = [x for x in unit.read_text().splitlines() if x.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def wait_ready(agent: subprocess.Popen[str], socket: Path, log: Path) -> None:
    deadline = time.monotonic() + 30
    problem = "no socket"
    while time.monotonic() < deadline:
        if agent.poll() is not None:
            raise AssertionError(f"the agent exited {agent.returncode}:\n{log.read_text()}")
        problem = not_ready(str(socket)) or ""
        if not problem:
            return
        time.sleep(0.1)
    raise AssertionError(f"the agent is not ready: {problem}\n{log.read_text()}")


def cni_add(made: Cluster, host: Host, root: Path, socket: Path) -> dict[str, object]:
    """CNI ADD through the installed front and configuration, as a runtime on the host."""
    workload = made.lab.add_workload(host, "w1")
    conflist = json.loads((root / "etc/cni/net.d/10-romana.conflist").read_text())
    [plugin] = conflist["plugins"]
    network = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **plugin}
    network |= {"tenant": "t1", "segment": "default"}
    bin_dir = root / "opt/cni/bin"
    environ = {
        "PATH": os.environ["PATH"],
        "ROMANA_AGENT_SOCKET": str(socket),  # /run/romana/agent.sock inside the agent's view
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": f"c-{made.lab.prefix}-w1",
        "CNI_NETNS": workload.path,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(bin_dir),
    }
    done = subprocess.run(
        ["nsenter", f"--net={host.path}", "--", str(bin_dir / plugin["type"])],
        input=json.dumps(network), env=environ, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_units_command_line_runs_an_agent_that_joins_the_cluster(tmp_path: Path) -> None:
    env.need_agent_lab("unshare", "nsenter", "mount")
    env.need((SCRIPTS / "romana-cni").is_file(), "needs the compiled front (make cni-front)")
    root = tmp_path / "root"
    run_dir, state_dir = tmp_path / "run", tmp_path / "state"
    (tmp_path / "lab").mkdir()
    run_dir.mkdir()
    state_dir.mkdir()
    log = tmp_path / "agent.log"
    with cluster(tmp_path / "lab", "nftables", hosts=[]) as made, mount_points():
        agent: subprocess.Popen[str] | None = None
        try:
            host = made.add_host("h1")
            made.hosts.append(host)
            made.api.create_tenant("t1")
            installed = subprocess.run(
                [str(SCRIPTS / "romana"), "install", "host", "--root", str(root),
                 "--url", made.url, "--labels", "rack=1", "--host", host.name,
                 "--interface", host.ifname, "--password-stdin"],
                input=made.agent_password(host.name) + "\n", capture_output=True, text=True,
                timeout=60,
            )  # fmt: skip
            assert installed.returncode == 0, installed.stderr
            argv = exec_start(root / "etc/systemd/system/romana-agent.service")
            assert argv[1:] == ["--config", "/etc/romana/agent.toml"]
            with open(log, "w") as out:
                agent = subprocess.Popen(
                    ["unshare", "--mount", "--propagation", "slave", "--",
                     "sh", "-c", RUN_AS_WRITTEN, "sh",
                     str(root / "etc/romana"), str(run_dir), str(state_dir), host.path, *argv],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, text=True,
                    env={"PATH": os.environ["PATH"]},
                )  # fmt: skip
            socket = run_dir / "agent.sock"
            wait_ready(agent, socket, log)
            cmdline = Path(f"/proc/{agent.pid}/cmdline").read_bytes().split(b"\0")
            assert str(SCRIPTS / "romana-agent").encode() in cmdline  # its PID is the agent's

            registered = made.api.get_host(host.name)
            assert registered["labels"] == {"rack": "1"}
            assert registered["ip"] == str(host.underlay_ip)
            assert (state_dir / "agent").is_dir()  # the registry at /var/lib/romana/agent

            result = cni_add(made, host, root, socket)
            ips = result["ips"]
            assert isinstance(ips, list) and ips
            address = ips[0]["address"].split("/")[0]
            workload = made.lab.workloads[-1]
            inside = made.lab.run(workload, ["ip", "-o", "addr", "show", "eth0"]).stdout
            assert f" {address}/" in inside
            veths = made.lab.run(host, ["ip", "-o", "link", "show", "type", "veth"]).stdout
            assert veths.strip(), "no veth in the host namespace"

            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=15) == 0, log.read_text()
        except BaseException:
            print(made.log_tails(), log.read_text() if log.exists() else "", file=sys.stderr)
            raise
        finally:
            if agent is not None and agent.poll() is None:
                agent.kill()
                agent.wait(timeout=15)
