"""A real neutron-server for tests and benchmarks: its virtual environment and its process.

Neutron pins many libraries, so it runs from a virtual environment of its own, never from the
project's: :func:`openstack_venv` builds it from ``requirements/openstack.txt`` at
``.venv-openstack/<hash of that file>/`` (about a minute, once) and reuses it while the file is
unchanged; romana is installed into it editable and without dependencies, so the drivers'
entry points are registered and the tree's current code is what neutron-server loads.

:class:`NeutronServer` writes ``neutron.conf``, ``ml2_conf.ini`` and ``api-paste.ini`` into a
work directory, creates the SQLite schema from Neutron's models (alembic's migrations do not
run on SQLite), and serves the API on a free loopback port with that environment's Python,
started and stopped by PID. Authentication is ``noauth``; callers send the headers Keystone
would set (:func:`project_headers`, :data:`NOVA_HEADERS`), but neutron-server 29 then runs
every call with an admin context (its ``noauth`` pipeline builds a context only for calls
without a project header), so a new resource's owner must be named in the body and Neutron's
policies are not exercised.

Invariants: nothing here imports Neutron (it runs in the child process only); the environment
is complete only once its marker file exists, so an interrupted build is redone, not reused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from romana.lab import etcd, venvs
from romana.lab.romanad import terminate, wait_answering

ROOT = venvs.ROOT
REQUIREMENTS = ROOT / "requirements" / "openstack.txt"
CACHE = ROOT / ".venv-openstack"
BOOT = Path(__file__).with_name("neutron_wsgi.py")
READY_MARKER = "romana-openstack-ready"
ENTRY_POINT_GROUPS = ("neutron.ipam_drivers", "neutron.ml2.mechanism_drivers")

NOVA_HEADERS = {"X-Project-Id": "nova-service", "X-Roles": "admin,member,reader,service"}
"""What Keystone would set for Nova's calls (``binding:host_id`` is Nova's to set)."""


def project_headers(project_id: str) -> dict[str, str]:
    """What Keystone would set for an ordinary user of ``project_id``."""
    return {"X-Project-Id": project_id, "X-Roles": "member,reader"}


def _entry_points_registered(python: Path) -> bool:
    """Whether the environment's romana declares both drivers (pyproject may have changed
    since romana was installed into it)."""
    probe = (
        "import importlib.metadata as m, sys\n"
        f"groups = {ENTRY_POINT_GROUPS!r}\n"
        "ok = all(any(e.name == 'romana' for e in m.entry_points(group=g)) for g in groups)\n"
        "sys.exit(0 if ok else 1)\n"
    )
    return subprocess.run([str(python), "-c", probe], check=False).returncode == 0


def _stack(requirements: Path, cache: Path) -> venvs.Stack:
    return venvs.Stack(
        "openstack",
        requirements,
        cache,
        READY_MARKER,
        "about a minute",
        lambda where: not _entry_points_registered(where / "bin" / "python"),
    )


def openstack_venv(requirements: Path = REQUIREMENTS, cache: Path = CACHE) -> Path:
    """The Python of the OpenStack environment for ``requirements``, built when missing."""
    return _stack(requirements, cache).build() / "bin" / "python"


def venv_ready(requirements: Path = REQUIREMENTS, cache: Path = CACHE) -> bool:
    return _stack(requirements, cache).ready()


@dataclass(frozen=True, slots=True)
class RomanaSection:
    """The ``[romana]`` section of neutron.conf: how the drivers reach romanad."""

    url: str
    username: str
    password_file: Path


@dataclass(frozen=True, slots=True)
class NeutronConfig:
    mechanism_drivers: Sequence[str] = ("logger",)
    ipam_driver: str = "internal"
    service_plugins: Sequence[str] = ()
    """``segments`` makes Neutron keep a port without a host unaddressed until it is bound."""
    romana: RomanaSection | None = None
    extra: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Further options by section, written after the ones above."""


