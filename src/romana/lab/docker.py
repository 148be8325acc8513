"""Real Docker daemons in the lab: one ``dockerd`` per host namespace, driven by its client.

A :class:`Dockerd` is Debian's ``dockerd`` (docker.io 20.10) serving one host namespace of a
:class:`~romana.lab.namespaces.Lab`, with everything it owns in one directory of its own::

    plugins/      bind-mounted on /run/docker/plugins for this dockerd alone: where it looks
                  for romana's plugin, the socket the host's agent serves (:func:`plugin_socket`)
    root/ exec/   its --data-root and --exec-root; the containerd it starts keeps its socket
                  under exec/, so the containerds of two hosts never meet
    docker.sock   its API; :meth:`Dockerd.docker` runs the matching client against it, and
                  the host's agent asks it which container holds each endpoint (:func:`api_socket`)
    client/       that client's configuration directory (DOCKER_CONFIG)
    dockerd.log   what dockerd and its containerd print

Docker looks for plugins in the machine's one directory /run/docker/plugins, so each dockerd
starts in a private mount namespace (``unshare --mount``) where its own plugins/ is
bind-mounted there, with a host name of its own (its host's namespace name: dockerds sharing
a cluster store gossip under their host names and refuse duplicates), then enters the host's
network namespace with ``nsenter`` (not ``ip netns exec``, whose /sys remount hides the
cgroups runc needs). Its containers' network namespaces and image mounts live in that mount
namespace and vanish with its last process. The files they are mounted on (the sandbox keys,
exec/netns/<id>) are on the shared file system, so an agent sees a sandbox key exist exactly
as with dockerd in the machine's own mount namespace: from docker's SetKey, when the
container starts (after the driver's Join, which names a key that does not exist yet), until
the container is removed.

romana's driver has global scope, which needs a cluster store: :func:`running` starts an
etcd serving the v2 API (the only one dockerd's libkv speaks) in the lab's ``ctl`` namespace,
reached by every dockerd over the underlay.

Every process is stopped by PID: dockerd with SIGTERM, then SIGKILL after a timeout; then
whatever it left (its containerd, shims and their containers), found by the exec root in
their command lines, which no other process on the machine names. :meth:`Dockerd.kill` sends
SIGKILL at once, as a crash of the host's docker would; a new :class:`Dockerd` on the same
directory starts again on the same data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from romana.lab import namespaces
from romana.lab.etcd import EtcdCluster
from romana.lab.namespaces import Host

if TYPE_CHECKING:
    from romana.lab.cluster import Cluster

DOCKER = "/usr/bin/docker"
"""The client shipped with dockerd; another ``docker`` earlier in PATH may not match it."""
DOCKERD = "dockerd"
PLUGINS = "/run/docker/plugins"
IMAGE = "lab/busybox:latest"
DRIVER = "romana"
STOP_GRACE = 20.0


def plugin_socket(directory: Path) -> Path:
    """Where the dockerd whose directory is ``directory`` finds romana's plugin."""
    return directory / "plugins" / f"{DRIVER}.sock"


def api_socket(directory: Path) -> Path:
    """Where the dockerd whose directory is ``directory`` serves its API (the agent's
    ``docker_api``)."""
    return directory / "docker.sock"


