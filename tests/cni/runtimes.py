"""containerd (driven with ``ctr``) and podman as real CNI clients inside lab host namespaces.

Both follow machine-lab.md §8: every runtime command starts with ``nsenter --net=<host>``
(``ip netns exec`` remounts /sys and hides the cgroup mounts runc needs), and every piece of
runtime state lives in a directory of the test's own.

:class:`Containerd`
    One ``containerd`` per host with its own root, state and sockets, started and stopped by
    PID. ``ctr run --cni`` has no flag for the CNI configuration: it loads the first conflist
    of ``/etc/cni/net.d`` and searches plugins in ``/opt/cni/bin:/usr/lib/cni``. Each ``ctr``
    therefore runs in a private mount namespace (``unshare --mount``) where this host's
    configuration directory is bind-mounted over ``/etc/cni/net.d`` and a directory holding
    only ``romana-cni`` over ``/usr/lib/cni``: ctr reads the paths it always reads, the two
    hosts get different agents, and nothing is written to the machine's CNI directories.
    A container runs in the foreground of a ``ctr run --rm --cni`` process; killing its task
    makes that ``ctr`` call CNI DEL and remove the container (``ctr run -d`` never calls DEL).
:class:`Podman`
    podman 4.3 with the CNI backend, configured through ``CONTAINERS_CONF`` and
    ``CONTAINERS_STORAGE_CONF`` only: ``network_config_dir`` and ``cni_plugin_dirs`` point into
    the test's directory, storage is ``vfs`` (no mounts to undo), locks are files rather than
    the shared ``/dev/shm/libpod_lock``, and ``default_ulimits`` stay within the hard limits
    of this machine. ``podman rm -f`` calls CNI DEL.

Each runtime's environment names its host's agent in ``ROMANA_AGENT_SOCKET``, which the
plugins it starts inherit: every lab host has its own agent socket.

Both runtimes create a few machine-wide directories on first use (``/run/containerd``,
``/run/runc``, ``/var/lib/cni/results`` for libcni's result cache). :class:`MachineDirs`
notes which of them did not exist before and removes them afterwards when they are empty
again, so a run leaves the machine as it found it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ociimage import Image

from romana.lab import Host, nsenter_argv
from support import podmanconf

CTR_CONF_DIR = "/etc/cni/net.d"
CTR_PLUGIN_DIR = "/usr/lib/cni"
MACHINE_DIRS = ("/run/containerd", "/run/runc", "/var/lib/cni")
COMMAND_TIMEOUT = 60.0


class CommandFailed(Exception):
    """A runtime command failed; the message carries its output."""


def _run(argv: Sequence[str], env: dict[str, str] | None = None, check: bool = True) -> str:
    done = subprocess.run(
        list(argv), env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    if check and done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


class Containerd:
    """A containerd daemon in one host namespace, and ``ctr`` against it."""

    NAMESPACE = "romana-test"

    def __init__(self, host: Host, workdir: Path, plugin: str, agent_socket: str) -> None:
        self.host = host
        self.workdir = workdir
        self.socket = str(workdir / "containerd.sock")
        # ``ctr run --cni`` runs the plugin itself, with its own environment: that is where
        # the host's agent socket is named, as on a machine whose agent is not at the default.
        self.env = {**os.environ, "ROMANA_AGENT_SOCKET": agent_socket}
        self.conf_dir = workdir / "net.d"
        self.plugin_dir = workdir / "plugins"
        self.plugin = plugin
        self.process: subprocess.Popen[bytes] | None = None
        self.runs: dict[str, subprocess.Popen[str]] = {}

    def start(self, timeout: float = 20.0) -> Containerd:
        for sub in ("root", "state", "opt"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(exist_ok=True)
        self.plugin_dir.mkdir(exist_ok=True)
        os.symlink(self.plugin, self.plugin_dir / "romana-cni")
        config = self.workdir / "config.toml"
        w = self.workdir
        config.write_text(
            "version = 2\n"
            f'root = "{w}/root"\n'
            f'state = "{w}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.socket}"\n'
            f'[ttrpc]\n  address = "{self.socket}.ttrpc"\n'
            f'[debug]\n  address = "{w}/debug.sock"\n'
            f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{w}/opt"\n'
        )
        with open(self.workdir / "containerd.log", "ab") as log:
            self.process = subprocess.Popen(
                nsenter_argv(self.host, ["containerd", "--config", str(config)]),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while _run(self.ctr("version"), check=False).find("Server:") < 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise CommandFailed(f"containerd on {self.host.name} did not start")
            time.sleep(0.05)
        return self

    def ctr(self, *args: str) -> list[str]:
        return ["ctr", "--address", self.socket, "--namespace", self.NAMESPACE, *args]

    def write_conflist(self, conflist: dict[str, Any]) -> None:
        """The one network every ``ctr run --cni`` on this host uses."""
        for old in self.conf_dir.iterdir():
            old.unlink()
        (self.conf_dir / f"10-{conflist['name']}.conflist").write_text(json.dumps(conflist))

    def import_image(self, image: Image) -> None:
        _run(self.ctr("image", "import", str(image.archive)))

    def _ctr_with_cni(self, args: Sequence[str]) -> list[str]:
        # Bind mounts in a private mount namespace: see the module docstring.
        script = 'mount --bind "$1" "$2" && mount --bind "$3" "$4" && shift 4 && exec "$@"'
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            str(self.conf_dir),
            CTR_CONF_DIR,
            str(self.plugin_dir),
            CTR_PLUGIN_DIR,
            *nsenter_argv(self.host, self.ctr(*args)),
        ]

    def run(self, name: str, image: Image, command: Sequence[str]) -> None:
        """Start container ``name`` with CNI in the foreground of a ``ctr`` process of ours."""
        with open(self.workdir / f"ctr-{name}.log", "a") as log:
            self.runs[name] = subprocess.Popen(
                self._ctr_with_cni(["run", "--rm", "--cni", image.name, name, *command]),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def container_id(self, name: str) -> str:
        """``CNI_CONTAINERID`` as ctr passes it: ``<namespace>-<name>``."""
        return f"{self.NAMESPACE}-{name}"

    def running(self, name: str) -> bool:
        out = _run(self.ctr("task", "ls"), check=False)
        return any(line.split()[:1] == [name] and "RUNNING" in line for line in out.splitlines())

    def exec(
        self, name: str, argv: Sequence[str], timeout: float = 15.0
    ) -> subprocess.CompletedProcess[str]:
        exec_id = f"x{time.monotonic_ns()}"
        return subprocess.run(
            nsenter_argv(self.host, self.ctr("task", "exec", "--exec-id", exec_id, name, *argv)),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def remove(self, name: str, timeout: float = 30.0) -> int:
        """Kill the task; its ``ctr run`` calls CNI DEL, deletes the container and exits."""
        proc = self.runs.pop(name)
        _run(self.ctr("task", "kill", "--signal", "SIGKILL", name), check=False)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    def log(self, name: str) -> str:
        path = self.workdir / f"ctr-{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for name in list(self.runs):
            with contextlib.suppress(Exception):
                self.remove(name)
        with contextlib.suppress(Exception):
            for line in _run(self.ctr("container", "ls", "--quiet"), check=False).split():
                _run(self.ctr("container", "delete", line), check=False)
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Podman:
    """podman with the CNI backend for one host namespace; every command run by nsenter."""

    def __init__(self, host: Host, workdir: Path, plugin: str, agent_socket: str) -> None:
        self.host = host
        self.workdir = workdir
        self.conf_dir = workdir / "cni"
        self.plugin_dir = workdir / "plugins"
        self.plugin = plugin
        self.env = {
            **os.environ,
            "ROMANA_AGENT_SOCKET": agent_socket,
        }

    def setup(self, image: Image) -> Podman:
        self.conf_dir.mkdir(parents=True)
        self.plugin_dir.mkdir()
        os.symlink(self.plugin, self.plugin_dir / "romana-cni")
        self.env.update(
            podmanconf.write(
                self.workdir,
                network_config_dir=self.conf_dir,
                plugin_dirs=(self.plugin_dir,),
                driver="vfs",
            )
        )
        self.podman("load", "--quiet", "--input", str(image.archive))
        return self

    def podman(self, *args: str, check: bool = True) -> str:
        return _run(nsenter_argv(self.host, ["podman", *args]), env=self.env, check=check)

    def add_network(self, conflist: dict[str, Any]) -> None:
        (self.conf_dir / f"{conflist['name']}.conflist").write_text(json.dumps(conflist))

    def run(self, name: str, network: str, image: Image, command: Sequence[str]) -> str:
        """Start a detached container on ``network``; its full ID (podman's CNI_CONTAINERID)."""
        return self.podman(
            "run", "--detach", "--name", name, "--network", network, image.name, *command
        ).strip()

    def exec(
        self, name: str, argv: Sequence[str], timeout: float = 15.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            nsenter_argv(self.host, ["podman", "exec", name, *argv]),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def remove(self, name: str) -> None:
        self.podman("rm", "--force", "--time", "0", name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.podman("rm", "--all", "--force", "--time", "0", check=False)


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    return [p for p in points if p == str(path) or p.startswith(f"{path}/")]
