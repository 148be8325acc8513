"""Real etcd servers for tests and benchmarks: an :class:`EtcdCluster` of N members.

Members listen on random free loopback ports and keep their data in a fresh temporary
directory (in /dev/shm when it exists, so fsync costs nothing). Raft timing is tuned low
(heartbeat 25 ms, election 250 ms), so a 3-member cluster is writable 0.3-2.5 s after start
and elects a new leader within about a second after its leader is killed.
Every member is started by this module and stopped by its PID: SIGTERM, then SIGKILL after a
timeout, because a member whose peers are gone may ignore SIGTERM for seconds.

Users sharing one cluster isolate themselves with a key prefix of their own
(:func:`unique_prefix`).

A cluster may instead serve inside a network namespace of the lab (``netns``, a namespace
path) on an address of that namespace (``host``): its client URLs then name that address,
and this module's own readiness and leader checks run from inside the namespace. ``v2``
also serves etcd's v2 API, the only one dockerd's cluster store (libkv) speaks.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from romana.dataplane import netns as netns_mod
from romana.lab import namespaces

HEARTBEAT_MS = 25
ELECTION_MS = 250
STOP_GRACE = 2.0


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"


class EtcdCluster:
    """N etcd members on loopback; ``start()`` returns once every member serves writes.

    Also a context manager: ``with EtcdCluster(3) as cluster: ...`` starts and stops it.
    """

    def __init__(
        self,
        size: int = 1,
        *,
        binary: str = "etcd",
        v2: bool = False,
        netns: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.binary = binary
        self.v2 = v2
        self.netns = netns
        shm = Path("/dev/shm")
        self.base = Path(tempfile.mkdtemp(prefix="romana-etcd-", dir=shm if shm.is_dir() else None))
        self.token = f"romana-{uuid.uuid4().hex[:8]}"
        ports = free_ports(2 * size)
        self.members = [
            Member(
                name=f"m{i}",
                client_port=ports[2 * i],
                peer_port=ports[2 * i + 1],
                data_dir=self.base / f"m{i}",
                log_path=self.base / f"m{i}.log",
                host=host,
            )
            for i in range(size)
        ]
        self._http = httpx.Client(timeout=2.0, trust_env=False)

    def __enter__(self) -> EtcdCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def client_urls(self) -> list[str]:
        return [m.client_url for m in self.members]

    def _command(self, member: Member) -> list[str]:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        return [
            self.binary,
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={member.client_url}",
            f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={initial}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={self.token}",
            f"--heartbeat-interval={HEARTBEAT_MS}",
            f"--election-timeout={ELECTION_MS}",
            "--logger=zap",
            "--log-outputs=stderr",
            *(["--enable-v2=true"] if self.v2 else []),
        ]

    def _spawn(self, member: Member) -> None:
        # nsenter execs etcd itself (no fork for a network namespace): the PID is etcd's.
        inside = ["nsenter", f"--net={self.netns}", "--"] if self.netns else []
        with open(member.log_path, "ab") as log:
            member.process = subprocess.Popen(
                [*inside, *self._command(member)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start(self, timeout: float = 20.0) -> None:
        for member in self.members:
            self._spawn(member)
        try:
            for i in range(len(self.members)):
                self.wait_writable(i, timeout)
        except BaseException:
            self.stop()
            raise

    def wait_writable(self, i: int, timeout: float = 20.0) -> None:
        """Wait until member ``i`` accepts a write through its gateway (so it has a leader)."""
        member = self.members[i]
        body = {"key": _b64(b"romana-test-health"), "value": _b64(member.name.encode())}
        deadline = time.monotonic() + timeout
        problem = "no answer"
        while time.monotonic() < deadline:
            proc = member.process
            if proc is None or proc.poll() is not None:
                raise RuntimeError(f"etcd {member.name} exited:\n{self.log_tail(i)}")
            try:
                with netns_mod.entered(self.netns):
                    response = self._http.post(f"{member.client_url}/v3/kv/put", json=body)
                if response.status_code == 200:
                    return
                problem = response.text
            except httpx.HTTPError as exc:
                problem = str(exc)
            time.sleep(0.05)
        raise RuntimeError(f"etcd {member.name} not writable after {timeout}s: {problem}")

    def leader(self) -> int:
        """Index of the current leader, as the reachable members report it."""
        ids: dict[str, int] = {}
        leader = None
        for i, member in enumerate(self.members):
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                url = f"{member.client_url}/v3/maintenance/status"
                with netns_mod.entered(self.netns):
                    status = self._http.post(url, json={}).json()
                ids[status["header"]["member_id"]] = i
                leader = status.get("leader") or leader
        if leader is None or leader not in ids:
            raise RuntimeError("no reachable etcd member knows a reachable leader")
        return ids[leader]

    def kill(self, i: int, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to member ``i`` by PID; after SIGKILL, wait for it to be gone."""
        proc = self.members[i].process
        assert proc is not None, f"etcd member {i} is not running"
        proc.send_signal(sig)
        if sig == signal.SIGKILL:
            proc.wait()

    def restart(self, i: int, timeout: float = 20.0) -> None:
        """Start member ``i`` again on its data dir (stopping it first if it still runs)."""
        self._stop_member(self.members[i])
        self._spawn(self.members[i])
        self.wait_writable(i, timeout)

    def _stop_member(self, member: Member) -> None:
        self._stop([member])

    @staticmethod
    def _stop(members: list[Member]) -> None:
        """SIGTERM members one by one, SIGKILL one that outlives the grace period.

        One at a time: members stopped together keep waiting for each other.
        """
        for member in members:
            namespaces.terminate(member.process, STOP_GRACE)
            member.process = None

    def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL) and delete the data dirs."""
        self._stop(self.members)
        self._http.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, i: int, lines: int = 30) -> str:
        path = self.members[i].log_path
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def unique_prefix() -> str:
    """A key namespace no other test uses."""
    return f"/t-{uuid.uuid4().hex[:12]}/"