def _ini(sections: Mapping[str, Mapping[str, str]]) -> str:
    lines: list[str] = []
    for name, options in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {value}" for key, value in options.items())
        lines.append("")
    return "\n".join(lines)


class NeutronServer:
    """neutron-server (the API and ML2 in one process) over SQLite, on a loopback port."""

    def __init__(
        self, workdir: Path, python: Path, config: NeutronConfig, netns: str | None = None
    ) -> None:
        self.workdir = workdir
        self.python = python
        self.config = config
        self.netns = netns
        """The network namespace it serves in (its loopback), e.g. beside a lab's romanad."""
        self.port = etcd.free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = workdir / "neutron.conf"
        self.ml2_conf = workdir / "ml2_conf.ini"
        self.log_path = workdir / "neutron-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "locks").mkdir(exist_ok=True)
        sections: dict[str, dict[str, str]] = {
            "DEFAULT": {
                "core_plugin": "ml2",
                "service_plugins": ",".join(self.config.service_plugins),
                "auth_strategy": "noauth",
                "transport_url": "fake:/",
                "api_workers": "1",
                "rpc_workers": "0",
                "ipam_driver": self.config.ipam_driver,
                "api_paste_config": str(self.workdir / "api-paste.ini"),
                "log_file": str(self.log_path),
                "debug": "false",
            },
            "database": {"connection": f"sqlite:///{self.workdir / 'neutron.db'}"},
            "oslo_concurrency": {"lock_path": str(self.workdir / "locks")},
        }
        if self.config.romana is not None:
            sections["romana"] = {
                "url": self.config.romana.url,
                "username": self.config.romana.username,
                "password_file": str(self.config.romana.password_file),
            }
        for name, options in self.config.extra.items():
            sections.setdefault(name, {}).update(options)
        self.conf.write_text(_ini(sections))
        self.ml2_conf.write_text(
            _ini(
                {
                    "ml2": {
                        "type_drivers": "flat,local",
                        "tenant_network_types": "local",
                        "mechanism_drivers": ",".join(self.config.mechanism_drivers),
                        "extension_drivers": "port_security",
                    }
                }
            )
        )

    def start(self, timeout: float = 60.0) -> NeutronServer:
        self.write_config()
        env = {
            **os.environ,
            "OS_NEUTRON_CONFIG_FILES": f"{self.conf},{self.ml2_conf}",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("VIRTUAL_ENV", None)
        # -P: the boot script's directory is not put on sys.path (its siblings would shadow
        # packages of the same name).
        argv = [*self.inside(), str(self.python), "-P", str(BOOT), str(self.workdir)]
        argv += [
            str(self.port),
            "--config-file",
            str(self.conf),
            "--config-file",
            str(self.ml2_conf),
        ]
        with open(self.workdir / "neutron-server.out", "ab") as out:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def inside(self) -> list[str]:
        """The argv prefix that runs a command where the server listens."""
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    def _status(self) -> int:
        """The status of ``GET /`` where the server listens (in its namespace, if it has one)."""
        if not self.netns:
            return httpx.get(f"{self.url}/", timeout=2.0, trust_env=False).status_code
        probe = (
            "import sys, urllib.request as u\n"
            "try: sys.exit(0 if u.urlopen(sys.argv[1], timeout=2).status == 200 else 1)\n"
            "except OSError: sys.exit(1)\n"
        )
        argv = [*self.inside(), sys.executable, "-c", probe, f"{self.url}/"]
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
        return 200 if done.returncode == 0 else 503

    def _wait_ready(self, timeout: float) -> None:
        wait_answering(
            self.process,
            self._status,
            what="neutron-server",
            timeout=timeout,
            period=0.2,
            log_tail=self.log_tail,
        )

    def __enter__(self) -> NeutronServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM by PID; SIGKILL after a grace period."""
        terminate(self.process)

    def log_tail(self, lines: int = 60) -> str:
        text = []
        for path in (self.workdir / "neutron-server.out", self.log_path):
            if path.exists():
                text += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)
