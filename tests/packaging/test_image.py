"""The container image (``deploy/image/Containerfile``): built, run, and wiring a workload.

One image per module, built from a local debootstrap base and this checkout's wheel
(:mod:`support.image`). Every executable of romana must run in it, and its agent, started as
the DaemonSet starts it (the node's network, exactly :data:`layout.AGENT_CAPABILITIES`, the
node's ``/run/netns``, the password in a read-only file), must join a lab cluster and wire
workloads that a CNI ADD through its socket asks for: address on ``eth0``, reachable from the
host and from another workload; DEL takes it all back and returns the address to romanad.

The agent's container runs in a lab host namespace (``nsenter --net``, machine-lab.md §8), with
``--network host``: the host's namespace is its network, as a node's is a DaemonSet's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from romana import __version__
from romana.deploy import kubeagent, layout
from romana.lab import Cluster, Host, agent_user, cluster, nsenter_argv, topologies
from romana.lab.agents import not_ready
from support import env, image, wait

pytestmark = [pytest.mark.root, pytest.mark.slow]

EXECUTABLES = (
    "romanad",
    "romana-agent",
    "romana-listener",
    "romana",
    "romana-cni",
    "romana-cni-py",
)
HOST_FRONT = Path(sys.executable).parent / "romana-cni"
"""The front the test drives CNI with, as a node's runtime runs the one the image installed."""


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[image.Podman]:
    env.need_root()
    for binary in ("podman", "runc", "debootstrap", "nsenter", "ip", "nft", "ping"):
        env.need_binary(binary)
    workdir = tmp_path_factory.mktemp("image")
    made = image.Podman(workdir / "podman")
    try:
        image.build_image(made, workdir)
        yield made
    finally:
        left = made.close()
        assert not left, f"podman left mounts or directories behind: {left}"