@dataclass
class Dockerd:
    """One ``dockerd`` in ``host``'s network namespace, its files in ``directory``."""

    host: Host
    directory: Path
    cluster_store: str = ""
    """``etcd://IP:PORT`` of an etcd serving the v2 API; empty: no cluster store."""
    default_bridge: bool = False
    """Docker's own networking as it ships (docker0, NAT and its iptables chains in the
    host's namespace), as a reference beside romana's; off: none of it (romana's hosts)."""
    debug: bool = False
    """dockerd logs at debug level: each API call and timings such as each sandbox's SetKey."""
    process: subprocess.Popen[bytes] | None = None
    socket: Path = field(init=False)
    exec_root: Path = field(init=False)
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.socket = api_socket(self.directory)
        self.exec_root, self.log_path = (self.directory / name for name in ("exec", "dockerd.log"))

    def argv(self) -> list[str]:
        config = self.directory / "daemon.json"
        config.write_text("{}\n")  # never the machine's /etc/docker/daemon.json
        store = (
            ["--cluster-store", self.cluster_store,
             "--cluster-advertise", f"{self.host.underlay_ip}:2376"]
            if self.cluster_store else []
        )  # fmt: skip
        # romana owns the host's routes and forwarding rules: no docker0 bridge, no NAT,
        # no FORWARD chains of docker's in the host namespace.
        bridge = [] if self.default_bridge else [
            "--bridge", "none", "--iptables=false", "--ip-masq=false", "--ip6tables=false",
        ]  # fmt: skip
        return [
            DOCKERD,
            "--config-file", str(config),
            "--data-root", str(self.directory / "root"),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.directory / "dockerd.pid"),
            "-H", f"unix://{self.socket}",
            *bridge,
            *(["--debug"] if self.debug else []),
            "--userland-proxy=false",
            "--shutdown-timeout", "2",
            *store,
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> Dockerd:
        """Start dockerd and wait until its API answers ``docker version``."""
        plugins = self.directory / "plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        (self.directory / "client").mkdir(exist_ok=True)
        os.makedirs(PLUGINS, exist_ok=True)  # the mount point, empty on the machine itself
        # unshare and nsenter exec (neither forks for these namespaces): the PID is dockerd's.
        # A host name of its own too: dockerds sharing a cluster store gossip under it.
        script = f'mount --bind "$0" {PLUGINS} && hostname "$1" && shift && exec "$@"'
        argv = [
            "unshare", "--mount", "--uts", "--propagation", "private",
            "sh", "-c", script, str(plugins), self.host.ns,
            "nsenter", f"--net={self.host.path}", "--", *self.argv(),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        problem = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd on {self.host.name} exited:\n{self.log_tail()}")
            if self.socket.exists():
                done = self.docker("version", "--format", "{{.Server.Version}}", timeout=10)
                if done.returncode == 0:
                    return self
                problem = done.stderr.strip()
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dockerd on {self.host.name} not ready: {problem}\n{self.log_tail()}")

    def docker(
        self, *argv: str, timeout: float = 60.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``docker ARGV`` against this dockerd; never raises on a non-zero exit."""
        return subprocess.run(
            [DOCKER, "-H", f"unix://{self.socket}", *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "DOCKER_CONFIG": str(self.directory / "client")},
        )

    def import_image(self, archive: Path, name: str = IMAGE) -> None:
        """``docker import`` a tar of a root file system (:func:`rootfs_archive`) as ``name``."""
        done = self.docker("import", str(archive), name, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"docker import on {self.host.name}: {done.stderr.strip()}")

    def remove_containers(self) -> None:
        """``docker rm -f`` every container, so that stopping dockerd waits for none."""
        listed = self.docker("ps", "-aq")
        if listed.returncode == 0 and listed.stdout.split():
            self.docker("rm", "-f", *listed.stdout.split())

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM dockerd, SIGKILL after ``grace`` s, then whatever it left (by exec root).

        Raises if a process naming the exec root still runs after SIGKILL.
        """
        namespaces.terminate(self.process, grace)
        self._reap()

    def kill(self) -> None:
        """SIGKILL dockerd, then whatever it left, as a crash of the host's docker would:
        its containers die without docker telling any plugin."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reap()
        # The killed containerd may linger as a zombie until the machine's init reaps it, and
        # the next dockerd would take that PID for a containerd still running and wait for
        # its socket forever: without the file it starts a new one.
        (self.exec_root / "containerd" / "containerd.pid").unlink(missing_ok=True)

    def _reap(self) -> None:
        """SIGKILL what dockerd left (its containerd, shims, containers); raises if a process
        naming the exec root still runs after that."""
        left = self.leftovers()
        if left:
            # A shim's children are its containers: SIGKILL to a container's first process
            # ends its whole PID namespace.
            children = [pid for pid, ppid in _processes().items() if ppid in left]
            for pid in [*children, *left]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while (left := self.leftovers()) and time.monotonic() < deadline:
                time.sleep(0.05)
            if left:
                raise RuntimeError(f"dockerd on {self.host.name} left processes {left}")

    def leftovers(self) -> list[int]:
        """PIDs of processes other than dockerd whose command line names the exec root."""
        mark = str(self.exec_root).encode()
        own = {self.process.pid} if self.process is not None else set()
        found = []
        for pid in _processes():
            with contextlib.suppress(OSError):
                if pid not in own and mark in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
        return found

    def clean(self) -> None:
        """Delete the data and exec roots (after :meth:`stop`); the log stays."""
        for name in ("root", "exec"):
            shutil.rmtree(self.directory / name, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _processes() -> dict[int, int]:
    """PID → parent PID of every process, read from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rpartition(")")[2].split()[1])
    return parents


def rootfs_archive(rootfs: Path, archive: Path) -> Path:
    """A tar of the directory ``rootfs`` at ``archive``, as ``docker import`` takes it."""
    with tarfile.open(archive, "w") as tar:
        for path in sorted(rootfs.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


@contextlib.contextmanager
def running(
    made: Cluster, rootfs: Path | None = None, hosts: Sequence[Host] | None = None
) -> Iterator[dict[str, Dockerd]]:
    """An etcd with the v2 API in ``ctl`` and one dockerd per host (``hosts``, default all)
    using it as cluster store, each with the image :data:`IMAGE` made from ``rootfs`` when
    given: host name → :class:`Dockerd`. Everything is stopped by PID on exit.

    The cluster's agents serve the plugin when it was built with ``docker=True``.
    """
    etcd = EtcdCluster(1, v2=True, netns=made.ctl.path, host=str(made.ctl.underlay_ip))
    daemons: dict[str, Dockerd] = {}
    try:
        etcd.start()
        store = f"etcd://{made.ctl.underlay_ip}:{etcd.members[0].client_port}"
        archive = rootfs_archive(rootfs, made.workdir / "image.tar") if rootfs else None
        for host in made.hosts if hosts is None else hosts:
            daemon = Dockerd(host, made.docker_dir(host.name), store)
            daemons[host.name] = daemon
            daemon.start()
            if archive is not None:
                daemon.import_image(archive)
        yield daemons
    finally:
        problems = []
        for daemon in daemons.values():
            daemon.remove_containers()
        for daemon in daemons.values():
            try:
                daemon.stop()
            except RuntimeError as exc:  # stop the others all the same
                problems.append(str(exc))
            daemon.clean()
        etcd.stop()
        if problems:
            raise RuntimeError("; ".join(problems))
