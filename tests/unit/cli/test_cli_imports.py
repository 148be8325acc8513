"""The CLI starts fast because of what it does not import: the import graph of the real entry
point, read from ``python -X importtime``, holds none of the heavy modules a command does not
need. No timing is asserted; a module that appears here is what would make start-up slow.

``romana --help`` loads Typer, the command modules and the settings, nothing of the HTTP
client, the wire models, Rich or YAML. ``romana decode`` and ``romana tenant list`` (against a
real romanad, output to a pipe) load the client and the standard-library shapes of the answers
they read (``romana.wire.light``), and nothing else that is heavy: not pydantic nor the wire
models, not the server, the store, the services, the policy compiler, the Kubernetes stack or
YAML, no general HTTP library (the client speaks through ``http.client``), not Rich (a pipe
gets the plain writer), and no command module but their own.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

ENTRY = "from romana.cli.main import main; main()"
"""What the ``romana`` console script runs (``[project.scripts]`` in pyproject.toml)."""

NEVER = (
    "fastapi",
    "starlette",
    "uvicorn",
    "romana.api",
    "romana.services",
    "romana.store",
    "romana.agent",
    "romana.dataplane",
    "romana.integrations",
    "romana.core.policy",
    "romana.core.kubernetes.",  # the package holds a constant; its modules are the stack
    "romana.wire.rest_kube",
    "romana.wire.rest_hostview",
    "yaml",
)
"""Modules no command that neither compiles policy nor reads YAML imports (a name ending in a
dot stands for the package's submodules only)."""

NOT_FOR_HELP = (
    *NEVER,
    "pydantic",
    "httpx",
    "httpcore",
    "rich",
    "typer.rich_utils",
    "romana.client.http",
    "romana.client.session",
    "romana.wire",
    "romana.deploy.hostinstall",
)
"""What ``--help`` has no use for: the client, the wire models, Rich's help formatting, the
plans of ``romana install``."""

NOT_FOR_A_REQUEST = (
    *NEVER,
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "certifi",
    "click",  # Typer carries its own copy (typer._click); this one came with httpx's CLI
    "pygments",
    "rich",
    "romana.deploy",
    "romana.client.kube",
    "romana.client.reach",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "romana.wire.rest",
    "romana.wire.validate",
)
"""What a command that makes one request and prints a table into a pipe has no use for: the
answers it reads are checked by ``romana.wire.light``, without pydantic."""

OTHER_COMMANDS = ("auth", "hosts", "install", "kube", "kubeinstall", "policies", "users")
"""Command modules neither ``decode`` nor ``tenant list`` is in."""


def imported(args: list[str], env: Mapping[str, str | None] | None = None) -> set[str]:
    """The modules ``romana ARGS`` imports, from ``-X importtime`` on stderr; ``env`` changes
    the environment (None unsets a variable)."""
    environ = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    def under(module: str, name: str) -> bool:
        if name.endswith("."):
            return module.startswith(name)
        return module == name or module.startswith(f"{name}.")

    return sorted(m for m in modules if any(under(m, n) for n in names))


def test_help_imports_no_client_no_wire_models_no_rich() -> None:
    modules = imported(["--help"])
    assert "romana.cli.main" in modules
    assert heavy(modules, NOT_FOR_HELP) == []


def test_a_group_help_imports_no_more_than_the_top_help() -> None:
    assert heavy(imported(["policy", "apply", "--help"]), NOT_FOR_HELP) == []


def test_decode_imports_the_client_but_nothing_of_the_server_or_the_policy_stack(
    planned: Any,
) -> None:
    host = json.loads(planned("host", "show", "h1", "-o", "json").stdout)
    prefix = next(iter(host["prefixes"].values()))
    address = str(ipaddress.ip_network(prefix)[1])
    modules = imported(["decode", address], planned.env)
    assert {"romana.client.http", "romana.wire.light"} <= modules
    assert heavy(modules, NOT_FOR_A_REQUEST) == []
    assert heavy(modules, tuple(f"romana.cli.commands.{m}" for m in OTHER_COMMANDS)) == []


def test_tenant_list_imports_the_client_and_nothing_heavy_besides(planned: Any) -> None:
    modules = imported(["tenant", "list"], planned.env)
    assert {"romana.client.http", "romana.wire.light", "romana.cli.commands.tenants"} <= modules
    assert heavy(modules, NOT_FOR_A_REQUEST) == []
    assert heavy(modules, tuple(f"romana.cli.commands.{m}" for m in OTHER_COMMANDS)) == []