def run(podman: image.Podman, *argv: str, stdin: str = "", **environ: str) -> Any:
    """``argv`` in a throwaway container of the image (no network); the finished process."""
    flags = [f"--env={k}={v}" for k, v in environ.items()]
    return subprocess.run(
        podman.argv("run", "--rm", "--interactive", *flags, image.TEST_IMAGE, *argv),
        env=podman.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_executable_runs_from_the_image_prefix(podman: image.Podman) -> None:
    located = run(podman, "sh", "-c", f"for e in {' '.join(EXECUTABLES)}; do command -v $e; done")
    assert located.stdout.split() == [f"{layout.IMAGE_PREFIX}/bin/{e}" for e in EXECUTABLES]

    assert run(podman, "romana", "--version").stdout.strip() == f"romana {__version__}"
    for daemon in ("romanad", "romana-agent", "romana-listener"):
        done = run(podman, daemon, "--help")
        assert done.returncode == 0 and f"usage: {daemon}" in done.stdout.lower(), done.stderr
    for plugin in ("romana-cni", "romana-cni-py"):
        done = run(podman, plugin, stdin="{}", CNI_COMMAND="VERSION")
        assert done.returncode == 0, (plugin, done.stderr)
        assert "1.1.0" in json.loads(done.stdout)["supportedVersions"], plugin

    labels = json.loads(podman("image", "inspect", image.TEST_IMAGE).stdout)[0]["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.title"] == "romana"

    # A runtime image: no compiler, no installer, no package lists or caches.
    script = (
        "for e in gcc cc pip pip3; do command -v $e; done; "
        "find /var/lib/apt/lists /root/.cache -mindepth 1 2>/dev/null; true"
    )
    leftovers = run(podman, "sh", "-c", script)
    assert leftovers.stdout.split() == [], leftovers.stdout


def test_bird_listens_on_the_bgp_port_with_the_agent_capabilities(podman: image.Podman) -> None:
    """The agent's BIRD (bgp route mode) must bind port 179 with no more than the agent has."""
    conf = (
        "router id 192.0.2.1;\nprotocol device {}\n"
        "protocol bgp peer { local 127.0.0.1 as 65001; neighbor 127.0.0.2 as 65002; multihop;"
        " ipv4 { import none; export none; }; }\n"
    )
    script = (
        'printf %s "$CONF" >/tmp/bird.conf && bird -c /tmp/bird.conf -s /tmp/bird.ctl && '
        "sleep 1 && birdc -s /tmp/bird.ctl show protocols all peer"
    )
    caps = [f"--cap-add={cap}" for cap in layout.AGENT_CAPABILITIES]
    done = subprocess.run(
        podman.argv(
            "run", "--rm", "--cap-drop=all", *caps, f"--env=CONF={conf}",
            image.TEST_IMAGE, "sh", "-c", script,
        ),
        env=podman.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "BGP state:" in done.stdout and "No listening socket" not in done.stdout, done.stdout


class ImageAgent:
    """The image's agent in one lab host: a container started and removed by its ID."""

    def __init__(self, podman: image.Podman, made: Cluster, host: Host, workdir: Path) -> None:
        self.podman = podman
        self.host = host
        self.run_dir = workdir / "run"
        self.state_dir = workdir / "state"
        self.run_dir.mkdir(parents=True)
        self.state_dir.mkdir()
        self.password_file = workdir / "agent.password"
        self.password_file.write_text(made.agent_password(host.name) + "\n")
        self.password_file.chmod(0o600)
        self.argv = [
            "run", "--detach", "--network", "host", "--cap-drop", "all",
            *(f"--cap-add={cap}" for cap in layout.AGENT_CAPABILITIES),
            "--volume", f"{self.run_dir}:{layout.RUN_DIR}",
            "--volume", f"{self.state_dir}:{layout.STATE_DIR}",
            # Workload namespaces pinned after the start must appear inside: rslave.
            "--volume", "/run/netns:/run/netns:rslave",
            "--volume", f"{self.password_file}:{layout.AGENT_PASSWORD_FILE}:ro",
            # The node's network sysctls, as the DaemonSet mounts them (setting proc_sys).
            "--volume", f"/proc/sys/net:{kubeagent.PROC_SYS}/net",
            image.TEST_IMAGE,
            "romana-agent", "--host", host.name, "--interface", host.ifname,
            "--labels", "rack=1", "--url", made.url, "--username", agent_user(host.name),
            "--password-file", layout.AGENT_PASSWORD_FILE, "--firewall", "nftables",
            "--proc-sys", kubeagent.PROC_SYS,
            "--log-level", "debug",
        ]  # fmt: skip
        self.id = ""

    @property
    def socket(self) -> str:
        return str(self.run_dir / "agent.sock")

    def start(self, timeout: float = 30.0) -> None:
        done = subprocess.run(
            nsenter_argv(self.host, self.podman.argv(*self.argv)),
            env=self.podman.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        self.id = done.stdout.strip()
        deadline = time.monotonic() + timeout
        problem = "no socket"
        while time.monotonic() < deadline:
            problem = not_ready(self.socket) or ""
            if not problem:
                return
            time.sleep(0.1)
        raise AssertionError(f"the image's agent is not ready: {problem}\n{self.logs()}")

    def logs(self) -> str:
        done = self.podman("logs", self.id, check=False)
        return done.stdout + done.stderr

    def remove(self) -> None:
        if self.id:
            self.podman("rm", "--force", "--time", "0", self.id)


def cni(agent: ImageAgent, command: str, container: str, netns: str) -> Any:
    """The front run in the host's namespace as a runtime runs it, against the image's agent."""
    conf = {
        "cniVersion": "1.1.0",
        "name": "romana-image-test",
        "type": "romana-cni",
        "tenant": "t1",
        "pending_dir": str(agent.state_dir / "cni-pending"),
    }
    environ = {
        "PATH": os.environ["PATH"],
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "ROMANA_AGENT_SOCKET": agent.socket,
    }
    return subprocess.run(
        nsenter_argv(agent.host, [str(HOST_FRONT)]),
        input=json.dumps(conf), env=environ, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_image_agent_joins_a_lab_cluster_and_wires_workloads(
    podman: image.Podman, tmp_path: Path
) -> None:
    env.need(HOST_FRONT.exists(), f"needs the built CNI front {HOST_FRONT} (scripts/build-cni.sh)")
    with cluster(tmp_path, "nftables", hosts=[], topology=topologies.pods(), start=False) as made:
        agent: ImageAgent | None = None
        try:
            made.start_romanad()
            made.api.create_tenant("t1")
            host = made.add_host("h1")
            made.hosts.append(host)
            made.lab.run(host, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
            agent = ImageAgent(podman, made, host, tmp_path / "h1")
            agent.start()
            assert [h["name"] for h in made.api.list_hosts()] == ["h1"]
            # The container's own /proc/sys is read-only; the agent switched the host's
            # forwarding on (off before it started) through the node's /proc/sys/net mount.
            forwarding = "/proc/sys/net/ipv4/ip_forward"
            own = agent.podman("exec", agent.id, "sh", "-c", f"echo 1 > {forwarding}", check=False)
            assert own.returncode != 0 and "Read-only file system" in own.stderr
            assert made.lab.run(host, ["cat", forwarding]).stdout.strip() == "1"

            first, second = made.lab.add_workload(host, "w1"), made.lab.add_workload(host, "w2")
            added = cni(agent, "ADD", "image-w1", first.path)
            assert added.returncode == 0, f"{added.stdout}{added.stderr}\n{agent.logs()}"
            address = json.loads(added.stdout)["ips"][0]["address"].split("/")[0]
            on_eth0 = made.lab.run(first, ["ip", "-4", "-o", "addr", "show", "eth0"]).stdout
            assert f"inet {address}/32" in on_eth0
            assert made.api.get_allocation("image-w1:eth0")["host"] == "h1"
            assert made.lab.ping(host, address)

            other = cni(agent, "ADD", "image-w2", second.path)
            assert other.returncode == 0, other.stdout
            assert made.lab.ping(second, address)

            deleted = cni(agent, "DEL", "image-w1", first.path)
            assert deleted.returncode == 0, deleted.stdout
            assert "eth0" not in made.lab.run(first, ["ip", "-o", "link"]).stdout
            keys = lambda: {a["key"] for a in made.api.list_allocations(host="h1")}  # noqa: E731
            assert wait.eventually(lambda: keys() == {"image-w2:eth0"}), keys()
            assert made.lab.silent(second, address)
        except BaseException:
            print(made.log_tails())
            if agent is not None and agent.id:
                print(f"--- the image's agent\n{agent.logs()[-6000:]}")
            raise
        finally:
            if agent is not None:
                agent.remove()
