"""The CLI starts fast because of what it does not import: the import graph of the real entry
point, read from ``python -X importtime``, holds none of the heavy modules a command does not
need. No timing is asserted; a module that appears here is what would make start-up slow.

``romana --help`` loads Typer, the command modules and the settings, nothing of the HTTP
client, the wire models, Rich or YAML. ``romana decode`` (against a real romanad) loads the
client and the models of the answers it reads, never the server, the store, the services, the
policy compiler, the Kubernetes stack or YAML.
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
)
"""What ``--help`` has no use for: the client, the wire models, Rich's help formatting."""


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
    assert "romana.client.http" in modules
    assert heavy(modules, NEVER) == []
