"""openstacksdk for the tests: the worker process's client side (``sdk_worker.py``), and a
running neutron-server with such a worker on it (:func:`running`)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from romana.lab.neutron_server import NOVA_HEADERS as NOVA
from romana.lab.neutron_server import (
    NeutronConfig,
    NeutronServer,
    RomanaSection,
    project_headers,
)


class SdkError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error['status']} {error['type']}: {error['message']}")
        self.status: int = error["status"]
        self.message: str = error["message"]


class Sdk:
    """openstacksdk's network proxy in the OpenStack environment, as one identity."""

    def __init__(self, process: subprocess.Popen[str], headers: dict[str, str]) -> None:
        self._process = process
        self.headers = headers

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            assert self._process.stdin is not None and self._process.stdout is not None
            project_id = self.headers.get("X-Project-Id")
            if method.startswith("create_") and project_id and self.headers is not NOVA:
                # Under noauth, neutron-server takes the owner of a new resource from the body
                # only (with a project header it acts as admin): say it, as Keystone scoping would.
                kwargs.setdefault("project_id", project_id)
            request = {"headers": self.headers, "method": method, "args": args, "kwargs": kwargs}
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
            assert line, "the openstacksdk worker exited"
            answer = json.loads(line)
            if "error" in answer:
                raise SdkError(answer["error"])
            return answer["result"]

        return call


WORKER = Path(__file__).with_name("sdk_worker.py")

# neutron-server under noauth runs every call with an admin context, which lacks the service
# role Neutron's defaults ask of the port-binding calls; Keystone would give Nova that role.
BINDING_POLICY = """\
"create_port_binding": "role:admin or role:service"
"activate": "role:admin or role:service"
"delete_port_binding": "role:admin or role:service"
"""


def binding_policy(workdir: Path, rules: str = BINDING_POLICY) -> dict[str, dict[str, str]]:
    """The ``extra`` of a :class:`NeutronConfig` whose policy file (written into
    ``workdir``) holds ``rules``: by default, those that let Nova's port-binding calls
    through."""
    policy = workdir / "policy.yaml"
    policy.write_text(rules)
    return {"oslo_policy": {"policy_file": str(policy)}}


def create_inactive_binding(nova: Sdk, port_id: str, host: str, project: str) -> dict[str, Any]:
    """Nova's ``POST /v2.0/ports/{id}/bindings``: under ``noauth`` the body must name the
    owner (Keystone would), and openstacksdk's ``PortBinding`` has no such field."""
    answer = nova.post_raw(
        f"/ports/{port_id}/bindings", {"binding": {"host": host, "project_id": project}}
    )
    assert answer["status"] == 201, answer
    binding: dict[str, Any] = answer["body"]["binding"]
    return binding


def romana_config(section: RomanaSection, **changes: Any) -> NeutronConfig:
    """What docs/openstack.md tells an operator to set, with ``changes``."""
    config = NeutronConfig(
        mechanism_drivers=("romana",),
        ipam_driver="romana",
        service_plugins=("segments", "router"),
        romana=section,
    )
    return dataclasses.replace(config, **changes)


@dataclass(frozen=True)
class Rig:
    """A running neutron-server and openstacksdk as Nova and as any project's member."""

    server: NeutronServer
    nova: Sdk
    process: subprocess.Popen[str]

    def project(self, project_id: str) -> Sdk:
        return Sdk(self.process, project_headers(project_id))


@contextlib.contextmanager
def running(
    python: Path, workdir: Path, config: NeutronConfig, netns: str | None = None
) -> Iterator[Rig]:
    """neutron-server with ``config`` and an openstacksdk worker on it, both in ``netns`` when
    given; both stopped by PID."""
    with NeutronServer(workdir, python, config, netns) as server:
        process = subprocess.Popen(
            [*server.inside(), str(python), str(WORKER), server.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            yield Rig(server, Sdk(process, NOVA), process)
        finally:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
